//! The Jivo webhook handler: `POST /hooks/jivo/{integration_id}/{secret}`.
//!
//! Jivo wants `{"result":"ok"}` for every event it sent well; everything else (the
//! pipeline, the error answers) is shared with the other providers.

use http::{Method, StatusCode};
use lambda_http::Request;
use shared::app::App;
use shared::appeal::Provider;
use shared::ingest::{self, Delivery};
use shared::web::{self, ApiError, HttpResponse};

pub async fn handler(app: &App, req: Request) -> HttpResponse {
    let path = req.uri().path().to_owned();
    let ["hooks", "jivo", integration_id, secret] = web::segments(&path)[..] else {
        return ApiError::not_found("No such webhook.").into_response();
    };
    if req.method() != Method::POST {
        return ApiError::method_not_allowed().into_response();
    }
    let delivery = Delivery {
        provider: Provider::Jivo,
        integration_id,
        secret,
        hook: "chats",
        body: req.body().as_ref(),
        content_type: web::content_type(req.headers()),
    };
    let result = ingest::receive(app, delivery, chrono::Utc::now()).await;
    web::respond(
        StatusCode::OK,
        result
            .map(|_| serde_json::json!({"result": "ok"}))
            .map_err(ApiError::from),
    )
}
