//! The demo account as the targets meet it: seeded into a temporary SQLite store the way
//! `chatsource serve` seeds it, read back (its integrations and directory), plus variants of
//! each integration that take other branches (connected, with a REST token, deals), and the
//! `App` the handlers borrow, on a runtime of the calling thread.

use shared::app::{App, demo};
use shared::domain::directory::Directory;
use shared::domain::ids::AccountId;
use shared::domain::integration::{CrmEntity, Integration};
use shared::domain::secret::Secret;
use tokio::runtime::Runtime;

pub struct Demo {
    pub jivo: Vec<Integration>,
    pub verbox: Vec<Integration>,
    pub amocrm: Vec<Integration>,
    pub bitrix24: Vec<Integration>,
    pub directory: Directory,
    pub app: App,
    pub runtime: Runtime,
    _dir: tempfile::TempDir,
}

impl Demo {
    pub fn new() -> Demo {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // One thread: the handlers run on the caller's (small) stack, as in a Lambda's worker.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let (store, _) = chatsource::open_store(dir.path()).expect("the SQLite store");
        runtime
            .block_on(chatsource::ensure_demo(&store, None))
            .expect("the demo account");
        let load = |id: &str| -> Integration {
            let found = runtime.block_on(store.entity::<Integration>(id));
            found.ok().flatten().expect("a demo integration")
        };
        let account = AccountId::parse(demo::ACCOUNT_ID).expect("the demo account id");
        let directory = runtime
            .block_on(store.directory(&account))
            .expect("the demo directory");
        let jivo = load(demo::JIVO_INTEGRATION_ID);
        let verbox = load(demo::VERBOX_INTEGRATION_ID);
        let amocrm = load(demo::AMOCRM_INTEGRATION_ID);
        let bitrix24 = load(demo::BITRIX24_INTEGRATION_ID);
        let app = App::new(store.clone()).with_queue(chatsource::embedded_queue(&store));
        Demo {
            jivo: vec![jivo.clone(), Integration { jivo: None, ..jivo }],
            verbox: vec![verbox.clone(), with_rest_token(verbox)],
            amocrm: vec![amocrm.clone(), connected_amocrm(amocrm)],
            bitrix24: vec![bitrix24.clone(), deal_portal(bitrix24)],
            directory,
            app,
            runtime,
            _dir: dir,
        }
    }
}

impl Default for Demo {
    fn default() -> Self {
        Demo::new()
    }
}

/// Dialogs without messages become enrichment tasks only when the worker could fetch them.
fn with_rest_token(mut i: Integration) -> Integration {
    if let Some(v) = i.verbox.as_mut() {
        v.rest_token = Some(Secret::new("fuzz_rest_token"));
        v.offline_requests = false;
    }
    i
}

/// Connected: hooks must name the account id; a custom domain has no subdomain to check.
fn connected_amocrm(mut i: Integration) -> Integration {
    if let Some(a) = i.amocrm.as_mut() {
        a.account_id = Some(30_123_456);
        a.base_url = "https://crm.shop.example.ru".into();
    }
    i
}

/// A portal known by member id whose open lines create deals.
fn deal_portal(mut i: Integration) -> Integration {
    if let Some(b) = i.bitrix24.as_mut() {
        b.member_id = Some("5c0b9d3e2f4a61b7c8d9e0f1a2b3c4d5".into());
        b.entity = CrmEntity::Deal;
    }
    i
}
