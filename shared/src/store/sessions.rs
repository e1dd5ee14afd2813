//! Sessions recorded by the site script and their deep-link codes, kept for the attribution
//! window.

use super::kv::{Condition, Key, StoreError};
use super::record::Record;
use super::{Store, keys};
use crate::domain::deeplink::Code;
use crate::domain::ids::SessionId;
use crate::domain::session::Session;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

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

/// A deep-link code and the session it stands for.
#[derive(Serialize, Deserialize)]
struct CodeRecord {
    code: Code,
    session_id: SessionId,
    /// Outlives any session it can name: a visit lasts hours, not days.
    expires_at: DateTime<Utc>,
}

impl Record for CodeRecord {
    fn key(&self) -> Key {
        code_key(&self.code)
    }
    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at.timestamp())
    }
}

fn code_key(code: &Code) -> Key {
    Key::new(format!("CODE#{code}"), "CODE")
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

    /// The session a deep-link code stands for.
    pub async fn session_for_code(&self, code: &Code) -> Result<Option<Session>, StoreError> {
        match self.get_record::<CodeRecord>(&code_key(code)).await? {
            Some(record) => self.session(record.session_id.as_str()).await,
            None => Ok(None),
        }
    }

    /// Stores a new session and claims its code; a code already taken (one in a trillion)
    /// is drawn again.
    pub async fn start_session(&self, session: &mut Session) -> Result<(), StoreError> {
        if let Some(mut code) = session.code.clone() {
            let mut attempts = 0;
            loop {
                let record = CodeRecord {
                    code: code.clone(),
                    session_id: session.id.clone(),
                    expires_at: session.started_at + Duration::days(SESSION_RETENTION_DAYS + 1),
                };
                match self.put_record(&record, Condition::NotExists).await {
                    Ok(()) => break,
                    Err(StoreError::ConditionFailed) if attempts < 5 => {
                        attempts += 1;
                        code = Code::generate();
                    }
                    Err(e) => return Err(e),
                }
            }
            session.code = Some(code);
        }
        self.put_record(session, Condition::NotExists).await
    }

    /// Writes a continuing session (its last activity).
    pub async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        self.put_record(session, Condition::Always).await
    }
}
