//! One cold start, timed: a Lambda Runtime API stand-in of its own (as tests/src/lambda.rs
//! speaks it) that hands the process one event and notes when the process first asks for
//! work (its init is over) and when it answers, then the process's peak memory.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What one cold start took.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Spawn to the first `GET /next`: the function's init.
    pub init: Duration,
    /// Spawn to its answer to the first event: init plus the first invocation.
    pub first: Duration,
    /// Of `first`, the time a store request was outstanding.
    pub store: Duration,
    /// Peak resident memory (VmHWM) after the first invocation, in KiB.
    pub peak_kib: u64,
    pub threads: u64,
}

/// What a run saw, in the order it saw it.
enum Seen {
    Next(Instant),
    Answer(Instant, Result<String, String>),
}

struct Stand {
    event: String,
    handed: AtomicBool,
    seen: mpsc::UnboundedSender<Seen>,
}

/// Starts `binary` with `env` (and nothing else of this process's environment), hands it
/// `event`, and times it. The process is killed before this returns.
pub async fn cold_start(
    binary: &std::path::Path,
    function: &str,
    env: &[(String, String)],
    event: String,
    store: &crate::store_time::StoreClock,
) -> Result<(Sample, String), String> {
    let (seen, mut seen_rx) = mpsc::unbounded_channel();
    let stand = Arc::new(Stand {
        event,
        handed: AtomicBool::new(false),
        seen,
    });
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(|State(s): State<Arc<Stand>>, body: String| async move {
                let _ = s.seen.send(Seen::Answer(Instant::now(), Ok(body)));
                StatusCode::ACCEPTED
            }),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(
                |State(s): State<Arc<Stand>>, Path(_): Path<String>, body: String| async move {
                    let _ = s.seen.send(Seen::Answer(Instant::now(), Err(body)));
                    StatusCode::ACCEPTED
                },
            ),
        )
        .route(
            "/2018-06-01/runtime/init/error",
            post(|State(s): State<Arc<Stand>>, body: String| async move {
                let _ = s.seen.send(Seen::Answer(
                    Instant::now(),
                    Err(format!("init error: {body}")),
                ));
                StatusCode::ACCEPTED
            }),
        )
        .with_state(Arc::clone(&stand));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let api = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let mut command = std::process::Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        )
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let spawned = Instant::now();
    let store_before = store.waited();
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    // Drained as Lambda drains them (a full pipe would stall the function); the last lines
    // explain a failure.
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    for stream in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let tail = Arc::clone(&tail);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut tail = tail.lock().expect("tail");
                if tail.len() == 20 {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
    }

    let outcome = async {
        let mut init = None;
        loop {
            match seen_rx.recv().await {
                Some(Seen::Next(at)) => {
                    init.get_or_insert(at - spawned);
                }
                Some(Seen::Answer(at, answer)) => {
                    let init = init.ok_or("answered before asking for work")?;
                    let answer = answer?;
                    let (peak_kib, threads) = memory(child.id())?;
                    let sample = Sample {
                        init,
                        first: at - spawned,
                        store: store.waited().saturating_sub(store_before),
                        peak_kib,
                        threads,
                    };
                    return Ok::<_, String>((sample, answer));
                }
                None => return Err("the stand-in stopped".to_owned()),
            }
        }
    };
    let result = tokio::time::timeout(Duration::from_secs(30), outcome)
        .await
        .unwrap_or_else(|_| Err("no answer in 30 s".to_owned()));
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    result.map_err(|e| {
        let tail: Vec<String> = tail.lock().expect("tail").iter().cloned().collect();
        format!("{}: {e}\n{}", binary.display(), tail.join("\n"))
    })
}

/// The first `GET /next` gets the event; later ones wait forever, as an idle sandbox's do.
async fn next(State(s): State<Arc<Stand>>) -> (StatusCode, HeaderMap, String) {
    let _ = s.seen.send(Seen::Next(Instant::now()));
    if s.handed.swap(true, Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", "req-1".to_owned()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:init".to_owned(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".to_owned(),
        ),
    ] {
        headers.insert(name, value.parse().expect("a header value"));
    }
    (StatusCode::OK, headers, s.event.clone())
}

/// Peak resident memory (KiB) and threads of a running process, from /proc.
fn memory(pid: u32) -> Result<(u64, u64), String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .ok_or(format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmHWM:")?, field("Threads:")?))
}
