//! Secrets: values that redact themselves in `Debug`, compare in constant time, and are made
//! from the operating system's randomness.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// 32 random bytes, URL-safe: fits a path segment and cannot be guessed.
    pub fn generate() -> Secret {
        Secret(random_token(32))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares digests so neither the content nor the length leaks through timing.
    pub fn verify(&self, candidate: &str) -> bool {
        sha256(self.0.as_bytes())
            .ct_eq(&sha256(candidate.as_bytes()))
            .into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha256(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_verify_only_themselves_and_never_print() {
        let s = Secret::generate();
        assert!(s.verify(s.expose()));
        assert!(!s.verify("guess"));
        assert!(!s.verify(""));
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_ne!(Secret::generate(), s);
        assert_eq!(s.expose().len(), 43);
    }
}
