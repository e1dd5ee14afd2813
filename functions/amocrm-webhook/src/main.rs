//! Lambda entry point of the amoCRM webhook: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::edge::aws::run_http(amocrm_webhook::handler).await
}
