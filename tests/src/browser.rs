//! Headless Chromium (Debian's `chromium`), driven over WebDriver by `chromedriver` (Debian's
//! `chromium-driver`), and a page server for the test sites. `shop.example.ru` (the demo
//! site) resolves to the page server, so the pages run on the site's real domain and the
//! script's calls to chatsource are real cross-origin requests.

use crate::process::{self, Daemon};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use fantoccini::wd::Capabilities;
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub const SITE_HOST: &str = "shop.example.ru";

const HOW: &str = "run the tests with `scripts/test` (see README.md), which installs Debian's \
                   chromium and chromium-driver, or set CHROMIUM and CHROMEDRIVER";

static CHROMEDRIVER: OnceLock<Result<Daemon, String>> = OnceLock::new();
/// One browser at a time: two cores cannot run several Chromiums and the server under test.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A browser session; `close` it at the end of the test (a panicking test leaves it to the
/// chromedriver, which stops with the test process).
pub struct Browser {
    pub client: fantoccini::Client,
    _turn: tokio::sync::MutexGuard<'static, ()>,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn open() -> Browser {
        let turn = ONE_AT_A_TIME.lock().await;
        let driver = tokio::task::spawn_blocking(|| {
            CHROMEDRIVER
                .get_or_init(start_chromedriver)
                .as_ref()
                .map(|d| d.addr)
                .map_err(Clone::clone)
        })
        .await
        .expect("starting chromedriver")
        .unwrap_or_else(|e| panic!("{e}"));
        let chromium = process::find(
            "CHROMIUM",
            &[PathBuf::from("/usr/bin/chromium")],
            "chromium",
            HOW,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let profile = tempfile::tempdir().expect("profile dir");
        // The flags the machine notes prescribe for a closed network, plus the site's domain
        // pointed at loopback.
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--host-resolver-rules=MAP {SITE_HOST} 127.0.0.1, MAP *.{SITE_HOST} 127.0.0.1"),
        ];
        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium, "args": args}),
        );
        let client = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(capabilities)
        .connect(&format!("http://{driver}"))
        .await
        .unwrap_or_else(|e| panic!("a Chromium session through chromedriver: {e}"));
        Browser {
            client,
            _turn: turn,
            _profile: profile,
        }
    }

    /// Runs a script in the page and returns its result.
    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("evaluating `{script}`: {e}"))
    }

    /// Evaluates `condition` until it is truthy, for at most `timeout`.
    pub async fn wait_for(&self, condition: &str, timeout: Duration) -> serde_json::Value {
        let started = std::time::Instant::now();
        loop {
            let value = self.eval(&format!("return ({condition}) || null;")).await;
            if !value.is_null() && value != json!(false) {
                return value;
            }
            if started.elapsed() > timeout {
                panic!("`{condition}` did not become true within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }

    /// A Chrome DevTools command, through chromedriver.
    pub async fn cdp(&self, cmd: &str, params: serde_json::Value) -> serde_json::Value {
        self.client
            .issue_cmd(Cdp {
                cmd: cmd.to_owned(),
                params,
            })
            .await
            .unwrap_or_else(|e| panic!("{cmd}: {e}"))
    }

    /// Lays the page out `width` CSS pixels wide (a phone's when narrow: touch, mobile
    /// viewport), as tall as `height`.
    pub async fn viewport(&self, width: u32, height: u32) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1,
                   "mobile": width < 600}),
        )
        .await;
    }

    /// A picture of the whole page laid out `width` pixels wide, written to `path` (PNG).
    pub async fn screenshot_page(&self, width: u32, path: &std::path::Path) {
        self.viewport(width, 800).await;
        let height = self
            .eval("return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight);")
            .await
            .as_u64()
            .unwrap_or(800)
            .clamp(400, 6000) as u32;
        self.viewport(width, height).await;
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        let data = shot["data"].as_str().expect("screenshot data");
        let bytes = base64_decode(data);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, bytes).expect("writing the screenshot");
        self.viewport(width, 800).await;
    }
}

/// `POST /session/{id}/goog/cdp/execute`: chromedriver's door to the DevTools protocol.
#[derive(Debug)]
struct Cdp {
    cmd: String,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"cmd": self.cmd, "params": self.params}).to_string()),
        )
    }
}

fn base64_decode(data: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("base64 screenshot")
}

fn start_chromedriver() -> Result<Daemon, String> {
    let program = process::find(
        "CHROMEDRIVER",
        &[PathBuf::from("/usr/bin/chromedriver")],
        "chromedriver",
        HOW,
    )?;
    let port = process::free_port();
    let args = [
        format!("--port={port}"),
        "--allowed-ips=127.0.0.1".to_owned(),
    ];
    process::start(
        "chromedriver",
        &program,
        &args,
        port,
        "/status",
        Duration::from_secs(30),
    )
}

/// Pages served at `http://shop.example.ru:<port><path>` (HTML, or JavaScript for `.js`).
pub struct Pages {
    pub origin: String,
}

pub async fn serve_pages(pages: HashMap<String, String>) -> Pages {
    async fn page(
        State(pages): State<Arc<HashMap<String, String>>>,
        uri: Uri,
    ) -> (StatusCode, [(header::HeaderName, &'static str); 1], String) {
        let kind = if uri.path().ends_with(".js") {
            "application/javascript"
        } else {
            "text/html; charset=utf-8"
        };
        match pages.get(uri.path()) {
            Some(body) => (StatusCode::OK, [(header::CONTENT_TYPE, kind)], body.clone()),
            None => (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain")],
                "no such page".into(),
            ),
        }
    }
    let router = Router::new().fallback(page).with_state(Arc::new(pages));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Pages {
        origin: format!("http://{SITE_HOST}:{port}"),
    }
}
