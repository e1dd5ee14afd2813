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
