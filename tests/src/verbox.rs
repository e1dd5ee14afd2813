//! A local stand-in for the Verbox REST API, answering as the documented one does (`X-Token`,
//! `POST /json/v1.0/chat/message/getClientMessageList`, `{"success", "result": {"items"}}`),
//! and failing as real ones do: refused tokens, 503s, slow answers.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The token the stand-in accepts.
pub const TOKEN: &str = "verbox-rest-token";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Answer,
    /// 503 for the first n calls.
    Fail(u32),
    /// Always 503.
    Down,
    /// The first call answers after this long.
    SlowFirst(Duration),
}

pub struct Verbox {
    /// `http://127.0.0.1:<port>/json/v1.0`, for an integration's `rest_url`.
    pub rest_url: String,
    mode: Mutex<Mode>,
    calls: AtomicU32,
    last_request: Mutex<Option<Value>>,
}

impl Verbox {
    pub async fn start(mode: Mode) -> Arc<Verbox> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let verbox = Arc::new(Verbox {
            rest_url: format!("http://{addr}/json/v1.0"),
            mode: Mutex::new(mode),
            calls: AtomicU32::new(0),
            last_request: Mutex::new(None),
        });
        let router = axum::Router::new()
            .route(
                "/json/v1.0/chat/message/getClientMessageList",
                axum::routing::post(messages),
            )
            .with_state(Arc::clone(&verbox));
        tokio::spawn(async move { axum::serve(listener, router).await });
        verbox
    }

    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    /// The body of the last request.
    pub fn last_request(&self) -> Option<Value> {
        self.last_request.lock().expect("lock").clone()
    }
}

/// The client's whole history, as the API returns it: an older dialog, the one that finished
/// at 2024-06-03 15:30 UTC (the `no_transcript` sample), and a later one.
async fn messages(
    State(s): State<Arc<Verbox>>,
    headers: HeaderMap,
    Json(request): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let call = s.calls.fetch_add(1, Ordering::SeqCst) + 1;
    *s.last_request.lock().expect("lock") = Some(request);
    if headers.get("x-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"success": false, "error": {"code": 401, "message": "Invalid token"}})),
        );
    }
    let mode = *s.mode.lock().expect("lock");
    match mode {
        Mode::Fail(n) if call <= n => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"success": false})),
            );
        }
        Mode::Down => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"success": false})),
            );
        }
        Mode::SlowFirst(delay) if call == 1 => tokio::time::sleep(delay).await,
        _ => {}
    }
    let items = json!([
        {"whoSend": "client", "text": "Старый вопрос", "dateTime": "2024-06-01 09:00:00"},
        {"whoSend": "client", "text": "Здравствуйте, нужен диван", "dateTime": "2024-06-03 15:10:00"},
        {"whoSend": "operator", "text": "Добрый день! Какой размер?", "dateTime": "2024-06-03 15:12:00", "operator": {"login": "oleg", "name": "Олег"}},
        {"whoSend": "client", "text": "Три метра", "dateTime": "2024-06-03 15:29:30"},
        {"whoSend": "client", "text": "Новый диалог", "dateTime": "2024-06-03 18:00:00"}
    ]);
    (
        StatusCode::OK,
        Json(json!({"success": true, "result": {"count": 5, "items": items}})),
    )
}
