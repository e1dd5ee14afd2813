//! Jobs waiting for a connection to be authorized again: not lost, not retried into the void.
//! When the user connects again, they go back to the queue.

use super::Store;
use super::kv::{Condition, Index, Key, Query, StoreError};
use super::record::Record;
use crate::domain::ids::IntegrationId;
use crate::domain::secret::sha256_hex;
use crate::queue::Queue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

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

    pub async fn waiting_jobs(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<WaitingJob>, StoreError> {
        let mut query = Query::new(Index::Gsi1, format!("WAITING#{integration}"));
        query.limit = 1000;
        self.query_records(&query).await
    }

    /// Puts the integration's waiting jobs back in the queue; how many went. Each is sent
    /// before it is forgotten, so a failure half-way loses nothing (jobs are idempotent).
    pub async fn release_waiting(
        &self,
        integration: &IntegrationId,
        queue: &dyn Queue,
    ) -> Result<usize, StoreError> {
        let jobs = self.waiting_jobs(integration).await?;
        for job in &jobs {
            queue
                .send(&job.body, Duration::ZERO)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            self.kv.delete(&job.key()).await?;
        }
        Ok(jobs.len())
    }
}
