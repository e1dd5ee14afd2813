//! The management API: `/api/...` with `Authorization: Bearer <api key>`.
//!
//! Routing is a `match` on (method, path segments); every answer is JSON, every error
//! `{"error": code, "message": sentence}` (`shared::edge::web`). An account's key reaches only its
//! own records: another account's id answers "not found".

mod accounts;
mod appeals;
mod call;
mod directory;
mod integrations;
mod oauth;
mod raw_events;
mod reconcile;
mod resources;

use call::{Call, bearer};
use http::{Method, StatusCode};
use lambda_http::{Request, RequestExt};
use shared::app::App;
use shared::domain::directory::{Campaign, Employee, Site, Source};
use shared::domain::integration::Integration;
use shared::edge::web::{self, ApiError, HttpResponse, respond};

pub async fn handler(app: &App, req: Request) -> HttpResponse {
    let path = req.uri().path().to_owned();
    let segments = web::segments(&path);
    let method = req.method().clone();
    let body: &[u8] = req.body().as_ref();
    let deadline = web::deadline(req.lambda_context_ref().map(|c| c.deadline));
    if let ["oauth", provider, "callback"] = segments[..] {
        if method != Method::GET {
            return ApiError::method_not_allowed().into_response();
        }
        return oauth::callback(app, provider, req.uri().query(), deadline).await;
    }
    if let ["api", "accounts"] = segments[..] {
        if method != Method::POST {
            return ApiError::method_not_allowed().into_response();
        }
        return respond(
            StatusCode::CREATED,
            accounts::create(app, bearer(req.headers()), body).await,
        );
    }
    let account = match bearer(req.headers()) {
        None => return ApiError::unauthorized().into_response(),
        Some(key) => match app.store.account_for_key(key).await {
            Ok(Some(account)) => account,
            Ok(None) => return ApiError::unauthorized().into_response(),
            Err(e) => return ApiError::from(e).into_response(),
        },
    };
    let call = Call {
        app,
        account,
        base_url: web::base_url(req.headers(), app.public_url.as_deref()),
        query: req.uri().query(),
        body,
        now: chrono::Utc::now(),
        deadline,
    };
    let call = &call;
    match (&method, &segments[..]) {
        (m, ["api", "sites", rest @ ..]) if rest.len() <= 1 => {
            resources::route::<Site>(call, m, one(rest)).await
        }
        (m, ["api", "sources", rest @ ..]) if rest.len() <= 1 => {
            resources::route::<Source>(call, m, one(rest)).await
        }
        (m, ["api", "campaigns", rest @ ..]) if rest.len() <= 1 => {
            resources::route::<Campaign>(call, m, one(rest)).await
        }
        (m, ["api", "employees", rest @ ..]) if rest.len() <= 1 => {
            resources::route::<Employee>(call, m, one(rest)).await
        }
        (&Method::POST, ["api", "integrations", id, "oauth", "start"]) => {
            respond(StatusCode::OK, oauth::start(call, id).await)
        }
        (&Method::GET, ["api", "integrations", id, "amocrm", "fields"]) => {
            respond(StatusCode::OK, oauth::amocrm_fields(call, id).await)
        }
        (&Method::POST, ["api", "integrations", id, "reconcile"]) => {
            respond(StatusCode::ACCEPTED, reconcile::run(call, id).await)
        }
        (&Method::GET, ["api", "integrations", id, "skipped"]) => {
            respond(StatusCode::OK, reconcile::skipped(call, id).await)
        }
        (&Method::POST, ["api", "integrations", id, "rotate-secret"]) => {
            respond(StatusCode::OK, integrations::rotate_secret(call, id).await)
        }
        (m, ["api", "integrations", rest @ ..]) if rest.len() <= 1 => {
            resources::route::<Integration>(call, m, one(rest)).await
        }
        (&Method::GET, ["api", "appeals"]) => respond(StatusCode::OK, appeals::list(call).await),
        (&Method::GET, ["api", "appeals", id]) => {
            respond(StatusCode::OK, appeals::get(call, id).await)
        }
        (&Method::GET, ["api", "raw-events"]) => {
            respond(StatusCode::OK, raw_events::list(call).await)
        }
        (&Method::GET, ["api", "raw-events", id]) => {
            respond(StatusCode::OK, raw_events::get(call, id).await)
        }
        (&Method::POST, ["api", "raw-events", id, "replay"]) => {
            respond(StatusCode::OK, raw_events::replay(call, id).await)
        }
        (_, ["api", "appeals" | "raw-events", ..]) => {
            ApiError::method_not_allowed().into_response()
        }
        _ => ApiError::not_found(format!("No such path: {path}")).into_response(),
    }
}

/// `[]` is the collection, `[id]` one record.
fn one<'a>(rest: &[&'a str]) -> Option<&'a str> {
    rest.first().copied()
}
