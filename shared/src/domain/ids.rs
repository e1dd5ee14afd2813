//! Identifiers: opaque prefixed strings; appeal ids are derived, everything else is generated.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// An id string that is not safe to use as one: empty, too long, or with characters that
/// would break a storage key (`#` separates key parts) or a URL path segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid id: use 1-64 letters, digits, `_` or `-`")]
pub struct InvalidId(pub String);

fn is_safe(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new random id; UUIDv7 keeps ids in creation order, which listings rely on.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, Uuid::now_v7().simple()))
            }

            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                if is_safe(s) { Ok(Self(s.to_owned())) } else { Err(InvalidId(s.to_owned())) }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            // The string moves in: no copy for each id a stored record holds.
            fn try_from(s: String) -> Result<Self, InvalidId> {
                if is_safe(&s) { Ok(Self(s)) } else { Err(InvalidId(s)) }
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A customer (tenant).
    AccountId, "acc");
id_type!(SiteId, "site");
id_type!(SourceId, "src");
id_type!(CampaignId, "cmp");
id_type!(EmployeeId, "emp");
id_type!(IntegrationId, "int");
id_type!(
    /// Deterministic from (integration, provider, provider's reference): see [`AppealId::derive`].
    AppealId, "apl");
id_type!(
    /// A visit recorded by the site script.
    SessionId, "ses");
id_type!(
    /// A CSV export made by a job (`GET /api/exports/{id}`).
    ExportId, "exp");
id_type!(
    /// A re-attribution run, or an account's backfill (`GET /api/reattribute/{id}`).
    RunId, "run");

/// Namespace for UUIDv5 appeal ids. Changing it would re-key every appeal: never do.
const APPEAL_NAMESPACE: Uuid = Uuid::from_u128(0x6a1c_8f0e_2b4d_4c3a_9e57_d0b1_7f2a_c4e9);

impl AppealId {
    /// The same chat always gets the same id, so a retried or repeated webhook updates the
    /// appeal it already made instead of creating a second one.
    pub fn derive(integration: &IntegrationId, provider: &str, provider_ref: &str) -> Self {
        // The unit separator cannot occur in ids or providers, so parts cannot run together.
        let name = format!("{integration}\u{1f}{provider}\u{1f}{provider_ref}");
        Self(format!(
            "apl_{}",
            Uuid::new_v5(&APPEAL_NAMESPACE, name.as_bytes()).simple()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_carry_their_prefix_and_are_valid() {
        let id = CampaignId::generate();
        assert!(id.as_str().starts_with("cmp_"));
        assert_eq!(CampaignId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn unsafe_strings_are_refused() {
        for bad in ["", "a#b", "a/b", "x y", &"a".repeat(65)] {
            assert!(SiteId::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(SiteId::parse("demo-site_1").is_ok());
    }

    #[test]
    fn appeal_ids_are_stable_and_distinguish_their_parts() {
        let int = IntegrationId::parse("int_a").unwrap();
        let a = AppealId::derive(&int, "jivo", "5501234:90817");
        assert_eq!(a, AppealId::derive(&int, "jivo", "5501234:90817"));
        assert_ne!(a, AppealId::derive(&int, "jivo", "5501234:90818"));
        assert_ne!(a, AppealId::derive(&int, "verbox", "5501234:90817"));
        let other = IntegrationId::parse("int_b").unwrap();
        assert_ne!(a, AppealId::derive(&other, "jivo", "5501234:90817"));
    }

    #[test]
    fn ids_deserialize_only_when_valid() {
        assert!(serde_json::from_str::<SiteId>("\"site_1\"").is_ok());
        assert!(serde_json::from_str::<SiteId>("\"a#b\"").is_err());
    }
}
