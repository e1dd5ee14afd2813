//! Lambda entry point of the management API: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::edge::aws::run_http(api::handler).await
}
