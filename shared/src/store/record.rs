//! Typed records on the key-value port: encoding, decoding, and read-change-write under
//! optimistic locking (the one place that retries lost races).

use super::Store;
use super::kv::{Condition, Index, Item, Key, Query, SortKey, StoreError, Write, Written};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
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

/// A change to one counter of a counter item (see [`super::kv::Write::Count`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub key: Key,
    pub name: String,
    pub by: i64,
}

/// Enough for twenty writers racing on one appeal. A plain put lets one of them win each
/// round; DynamoDB may cancel both of two colliding transactions, hence the room.
const MAX_ATTEMPTS: u32 = 32;

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
    pub async fn all_records<T: Record>(&self, query: Query) -> Result<Vec<T>, StoreError> {
        self.records_up_to(query, usize::MAX).await
    }

    /// The first `at_most` records of `query`, read a page (`query.limit`) at a time.
    pub async fn records_up_to<T: Record>(
        &self,
        mut query: Query,
        at_most: usize,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        while out.len() < at_most {
            let page = self.kv.query(&query).await?;
            for item in page.items.into_iter().take(at_most - out.len()) {
                out.push(decode(item)?);
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        Ok(out)
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
    pub async fn update_record<T, E, F, Fut>(&self, key: &Key, change: F) -> Result<T, E>
    where
        T: Record,
        E: From<StoreError>,
        F: FnMut(Option<T>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.update_record_counted(key, change, |_, _| Vec::new())
            .await
    }

    /// As `update_record`, and in the same transaction the counter changes `counts(before,
    /// after)` returns (none: a plain conditional put, as `update_record` does). The counts
    /// land exactly once per change that lands: a lost race writes neither, and the retry
    /// counts from the fresh state.
    pub async fn update_record_counted<T, E, F, Fut, C>(
        &self,
        key: &Key,
        change: F,
        counts: C,
    ) -> Result<T, E>
    where
        T: Record,
        E: From<StoreError>,
        F: FnMut(Option<T>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Fn(Option<&T>, &T) -> Vec<Delta>,
    {
        self.change_record(key, Start::Read, change, counts, &[])
            .await
    }

    /// As `update_record_counted`, but the first attempt assumes the record is new (`change`
    /// gets `None`) and writes it only if absent: a record that is usually new costs one write
    /// and no read, and one that exists costs what a read would have (the refusal brings the
    /// stored item back). `also` is written in the same transaction, whichever attempt lands.
    pub async fn create_or_update_counted<T, E, F, Fut, C>(
        &self,
        key: &Key,
        change: F,
        counts: C,
        also: &[Write],
    ) -> Result<T, E>
    where
        T: Record,
        E: From<StoreError>,
        F: FnMut(Option<T>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Fn(Option<&T>, &T) -> Vec<Delta>,
    {
        self.change_record(key, Start::Absent, change, counts, also)
            .await
    }

    async fn change_record<T, E, F, Fut, C>(
        &self,
        key: &Key,
        start: Start,
        mut change: F,
        counts: C,
        also: &[Write],
    ) -> Result<T, E>
    where
        T: Record,
        E: From<StoreError>,
        F: FnMut(Option<T>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Fn(Option<&T>, &T) -> Vec<Delta>,
    {
        // What the next attempt starts from: `Some(stored)` when known without a read (assumed
        // absent, or handed back by a refusal), `None` when it must be read.
        let mut known: Option<Option<Item>> = match start {
            Start::Absent => Some(None),
            Start::Read => None,
        };
        for attempt in 0..MAX_ATTEMPTS {
            let stored = match known.take() {
                Some(stored) => stored,
                None => self.kv.get(key).await?,
            };
            let version = stored.as_ref().map(|item| item.version);
            let current = stored.as_ref().map(|item| decode_ref(item)).transpose()?;
            let next = change(current).await?;
            // `change` took the state it was given; `counts` needs it too, so it is decoded
            // again (records are small, and `Record` asks for no `Clone`).
            let before = stored.as_ref().map(|item| decode_ref(item)).transpose()?;
            let deltas = counts(before.as_ref(), &next);
            let mut item = encode(&next)?;
            item.version = version.map_or(1, |v| v + 1);
            let condition = version.map_or(Condition::NotExists, Condition::Version);
            match self
                .kv
                .write(&writes(item, condition, deltas, also))
                .await?
            {
                Written::Done => return Ok(next),
                // Refused with the stored item: it is the state to start from, at once (a
                // create that found the record is no lost race, so no pause either).
                Written::Refused(Some(found)) => {
                    if version.is_some() {
                        backoff(attempt).await;
                    }
                    known = Some(Some(found));
                }
                Written::Refused(None) => backoff(attempt).await,
            }
        }
        Err(StoreError::Unavailable(format!("{} kept changing under us", key.pk)).into())
    }

    /// Every counter item of `pk` whose sort key lies in [from, to] (all pages).
    pub async fn counters(
        &self,
        pk: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<(Key, super::kv::Counters)>, StoreError> {
        let mut query = Query::new(Index::Primary, pk);
        query.sort = SortKey::Between(from.to_owned(), to.to_owned());
        let mut out = Vec::new();
        loop {
            let page = self.kv.counters(&query).await?;
            out.extend(page.items);
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(out),
            }
        }
    }
}

fn decode_ref<T: Record>(item: &Item) -> Result<T, StoreError> {
    <T as serde::Deserialize>::deserialize(&item.data)
        .map_err(|e| StoreError::Corrupt(format!("{} {}: {e}", item.key.pk, item.key.sk)))
}

/// How a change of a record begins.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// Read the record first.
    Read,
    /// Assume it absent and try to create it.
    Absent,
}

/// The put, one count per counter item (the adapters merge deltas of one key anyway; this
/// keeps the request small) and the writes that go with it.
fn writes(item: Item, condition: Condition, deltas: Vec<Delta>, also: &[Write]) -> Vec<Write> {
    let mut counts: BTreeMap<Key, Vec<(String, i64)>> = BTreeMap::new();
    for delta in deltas {
        counts
            .entry(delta.key)
            .or_default()
            .push((delta.name, delta.by));
    }
    let mut writes = vec![Write::Put { item, condition }];
    writes.extend(
        counts
            .into_iter()
            .map(|(key, deltas)| Write::Count { key, deltas }),
    );
    writes.extend_from_slice(also);
    writes
}

/// A short randomized pause, so racing writers stop colliding.
async fn backoff(attempt: u32) {
    let cap = 2u64.saturating_pow(attempt.min(6));
    let millis = rand::random_range(0..=cap);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}
