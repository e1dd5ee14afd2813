//! The reports' counters (see `domain::rollup`): per account and UTC hour, one counter item
//! per shard, each counter the number of appeals in one cell. An appeal's shard follows from
//! its id, so it is always counted, and uncounted, in the same item.

use super::Store;
use super::kv::{Counters, Key, StoreError};
use super::record::Delta;
use crate::domain::ids::{AccountId, AppealId};
use crate::domain::rollup::{self, Change, Counted};
use chrono::{DateTime, Utc};

fn partition(account: &AccountId) -> String {
    format!("ROLLUP#{}", account.as_str())
}

impl Store {
    /// The counter changes that move `appeal` from where it was counted to where it is.
    pub fn rollup_deltas(
        &self,
        account: &AccountId,
        appeal: &AppealId,
        before: Option<&Counted>,
        after: &Counted,
    ) -> Vec<Delta> {
        let shard = self.shard_of(appeal);
        rollup::changes(before, after)
            .into_iter()
            .map(|Change { hour, name, by }| Delta {
                key: Key::new(partition(account), format!("{hour}#{shard}")),
                name,
                by,
            })
            .collect()
    }

    /// Every counter item of `account` from the hour of `from` to the hour of `to` (both
    /// included): its hour and its counters (cell name, count). An hour's shards are items of
    /// their own; sums do not care.
    pub async fn rollup_counters(
        &self,
        account: &AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Counters)>, StoreError> {
        let lo = rollup::hour_key(from);
        // Every shard of the last hour: '~' sorts after the shard digits.
        let hi = format!("{}#~", rollup::hour_key(to));
        let items = self.counters(&partition(account), &lo, &hi).await?;
        let mut out = Vec::new();
        for (key, counters) in items {
            let hour = key
                .sk
                .split('#')
                .next()
                .and_then(rollup::parse_hour_key)
                .ok_or_else(|| StoreError::Corrupt(format!("rollup key {}", key.sk)))?;
            out.push((hour, counters));
        }
        Ok(out)
    }

    fn shard_of(&self, appeal: &AppealId) -> u64 {
        let shards = u64::from(self.kv.counter_shards().max(1));
        // FNV-1a: stable across builds and machines (std's hasher is not).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in appeal.as_str().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h % shards
    }
}
