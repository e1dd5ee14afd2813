//! Lambda entry point of the site tracker: wiring only.

use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::aws::init_logs();
    // Built once per cold start and borrowed by every invocation.
    let app: &'static _ = Box::leak(Box::new(shared::aws::app_from_env().await?));
    run(service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(tracker::handler(app, req).await)
    }))
    .await
}
