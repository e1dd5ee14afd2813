//! Lambda entry point of the amoCRM webhook: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::aws::run_http(amocrm_webhook::handler).await
}
