//! Lambda entry point of the scheduled maintenance: wiring only. An EventBridge schedule
//! invokes it; the event's content does not matter.

use lambda_runtime::{LambdaEvent, service_fn};

// Lambda hands a sandbox one event at a time, and the work is waiting on I/O: one thread, not
// a worker (and an allocator arena) per core, each started at every cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::edge::aws::init_logs();
    let app: &'static _ = Box::leak(Box::new(shared::edge::aws::app_from_env().await?));
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let deadline = shared::crm::Deadline::at_unix_millis(event.context.deadline);
            Ok::<_, std::convert::Infallible>(maintenance::run(app, deadline).await)
        },
    ))
    .await
}
