//! Lambda entry point of the Verbox webhook: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::edge::aws::run_http(verbox_webhook::handler).await
}
