//! Lambda entry point of the enrichment worker: wiring only. SQS invokes it with batches;
//! the template turns on `ReportBatchItemFailures`.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

// Lambda hands a sandbox one event at a time, and the work is waiting on I/O: one thread, not
// a worker (and an allocator arena) per core, each started at every cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::edge::aws::init_logs();
    // Built once per cold start and borrowed by every invocation.
    let app: &'static _ = Box::leak(Box::new(shared::edge::aws::app_from_env().await?));
    let worker: &'static _ = Box::leak(Box::new(enrichment_worker::Worker::new()));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = shared::crm::Deadline::at_unix_millis(event.context.deadline);
        Ok::<_, std::convert::Infallible>(worker.sqs_batch(app, event.payload, deadline).await)
    }))
    .await
}
