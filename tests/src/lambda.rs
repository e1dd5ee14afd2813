//! The real Lambda binaries (`jivo-webhook`, `api`), run as Lambda runs them: a local stand-in
//! for the Lambda Runtime API hands them events and takes their answers, so `main.rs` (its
//! configuration from the environment, its clients, its JSON logs) is tested too.
//!
//! The stand-in speaks the documented protocol: `GET /2018-06-01/runtime/invocation/next`
//! returns an event with its request id and deadline headers; the function posts to
//! `.../invocation/{id}/response` or `.../invocation/{id}/error`, or to `init/error` when it
//! cannot start.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

type Reply = oneshot::Sender<Result<String, String>>;

#[derive(Default)]
struct Runtime {
    queue: tokio::sync::Mutex<Option<mpsc::Receiver<(String, Reply)>>>,
    waiting: Mutex<HashMap<String, Reply>>,
    init_error: Mutex<Option<String>>,
    next_id: std::sync::atomic::AtomicU64,
}

/// A function binary running against the stand-in; killed on drop.
pub struct LambdaProcess {
    events: mpsc::Sender<(String, Reply)>,
    runtime: Arc<Runtime>,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LambdaProcess {
    /// Starts `binary` (a workspace binary name) with the given environment on top of the
    /// variables Lambda itself sets.
    pub async fn start(binary: &str, env: &[(&str, String)]) -> LambdaProcess {
        let (events, queue) = mpsc::channel(16);
        let runtime = Arc::new(Runtime {
            queue: tokio::sync::Mutex::new(Some(queue)),
            ..Runtime::default()
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&runtime));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let api = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });

        let mut child = Command::new(built(binary))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", binary)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{binary}"))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let logs = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    logs.lock().expect("logs").push(line);
                }
            });
        }
        LambdaProcess {
            events,
            runtime,
            child,
            logs,
        }
    }

    /// One invocation: the function's response payload, or its error report.
    pub async fn invoke(&self, event: &str) -> Result<String, String> {
        let (reply, answer) = oneshot::channel();
        self.events
            .send((event.to_owned(), reply))
            .await
            .map_err(|_| "the runtime stand-in stopped".to_owned())?;
        match tokio::time::timeout(Duration::from_secs(30), answer).await {
            Ok(Ok(result)) => result,
            _ => Err(format!(
                "no answer in 30 s; init error: {:?}; logs:\n{}",
                self.runtime.init_error.lock().expect("lock").clone(),
                self.logs().join("\n")
            )),
        }
    }

    /// Everything the function wrote to stdout and stderr so far. A function writes a line
    /// before it answers, but the threads here that drain its output may not have read it when
    /// the answer arrives: this waits until no line has come in for a moment (50 ms).
    pub fn logs(&self) -> Vec<String> {
        let mut seen = self.logs.lock().expect("logs").len();
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.logs.lock().expect("logs").len();
            if now == seen {
                break;
            }
            seen = now;
        }
        self.logs.lock().expect("logs").clone()
    }
}

async fn next(State(rt): State<Arc<Runtime>>) -> impl IntoResponse {
    let mut queue = rt.queue.lock().await;
    let Some((event, reply)) = queue.as_mut().expect("one reader").recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let id = format!(
        "req-{}",
        rt.next_id.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    rt.waiting.lock().expect("lock").insert(id.clone(), reply);
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", id.parse().expect("header"));
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().expect("header"),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:test"
            .parse()
            .expect("header"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000"
            .parse()
            .expect("header"),
    );
    (StatusCode::OK, headers, event)
}

async fn response(
    State(rt): State<Arc<Runtime>>,
    Path(id): Path<String>,
    body: String,
) -> StatusCode {
    finish(&rt, &id, Ok(body))
}

async fn error(State(rt): State<Arc<Runtime>>, Path(id): Path<String>, body: String) -> StatusCode {
    finish(&rt, &id, Err(body))
}

async fn init_error(State(rt): State<Arc<Runtime>>, body: String) -> StatusCode {
    *rt.init_error.lock().expect("lock") = Some(body);
    StatusCode::ACCEPTED
}

fn finish(rt: &Runtime, id: &str, result: Result<String, String>) -> StatusCode {
    match rt.waiting.lock().expect("lock").remove(id) {
        Some(reply) => {
            let _ = reply.send(result);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

/// The path of a workspace binary, built once per test process with the same cargo, profile
/// and target directory as the tests themselves.
pub fn built(binary: &str) -> PathBuf {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(crate::moto::repo_root())
            .args([
                "build",
                "--locked",
                "--message-format=json",
                "--workspace",
                "--bins",
            ])
            .stderr(Stdio::inherit())
            .output()
            .expect("cargo build runs");
        assert!(out.status.success(), "building the Lambda binaries failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|m| {
                let exe = m.get("executable")?.as_str()?;
                let name = m.pointer("/target/name")?.as_str()?;
                Some((name.to_owned(), PathBuf::from(exe)))
            })
            .collect()
    });
    built
        .get(binary)
        .unwrap_or_else(|| panic!("no binary {binary} in the workspace"))
        .clone()
}

/// An API Gateway HTTP API (v2) event, as `events/` holds them.
pub fn http_event(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> String {
    let mut all: serde_json::Map<String, serde_json::Value> = [
        ("host", "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"),
        ("x-forwarded-proto", "https"),
    ]
    .iter()
    .chain(headers)
    .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
    .collect();
    if body.is_some() {
        all.insert("content-type".into(), serde_json::json!("application/json"));
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all,
        "requestContext": {
            "accountId": "123456789012", "apiId": "a1b2c3d4e5",
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com", "domainPrefix": "a1b2c3d4e5",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "test"},
            "requestId": "test", "routeKey": "$default", "stage": "$default",
            "time": "03/Jun/2024:10:20:00 +0000", "timeEpoch": 1717410000000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}
