//! Sessions recorded by the site script, kept for the attribution window.

use super::kv::{Condition, Key, StoreError};
use super::record::Record;
use super::{Store, keys};
use crate::ids::SessionId;
use crate::session::Session;
use chrono::Duration;

/// A chat more than this long after the visit's last activity is not tied to it.
pub const SESSION_RETENTION_DAYS: i64 = 90;

impl Record for Session {
    fn key(&self) -> Key {
        keys::entity("SESSION", self.id.as_str())
    }
    fn expires_at(&self) -> Option<i64> {
        Some((self.last_seen_at + Duration::days(SESSION_RETENTION_DAYS)).timestamp())
    }
}

impl Store {
    /// The session a payload names, if it is one of ours and still kept. Ids that are not
    /// ours (a site's own token in Jivo's `user_token`) are not found, without a read.
    pub async fn session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let ours = id
            .strip_prefix(SessionId::PREFIX)
            .is_some_and(|rest| rest.starts_with('_'));
        let Some(id) = SessionId::parse(id).ok().filter(|_| ours) else {
            return Ok(None);
        };
        self.get_record(&keys::entity("SESSION", id.as_str())).await
    }

    pub async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        self.put_record(session, Condition::Always).await
    }
}
