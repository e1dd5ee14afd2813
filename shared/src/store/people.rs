//! The person index: an account's appeals by the phones and e-mails of their contact, so a
//! new appeal of someone known is told from a first one. One small item per (person key,
//! appeal), written blind (idempotent), read as the partition of that person.

use super::Store;
use super::kv::{Condition, Index, Key, Query, StoreError, Write};
use super::record::{Record, encode};
use crate::domain::ids::{AccountId, AppealId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A person's partition is read up to this many appeals (in appeal-id order, not time order):
/// enough for any real person; a shop's own test phone with more may be judged first where it
/// is a repeat.
const READ_AT_MOST: usize = 500;

/// The page a person's partition is read in (the local store reads up to 100 in place).
const PAGE: usize = 100;

#[derive(Serialize, Deserialize)]
struct Entry {
    account_id: AccountId,
    person: String,
    appeal_id: AppealId,
    created_at: DateTime<Utc>,
}

fn partition(account: &AccountId, person: &str) -> String {
    format!("PERSON#{}#{person}", account.as_str())
}

impl Record for Entry {
    fn key(&self) -> Key {
        Key::new(
            partition(&self.account_id, &self.person),
            self.appeal_id.as_str(),
        )
    }
}

impl Store {
    /// Records that `appeal` is each of `people`'s, in one request.
    pub async fn index_people(
        &self,
        account: &AccountId,
        people: &[String],
        appeal: &AppealId,
        created_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let writes = people
            .iter()
            .map(|person| {
                let entry = Entry {
                    account_id: account.clone(),
                    person: person.clone(),
                    appeal_id: appeal.clone(),
                    created_at,
                };
                Ok(Write::Put {
                    item: encode(&entry)?,
                    condition: Condition::Always,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // A transaction of blind puts cannot fail a condition; it can collide with another
        // writing the same entry (the same appeal indexed twice at once): that one wrote it.
        match self.kv.transact(&writes).await {
            Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `person`'s appeals and when each was made.
    pub async fn person_appeals(
        &self,
        account: &AccountId,
        person: &str,
    ) -> Result<Vec<(AppealId, DateTime<Utc>)>, StoreError> {
        let mut query = Query::new(Index::Primary, partition(account, person));
        // Almost every person has one or two appeals: one page, one request, read in place on
        // the local store (a bigger page would hop to a blocking thread, twice per webhook).
        query.limit = PAGE;
        let entries: Vec<Entry> = self.records_up_to(query, READ_AT_MOST).await?;
        Ok(entries
            .into_iter()
            .map(|e| (e.appeal_id, e.created_at))
            .collect())
    }
}
