//! Jobs waiting for a connection to be authorized again: not lost, not retried into the void.
//! When the user connects again, they go back to the queue (`app::jobs::release_waiting`).

use super::Store;
use super::kv::{Condition, Index, Key, Query, StoreError};
use super::record::Record;
use crate::domain::ids::IntegrationId;
use crate::domain::secret::sha256_hex;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WaitingJob {
    pub id: String,
    pub integration_id: IntegrationId,
    pub body: String,
    pub reason: String,
    pub since: DateTime<Utc>,
}

impl Record for WaitingJob {
    fn key(&self) -> Key {
        Key::new(format!("WAITJOB#{}", self.id), "WAITJOB")
    }
    fn gsi1(&self) -> Option<Key> {
        Some(Key::new(
            format!("WAITING#{}", self.integration_id),
            format!("{}#{}", super::keys::time_key(self.since), self.id),
        ))
    }
}

impl Store {
    /// Sets a job aside until `integration` is connected again; the same job twice is kept once.
    pub async fn wait_for_connection(
        &self,
        integration: &IntegrationId,
        body: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let job = WaitingJob {
            id: format!(
                "wj_{}",
                &sha256_hex(format!("{integration}\u{1f}{body}").as_bytes())[..32]
            ),
            integration_id: integration.clone(),
            body: body.to_owned(),
            reason: reason.to_owned(),
            since: now,
        };
        match self.put_record(&job, Condition::NotExists).await {
            Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Up to `limit` of the integration's waiting jobs, oldest first.
    pub async fn waiting_jobs(
        &self,
        integration: &IntegrationId,
        limit: usize,
    ) -> Result<Vec<WaitingJob>, StoreError> {
        let mut query = Query::new(Index::Gsi1, format!("WAITING#{integration}"));
        query.limit = limit;
        self.query_records(&query).await
    }

    /// A job back in the queue no longer waits.
    pub async fn forget_waiting(&self, job: &WaitingJob) -> Result<(), StoreError> {
        self.kv.delete(&job.key()).await
    }
}
