//! Accounts (tenants) and the API keys that reach them. Keys are stored as SHA-256 digests:
//! they are long random tokens, so a fast hash is enough and lookup by digest is exact.

use crate::domain::ids::AccountId;
use crate::domain::secret::sha256_hex;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// SHA-256 of the key, hex.
    pub digest: String,
    pub account_id: AccountId,
    pub created_at: DateTime<Utc>,
    /// What the owner calls it ("CRM sync", "Anna's laptop").
    #[serde(default)]
    pub name: String,
    /// When it last opened the account (kept to the minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// A revoked key opens nothing, and the console sessions it opened end with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn new(key: &str, account_id: AccountId, name: &str, now: DateTime<Utc>) -> ApiKey {
        ApiKey {
            digest: key_digest(key),
            account_id,
            created_at: now,
            name: name.to_owned(),
            last_used_at: None,
            revoked_at: None,
        }
    }

    /// The key's public id: names it in lists and URLs without revealing it.
    pub fn id(&self) -> String {
        format!("key_{}", &self.digest[..16.min(self.digest.len())])
    }

    pub fn is_live(&self) -> bool {
        self.revoked_at.is_none()
    }

    /// Whether its last use is worth writing down now (at most once a minute).
    pub fn stale_use(&self, now: DateTime<Utc>) -> bool {
        self.last_used_at
            .is_none_or(|at| now - at >= chrono::Duration::minutes(1))
    }
}

/// A signed-in browser: opened with an API key, held by an opaque cookie whose digest names
/// this record; it ends with sign-out, with its key's revocation, or after a while idle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSession {
    /// SHA-256 of the cookie's value, hex: the store never holds a usable cookie.
    pub digest: String,
    pub account_id: AccountId,
    /// The key it was opened with.
    pub key_digest: String,
    /// Every form of the session carries it, and every post must send it back.
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Shortest key we accept when a user chooses one (`--api-key`).
pub const MIN_KEY_LEN: usize = 16;

/// `cs_` and 48 hex digits (192 random bits): easy to spot in a config, safe in any header.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("cs_{}", hex::encode(bytes))
}

pub fn key_digest(key: &str) -> String {
    sha256_hex(key.as_bytes())
}
