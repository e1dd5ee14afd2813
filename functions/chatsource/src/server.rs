//! `chatsource serve`: all routes in one process, as API Gateway would route them.

use crate::Function;
use axum::body::{Body as AxumBody, Bytes, to_bytes};
use axum::extract::{Request as AxumRequest, State};
use axum::response::Response;
use shared::app::App;
use shared::edge::web::ApiError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// API Gateway refuses HTTP API payloads over 10 MB before any function runs; so do we.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

pub struct ServeOptions {
    pub addr: SocketAddr,
}

/// A started server: where it listens, and its task.
pub struct Running {
    pub addr: SocketAddr,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Binds and starts serving; returns once the port is open.
pub async fn serve(app: Arc<App>, options: ServeOptions) -> std::io::Result<Running> {
    let listener = TcpListener::bind(options.addr).await?;
    let addr = listener.local_addr()?;
    let router = axum::Router::new().fallback(dispatch).with_state(app);
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    });
    Ok(Running { addr, task })
}

async fn dispatch(State(app): State<Arc<App>>, req: AxumRequest) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let Some(function) = Function::for_path(parts.uri.path()) else {
        return into_axum(ApiError::not_found("No such path.").into_response());
    };
    let bytes = match to_bytes(body, GATEWAY_MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let e =
                ApiError::payload_too_large("Request bodies above 10 MB never reach a function.");
            let mut response = e.into_response();
            // The rest of the body was never read: this connection cannot carry another
            // request, and the client must be told so rather than find a dead socket.
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            return into_axum(response);
        }
    };
    let body = if bytes.is_empty() {
        lambda_http::Body::Empty
    } else {
        lambda_http::Body::Binary(bytes.to_vec())
    };
    let req = http::Request::from_parts(parts, body);
    if function == Function::Api
        && let Some(prepared) = api::csv_export(&app, &req).await
    {
        let response = match prepared {
            Ok(answer) => stream_csv(app, answer).await,
            Err(refused) => into_axum(refused),
        };
        tracing::info!(function = function.name(), method = %method, status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request (CSV streamed)");
        return response;
    }
    // On a task of its own: hyper drops a request's future when the client hangs up, which
    // would stop a webhook between its writes (its body kept `received`, its appeal perhaps
    // made), finished only by the next start. A task runs to the end whoever waits for it.
    let handling = Arc::clone(&app);
    let response = match tokio::spawn(async move { function.handle(&handling, req).await }).await {
        Ok(response) => response,
        // `handle` turns a panic into a 500 itself; this is a task the runtime cancelled.
        Err(e) => {
            tracing::error!(error = %e, "a request's task ended without an answer");
            ApiError::from(shared::store::StoreError::Unavailable(
                "the server is stopping".into(),
            ))
            .into_response()
        }
    };
    // The path is not logged: webhook paths carry secrets.
    tracing::info!(
        function = function.name(),
        method = %method,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    into_axum(response)
}

/// A CSV export written as it is read, a page of appeals at a time: the next page is read
/// only when the client has taken the last, so the server holds one page whatever the
/// export's size (here, unlike on a Lambda, there is no answer size to stay under).
async fn stream_csv(app: Arc<App>, answer: api::CsvAnswer) -> Response {
    let (head, ()) = answer.response(()).into_parts();
    let mut writer = answer.writer;
    // The first page is read before answering: a store that fails at once answers its error,
    // not a 200 cut short.
    let first = match writer.next_chunk(&app).await {
        Ok(first) => first,
        Err(e) => return into_axum(ApiError::from(e).into_response()),
    };
    let chunks = futures::stream::unfold(Some((app, writer, first)), |state| async move {
        let (app, mut writer, mut pending) = state?;
        loop {
            match pending.take() {
                // A page of a sparse filter may match nothing: no empty chunk is sent.
                Some(chunk) if chunk.is_empty() => {}
                Some(chunk) => return Some((Ok(Bytes::from(chunk)), Some((app, writer, None)))),
                None => {}
            }
            match writer.next_chunk(&app).await {
                Ok(Some(chunk)) => pending = Some(chunk),
                Ok(None) => return None,
                Err(e) => {
                    // The body then ends in an error, never as a short file that looks whole.
                    tracing::warn!(error = %e, rows = writer.rows(), "a streamed CSV export broke off");
                    return Some((Err(std::io::Error::other(e.to_string())), None));
                }
            }
        }
    });
    Response::from_parts(head, AxumBody::from_stream(chunks))
}

fn into_axum(response: http::Response<String>) -> Response {
    response.map(AxumBody::from)
}

/// Webhooks the previous process kept but did not finish handling (it was killed half-way):
/// handled now, in the background, so a restart loses nothing. Only this process writes its
/// store, so whatever was received before it started was abandoned.
pub fn spawn_recovery(app: Arc<App>, started: chrono::DateTime<chrono::Utc>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let accounts = match app.store.accounts().await {
            Ok(accounts) => accounts,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for unfinished webhooks");
                return;
            }
        };
        for account in accounts {
            match shared::app::ingest::finish_abandoned(&app, &account.id, started, || true).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(account_id = %account.id, finished = n, "webhooks cut off by the last stop finished")
                }
                Err(e) => {
                    tracing::warn!(account_id = %account.id, error = %e, "finishing cut-off webhooks failed; the hourly run retries")
                }
            }
        }
    })
}

/// The hourly chores the schedule runs on AWS: the maintenance function (token refreshes),
/// and deleting expired rows (reads skip them anyway; DynamoDB's TTL does this there).
pub fn spawn_hourly(app: Arc<App>, kv: shared::store::sqlite::SqliteKv) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every.tick().await;
            maintenance::run(&app, shared::crm::Deadline::after(maintenance::INVOCATION)).await;
            if let Err(e) = kv.purge_expired_now() {
                tracing::warn!(error = %e, "purging expired rows failed");
            }
        }
    })
}
