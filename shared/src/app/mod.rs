//! What every handler borrows: the store, and short-lived caches of the settings a webhook
//! reads (integration, site, directory), so a warm Lambda reads them less. Writes through the
//! management API in the same process drop the cached copies at once; other processes (other
//! Lambdas) see a change of an integration within [`INTEGRATION_TTL`] (a rotated secret, an
//! integration switched off or deleted: security, so half a second), and of a site or the
//! attribution directory within [`CACHE_TTL`].

pub mod appeals_csv;
pub mod config;
pub mod demo;
pub mod exports;
pub mod forward;
pub mod ingest;
pub mod jobs;
pub mod runs;
pub mod settle;

use crate::clients::guard::http_client;
use crate::domain::account::Account;
use crate::domain::directory::{Directory, Site};
use crate::domain::ids::{AccountId, IntegrationId};
use crate::domain::integration::Integration;
use crate::domain::net::UrlPolicy;
use crate::queue::Queue;
use crate::store::record::Record;
use crate::store::{DirectoryEntity, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// How long another process may still accept an old secret, or a switched-off or deleted
/// integration: the bound README states, held by a test.
pub const INTEGRATION_TTL: Duration = Duration::from_millis(500);

type EntityCache<T> = Mutex<HashMap<String, (Instant, T)>>;

pub struct App {
    pub store: Store,
    /// Public base URL (`https://hooks.example.com`) for the URLs we hand out; `None`: take it
    /// from the request's `Host`.
    pub public_url: Option<String>,
    /// Guards `POST /api/accounts`; `None` disables account creation over HTTP.
    pub admin_key: Option<crate::domain::secret::Secret>,
    /// Where enrichment jobs go; `None` in a process that never queues (a plain API test).
    pub queue: Option<Arc<dyn Queue>>,
    /// For every provider call; it refuses internal addresses unless `url_policy` allows them.
    pub http: reqwest::Client,
    /// What provider addresses may be (tenant-set: no internal targets in production).
    pub url_policy: UrlPolicy,
    /// The Yandex Metrika API the offline-conversions upload goes to (a stand-in in tests).
    pub metrika_url: String,
    /// The export bucket, where CSV exports too large for one answer are made (AWS only: the
    /// local server streams them).
    pub objects: Option<Arc<dyn crate::store::objects::Objects>>,
    /// How large a CSV export the API answers itself.
    pub export_limits: appeals_csv::Limits,
    cache_ttl: Duration,
    integrations: EntityCache<Integration>,
    sites: EntityCache<Site>,
    directories: Mutex<HashMap<AccountId, (Instant, Arc<Directory>)>>,
    accounts: Mutex<HashMap<AccountId, (Instant, Account)>>,
    /// When this process last marked each integration's last appeal (see `mark_appeal`).
    marked: Mutex<HashMap<IntegrationId, Instant>>,
}

/// How often one process marks an integration's last appeal: a health view reads it to the
/// minute, and a busy integration would otherwise pay a write per appeal.
pub const MARK_EVERY: Duration = Duration::from_secs(30);

impl App {
    pub fn new(store: Store) -> App {
        App {
            store,
            public_url: None,
            admin_key: None,
            queue: None,
            http: http_client(Duration::from_secs(15), UrlPolicy::default()),
            url_policy: UrlPolicy::default(),
            metrika_url: crate::clients::metrika::API_URL.to_owned(),
            objects: None,
            export_limits: appeals_csv::Limits::default(),
            cache_ttl: CACHE_TTL,
            integrations: Mutex::default(),
            sites: Mutex::default(),
            directories: Mutex::default(),
            accounts: Mutex::default(),
            marked: Mutex::default(),
        }
    }

    pub fn with_public_url(mut self, url: Option<String>) -> App {
        self.public_url = url.map(|u| u.trim_end_matches('/').to_owned());
        self
    }

    pub fn with_queue(mut self, queue: Arc<dyn Queue>) -> App {
        self.queue = Some(queue);
        self
    }

    /// Lets provider addresses be plain http and internal (development and tests only:
    /// `chatsource serve --allow-private-urls`, `CHATSOURCE_ALLOW_PRIVATE_URLS` on a Lambda).
    pub fn with_url_policy(mut self, policy: UrlPolicy) -> App {
        self.http = http_client(Duration::from_secs(15), policy);
        self.url_policy = policy;
        self
    }

    /// Points the Metrika upload elsewhere (`None`: Metrika itself). Set by the operator, not
    /// by tenants; the provider client's address rules (`url_policy`) still apply to it.
    pub fn with_metrika_url(mut self, url: Option<String>) -> App {
        if let Some(url) = url {
            self.metrika_url = url.trim_end_matches('/').to_owned();
        }
        self
    }

    /// Where CSV exports too large for one answer are made.
    pub fn with_objects(mut self, objects: Arc<dyn crate::store::objects::Objects>) -> App {
        self.objects = Some(objects);
        self
    }

    pub fn with_export_limits(mut self, limits: appeals_csv::Limits) -> App {
        self.export_limits = limits;
        self
    }

    pub fn with_admin_key(mut self, key: Option<crate::domain::secret::Secret>) -> App {
        self.admin_key = key;
        self
    }

    /// An integration by id (every webhook).
    pub async fn integration(&self, id: &str) -> Result<Option<Integration>, StoreError> {
        self.cached_entity(&self.integrations, id, INTEGRATION_TTL.min(self.cache_ttl))
            .await
    }

    /// A site by id (every tracker request).
    pub async fn site(&self, id: &str) -> Result<Option<Site>, StoreError> {
        self.cached_entity(&self.sites, id, self.cache_ttl).await
    }

    /// Unknown ids are not remembered: a new record must be found as soon as it exists.
    async fn cached_entity<T>(
        &self,
        cache: &EntityCache<T>,
        id: &str,
        ttl: Duration,
    ) -> Result<Option<T>, StoreError>
    where
        T: DirectoryEntity + Record,
    {
        if let Some(hit) = fresh(cache, id, ttl) {
            return Ok(Some(hit));
        }
        let found: Option<T> = self.store.entity(id).await?;
        if let Some(found) = &found {
            remember(cache, id.to_owned(), found.clone());
        }
        Ok(found)
    }

    /// The account's attribution directory, shared (every webhook reads it; a copy per
    /// webhook of 200 campaigns cost more than the rest of deciding).
    pub async fn directory(&self, account: &AccountId) -> Result<Arc<Directory>, StoreError> {
        if let Some(hit) = fresh(&self.directories, account, self.cache_ttl) {
            return Ok(hit);
        }
        let dir = Arc::new(self.store.directory(account).await?);
        remember(&self.directories, account.clone(), Arc::clone(&dir));
        Ok(dir)
    }

    /// The account's settings (the repeat window of every new appeal with a contact), cached
    /// as the directory is.
    pub async fn account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        if let Some(hit) = fresh(&self.accounts, id, self.cache_ttl) {
            return Ok(Some(hit));
        }
        let account = self.store.account(id).await?;
        if let Some(account) = &account {
            remember(&self.accounts, id.clone(), account.clone());
        }
        Ok(account)
    }

    /// Records that an appeal of `integration` was made at `at`, at most once per
    /// [`MARK_EVERY`] in this process: one blind write, not worth failing a delivery over.
    pub async fn mark_appeal(
        &self,
        integration: &IntegrationId,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let due = match self.marked.lock() {
            Ok(mut marked) => {
                let due = marked
                    .get(integration)
                    .is_none_or(|last| last.elapsed() >= MARK_EVERY);
                if due {
                    if marked.len() > 10_000 {
                        marked.clear();
                    }
                    marked.insert(integration.clone(), Instant::now());
                }
                due
            }
            Err(_) => true,
        };
        if due && let Err(e) = self.store.mark_appeal(integration, at).await {
            tracing::warn!(error = %e, "could not mark the integration's last appeal");
            if let Ok(mut marked) = self.marked.lock() {
                marked.remove(integration);
            }
        }
    }

    /// Drops what is cached for the account: call after changing its settings.
    pub fn forget(&self, account: &AccountId) {
        if let Ok(mut map) = self.integrations.lock() {
            map.retain(|_, (_, i)| &i.account_id != account);
        }
        if let Ok(mut map) = self.sites.lock() {
            map.retain(|_, (_, s)| &s.account_id != account);
        }
        if let Ok(mut map) = self.directories.lock() {
            map.remove(account);
        }
        if let Ok(mut map) = self.accounts.lock() {
            map.remove(account);
        }
    }
}

fn fresh<K, Q, V>(map: &Mutex<HashMap<K, (Instant, V)>>, key: &Q, ttl: Duration) -> Option<V>
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
    V: Clone,
{
    let map = map.lock().ok()?;
    let (at, value) = map.get(key)?;
    (at.elapsed() < ttl).then(|| value.clone())
}

fn remember<K: std::hash::Hash + Eq, V>(map: &Mutex<HashMap<K, (Instant, V)>>, key: K, value: V) {
    if let Ok(mut map) = map.lock() {
        // Bounded: an account count this large means a cold start is cheaper than the memory.
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(key, (Instant::now(), value));
    }
}
