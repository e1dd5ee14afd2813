//! What an integration's health needs beyond its raw events: when it last made an appeal, and
//! the last job the worker gave up, with why. Two small items under one partition, each written
//! blind (no read first), so marking costs one write: once per appeal created (not per
//! webhook), once per job given up. Two racing marks keep one of two moments a few
//! milliseconds apart, which a health view does not care about.

use super::kv::{Condition, Index, Key, Query, StoreError};
use super::record::Record;
use super::{Store, keys};
use crate::domain::ids::IntegrationId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A reason is cut to this many characters: a health view shows a line, not a log.
const REASON_CHARS: usize = 500;

/// What the health record of an integration says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub last_appeal_at: Option<DateTime<Utc>>,
    pub last_error: Option<HealthError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthError {
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// One mark: `APPEAL` (an appeal was created) or `ERROR` (a job was given up).
#[derive(Serialize, Deserialize)]
struct Mark {
    integration_id: IntegrationId,
    what: What,
    at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum What {
    Appeal,
    Error,
}

impl What {
    fn sort_key(self) -> &'static str {
        match self {
            What::Appeal => "APPEAL",
            What::Error => "ERROR",
        }
    }
}

impl Record for Mark {
    fn key(&self) -> Key {
        Key::new(
            keys::health(self.integration_id.as_str()),
            self.what.sort_key(),
        )
    }
}

impl Store {
    /// An appeal of `integration` was created at `at`.
    pub async fn mark_appeal(
        &self,
        integration: &IntegrationId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mark = Mark {
            integration_id: integration.clone(),
            what: What::Appeal,
            at,
            reason: None,
        };
        self.put_record(&mark, Condition::Always).await
    }

    /// A job of `integration` was given up at `at`, for `reason`.
    pub async fn mark_error(
        &self,
        integration: &IntegrationId,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mark = Mark {
            integration_id: integration.clone(),
            what: What::Error,
            at,
            reason: Some(crate::domain::limits::cut(reason, REASON_CHARS)),
        };
        self.put_record(&mark, Condition::Always).await
    }

    /// Both marks of `integration`, in one query.
    pub async fn health(&self, integration: &IntegrationId) -> Result<Health, StoreError> {
        let query = Query::new(Index::Primary, keys::health(integration.as_str()));
        let marks: Vec<Mark> = self.query_records(&query).await?;
        let mut health = Health::default();
        for mark in marks {
            match mark.what {
                What::Appeal => health.last_appeal_at = Some(mark.at),
                What::Error => {
                    health.last_error = Some(HealthError {
                        at: mark.at,
                        reason: mark.reason.unwrap_or_default(),
                    });
                }
            }
        }
        Ok(health)
    }

    /// Forgets an integration's marks (it was deleted).
    pub async fn forget_health(&self, integration: &IntegrationId) -> Result<(), StoreError> {
        for what in [What::Appeal, What::Error] {
            let key = Key::new(keys::health(integration.as_str()), what.sort_key());
            self.kv.delete(&key).await?;
        }
        Ok(())
    }
}
