//! Every chatsource function in one local process, on the embedded store: the same handlers
//! the Lambdas run, behind one HTTP server (`serve`) or one event file (`invoke`).

mod invoke;
mod server;

pub use invoke::invoke;
pub use server::{Running, ServeOptions, serve, spawn_hourly, spawn_recovery};

use lambda_http::Request;
use shared::app::App;
use shared::app::demo;
use shared::edge::web::HttpResponse;
use shared::queue::Queue;
use shared::queue::embedded::EmbeddedQueue;
use shared::store::sqlite::SqliteKv;
use shared::store::{Store, StoreError};
use std::path::Path;
use std::sync::Arc;

/// The functions of `template.yaml` that no HTTP request reaches: `serve` runs them in the
/// background (the enrichment worker consumes the embedded queue), `invoke` takes their
/// event files.
pub const BACKGROUND: [&str; 2] = ["enrichment-worker", "maintenance"];

/// The functions of `template.yaml`, by the name `invoke` takes and the paths they serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    JivoWebhook,
    VerboxWebhook,
    AmocrmWebhook,
    Bitrix24Webhook,
    Api,
    Tracker,
}

impl Function {
    pub const ALL: [Function; 6] = [
        Function::JivoWebhook,
        Function::VerboxWebhook,
        Function::AmocrmWebhook,
        Function::Bitrix24Webhook,
        Function::Api,
        Function::Tracker,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Function::JivoWebhook => "jivo-webhook",
            Function::VerboxWebhook => "verbox-webhook",
            Function::AmocrmWebhook => "amocrm-webhook",
            Function::Bitrix24Webhook => "bitrix24-webhook",
            Function::Api => "api",
            Function::Tracker => "tracker",
        }
    }

    pub fn by_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The function API Gateway routes a path to (the `Events` of `template.yaml`).
    pub fn for_path(path: &str) -> Option<Function> {
        if path.starts_with("/hooks/jivo/") {
            Some(Function::JivoWebhook)
        } else if path.starts_with("/hooks/verbox/") {
            Some(Function::VerboxWebhook)
        } else if path.starts_with("/hooks/amocrm/") {
            Some(Function::AmocrmWebhook)
        } else if path.starts_with("/hooks/bitrix24/") {
            Some(Function::Bitrix24Webhook)
        } else if path.starts_with("/t/") {
            Some(Function::Tracker)
        } else {
            // The API, the OAuth callbacks and (API Gateway's `$default` route) the console.
            Some(Function::Api)
        }
    }

    pub async fn handle(self, app: &App, req: Request) -> HttpResponse {
        shared::edge::web::even_a_panic(self.dispatch(app, req)).await
    }

    async fn dispatch(self, app: &App, req: Request) -> HttpResponse {
        match self {
            Function::JivoWebhook => jivo_webhook::handler(app, req).await,
            Function::VerboxWebhook => verbox_webhook::handler(app, req).await,
            Function::AmocrmWebhook => amocrm_webhook::handler(app, req).await,
            Function::Bitrix24Webhook => bitrix24_webhook::handler(app, req).await,
            Function::Api => api::handler(app, req).await,
            Function::Tracker => tracker::handler(app, req).await,
        }
    }
}

/// The embedded job queue, with the redrive limit of the template's `EnrichmentQueue`.
pub fn embedded_queue(store: &Store) -> Arc<dyn Queue> {
    Arc::new(EmbeddedQueue::enrichment(store.clone()))
}

/// The embedded store in `data_dir` (created if missing): one SQLite file.
pub fn open_store(data_dir: &Path) -> Result<(Store, SqliteKv), StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        StoreError::Unavailable(format!("cannot create {}: {e}", data_dir.display()))
    })?;
    let kv = SqliteKv::open(&data_dir.join("chatsource.db"))?;
    Ok((Store::new(Arc::new(kv.clone())), kv))
}

/// What `ensure_demo` (or `prepare`) did.
pub enum Demo {
    /// The store was empty: the demo account was seeded with this key.
    Seeded { api_key: String },
    /// The store was empty and the server can be reached from outside: an account with no
    /// demo data (none of its public webhook secrets) was made with this key.
    Empty { api_key: String },
    /// The store had data; a key given on the command line now also opens the local account.
    /// `secured`: demo integrations whose public secrets were replaced, the server being
    /// reachable from outside.
    Existing {
        api_key: Option<String>,
        secured: usize,
    },
}

/// Readies the store for `serve`. The demo's webhook secrets are public (the samples in
/// `events/` carry them), so the demo is seeded only for a server on a loopback address with no
/// public URL; one others can reach starts with an empty account, and demo integrations left
/// from an earlier local run get new secrets.
pub async fn prepare(
    store: &Store,
    api_key: Option<String>,
    exposed: bool,
) -> Result<Demo, StoreError> {
    if !exposed {
        return ensure_demo(store, api_key).await;
    }
    let now = chrono::Utc::now();
    let local = shared::domain::ids::AccountId::parse(demo::ACCOUNT_ID).expect("valid id");
    if !store.has_accounts().await? {
        let (_, api_key) = store
            .create_account(local, "chatsource", api_key, now)
            .await?;
        return Ok(Demo::Empty { api_key });
    }
    if let Some(key) = &api_key {
        store.add_api_key(&local, key, now).await?;
    }
    let mut secured = 0;
    for id in demo::INTEGRATION_IDS {
        let Some(mut integration) = store
            .entity::<shared::domain::integration::Integration>(id)
            .await?
        else {
            continue;
        };
        if demo::SECRETS.iter().any(|s| integration.secret.verify(s)) {
            integration.secret = shared::domain::secret::Secret::generate();
            store.put_entity(&integration).await?;
            secured += 1;
        }
    }
    Ok(Demo::Existing { api_key, secured })
}

/// Seeds the demo account into an empty store, and only there.
pub async fn ensure_demo(store: &Store, api_key: Option<String>) -> Result<Demo, StoreError> {
    let now = chrono::Utc::now();
    if !store.has_accounts().await? {
        let seeded = demo::seed(store, api_key, now).await?;
        return Ok(Demo::Seeded {
            api_key: seeded.api_key,
        });
    }
    if let Some(key) = &api_key {
        let demo_account =
            shared::domain::ids::AccountId::parse(demo::ACCOUNT_ID).expect("valid id");
        store.add_api_key(&demo_account, key, now).await?;
    }
    Ok(Demo::Existing {
        api_key,
        secured: 0,
    })
}
