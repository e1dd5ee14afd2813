//! Stored OAuth tokens, one record per connection, changed only by conditional writes on its
//! version. The refresh protocol on top (lease, fence, who may spend a refresh token) is
//! `crm::Session`'s; this file only reads and writes.

use super::kv::{Condition, Index, Key, Query, SortKey, StoreError};
use super::record::{self, Record};
use super::{Store, keys};
use crate::domain::ids::IntegrationId;
use crate::domain::oauth::{Connection, Tokens};
use chrono::{DateTime, Utc};

impl Record for Tokens {
    fn key(&self) -> Key {
        token_key(&self.integration_id)
    }
    /// By when they were obtained: the maintenance run refreshes the old ones.
    fn gsi1(&self) -> Option<Key> {
        Some(Key::new(
            "TOKENS",
            format!(
                "{}#{}",
                keys::time_key(self.obtained_at),
                self.integration_id
            ),
        ))
    }
}

fn token_key(integration: &IntegrationId) -> Key {
    keys::entity("TOKENS", integration.as_str())
}

impl Store {
    pub async fn tokens(&self, integration: &IntegrationId) -> Result<Option<Tokens>, StoreError> {
        self.get_record(&token_key(integration)).await
    }

    /// The tokens and the version a conditional write must name to replace them.
    pub async fn tokens_versioned(
        &self,
        integration: &IntegrationId,
    ) -> Result<Option<(u64, Tokens)>, StoreError> {
        match self.kv.get(&token_key(integration)).await? {
            Some(item) => {
                let version = item.version;
                Ok(Some((version, record::decode(item)?)))
            }
            None => Ok(None),
        }
    }

    /// Writes `tokens` if the stored ones still have `version`; returns the new version.
    pub async fn replace_tokens(&self, tokens: &Tokens, version: u64) -> Result<u64, StoreError> {
        let mut item = record::encode(tokens)?;
        item.version = version + 1;
        self.kv.put(&item, Condition::Version(version)).await?;
        Ok(version + 1)
    }

    /// A new connection (OAuth callback, a long-lived token): replaces whatever was there,
    /// a refresh in progress included (its holder finds its lease gone and stores nothing).
    pub async fn connect(&self, tokens: &Tokens) -> Result<(), StoreError> {
        let tokens = tokens.clone();
        self.update_record(&tokens.key(), |_: Option<Tokens>| {
            std::future::ready(Ok::<_, StoreError>(tokens.clone()))
        })
        .await
        .map(|_| ())
    }

    /// Connections whose tokens were obtained before `cutoff` (oldest first).
    pub async fn tokens_obtained_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Tokens>, StoreError> {
        let mut query = Query::new(Index::Gsi1, "TOKENS");
        query.sort = SortKey::Between(String::new(), keys::time_key(cutoff));
        query.limit = limit;
        self.query_records(&query).await
    }

    /// Every connection, in the order their tokens were obtained (the scheduled run visits
    /// them all).
    pub async fn connections(&self) -> Result<Vec<Tokens>, StoreError> {
        let mut query = Query::new(Index::Gsi1, "TOKENS");
        query.limit = 500;
        self.all_records(query).await
    }

    /// Forgets a connection (the user removed the long-lived token, say).
    pub async fn disconnect(&self, integration: &IntegrationId) -> Result<(), StoreError> {
        self.kv.delete(&token_key(integration)).await
    }

    /// Marks the connection as refused for good, with when and why. A refresh in progress
    /// keeps its lease: if its holder comes back with a new pair, that pair is the truth.
    pub async fn needs_reauth(
        &self,
        integration: &IntegrationId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let reason = reason.to_owned();
        self.update_record(&token_key(integration), |current: Option<Tokens>| {
            let result = current
                .map(|mut t| {
                    if !matches!(t.state, Connection::NeedsReauth { .. }) {
                        t.state = Connection::NeedsReauth {
                            since: now,
                            reason: reason.clone(),
                        };
                    }
                    t
                })
                .ok_or(StoreError::ConditionFailed);
            std::future::ready(result)
        })
        .await
        .map(|_| ())
    }
}
