//! What reconciliation knows of a CRM's entities: how far it has listed them (the watermark),
//! the ones read and found to be no chat (so they are not queued again), and the ones whose
//! reading failed (so they are queued again, on a backoff, until they succeed), and the
//! modification time of each entity when it was last read (so reconciling by `DATE_MODIFY`
//! queues only the ones changed since). An entity that became an appeal is known by its
//! appeal.

use super::Store;
use super::kv::{Condition, Index, Key, Query, StoreError};
use super::record::Record;
use crate::domain::ids::IntegrationId;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Well past any reconciliation window: by then the entity is older than the watermark.
const KEEP_SKIPPED_DAYS: i64 = 90;

/// A CRM entity that is no appeal (a lead no open line made), or that could not be read
/// (access denied, an unpaid portal...), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub integration_id: IntegrationId,
    /// `lead:48211`
    pub entity_ref: String,
    pub reason: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub kind: SkipKind,
    /// A failed one: times its reading failed, and when reconciliation queues it again
    /// (`None`: not on its own any more; reconciling on demand still does).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<DateTime<Utc>>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipKind {
    /// Read, and found to be no chat: never queued again.
    #[default]
    NotAChat,
    /// Its reading failed for a lasting reason: parked, and queued again later.
    Failed,
}

/// Failed readings are tried again after an hour, then two, four... at most a day apart, ten
/// times in all; a cause that lasts longer waits for someone to reconcile on demand.
const RETRY_FAILED: u32 = 10;

impl Skipped {
    /// The record of one more failure of this entity's reading.
    pub fn failed(
        integration_id: IntegrationId,
        entity_ref: String,
        reason: String,
        before: Option<&Skipped>,
        now: DateTime<Utc>,
    ) -> Skipped {
        let failures = before
            .filter(|b| b.kind == SkipKind::Failed)
            .map_or(0, |b| b.failures)
            .saturating_add(1);
        let wait = Duration::hours(1i64 << (failures - 1).min(5)).min(Duration::hours(24));
        Skipped {
            integration_id,
            entity_ref,
            reason,
            at: now,
            kind: SkipKind::Failed,
            failures,
            retry_at: (failures < RETRY_FAILED).then(|| now + wait),
        }
    }
}

impl Record for Skipped {
    fn key(&self) -> Key {
        skipped_key(&self.integration_id, &self.entity_ref)
    }
    /// An integration's skipped entities, newest last: what the API lists.
    fn gsi1(&self) -> Option<Key> {
        Some(Key::new(
            format!("SKIPPEDS#{}", self.integration_id),
            format!("{}#{}", super::keys::time_key(self.at), self.entity_ref),
        ))
    }
    /// A failed one, by when it is due again: what reconciliation queues.
    /// (One whose retries ran out sorts last: only an on-demand run takes it.)
    fn gsi2(&self) -> Option<Key> {
        if self.kind != SkipKind::Failed {
            return None;
        }
        let due = self
            .retry_at
            .map_or_else(|| "9999".to_owned(), super::keys::time_key);
        Some(Key::new(
            format!("FAILED#{}", self.integration_id),
            format!("{due}#{}", self.entity_ref),
        ))
    }
    fn expires_at(&self) -> Option<i64> {
        Some((self.at + Duration::days(KEEP_SKIPPED_DAYS)).timestamp())
    }
}

fn skipped_key(integration: &IntegrationId, entity_ref: &str) -> Key {
    Key::new(format!("SKIPPED#{integration}#{entity_ref}"), "SKIPPED")
}

/// Entities created up to this moment have been listed (and modified up to the other).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    pub integration_id: IntegrationId,
    pub created_up_to: DateTime<Utc>,
    /// Listed by `DATE_MODIFY` up to this moment; `None` before the first such run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_up_to: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// An entity as it was when last read: its `DATE_MODIFY` (the portal's clock, so it compares
/// with what a listing shows, whatever our clock says).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub integration_id: IntegrationId,
    /// `lead:48211`
    pub entity_ref: String,
    pub modified: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

impl Record for Seen {
    fn key(&self) -> Key {
        seen_key(&self.integration_id, &self.entity_ref)
    }
    fn expires_at(&self) -> Option<i64> {
        Some((self.at + Duration::days(KEEP_SKIPPED_DAYS)).timestamp())
    }
}

fn seen_key(integration: &IntegrationId, entity_ref: &str) -> Key {
    Key::new(format!("SEEN#{integration}#{entity_ref}"), "SEEN")
}

impl Record for Watermark {
    fn key(&self) -> Key {
        watermark_key(&self.integration_id)
    }
}

fn watermark_key(integration: &IntegrationId) -> Key {
    super::keys::entity("WATERMARK", integration.as_str())
}

impl Store {
    pub async fn skip_entity(&self, skipped: &Skipped) -> Result<(), StoreError> {
        self.put_record(skipped, Condition::Always).await
    }

    pub async fn skipped_entity(
        &self,
        integration: &IntegrationId,
        entity_ref: &str,
    ) -> Result<Option<Skipped>, StoreError> {
        self.get_record(&skipped_key(integration, entity_ref)).await
    }

    /// Forgets what was recorded of an entity (it has become an appeal).
    pub async fn forget_skipped(
        &self,
        integration: &IntegrationId,
        entity_ref: &str,
    ) -> Result<(), StoreError> {
        self.kv.delete(&skipped_key(integration, entity_ref)).await
    }

    /// An integration's failed entities due again by `now` (all of them with `None`), oldest
    /// due first, at most `limit`.
    pub async fn failed_entities(
        &self,
        integration: &IntegrationId,
        due_by: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<Skipped>, StoreError> {
        let mut query = Query::new(Index::Gsi2, format!("FAILED#{integration}"));
        if let Some(due) = due_by {
            query.sort = super::kv::SortKey::Between(
                String::new(),
                format!("{}~", super::keys::time_key(due)),
            );
        }
        query.limit = limit;
        self.query_records(&query).await
    }

    /// An integration's most recently skipped entities, newest first.
    pub async fn skipped_entities(
        &self,
        integration: &IntegrationId,
        limit: usize,
    ) -> Result<Vec<Skipped>, StoreError> {
        let mut query = Query::new(Index::Gsi1, format!("SKIPPEDS#{integration}"));
        query.descending = true;
        query.limit = limit;
        self.query_records(&query).await
    }

    pub async fn watermark(
        &self,
        integration: &IntegrationId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .get_record::<Watermark>(&watermark_key(integration))
            .await?
            .map(|w| w.created_up_to))
    }

    /// Moves the watermark to `to`, never back (two runs may overlap).
    pub async fn advance_watermark(
        &self,
        integration: &IntegrationId,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let saved = self
            .update_record(&watermark_key(integration), |current: Option<Watermark>| {
                let modified_up_to = current.as_ref().and_then(|w| w.modified_up_to);
                let created_up_to = current.map_or(to, |w| w.created_up_to.max(to));
                std::future::ready(Ok::<_, StoreError>(Watermark {
                    integration_id: integration.clone(),
                    created_up_to,
                    modified_up_to,
                    updated_at: now,
                }))
            })
            .await?;
        Ok(saved.created_up_to)
    }

    /// How far entities were listed by `DATE_MODIFY`.
    pub async fn modified_watermark(
        &self,
        integration: &IntegrationId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .get_record::<Watermark>(&watermark_key(integration))
            .await?
            .and_then(|w| w.modified_up_to))
    }

    /// Moves the `DATE_MODIFY` watermark to `to`, never back; the creation one stays (at
    /// `created` when there was none).
    pub async fn advance_modified_watermark(
        &self,
        integration: &IntegrationId,
        to: DateTime<Utc>,
        created: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let saved = self
            .update_record(&watermark_key(integration), |current: Option<Watermark>| {
                let created_up_to = current.as_ref().map_or(created, |w| w.created_up_to);
                let modified_up_to = current
                    .and_then(|w| w.modified_up_to)
                    .map_or(to, |m| m.max(to));
                std::future::ready(Ok::<_, StoreError>(Watermark {
                    integration_id: integration.clone(),
                    created_up_to,
                    modified_up_to: Some(modified_up_to),
                    updated_at: now,
                }))
            })
            .await?;
        Ok(saved.modified_up_to.unwrap_or(to))
    }

    /// Records the entity's `DATE_MODIFY` as read (never moved back: reads may race).
    pub async fn mark_seen(
        &self,
        integration: &IntegrationId,
        entity_ref: &str,
        modified: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_record(
            &seen_key(integration, entity_ref),
            |current: Option<Seen>| {
                std::future::ready(Ok::<_, StoreError>(Seen {
                    integration_id: integration.clone(),
                    entity_ref: entity_ref.to_owned(),
                    modified: current.map_or(modified, |c| c.modified.max(modified)),
                    at: now,
                }))
            },
        )
        .await
        .map(|_| ())
    }

    /// The entity's `DATE_MODIFY` when it was last read.
    pub async fn seen_modified(
        &self,
        integration: &IntegrationId,
        entity_ref: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .get_record::<Seen>(&seen_key(integration, entity_ref))
            .await?
            .map(|s| s.modified))
    }
}
