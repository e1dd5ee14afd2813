//! `bare-reader`: the baseline of the load runs in `scripts/bench`. It is an HTTP server built
//! as `chatsource serve` is (axum on tokio's multi-thread runtime, one fallback for every path
//! that reads the whole body up to API Gateway's 10 MB), which then does nothing with the body
//! and answers `{"result":"ok"}` as JSON, as a webhook is answered. What `chatsource serve`
//! loses against it under the same wrk script is the product's own work: decide, keep, attribute.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::Response;
use clap::Parser;
use std::net::SocketAddr;

/// The same bound as `chatsource serve`: reading up to it is part of the baseline's work.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

#[derive(Parser)]
#[command(about = "Reads each request's body, answers {\"result\":\"ok\"}: the load baseline")]
struct Cli {
    #[arg(long, default_value = "127.0.0.1:3938")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(cli.addr).await?;
    axum::serve(listener, axum::Router::new().fallback(read)).await
}

async fn read(request: Request) -> Response {
    let (status, text) = match to_bytes(request.into_body(), GATEWAY_MAX_BODY).await {
        Ok(_) => (StatusCode::OK, r#"{"result":"ok"}"#),
        Err(_) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            r#"{"error":"payload too large"}"#,
        ),
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(text))
        .unwrap_or_default()
}
