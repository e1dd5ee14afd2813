//! The pace of calls to one provider account, shared by every worker: one record per account
//! holds the earliest time of the next free turn. A caller reserves the next turn with one
//! conditional write on the record's version (the turn after it moves on by the spacing), then
//! waits until its turn comes: callers are served in the order they reserved, and no wait is
//! longer than the caller can afford (`crm::Session` decides how long that is).

use super::Store;
use super::kv::{Condition, Key, StoreError};
use super::record::{self, Record};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Serialize, Deserialize)]
struct Pace {
    key: String,
    /// Unix milliseconds before which the next turn may not start.
    next_at_ms: i64,
}

impl Record for Pace {
    fn key(&self) -> Key {
        pace_key(&self.key)
    }
    fn expires_at(&self) -> Option<i64> {
        // An idle limiter's record is not worth keeping.
        Some(self.next_at_ms / 1000 + 3600)
    }
}

fn pace_key(key: &str) -> Key {
    Key::new(format!("RATE#{key}"), "RATE")
}

/// A reserved turn: when it comes (Unix milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    pub at_ms: i64,
}

impl Store {
    /// Reserves the next free turn of `key`, turns `spacing` apart, if it comes no later than
    /// `latest_ms`; `None` when it would come later (nothing is reserved then).
    pub async fn reserve_turn(
        &self,
        key: &str,
        spacing: Duration,
        now_ms: impl Fn() -> i64,
        latest_ms: i64,
    ) -> Result<Option<Turn>, StoreError> {
        let spacing = i64::try_from(spacing.as_millis()).unwrap_or(i64::MAX);
        let record_key = pace_key(key);
        loop {
            let now = now_ms();
            let (version, next_at) = match self.kv.get(&record_key).await? {
                Some(item) => {
                    let version = item.version;
                    let pace: Pace = record::decode(item)?;
                    (Some(version), pace.next_at_ms)
                }
                None => (None, 0),
            };
            let at = next_at.max(now);
            if at > latest_ms {
                return Ok(None);
            }
            let mut item = record::encode(&Pace {
                key: key.to_owned(),
                next_at_ms: at.saturating_add(spacing),
            })?;
            item.version = version.map_or(1, |v| v + 1);
            let condition = version.map_or(Condition::NotExists, Condition::Version);
            match self.kv.put(&item, condition).await {
                Ok(()) => return Ok(Some(Turn { at_ms: at })),
                // Another caller reserved this turn: the next one is ours to try for.
                Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// When the next free turn of `key` comes (Unix milliseconds; 0 when none was ever taken).
    pub async fn next_free_turn(&self, key: &str) -> Result<i64, StoreError> {
        Ok(self
            .get_record::<Pace>(&pace_key(key))
            .await?
            .map_or(0, |p| p.next_at_ms))
    }
}
