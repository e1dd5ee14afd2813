//! `chatsource invoke <function> <event.json>`: one handler on one API Gateway event, answered
//! with the JSON the Lambda runtime would return, the way `sam local invoke` prints it.

use crate::Function;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, Service, service_fn};
use shared::app::App;
use std::convert::Infallible;

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error(
        "no function `{0}`; functions: jivo-webhook, verbox-webhook, amocrm-webhook, bitrix24-webhook, api, tracker, enrichment-worker, maintenance"
    )]
    UnknownFunction(String),
    #[error("the event is not an API Gateway (or, for the worker, an SQS) event: {0}")]
    BadEvent(String),
}

pub async fn invoke(app: &App, function: &str, event_json: &str) -> Result<String, InvokeError> {
    if function == "maintenance" {
        // A schedule event: its content does not matter.
        return Ok(serde_json::to_string(
            &maintenance::run(app, shared::crm::Deadline::after(maintenance::INVOCATION)).await,
        )
        .unwrap_or_default());
    }
    if function == "enrichment-worker" {
        // An SQS event, answered with the batch item failures SQS redelivers.
        let event: aws_lambda_events::sqs::SqsEvent =
            serde_json::from_str(event_json).map_err(|e| InvokeError::BadEvent(e.to_string()))?;
        let deadline = shared::crm::Deadline::after(enrichment_worker::INVOCATION);
        let response = enrichment_worker::Worker::new()
            .sqs_batch(app, event, deadline)
            .await;
        return Ok(serde_json::to_string(&response).unwrap_or_default());
    }
    let function = Function::by_name(function)
        .ok_or_else(|| InvokeError::UnknownFunction(function.to_owned()))?;
    let event: LambdaRequest =
        serde_json::from_str(event_json).map_err(|e| InvokeError::BadEvent(e.to_string()))?;
    // The adapter lambda_http's runtime wraps handlers in: request origin in, matching
    // response shape (here HTTP API v2) out.
    let mut adapter = Adapter::from(service_fn(|req| async move {
        Ok::<_, Infallible>(function.handle(app, req).await)
    }));
    let response = match adapter
        .call(LambdaEvent::new(event, Context::default()))
        .await
    {
        Ok(response) => response,
        Err(never) => match never {},
    };
    Ok(serde_json::to_string(&response).unwrap_or_default())
}
