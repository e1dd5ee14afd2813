//! A rate limit shared by every worker: calls to one provider account are spaced so that no
//! window of one second holds more than the limit (amoCRM: 7/s per account; Bitrix24: 2/s per
//! portal). One record per limited key holds the earliest time of the next call; taking a turn
//! is a conditional write on its version, so concurrent workers queue up instead of bursting.

use super::Store;
use super::kv::{Condition, Key, StoreError};
use super::record::Record;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Serialize, Deserialize)]
struct Pace {
    key: String,
    /// Unix milliseconds before which the next call must not start.
    next_at_ms: i64,
}

impl Record for Pace {
    fn key(&self) -> Key {
        Key::new(format!("RATE#{}", self.key), "RATE")
    }
    fn expires_at(&self) -> Option<i64> {
        // An idle limiter's record is not worth keeping.
        Some(self.next_at_ms / 1000 + 3600)
    }
}

impl Store {
    /// Waits for this caller's turn under `per_second` calls per second for `key`.
    pub async fn take_turn(&self, key: &str, per_second: u32) -> Result<(), StoreError> {
        // A little wider than 1/limit, so clocks that disagree by a few milliseconds with the
        // provider's still keep every one-second window within the limit.
        let spacing = 1000 / i64::from(per_second.max(1)) + 15;
        let record_key = Pace {
            key: key.to_owned(),
            next_at_ms: 0,
        }
        .key();
        loop {
            let now = chrono::Utc::now().timestamp_millis();
            let (version, next_at) = match self.kv.get(&record_key).await? {
                Some(item) => {
                    let version = item.version;
                    let pace: Pace = super::record::decode(item)?;
                    (Some(version), pace.next_at_ms)
                }
                None => (None, 0),
            };
            if next_at > now {
                tokio::time::sleep(Duration::from_millis((next_at - now) as u64)).await;
                continue;
            }
            let mut item = super::record::encode(&Pace {
                key: key.to_owned(),
                next_at_ms: now + spacing,
            })?;
            item.version = version.map_or(1, |v| v + 1);
            let condition = version.map_or(Condition::NotExists, Condition::Version);
            match self.kv.put(&item, condition).await {
                Ok(()) => return Ok(()),
                // Another worker took this turn: look again.
                Err(StoreError::ConditionFailed) => {
                    tokio::time::sleep(Duration::from_millis(rand::random_range(1..10))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}
