//! Re-attribution runs and backfills (`domain::reattribution`): one item each, in the
//! account's partition of runs, changed page by page under optimistic locking.

use super::Store;
use super::kv::{Condition, Index, Key, Query, StoreError};
use super::record::Record;
use crate::domain::ids::{AccountId, RunId};
use crate::domain::reattribution::Run;

fn key(account: &AccountId, id: &RunId) -> Key {
    Key::new(format!("RUN#{}", account.as_str()), id.as_str())
}

impl Record for Run {
    fn key(&self) -> Key {
        key(&self.account_id, &self.id)
    }
}

/// The account's runs listed at most (newest first): a run is rare, a person's decision.
const LISTED: usize = 50;

impl Store {
    pub async fn create_run(&self, run: &Run) -> Result<(), StoreError> {
        self.put_record(run, Condition::NotExists).await
    }

    /// The account's run (another account's id is no run of this one).
    pub async fn run(&self, account: &AccountId, id: &RunId) -> Result<Option<Run>, StoreError> {
        self.get_record(&key(account, id)).await
    }

    /// The account's newest runs.
    pub async fn runs(&self, account: &AccountId) -> Result<Vec<Run>, StoreError> {
        let mut query = Query::new(Index::Primary, format!("RUN#{}", account.as_str()));
        query.limit = LISTED;
        query.descending = true;
        self.query_records(&query).await
    }

    /// Changes the run under optimistic locking (`change` may run more than once).
    pub async fn update_run<E, F>(&self, run: &Run, mut change: F) -> Result<Run, E>
    where
        E: From<StoreError>,
        F: FnMut(Run) -> Result<Run, E>,
    {
        let id = run.id.clone();
        self.update_record(&run.key(), |current: Option<Run>| {
            std::future::ready(
                current
                    .ok_or_else(|| StoreError::Corrupt(format!("run {id} vanished")).into())
                    .and_then(&mut change),
            )
        })
        .await
    }
}
