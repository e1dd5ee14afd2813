//! Accounts (tenants) and the API keys that reach them. Keys are stored as SHA-256 digests:
//! they are long random tokens, so a fast hash is enough and lookup by digest is exact.

use crate::ids::AccountId;
use crate::secret::{random_token, sha256_hex};
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
}

/// Shortest key we accept when a user chooses one (`--api-key`).
pub const MIN_KEY_LEN: usize = 16;

pub fn generate_key() -> String {
    format!("cs_{}", random_token(32))
}

pub fn key_digest(key: &str) -> String {
    sha256_hex(key.as_bytes())
}
