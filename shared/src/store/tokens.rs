//! Stored OAuth tokens, and the one way to a usable access token: refreshed at most once at a
//! time across every worker, the new pair stored before anyone uses it.

use super::kv::{Condition, Index, Key, Query, SortKey, StoreError};
use super::record::Record;
use super::{Store, keys};
use crate::domain::ids::IntegrationId;
use crate::domain::oauth::{
    Connection, LEASE, Lease, Refresh, RefreshError, Refresher, TokenError, Tokens,
};
use crate::domain::secret::Secret;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How long a worker waits for another's refresh before giving up for now.
const WAIT_FOR_REFRESH: Duration = Duration::from_secs(20);

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

    /// A new connection (OAuth callback, a long-lived token): replaces whatever was there.
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

    /// An access token to call the provider with, refreshed first when `when` asks for it.
    /// One worker refreshes, under a lease; the others wait for its result and reuse it.
    /// A refresh the provider refuses for good marks the connection `needs_reauth`.
    pub async fn access_token(
        &self,
        integration: &IntegrationId,
        refresher: &dyn Refresher,
        when: Refresh<'_>,
        now: impl Fn() -> DateTime<Utc>,
    ) -> Result<Secret, TokenError> {
        let unavailable = |e: StoreError| TokenError::Unavailable(e.to_string());
        let key = token_key(integration);
        let started = std::time::Instant::now();
        let me = crate::domain::secret::random_token(12);
        loop {
            let Some(item) = self.kv.get(&key).await.map_err(unavailable)? else {
                return Err(TokenError::NotConnected);
            };
            let version = item.version;
            let tokens: Tokens = super::record::decode(item).map_err(unavailable)?;
            if let Connection::NeedsReauth { reason, .. } = &tokens.state {
                return Err(TokenError::NeedsReauth(reason.clone()));
            }
            let t = now();
            if !tokens.wants_refresh(when, t) {
                return Ok(tokens.access_token);
            }
            let Some(refresh_token) = tokens.refresh_token.clone() else {
                // A long-lived token cannot be refreshed: refused means revoked.
                return match when {
                    Refresh::Refused(_) => {
                        let reason = "the provider refused the long-lived token".to_owned();
                        self.needs_reauth(integration, &reason, t)
                            .await
                            .map_err(unavailable)?;
                        Err(TokenError::NeedsReauth(reason))
                    }
                    _ => Ok(tokens.access_token),
                };
            };
            if tokens.lease.as_ref().is_some_and(|l| l.until > t) {
                if started.elapsed() > WAIT_FOR_REFRESH {
                    return Err(TokenError::Unavailable(
                        "another worker's refresh is taking too long".into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(rand::random_range(80..200))).await;
                continue;
            }
            // Take the lease: only one writer of this version wins.
            let mut leased = tokens.clone();
            leased.lease = Some(Lease {
                holder: me.clone(),
                until: t + chrono::Duration::from_std(LEASE).unwrap_or_default(),
            });
            let mut item = super::record::encode(&leased).map_err(unavailable)?;
            item.version = version + 1;
            match self.kv.put(&item, Condition::Version(version)).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(unavailable(e)),
            }
            return self
                .finish_refresh(
                    leased,
                    version + 1,
                    refresher.refresh(&refresh_token).await,
                    now(),
                )
                .await;
        }
    }

    /// Stores what the refresh gave, under the lease we hold (`version`). The new pair is
    /// written before it is handed out: losing it would leave a used refresh token behind.
    async fn finish_refresh(
        &self,
        leased: Tokens,
        version: u64,
        result: Result<crate::domain::oauth::Grant, RefreshError>,
        now: DateTime<Utc>,
    ) -> Result<Secret, TokenError> {
        let (next, outcome) = match result {
            Ok(grant) => {
                let fresh = Tokens::connected(
                    leased.integration_id.clone(),
                    leased.account_id.clone(),
                    grant,
                    now,
                );
                let access = fresh.access_token.clone();
                (fresh, Ok(access))
            }
            Err(RefreshError::Revoked(reason)) => {
                let mut dead = leased.clone();
                dead.lease = None;
                dead.state = Connection::NeedsReauth {
                    since: now,
                    reason: reason.clone(),
                };
                (dead, Err(TokenError::NeedsReauth(reason)))
            }
            Err(RefreshError::Unavailable(reason)) => {
                let mut released = leased.clone();
                released.lease = None;
                (released, Err(TokenError::Unavailable(reason)))
            }
        };
        let mut item =
            super::record::encode(&next).map_err(|e| TokenError::Unavailable(e.to_string()))?;
        item.version = version + 1;
        let mut last = None;
        for attempt in 0..5u64 {
            match self.kv.put(&item, Condition::Version(version)).await {
                Ok(()) => return outcome,
                // Nobody else writes while we hold the lease; a store hiccup is retried.
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
        }
        tracing::error!(integration_id = %leased.integration_id, error = ?last, "a refreshed token pair could not be stored");
        Err(TokenError::Unavailable(
            "the refreshed tokens could not be stored".into(),
        ))
    }

    /// Marks the connection as refused for good, with when and why.
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
                    t.lease = None;
                    t
                })
                .ok_or(StoreError::ConditionFailed);
            std::future::ready(result)
        })
        .await
        .map(|_| ())
    }
}
