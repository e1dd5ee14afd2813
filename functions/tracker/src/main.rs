//! Lambda entry point of the site tracker: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::edge::aws::run_http(tracker::handler).await
}
