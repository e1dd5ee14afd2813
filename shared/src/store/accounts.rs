//! Accounts, their API keys (named, last use, revocation) and the console sessions the keys
//! open.

use super::Store;
use super::kv::{Condition, Index, Key, Query, StoreError};
use super::record::Record;
use crate::domain::account::{Account, ApiKey, ConsoleSession, generate_key, key_digest};
use crate::domain::ids::AccountId;
use chrono::{DateTime, Utc};

impl Record for Account {
    fn key(&self) -> Key {
        Key::new(format!("ACCOUNT#{}", self.id), "ACCOUNT")
    }
    fn gsi1(&self) -> Option<Key> {
        Some(Key::new("ACCOUNTS", self.id.as_str()))
    }
}

impl Record for ApiKey {
    fn key(&self) -> Key {
        digest_key(&self.digest)
    }
    /// An account's keys, oldest first (the keys page).
    fn gsi1(&self) -> Option<Key> {
        Some(Key::new(
            format!("KEYS#{}", self.account_id),
            format!("{}#{}", super::keys::time_key(self.created_at), self.digest),
        ))
    }
}

impl Record for ConsoleSession {
    fn key(&self) -> Key {
        Key::new(format!("CONSOLE#{}", self.digest), "CONSOLE")
    }
    /// A key's sessions: what ends with it.
    fn gsi1(&self) -> Option<Key> {
        Some(Key::new(
            format!("KEYSESSIONS#{}", self.key_digest),
            self.digest.clone(),
        ))
    }
    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at.timestamp())
    }
}

fn digest_key(digest: &str) -> Key {
    Key::new(format!("APIKEY#{digest}"), "APIKEY")
}

impl Store {
    /// Creates an account with one API key: the given one, or a new random one. Returns the
    /// key in clear: the only moment it exists outside its owner's hands.
    pub async fn create_account(
        &self,
        id: AccountId,
        name: &str,
        key: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(Account, String), StoreError> {
        let account = Account::new(id, name, now);
        let key = key.unwrap_or_else(generate_key);
        let record = ApiKey::new(&key, account.id.clone(), "first key", now);
        self.put_record(&record, Condition::NotExists).await?;
        self.put_record(&account, Condition::NotExists).await?;
        Ok((account, key))
    }

    /// Lets `key` open the account too (a key fixed by the operator); a no-op if it does.
    pub async fn add_api_key(
        &self,
        account: &AccountId,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let record = ApiKey::new(key, account.clone(), "command line", now);
        match self.put_record(&record, Condition::NotExists).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => {
                match self.get_record::<ApiKey>(&record.key()).await? {
                    Some(existing) if &existing.account_id == account => Ok(()),
                    _ => Err(StoreError::ConditionFailed),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The account a live key opens; its use is written down (at most once a minute).
    pub async fn account_for_key(&self, key: &str) -> Result<Option<Account>, StoreError> {
        let Some(record) = self.live_key(&key_digest(key)).await? else {
            return Ok(None);
        };
        let now = chrono::Utc::now();
        if record.stale_use(now) {
            // A lost race or a store hiccup only loses the note, never the request.
            let _ = self.note_key_use(&record.digest, now).await;
        }
        self.account(&record.account_id).await
    }

    pub async fn account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        self.get_record(&Key::new(format!("ACCOUNT#{id}"), "ACCOUNT"))
            .await
    }

    /// Changes the account's record under optimistic locking: `change` gets the stored account
    /// (it may run more than once) and returns its next state, or refuses with its own error.
    pub async fn update_account<E, F>(&self, id: &AccountId, mut change: F) -> Result<Account, E>
    where
        E: From<StoreError>,
        F: FnMut(Option<Account>) -> Result<Account, E>,
    {
        let key = Key::new(format!("ACCOUNT#{id}"), "ACCOUNT");
        self.update_record(&key, |current| std::future::ready(change(current)))
            .await
    }

    /// The key with this digest, if it is not revoked.
    pub async fn live_key(&self, digest: &str) -> Result<Option<ApiKey>, StoreError> {
        Ok(self
            .get_record::<ApiKey>(&digest_key(digest))
            .await?
            .filter(ApiKey::is_live))
    }

    async fn note_key_use(&self, digest: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.update_record(&digest_key(digest), |current: Option<ApiKey>| {
            let result = current
                .map(|mut k| {
                    k.last_used_at = Some(now);
                    k
                })
                .ok_or(StoreError::ConditionFailed);
            std::future::ready(result)
        })
        .await
        .map(|_| ())
    }

    /// A new named key for the account; returns it in clear, the only time it is shown.
    pub async fn create_key(
        &self,
        account: &AccountId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(ApiKey, String), StoreError> {
        let key = generate_key();
        let record = ApiKey::new(&key, account.clone(), name, now);
        self.put_record(&record, Condition::NotExists).await?;
        Ok((record, key))
    }

    /// An account's keys, revoked ones too, oldest first.
    pub async fn keys(&self, account: &AccountId) -> Result<Vec<ApiKey>, StoreError> {
        self.all_records(Query::new(Index::Gsi1, format!("KEYS#{account}")))
            .await
    }

    /// Revokes one of the account's keys (by its public id) and ends the console sessions it
    /// opened. `Ok(None)`: no such key of this account.
    pub async fn revoke_key(
        &self,
        account: &AccountId,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiKey>, StoreError> {
        let Some(found) = self.keys(account).await?.into_iter().find(|k| k.id() == id) else {
            return Ok(None);
        };
        let revoked = self
            .update_record(&found.key(), |current: Option<ApiKey>| {
                let result = current
                    .map(|mut k| {
                        k.revoked_at.get_or_insert(now);
                        k
                    })
                    .ok_or(StoreError::ConditionFailed);
                std::future::ready(result)
            })
            .await?;
        let sessions: Vec<ConsoleSession> = self
            .all_records(Query::new(
                Index::Gsi1,
                format!("KEYSESSIONS#{}", revoked.digest),
            ))
            .await?;
        for session in sessions {
            self.kv.delete(&session.key()).await?;
        }
        Ok(Some(revoked))
    }

    pub async fn open_console_session(&self, session: &ConsoleSession) -> Result<(), StoreError> {
        self.put_record(session, Condition::NotExists).await
    }

    /// The session a cookie names, if it and its key are both still live.
    pub async fn console_session(
        &self,
        cookie: &str,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let digest = key_digest(cookie);
        let Some(session) = self
            .get_record::<ConsoleSession>(&Key::new(format!("CONSOLE#{digest}"), "CONSOLE"))
            .await?
        else {
            return Ok(None);
        };
        // A revoked key stops its sessions at once, even one opened a moment before.
        Ok(self.live_key(&session.key_digest).await?.map(|_| session))
    }

    pub async fn close_console_session(&self, cookie: &str) -> Result<(), StoreError> {
        self.kv
            .delete(&Key::new(
                format!("CONSOLE#{}", key_digest(cookie)),
                "CONSOLE",
            ))
            .await
    }

    pub async fn has_accounts(&self) -> Result<bool, StoreError> {
        let mut q = Query::new(Index::Gsi1, "ACCOUNTS");
        q.limit = 1;
        Ok(!self.kv.query(&q).await?.items.is_empty())
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.query_records(&Query::new(Index::Gsi1, "ACCOUNTS"))
            .await
    }
}
