//! The Bitrix24 webhook handler: `POST /hooks/bitrix24/{integration_id}/{secret}`. Set it as
//! the handler of an outbound webhook (Developer resources → Other → Outbound webhook) on
//! "Lead created" (`ONCRMLEADADD`), or "Deal created" when the open lines create deals.
//!
//! Events with another portal's application token, domain or member id are refused (403)
//! before anything is kept. The rest answers at once: the lead id is queued for the
//! enrichment worker (`shared::domain::providers::bitrix24`), because Bitrix24 never sends an event
//! twice and a slow handler only gets a lower priority.

use lambda_http::Request;
use shared::app::App;
use shared::domain::appeal::Provider;
use shared::edge::web::{self, ApiError, HttpResponse};

pub async fn handler(app: &App, req: Request) -> HttpResponse {
    let path = req.uri().path().to_owned();
    match web::segments(&path)[..] {
        ["hooks", "bitrix24", integration_id, secret] => {
            web::webhook(
                app,
                &req,
                Provider::Bitrix24,
                integration_id,
                secret,
                "events",
            )
            .await
        }
        _ => ApiError::not_found("No such webhook.").into_response(),
    }
}
