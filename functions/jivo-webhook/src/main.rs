//! Lambda entry point of the Jivo webhook: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::edge::aws::run_http(jivo_webhook::handler).await
}
