//! The time a function spends waiting on the store: moto behind a pass-through proxy that
//! notes when at least one request is outstanding. moto answers in milliseconds of Python per
//! call, DynamoDB in milliseconds of network: neither is the function's own cost, so the table
//! shows the first invocation with that wait and without it.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Busy {
    in_flight: usize,
    since: Option<Instant>,
    total: Duration,
}

#[derive(Clone)]
pub struct StoreClock {
    busy: Arc<Mutex<Busy>>,
}

impl StoreClock {
    /// Time with a request outstanding, summed since the proxy started.
    pub fn waited(&self) -> Duration {
        let busy = self.busy.lock().expect("busy");
        busy.total + busy.since.map_or(Duration::ZERO, |s| s.elapsed())
    }

    fn start(&self) {
        let mut busy = self.busy.lock().expect("busy");
        if busy.in_flight == 0 {
            busy.since = Some(Instant::now());
        }
        busy.in_flight += 1;
    }

    fn end(&self) {
        let mut busy = self.busy.lock().expect("busy");
        busy.in_flight -= 1;
        if busy.in_flight == 0
            && let Some(since) = busy.since.take()
        {
            busy.total += since.elapsed();
        }
    }
}

#[derive(Clone)]
struct Proxy {
    clock: StoreClock,
    client: Client<HttpConnector, Body>,
    upstream: String,
}

/// Serves a proxy to `upstream` (`http://host:port`) on a loopback port: its URL and clock.
pub async fn proxy(upstream: &str) -> Result<(String, StoreClock), String> {
    let clock = StoreClock {
        busy: Arc::default(),
    };
    let state = Proxy {
        clock: clock.clone(),
        client: Client::builder(TokioExecutor::new()).build_http(),
        upstream: upstream.trim_end_matches('/').to_owned(),
    };
    let router = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((format!("http://{addr}"), clock))
}

/// The request as it came (its Host header too, which the signature covers), to moto; the
/// clock runs from its arrival to the answer's last byte.
async fn forward(State(proxy): State<Proxy>, mut request: Request) -> Response {
    proxy.clock.start();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let answer = async {
        *request.uri_mut() = format!("{}{path}", proxy.upstream)
            .parse()
            .map_err(|e| format!("{e}"))?;
        let response = proxy
            .client
            .request(request)
            .await
            .map_err(|e| e.to_string())?;
        let (mut parts, body) = response.into_parts();
        // Hop-by-hop: moto's server closes every connection, DynamoDB keeps it open for the
        // next request, and the function should see DynamoDB's behaviour.
        parts.headers.remove(axum::http::header::CONNECTION);
        let body = axum::body::to_bytes(Body::new(body), usize::MAX)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(Response::from_parts(parts, Body::from(body)))
    }
    .await;
    proxy.clock.end();
    answer.unwrap_or_else(|e| {
        Response::builder()
            .status(502)
            .body(Body::from(e))
            .expect("a response")
    })
}
