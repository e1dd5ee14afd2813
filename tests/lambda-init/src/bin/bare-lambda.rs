//! The baseline of `lambda-init`: a Lambda function with nothing but the `lambda_runtime` loop,
//! answering every event (an API Gateway HTTP event, say) with `{"statusCode": 200}`. What
//! the runtime itself costs at a cold start; our functions are measured against it.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, lambda_runtime::Error>(json!({"statusCode": 200}))
    }))
    .await
}
