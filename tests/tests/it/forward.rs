//! One Jivo channel for both a bot platform and us: every body Jivo sends is kept, answered at
//! once, and relayed verbatim to the integration's forward URLs through the queue, with
//! retries and the dead-letter queue; forward URLs follow the provider address rules.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chatsource_tests::server::{API_KEY, jivo_body, start, start_strict};
use serde_json::{Value, json};
use shared::app::App;
use shared::app::demo::{JIVO_INTEGRATION_ID, JIVO_SECRET};
use shared::domain::net::UrlPolicy;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// A bot platform stand-in: the first `failures` calls answer 500, later ones `status`; every
/// call first waits for a permit of `gate` (none are given until the test opens it).
struct Receiver {
    calls: AtomicUsize,
    failures: usize,
    status: StatusCode,
    gate: Semaphore,
    /// (content type, body) of each call answered 2xx.
    accepted: Mutex<Vec<(String, Vec<u8>)>>,
}

impl Receiver {
    async fn start(failures: usize, status: StatusCode, open: bool) -> (Arc<Receiver>, String) {
        let receiver = Arc::new(Receiver {
            calls: AtomicUsize::new(0),
            failures,
            status,
            gate: Semaphore::new(if open { Semaphore::MAX_PERMITS } else { 0 }),
            accepted: Mutex::default(),
        });
        let router = axum::Router::new()
            .route("/bot/hook/tok123", axum::routing::post(hook))
            .with_state(Arc::clone(&receiver));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/bot/hook/tok123", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (receiver, url)
    }

    fn open(&self) {
        self.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    }

    fn accepted(&self) -> Vec<(String, Vec<u8>)> {
        self.accepted.lock().unwrap().clone()
    }
}

async fn hook(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = r.calls.fetch_add(1, Ordering::SeqCst);
    let _permit = r.gate.acquire().await.unwrap();
    if n < r.failures {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    if r.status.is_success() {
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        r.accepted
            .lock()
            .unwrap()
            .push((content_type, body.to_vec()));
    }
    r.status
}

/// `chatsource serve --allow-private-urls` as `server::start` runs it, with a worker that
/// retries at once, so a receiver failing twice is accepted within the test's patience.
struct Local {
    base: String,
    app: Arc<App>,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn local() -> Local {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = chatsource::open_store(dir.path()).unwrap();
    chatsource::ensure_demo(&store, Some(API_KEY.into()))
        .await
        .unwrap();
    let app = Arc::new(
        App::new(store.clone())
            .with_url_policy(UrlPolicy::PRIVATE_ALLOWED)
            .with_queue(chatsource::embedded_queue(&store)),
    );
    let options = chatsource::ServeOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
    };
    let running = chatsource::serve(Arc::clone(&app), options).await.unwrap();
    let worker =
        enrichment_worker::Worker::with(vec![Duration::ZERO; 4], shared::crm::Timing::default());
    tokio::spawn(enrichment_worker::run_local(
        Arc::clone(&app),
        Arc::new(worker),
        Duration::from_millis(50),
    ));
    Local {
        base: format!("http://{}", running.addr),
        app,
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Local {
    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(API_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn forward_to(&self, urls: &[&str]) {
        let path = format!("/api/integrations/{JIVO_INTEGRATION_ID}");
        let (status, json) = self
            .api("PATCH", &path, Some(json!({"forward_urls": urls})))
            .await;
        assert_eq!(status, 200, "{json}");
    }

    /// Posts like Jivo does; the status and how long the answer took.
    async fn jivo(&self, content_type: &str, body: &[u8]) -> (u16, Duration) {
        let url = format!(
            "{}/hooks/jivo/{JIVO_INTEGRATION_ID}/{JIVO_SECRET}",
            self.base
        );
        let started = Instant::now();
        let answer = self
            .client
            .post(url)
            .header("content-type", content_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), started.elapsed())
    }
}

async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_body_jivo_sends_is_relayed_verbatim_even_after_two_failures_and_jivo_never_waits() {
    let server = local().await;
    let (receiver, url) = Receiver::start(2, StatusCode::OK, false).await;
    server.forward_to(&[&url]).await;

    let mut sent = vec![
        ("application/json".to_owned(), jivo_body("chat_accepted")),
        (
            "application/json; charset=utf-8".to_owned(),
            jivo_body("chat_finished"),
        ),
        // Quarantined (Jivo is told 400), relayed all the same.
        ("application/json".to_owned(), jivo_body("malformed")),
        // An event we make nothing of.
        (
            "application/json".to_owned(),
            jivo_body("client_attribute_updated"),
        ),
    ];
    for (content_type, body) in &sent {
        let (status, took) = server.jivo(content_type, body).await;
        assert!(
            took < Duration::from_secs(2),
            "answered in {took:?} while the bot platform hangs"
        );
        assert!(status == 200 || status == 400, "{status}");
    }
    // The bot platform was called, and hangs: every answer above came meanwhile.
    eventually("the first relay", async || {
        receiver.calls.load(Ordering::SeqCst) >= 1
    })
    .await;
    assert!(receiver.accepted().is_empty());
    receiver.open();

    eventually("every body relayed", async || {
        receiver.accepted().len() >= sent.len()
    })
    .await;
    let mut got = receiver.accepted();
    got.sort();
    sent.sort();
    assert_eq!(got, sent, "the same bytes with the same content types");
    assert_eq!(
        receiver.calls.load(Ordering::SeqCst),
        sent.len() + 2,
        "two failures retried, nothing sent twice once accepted"
    );

    // A body Jivo sends again byte for byte is the same event: not relayed again.
    server.jivo("application/json", &sent[0].1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.accepted().len(), sent.len());
}

#[tokio::test]
async fn a_forward_url_that_refuses_ends_in_the_dead_letter_queue_and_the_health_says_so() {
    let server = local().await;
    let (receiver, url) = Receiver::start(0, StatusCode::BAD_REQUEST, true).await;
    server.forward_to(&[&url]).await;
    let (status, _) = server
        .jivo("application/json", &jivo_body("chat_accepted"))
        .await;
    assert_eq!(status, 200, "the relay's failure is not Jivo's");

    let queue = server.app.queue.clone().unwrap();
    eventually("the relay parked", async || {
        !queue.parked(10).await.unwrap().is_empty()
    })
    .await;
    let parked = queue.parked(10).await.unwrap();
    assert!(
        parked[0].body.contains(r#""type":"forward""#),
        "{}",
        parked[0].body
    );
    let reason = parked[0].reason.clone().unwrap_or_default();
    assert!(reason.contains("HTTP 400"), "{reason}");
    assert!(
        !reason.contains("tok123"),
        "the URL's path stays out: {reason}"
    );
    assert_eq!(
        receiver.calls.load(Ordering::SeqCst),
        1,
        "a 400 is not retried"
    );
    let (_, view) = server
        .api(
            "GET",
            &format!("/api/integrations/{JIVO_INTEGRATION_ID}"),
            None,
        )
        .await;
    let last = view["health"]["last_error"]["reason"]
        .as_str()
        .unwrap_or("");
    assert!(last.contains("HTTP 400"), "{view}");
    // The appeal was made all the same.
    let (_, appeals) = server.api("GET", "/api/appeals", None).await;
    assert!(!appeals["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn forward_urls_follow_the_provider_address_rules() {
    let path = format!("/api/integrations/{JIVO_INTEGRATION_ID}");
    let strict = start_strict().await;
    for (urls, field, reason) in [
        (
            vec!["http://bot.example.com/hook"],
            "forward_urls[0]",
            "invalid_url",
        ),
        (
            vec!["https://bot.example.com/hook", "https://127.0.0.1/hook"],
            "forward_urls[1]",
            "internal_address",
        ),
        (
            vec!["https://10.0.0.5/hook"],
            "forward_urls[0]",
            "internal_address",
        ),
        (
            vec!["https://169.254.169.254/"],
            "forward_urls[0]",
            "internal_address",
        ),
        // A name that slips past the name rules, and resolves to loopback.
        (
            vec!["https://localhost.:8443/"],
            "forward_urls[0]",
            "internal_address",
        ),
        (vec!["not a url"], "forward_urls[0]", "invalid_url"),
        (
            vec!["https://a.example.com/", "https://a.example.com/"],
            "forward_urls[1]",
            "invalid_value",
        ),
        (
            vec![
                "https://a.example.com/1",
                "https://a.example.com/2",
                "https://a.example.com/3",
                "https://a.example.com/4",
            ],
            "forward_urls",
            "too_long",
        ),
    ] {
        let answer = strict
            .demo("PATCH", &path, Some(json!({"forward_urls": urls})))
            .await;
        assert_eq!(answer.status, 400, "{urls:?}: {}", answer.json);
        assert_eq!(answer.json["field"], field, "{urls:?}: {}", answer.json);
        assert_eq!(answer.json["reason"], reason, "{urls:?}: {}", answer.json);
        let message = answer.json["message"].as_str().unwrap();
        assert!(message.starts_with("forward_urls"), "{message}");
    }
    let answer = strict
        .demo(
            "PATCH",
            &path,
            Some(json!({"forward_urls": ["https://bot.example.com/hook"]})),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(
        strict.integration(JIVO_INTEGRATION_ID).await["forward_urls"],
        json!(["https://bot.example.com/hook"])
    );
    // Removed again with the list.
    let answer = strict
        .demo("PATCH", &path, Some(json!({"forward_urls": []})))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert!(strict.integration(JIVO_INTEGRATION_ID).await["forward_urls"].is_null());

    // A development server takes local stand-ins, but never another scheme.
    let dev = start().await;
    let answer = dev
        .demo(
            "PATCH",
            &path,
            Some(json!({"forward_urls": ["ftp://127.0.0.1/hook"]})),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.json);
    let answer = dev
        .demo(
            "PATCH",
            &path,
            Some(json!({"forward_urls": ["http://127.0.0.1:9/hook"]})),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
}
