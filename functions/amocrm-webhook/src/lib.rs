//! The amoCRM webhook handler: `POST /hooks/amocrm/{integration_id}/{secret}`. Set it in
//! amoCRM (Settings → Integrations → web hooks, or `POST /api/v4/webhooks`) for talks added
//! and changed, and for messages added. Hooks of another amoCRM account are refused before
//! anything is kept; the rest is `shared::domain::providers::amocrm`.

use lambda_http::Request;
use shared::app::App;
use shared::domain::appeal::Provider;
use shared::edge::web::{self, ApiError, HttpResponse};

pub async fn handler(app: &App, req: Request) -> HttpResponse {
    let path = req.uri().path().to_owned();
    match web::segments(&path)[..] {
        ["hooks", "amocrm", integration_id, secret] => {
            web::webhook(
                app,
                &req,
                Provider::Amocrm,
                integration_id,
                secret,
                "events",
            )
            .await
        }
        _ => ApiError::not_found("No such webhook.").into_response(),
    }
}
