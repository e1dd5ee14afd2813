//! A real `chatsource serve` (the same code the binary runs: every route, the embedded queue
//! and its worker) on a free loopback port and a temporary store, with the demo account
//! seeded; it stops with the test's runtime.

use serde_json::Value;
use shared::app::App;
use shared::domain::net::UrlPolicy;
use shared::domain::secret::Secret;
use std::path::PathBuf;
use std::sync::Arc;

pub const API_KEY: &str = "test_demo_key_0123456789";
pub const ADMIN_KEY: &str = "test_admin_key_0123456789";

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    /// The server's store, for what the API does not show (sessions).
    pub store: shared::store::Store,
    _dir: tempfile::TempDir,
}

/// A server as `chatsource serve --allow-private-urls` runs: the stand-ins live on loopback.
pub async fn start() -> TestServer {
    start_with(UrlPolicy::PRIVATE_ALLOWED).await
}

/// A server as production runs: provider addresses must be https and public.
pub async fn start_strict() -> TestServer {
    start_with(UrlPolicy::default()).await
}

async fn start_with(policy: UrlPolicy) -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _) = chatsource::open_store(dir.path()).expect("store");
    chatsource::ensure_demo(&store, Some(API_KEY.into()))
        .await
        .expect("demo seed");
    let app = Arc::new(
        App::new(store.clone())
            .with_url_policy(policy)
            .with_admin_key(Some(Secret::new(ADMIN_KEY)))
            .with_queue(chatsource::embedded_queue(&store)),
    );
    let options = chatsource::ServeOptions {
        addr: "127.0.0.1:0".parse().expect("addr"),
    };
    let running = chatsource::serve(Arc::clone(&app), options)
        .await
        .expect("serve");
    // The worker as `chatsource serve` runs it, looking for jobs often so tests wait little.
    let worker = Arc::new(enrichment_worker::Worker::new());
    tokio::spawn(enrichment_worker::run_local(
        app,
        worker,
        std::time::Duration::from_millis(50),
    ));
    TestServer {
        base: format!("http://{}", running.addr),
        client: reqwest::Client::new(),
        store,
        _dir: dir,
    }
}

/// An app on `store` as the test server's is: its stand-ins live on loopback, so provider
/// addresses may be private (`chatsource serve --allow-private-urls`).
pub fn local_app(store: shared::store::Store) -> App {
    App::new(store).with_url_policy(UrlPolicy::PRIVATE_ALLOWED)
}

/// The repository's `events/` directory.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

pub fn jivo_body(name: &str) -> Vec<u8> {
    std::fs::read(events_dir().join(format!("jivo/bodies/{name}.json"))).expect("sample body")
}

/// A Jivo sample with some fields replaced (`/chat_id` style JSON pointers).
pub fn jivo_body_with(name: &str, changes: &[(&str, Value)]) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(&jivo_body(name)).expect("sample is JSON");
    for (pointer, value) in changes {
        *doc.pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer} in {name}")) = value.clone();
    }
    serde_json::to_vec(&doc).expect("JSON")
}

/// An answer: status and JSON body (`Null` when empty).
pub struct Answer {
    pub status: u16,
    pub json: Value,
}

impl TestServer {
    pub fn jivo_url(&self) -> String {
        format!(
            "{}/hooks/jivo/{}/{}",
            self.base,
            shared::app::demo::JIVO_INTEGRATION_ID,
            shared::app::demo::JIVO_SECRET
        )
    }

    pub async fn post_raw(&self, url: &str, body: Vec<u8>) -> Answer {
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        answer(response).await
    }

    /// A management API call with the given key.
    pub async fn api(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.expect("request")).await
    }

    /// A management API call with the demo account's key.
    pub async fn demo(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.api(API_KEY, method, path, body).await
    }

    /// An integration of the demo account as the API shows it.
    pub async fn integration(&self, id: &str) -> Value {
        self.demo("GET", &format!("/api/integrations/{id}"), None)
            .await
            .json
    }

    /// A visit our site script records on the demo shop's page `url`: its session id and code.
    pub async fn visit(&self, url: &str) -> Value {
        self.client
            .post(format!("{}/t/site_demo_shop/sessions", self.base))
            .header("origin", "https://shop.example.ru")
            .body(serde_json::json!({ "url": url }).to_string())
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON")
    }

    /// Connects a CRM integration as its administrator does: asks for the authorize URL
    /// (which must start with `consent_page`), opens it (the CRM's consent page sends the
    /// browser back to our callback) and expects the success page.
    pub async fn connect_oauth(&self, integration_id: &str, consent_page: &str) {
        let url = self.authorize_url(integration_id).await;
        assert!(url.starts_with(consent_page), "{url}");
        let landed = reqwest::get(&url).await.expect("consent page");
        let status = landed.status();
        let page = landed.text().await.expect("page");
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("is connected"), "{page}");
    }

    /// A fresh authorize URL of a CRM integration (`POST .../oauth/start`).
    pub async fn authorize_url(&self, integration_id: &str) -> String {
        let started = self
            .demo(
                "POST",
                &format!("/api/integrations/{integration_id}/oauth/start"),
                None,
            )
            .await;
        assert_eq!(started.status, 200, "{}", started.json);
        started.json["authorize_url"]
            .as_str()
            .expect("authorize_url")
            .to_owned()
    }

    /// The signed `state` of a fresh authorize URL of a CRM integration.
    pub async fn oauth_state(&self, integration_id: &str) -> String {
        let url = self.authorize_url(integration_id).await;
        url::Url::parse(&url)
            .expect("a URL")
            .query_pairs()
            .find(|(k, _)| k == "state")
            .expect("a state")
            .1
            .into_owned()
    }

    /// The integration's appeals once `done` holds for them (or 40 seconds have passed).
    pub async fn appeals_when(
        &self,
        integration_id: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
        loop {
            let page = self
                .demo(
                    "GET",
                    &format!("/api/appeals?integration_id={integration_id}&limit=100"),
                    None,
                )
                .await;
            let items = page.json["items"].as_array().cloned().unwrap_or_default();
            if done(&items) || std::time::Instant::now() > deadline {
                return items;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    Answer { status, json }
}
