//! Lambda entry point of the scheduled maintenance: wiring only. An EventBridge schedule
//! invokes it; the event's content does not matter.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::edge::aws::init_logs();
    let app: &'static _ = Box::leak(Box::new(shared::edge::aws::app_from_env().await?));
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, std::convert::Infallible>(maintenance::run(app).await)
        },
    ))
    .await
}
