//! Lambda entry point of the Bitrix24 webhook: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::edge::aws::run_http(bitrix24_webhook::handler).await
}
