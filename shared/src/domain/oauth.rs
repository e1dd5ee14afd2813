//! OAuth connections to CRMs (amoCRM, Bitrix24): the stored token pair, how a connection
//! stands, and the refresh in progress.
//!
//! Both CRMs rotate refresh tokens as **single-use**: using one kills it and its access token,
//! and using it twice revokes the connection. So a refresh happens under a lease, the new pair
//! is stored before anyone uses it, and every other worker waits for it and reuses it
//! (`crm::Session` keeps the protocol).

use crate::domain::ids::{AccountId, IntegrationId};
use crate::domain::secret::Secret;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A connection's stored tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tokens {
    pub integration_id: IntegrationId,
    pub account_id: AccountId,
    pub access_token: Secret,
    /// `None` for a long-lived token, which is never refreshed.
    pub refresh_token: Option<Secret>,
    /// When the access token stops working (`None`: not known to expire).
    pub expires_at: Option<DateTime<Utc>>,
    /// When this pair was obtained (connect or refresh).
    pub obtained_at: DateTime<Utc>,
    pub state: Connection,
    /// A refresh in progress: who holds it and until when. A lease that lapsed stays here: its
    /// holder may still come back with the new pair, and only the holder may store one.
    pub lease: Option<Lease>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Connection {
    Connected,
    /// The CRM refused the tokens for good; jobs wait until the user connects again.
    NeedsReauth {
        since: DateTime<Utc>,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub holder: String,
    pub until: DateTime<Utc>,
}

/// What a token endpoint granted.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_in: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// The refresh token is used, expired or revoked (`invalid_grant`, "Token has been revoked").
    #[error("{0}")]
    Revoked(String),
    /// The token endpoint could not answer now (network, 5xx, 429): try again later.
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the integration is not connected")]
    NotConnected,
    #[error("the connection needs to be authorized again: {0}")]
    NeedsReauth(String),
    #[error("{0}")]
    Unavailable(String),
}

/// When to refresh.
#[derive(Debug, Clone, Copy)]
pub enum Refresh<'a> {
    /// Only when the access token is about to expire.
    IfExpiring,
    /// The provider refused this access token (HTTP 401): refresh, unless another worker has
    /// already replaced it.
    Refused(&'a Secret),
    /// Refresh tokens that are older than this, so an idle connection never lapses.
    IfOlderThan(Duration),
}

/// An access token this close to expiring is refreshed first.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(5 * 60);

impl Tokens {
    pub fn connected(
        integration_id: IntegrationId,
        account_id: AccountId,
        grant: Grant,
        now: DateTime<Utc>,
    ) -> Tokens {
        Tokens {
            integration_id,
            account_id,
            access_token: grant.access_token,
            refresh_token: grant.refresh_token,
            // A provider's number: an absurd one must not overflow the sum.
            expires_at: grant
                .expires_in
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .and_then(|d| now.checked_add_signed(d)),
            obtained_at: now,
            state: Connection::Connected,
            lease: None,
        }
    }

    /// Whether `holder` holds the refresh lease (lapsed or not): only it may store a new pair.
    pub fn leased_to(&self, holder: &str) -> bool {
        self.lease.as_ref().is_some_and(|l| l.holder == holder)
    }

    /// Whether `when` asks for a refresh of these tokens now.
    pub fn wants_refresh(&self, when: Refresh<'_>, now: DateTime<Utc>) -> bool {
        let margin = chrono::Duration::from_std(EXPIRY_MARGIN).unwrap_or_default();
        match when {
            Refresh::IfExpiring => self.expires_at.is_some_and(|at| at - now < margin),
            Refresh::Refused(token) => token == &self.access_token,
            Refresh::IfOlderThan(age) => {
                self.refresh_token.is_some()
                    && chrono::Duration::from_std(age).is_ok_and(|age| now - self.obtained_at > age)
            }
        }
    }

    /// The connection as the integration's API view shows it.
    pub fn view(&self) -> serde_json::Value {
        match &self.state {
            Connection::Connected => {
                serde_json::json!({"status": "connected", "since": self.obtained_at})
            }
            Connection::NeedsReauth { since, reason } => {
                serde_json::json!({"status": "needs_reauth", "since": since, "reason": reason})
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn tokens(expires_in_s: u64) -> Tokens {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        Tokens::connected(
            IntegrationId::parse("int_1").unwrap(),
            AccountId::parse("acc_1").unwrap(),
            Grant {
                access_token: Secret::new("a"),
                refresh_token: Some(Secret::new("r")),
                expires_in: Some(Duration::from_secs(expires_in_s)),
            },
            now,
        )
    }

    #[test]
    fn tokens_are_refreshed_before_they_expire_when_refused_and_when_old() {
        let t = tokens(3600);
        let at = |s: i64| Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap();
        assert!(!t.wants_refresh(Refresh::IfExpiring, at(0)));
        assert!(t.wants_refresh(Refresh::IfExpiring, at(3600 - 200)));
        assert!(t.wants_refresh(Refresh::Refused(&Secret::new("a")), at(0)));
        assert!(
            !t.wants_refresh(Refresh::Refused(&Secret::new("older")), at(0)),
            "someone refreshed already"
        );
        let month = Duration::from_secs(30 * 86400);
        assert!(!t.wants_refresh(Refresh::IfOlderThan(month), at(86400)));
        assert!(t.wants_refresh(Refresh::IfOlderThan(month), at(31 * 86400)));
    }
}
