//! Typed records on the key-value port: encoding, decoding, and read-change-write under
//! optimistic locking (the one place that retries lost races).

use super::Store;
use super::kv::{Condition, Item, Key, Query, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// A domain value stored as one item; it names its own keys.
pub trait Record: Serialize + DeserializeOwned {
    fn key(&self) -> Key;
    fn gsi1(&self) -> Option<Key> {
        None
    }
    fn gsi2(&self) -> Option<Key> {
        None
    }
    fn expires_at(&self) -> Option<i64> {
        None
    }
}

/// Enough for ten writers racing on one appeal (each retry lets at least one of them win).
const MAX_ATTEMPTS: u32 = 24;

pub fn encode<T: Record>(value: &T) -> Result<Item, StoreError> {
    let data = serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Item {
        key: value.key(),
        gsi1: value.gsi1(),
        gsi2: value.gsi2(),
        version: 1,
        expires_at: value.expires_at(),
        data,
    })
}

pub fn decode<T: Record>(item: Item) -> Result<T, StoreError> {
    serde_json::from_value(item.data)
        .map_err(|e| StoreError::Corrupt(format!("{} {}: {e}", item.key.pk, item.key.sk)))
}

impl Store {
    pub async fn get_record<T: Record>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        self.kv.get(key).await?.map(decode).transpose()
    }

    /// The records of one page of `query` (at most its limit).
    pub async fn query_records<T: Record>(&self, query: &Query) -> Result<Vec<T>, StoreError> {
        self.kv
            .query(query)
            .await?
            .items
            .into_iter()
            .map(decode)
            .collect()
    }

    /// The records of every page of `query`.
    pub async fn all_records<T: Record>(&self, mut query: Query) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        loop {
            let page = self.kv.query(&query).await?;
            for item in page.items {
                out.push(decode(item)?);
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(out),
            }
        }
    }

    pub async fn put_record<T: Record>(
        &self,
        value: &T,
        condition: Condition,
    ) -> Result<(), StoreError> {
        self.kv.put(&encode(value)?, condition).await
    }

    /// Reads the record, lets `change` build its next state, and writes that only if nobody
    /// wrote in between; on a lost race it starts over from the fresh state. `change` may run
    /// several times, so it must not have effects of its own.
    pub async fn update_record<T, E, F, Fut>(&self, key: &Key, mut change: F) -> Result<T, E>
    where
        T: Record,
        E: From<StoreError>,
        F: FnMut(Option<T>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        for attempt in 0..MAX_ATTEMPTS {
            let (version, current) = match self.kv.get(key).await? {
                Some(item) => (Some(item.version), Some(decode(item)?)),
                None => (None, None),
            };
            let next = change(current).await?;
            let mut item = encode(&next)?;
            item.version = version.map_or(1, |v| v + 1);
            let condition = version.map_or(Condition::NotExists, Condition::Version);
            match self.kv.put(&item, condition).await {
                Ok(()) => return Ok(next),
                Err(StoreError::ConditionFailed) => backoff(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Unavailable(format!("{} kept changing under us", key.pk)).into())
    }
}

/// A short randomized pause, so racing writers stop colliding.
async fn backoff(attempt: u32) {
    let cap = 2u64.saturating_pow(attempt.min(6));
    let millis = rand::random_range(0..=cap);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}
