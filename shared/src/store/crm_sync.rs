//! What reconciliation knows of a CRM's entities: how far it has listed them (the watermark),
//! and the ones read and found to be no chat, so they are not queued again. (An entity that
//! became an appeal is known by its appeal.)

use super::Store;
use super::kv::{Condition, Index, Key, Query, StoreError};
use super::record::Record;
use crate::domain::ids::IntegrationId;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Well past any reconciliation window: by then the entity is older than the watermark.
const KEEP_SKIPPED_DAYS: i64 = 90;

/// A CRM entity that is no appeal (a lead no open line made), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub integration_id: IntegrationId,
    /// `lead:48211`
    pub entity_ref: String,
    pub reason: String,
    pub at: DateTime<Utc>,
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
    fn expires_at(&self) -> Option<i64> {
        Some((self.at + Duration::days(KEEP_SKIPPED_DAYS)).timestamp())
    }
}

fn skipped_key(integration: &IntegrationId, entity_ref: &str) -> Key {
    Key::new(format!("SKIPPED#{integration}#{entity_ref}"), "SKIPPED")
}

/// Entities created up to this moment have been listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    pub integration_id: IntegrationId,
    pub created_up_to: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
                let created_up_to = current.map_or(to, |w| w.created_up_to.max(to));
                std::future::ready(Ok::<_, StoreError>(Watermark {
                    integration_id: integration.clone(),
                    created_up_to,
                    updated_at: now,
                }))
            })
            .await?;
        Ok(saved.created_up_to)
    }
}
