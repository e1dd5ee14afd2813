//! OAuth `state`s: each names the integration being connected, is signed, and works once.
//!
//! `state` = `<nonce>.<signature>`: the nonce is random, the signature an HMAC-SHA256 of the
//! nonce and the integration id under this deployment's signing key (made on first use and
//! kept in the store, so every function of the stack shares it without configuration). The
//! record behind the nonce expires with the provider's authorization code (20 minutes) and is
//! consumed by a conditional write, so a replayed callback finds nothing.

use super::Store;
use super::kv::{Condition, Key, StoreError};
use super::record::Record;
use crate::domain::ids::IntegrationId;
use crate::domain::secret::{Secret, random_token};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const LIFETIME_MINUTES: i64 = 20;

#[derive(Serialize, Deserialize)]
struct SigningKey {
    key: Secret,
}

impl Record for SigningKey {
    fn key(&self) -> Key {
        Key::new("META#oauth-signing-key", "META")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StateRecord {
    nonce: String,
    integration_id: IntegrationId,
    expires_at: DateTime<Utc>,
    consumed: bool,
}

impl Record for StateRecord {
    fn key(&self) -> Key {
        state_key(&self.nonce)
    }
    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at.timestamp())
    }
}

fn state_key(nonce: &str) -> Key {
    Key::new(format!("OAUTHSTATE#{nonce}"), "OAUTHSTATE")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the state is not one we issued, or it was tampered with")]
    Invalid,
    #[error("the state was used already or has expired; start the connection again")]
    Spent,
}

impl Store {
    /// A new state for connecting `integration`.
    pub async fn issue_oauth_state(
        &self,
        integration: &IntegrationId,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let nonce = random_token(24);
        let record = StateRecord {
            nonce: nonce.clone(),
            integration_id: integration.clone(),
            expires_at: now + Duration::minutes(LIFETIME_MINUTES),
            consumed: false,
        };
        self.put_record(&record, Condition::NotExists).await?;
        let signature = sign(&self.signing_key().await?, &nonce, integration);
        Ok(format!("{nonce}.{signature}"))
    }

    /// The integration a state was issued for; it cannot be used again.
    pub async fn consume_oauth_state(
        &self,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<IntegrationId, StateError>, StoreError> {
        let Some((nonce, signature)) = state.split_once('.') else {
            return Ok(Err(StateError::Invalid));
        };
        let Some(record) = self.get_record::<StateRecord>(&state_key(nonce)).await? else {
            return Ok(Err(StateError::Spent));
        };
        let expected = sign(&self.signing_key().await?, nonce, &record.integration_id);
        if !Secret::new(expected).verify(signature) {
            return Ok(Err(StateError::Invalid));
        }
        if record.consumed || record.expires_at <= now {
            return Ok(Err(StateError::Spent));
        }
        // Two callbacks racing with one state: one write wins.
        let consumed = self
            .update_record(&state_key(nonce), |current: Option<StateRecord>| {
                let result = match current {
                    Some(r) if !r.consumed => Ok(StateRecord {
                        consumed: true,
                        ..r
                    }),
                    _ => Err(StoreError::ConditionFailed),
                };
                std::future::ready(result)
            })
            .await;
        match consumed {
            Ok(record) => Ok(Ok(record.integration_id)),
            Err(StoreError::ConditionFailed) => Ok(Err(StateError::Spent)),
            Err(e) => Err(e),
        }
    }

    async fn signing_key(&self) -> Result<Secret, StoreError> {
        let fresh = SigningKey {
            key: Secret::new(random_token(32)),
        };
        match self.put_record(&fresh, Condition::NotExists).await {
            Ok(()) => Ok(fresh.key),
            Err(StoreError::ConditionFailed) => self
                .get_record::<SigningKey>(&fresh.key())
                .await?
                .map(|k| k.key)
                .ok_or_else(|| StoreError::Unavailable("the signing key vanished".into())),
            Err(e) => Err(e),
        }
    }
}

fn sign(key: &Secret, nonce: &str, integration: &IntegrationId) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(nonce.as_bytes());
    mac.update(b"\x1f");
    mac.update(integration.as_str().as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}
