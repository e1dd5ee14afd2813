//! Lambda entry point of the Bitrix24 webhook: wiring only.

// Lambda hands a sandbox one event at a time, and the work is waiting on I/O: one thread, not
// a worker (and an allocator arena) per core, each started at every cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::edge::aws::run_http(bitrix24_webhook::handler).await
}
