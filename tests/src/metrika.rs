//! A local stand-in for Yandex Metrika's offline-conversions upload, answering as the
//! documented API does: `POST /management/v1/counter/{counterId}/offline_conversions/upload`
//! with `Authorization: OAuth <token>` and the CSV as the multipart field `file`; success is
//! `{"uploading": {...}}`, errors `{"errors": [{"error_type", "message"}], "code", "message"}`
//! (401 `unauthorized` without a token, 403 `invalid_token` for a wrong one, 400
//! `invalid_parameter` for a file it cannot take). It can be told to fail the next calls (429,
//! 5xx, 401), and it records every file it accepted.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The token the stand-in accepts.
pub const TOKEN: &str = "y0_metrika-test-token";

/// One accepted file: the counter and its rows by column name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub counter: u64,
    pub rows: Vec<BTreeMap<String, String>>,
}

pub struct Metrika {
    /// `http://127.0.0.1:<port>`, for `App::with_metrika_url`.
    pub base_url: String,
    /// Statuses to answer the next calls with, in order, before answering normally.
    failures: Mutex<VecDeque<u16>>,
    uploads: Mutex<Vec<Upload>>,
    calls: Mutex<usize>,
}

impl Metrika {
    pub async fn start() -> Arc<Metrika> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let metrika = Arc::new(Metrika {
            base_url: format!("http://{addr}"),
            failures: Mutex::default(),
            uploads: Mutex::default(),
            calls: Mutex::default(),
        });
        let router = axum::Router::new()
            .route(
                "/management/v1/counter/{counter}/offline_conversions/upload",
                axum::routing::post(upload),
            )
            .with_state(Arc::clone(&metrika));
        tokio::spawn(async move { axum::serve(listener, router).await });
        metrika
    }

    /// The next calls answer these statuses (429, 500, 503, 401...), one each.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.failures
            .lock()
            .expect("lock")
            .extend(statuses.iter().copied());
    }

    /// Every file accepted so far.
    pub fn uploads(&self) -> Vec<Upload> {
        self.uploads.lock().expect("lock").clone()
    }

    pub fn calls(&self) -> usize {
        *self.calls.lock().expect("lock")
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(json!({
            "errors": [{"error_type": kind, "message": message}],
            "code": status.as_u16(),
            "message": message,
        })),
    )
}

async fn upload(
    State(s): State<Arc<Metrika>>,
    Path(counter): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    *s.calls.lock().expect("lock") += 1;
    let injected = s.failures.lock().expect("lock").pop_front();
    if let Some(status) = injected {
        let status = StatusCode::from_u16(status).expect("a status");
        return match status.as_u16() {
            401 => error(status, "unauthorized", "Unauthorized user"),
            429 => error(
                status,
                "quota_requests_by_uid",
                "The user exceeded the daily limit on requests to the API",
            ),
            _ => error(status, "backend_error", "Server error, try again later"),
        };
    }
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized user",
        );
    };
    if auth != format!("OAuth {TOKEN}") {
        return error(
            StatusCode::FORBIDDEN,
            "invalid_token",
            "Invalid oauth_token",
        );
    }
    let Ok(counter) = counter.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "counterId must be a number",
        );
    };
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let rows = match file(content_type, &body).and_then(|csv| rows(&csv)) {
        Ok(rows) => rows,
        Err(why) => return error(StatusCode::BAD_REQUEST, "invalid_parameter", &why),
    };
    let n = rows.len();
    let id = {
        let mut uploads = s.uploads.lock().expect("lock");
        uploads.push(Upload { counter, rows });
        uploads.len()
    };
    (
        StatusCode::OK,
        Json(json!({"uploading": {
            "id": id,
            "create_time": chrono::Utc::now().to_rfc3339(),
            "source_quantity": n,
            "line_quantity": n,
            "comment": "chatsource",
            "type": "BASIC",
            "status": "UPLOADED",
        }})),
    )
}

/// The multipart part named `file`.
fn file(content_type: &str, body: &[u8]) -> Result<String, String> {
    let boundary = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|rest| rest.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_owned())
        .ok_or("the file must be sent as multipart/form-data")?;
    let text = String::from_utf8(body.to_vec()).map_err(|_| "the file must be UTF-8")?;
    for part in text.split(&format!("--{boundary}")) {
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        if head.contains("name=\"file\"") {
            return Ok(content.strip_suffix("\r\n").unwrap_or(content).to_owned());
        }
    }
    Err("no part named file".into())
}

/// The CSV's rows by column name, checked as Metrika checks them: the goal, a time in the past
/// as Unix seconds, and at least one id per row.
fn rows(csv: &str) -> Result<Vec<BTreeMap<String, String>>, String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or("the file is empty")?
        .split(',')
        .collect();
    for needed in ["Target", "DateTime"] {
        if !header.contains(&needed) {
            return Err(format!("column {needed} is missing"));
        }
    }
    let now = chrono::Utc::now().timestamp();
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != header.len() {
            return Err(format!(
                "line {}: {} cells for {} columns",
                n + 2,
                cells.len(),
                header.len()
            ));
        }
        let row: BTreeMap<String, String> = header
            .iter()
            .zip(cells)
            .map(|(h, c)| ((*h).to_owned(), c.to_owned()))
            .collect();
        match row["DateTime"].parse::<i64>() {
            Ok(t) if t <= now => {}
            _ => {
                return Err(format!(
                    "line {}: wrong DateTime {}",
                    n + 2,
                    row["DateTime"]
                ));
            }
        }
        let has_id = ["ClientId", "Yclid", "UserId", "PurchaseId"]
            .iter()
            .any(|k| row.get(*k).is_some_and(|v| !v.is_empty()));
        if !has_id {
            return Err(format!(
                "line {}: no ClientId, Yclid, UserId or PurchaseId",
                n + 2
            ));
        }
        out.push(row);
    }
    Ok(out)
}
