//! The Verbox webhook handler: `POST /hooks/verbox/{integration_id}/{secret}/chats` (finished
//! dialogs) and `.../offline` (offline-form questions, only while the integration's toggle is
//! on; otherwise as unknown as a wrong secret). The format is assumed: see
//! `shared::domain::providers::verbox`.

use lambda_http::Request;
use shared::app::App;
use shared::domain::appeal::Provider;
use shared::edge::web::{self, ApiError, HttpResponse};

pub async fn handler(app: &App, req: Request) -> HttpResponse {
    let path = req.uri().path().to_owned();
    match web::segments(&path)[..] {
        [
            "hooks",
            "verbox",
            integration_id,
            secret,
            hook @ ("chats" | "offline"),
        ] => web::webhook(app, &req, Provider::Verbox, integration_id, secret, hook).await,
        _ => ApiError::not_found("No such webhook.").into_response(),
    }
}
