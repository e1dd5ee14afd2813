//! Accounts and API keys.

use super::Store;
use super::kv::{Condition, Index, Key, Query, StoreError};
use super::record::Record;
use crate::domain::account::{Account, ApiKey, generate_key, key_digest};
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
        let account = Account {
            id,
            name: name.to_owned(),
            created_at: now,
        };
        let key = key.unwrap_or_else(generate_key);
        let record = ApiKey {
            digest: key_digest(&key),
            account_id: account.id.clone(),
            created_at: now,
        };
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
        let record = ApiKey {
            digest: key_digest(key),
            account_id: account.clone(),
            created_at: now,
        };
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

    pub async fn account_for_key(&self, key: &str) -> Result<Option<Account>, StoreError> {
        let Some(record) = self
            .get_record::<ApiKey>(&digest_key(&key_digest(key)))
            .await?
        else {
            return Ok(None);
        };
        self.get_record(&Key::new(
            format!("ACCOUNT#{}", record.account_id),
            "ACCOUNT",
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
