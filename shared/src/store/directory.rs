//! Directory entities (sites, sources, campaigns, employees, integrations): by id, by account,
//! and the whole directory of an account in one query.

use super::kv::{Condition, Index, Key, Query, SortKey, StoreError};
use super::record::{Record, decode};
use super::{Store, keys};
use crate::domain::directory::{Campaign, Directory, Employee, Site, Source};
use crate::domain::ids::AccountId;
use crate::domain::integration::Integration;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A record that belongs to an account's directory.
pub trait DirectoryEntity: Serialize + DeserializeOwned + Clone + Send + Sync {
    /// Upper-case kind, the first part of its keys (`SITE`).
    const KIND: &'static str;
    fn id_str(&self) -> &str;
    fn account(&self) -> &AccountId;
}

macro_rules! directory_entity {
    ($t:ty, $kind:literal) => {
        impl DirectoryEntity for $t {
            const KIND: &'static str = $kind;
            fn id_str(&self) -> &str {
                self.id.as_str()
            }
            fn account(&self) -> &AccountId {
                &self.account_id
            }
        }

        impl Record for $t {
            fn key(&self) -> Key {
                keys::entity($kind, self.id.as_str())
            }
            fn gsi1(&self) -> Option<Key> {
                Some(Key::new(
                    keys::directory(self.account_id.as_str()),
                    format!("{}#{}", $kind, self.id),
                ))
            }
        }
    };
}

directory_entity!(Site, "SITE");
directory_entity!(Source, "SOURCE");
directory_entity!(Campaign, "CAMPAIGN");
directory_entity!(Employee, "EMPLOYEE");
directory_entity!(Integration, "INTEGRATION");

impl Store {
    pub async fn put_entity<T: DirectoryEntity + Record>(
        &self,
        value: &T,
    ) -> Result<(), StoreError> {
        self.put_record(value, Condition::Always).await
    }

    /// The entity by id alone (webhooks, tracker): callers that act for an account must check
    /// it owns the entity, or use [`Store::entity_of`].
    pub async fn entity<T: DirectoryEntity + Record>(
        &self,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get_record(&keys::entity(T::KIND, id)).await
    }

    /// The entity if it exists and belongs to the account; another account's is "not found".
    pub async fn entity_of<T: DirectoryEntity + Record>(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        Ok(self
            .entity::<T>(id)
            .await?
            .filter(|e| e.account() == account))
    }

    pub async fn delete_entity<T: DirectoryEntity + Record>(
        &self,
        id: &str,
    ) -> Result<(), StoreError> {
        self.kv.delete(&keys::entity(T::KIND, id)).await
    }

    pub async fn entities<T: DirectoryEntity + Record>(
        &self,
        account: &AccountId,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        self.scan_directory(account, Some(T::KIND), |kind, item| {
            if kind == T::KIND {
                out.push(decode(item)?);
            }
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Sites, sources, campaigns and employees of the account, in one query (plus pages).
    pub async fn directory(&self, account: &AccountId) -> Result<Directory, StoreError> {
        let mut dir = Directory::default();
        self.scan_directory(account, None, |kind, item| {
            match kind {
                "SITE" => dir.sites.push(decode(item)?),
                "SOURCE" => dir.sources.push(decode(item)?),
                "CAMPAIGN" => dir.campaigns.push(decode(item)?),
                "EMPLOYEE" => dir.employees.push(decode(item)?),
                _ => {}
            }
            Ok(())
        })
        .await?;
        Ok(dir)
    }

    async fn scan_directory(
        &self,
        account: &AccountId,
        kind: Option<&str>,
        mut each: impl FnMut(&str, super::Item) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut query = Query::new(Index::Gsi1, keys::directory(account.as_str()));
        query.limit = 500;
        if let Some(kind) = kind {
            query.sort = SortKey::BeginsWith(format!("{kind}#"));
        }
        loop {
            let page = self.kv.query(&query).await?;
            for item in page.items {
                let kind = item
                    .gsi1
                    .as_ref()
                    .and_then(|k| k.sk.split_once('#'))
                    .map(|(kind, _)| kind.to_owned())
                    .unwrap_or_default();
                each(&kind, item)?;
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(()),
            }
        }
    }
}
