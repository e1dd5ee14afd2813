//! The Jivo webhook handler: `POST /hooks/jivo/{integration_id}/{secret}`. One URL per
//! integration takes every event of the channels pointed at it.

use lambda_http::Request;
use shared::app::App;
use shared::domain::appeal::Provider;
use shared::edge::web::{self, ApiError, HttpResponse};

pub async fn handler(app: &App, req: Request) -> HttpResponse {
    let path = req.uri().path().to_owned();
    match web::segments(&path)[..] {
        ["hooks", "jivo", integration_id, secret] => {
            web::webhook(app, &req, Provider::Jivo, integration_id, secret, "chats").await
        }
        _ => ApiError::not_found("No such webhook.").into_response(),
    }
}
