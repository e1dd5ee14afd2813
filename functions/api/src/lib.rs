//! The management API (`/api/...` with `Authorization: Bearer <api key>`) and, on every other
//! path, the console: the web pages people use, made from the same calls.
//!
//! API routes are a table (`routes`), which the OpenAPI document is written from; every answer
//! is JSON, every error `{"error": code, "message": sentence}` (`shared::edge::web`). An
//! account's key reaches only its own records: another account's id answers "not found".

mod accounts;
mod appeals;
mod appeals_csv;
mod call;
mod console;
mod directory;
mod exports;
mod integrations;
mod keys;
mod oauth;
mod openapi;
mod raw_events;
mod reattribute;
mod reconcile;
mod reports;
mod resources;
mod routes;
mod settings;

pub use appeals_csv::CsvAnswer;
pub use routes::ROUTES;

use call::{Call, bearer};
use http::{Method, StatusCode};
use lambda_http::{Request, RequestExt};
use routes::{Found, Kind, Op, Route};
use shared::app::App;
use shared::domain::directory::{Campaign, Employee, Site, Source};
use shared::domain::integration::Integration;
use shared::edge::web::{self, ApiError, HttpResponse, no_content, respond};

/// Calls the generic resource function `f::<T>` for the record type a [`Kind`] names.
macro_rules! by_kind {
    ($kind:expr, $($f:ident)::+, $($arg:expr),*) => {
        match $kind {
            Kind::Site => $($f)::+::<Site>($($arg),*).await,
            Kind::Source => $($f)::+::<Source>($($arg),*).await,
            Kind::Campaign => $($f)::+::<Campaign>($($arg),*).await,
            Kind::Employee => $($f)::+::<Employee>($($arg),*).await,
            Kind::Integration => $($f)::+::<Integration>($($arg),*).await,
        }
    };
}
pub async fn handler(app: &App, req: Request) -> HttpResponse {
    let path = req.uri().path().to_owned();
    let segments = web::segments(&path);
    let method = req.method().clone();
    let deadline = web::deadline(req.lambda_context_ref().map(|c| c.deadline));
    if let ["oauth", provider, "callback"] = segments[..] {
        if method != Method::GET {
            return ApiError::method_not_allowed().into_response();
        }
        return oauth::callback(app, provider, req.uri().query(), req.headers(), deadline).await;
    }
    if segments.first() != Some(&"api") {
        return console::handle(app, &req, deadline).await;
    }
    let (route, params) = match routes::find(&method, &segments) {
        Found::Route(route, params) => (route, params),
        Found::WrongMethod => return ApiError::method_not_allowed().into_response(),
        Found::NoSuchPath => {
            return ApiError::not_found(format!("No such path: {path}")).into_response();
        }
    };
    let body: &[u8] = req.body().as_ref();
    match route.op {
        Op::OpenApi => return web::json(StatusCode::OK, &openapi::document()),
        Op::CreateAccount => {
            return respond(
                route.status,
                accounts::create(app, bearer(req.headers()), body).await,
            );
        }
        _ => {}
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
        route,
    };
    if route.op == Op::Appeals && appeals_csv::asks_for_csv(call.query, req.headers()) {
        if let Some(refused) = call.unknown_param() {
            return refused.into_response();
        }
        return appeals_csv::answer(&call, req.headers()).await;
    }
    run(&call, route, &params).await
}

/// A CSV export of appeals, when `req` asks for one (`GET /api/appeals?format=csv`, or
/// `Accept: text/csv`): authenticated and its filters read, for the local server to stream
/// (it holds no answer-size limit). `None`: not one; [`handler`] answers it.
pub async fn csv_export(app: &App, req: &Request) -> Option<Result<CsvAnswer, HttpResponse>> {
    if req.method() != Method::GET
        || web::segments(req.uri().path()) != ["api", "appeals"]
        || !appeals_csv::asks_for_csv(req.uri().query(), req.headers())
    {
        return None;
    }
    let Found::Route(route, _) = routes::find(&Method::GET, &["api", "appeals"]) else {
        return None;
    };
    let prepared = async {
        let account = call::authenticate(app, req.headers()).await?;
        let call = Call {
            app,
            account,
            base_url: web::base_url(req.headers(), app.public_url.as_deref()),
            query: req.uri().query(),
            body: &[],
            now: chrono::Utc::now(),
            deadline: web::deadline(None),
            route,
        };
        if let Some(refused) = call.unknown_param() {
            return Err(refused);
        }
        appeals_csv::prepare(&call, req.headers())
    };
    Some(prepared.await.map_err(ApiError::into_response))
}

/// Runs an authenticated route.
pub(crate) async fn run(call: &Call<'_>, route: &Route, params: &[&str]) -> HttpResponse {
    if let Some(refused) = call.unknown_param() {
        return refused.into_response();
    }
    let id = params.first().copied().unwrap_or_default();
    let status = route.status;
    match route.op {
        Op::List(kind) => respond(status, by_kind!(kind, resources::list, call)),
        Op::Create(kind) => respond(status, by_kind!(kind, resources::create, call)),
        Op::Get(kind) => respond(status, by_kind!(kind, resources::show, call, id)),
        Op::Update(kind) => respond(status, by_kind!(kind, resources::update, call, id)),
        Op::Delete(kind) => match by_kind!(kind, resources::delete, call, id) {
            Ok(()) => no_content(),
            Err(e) => e.into_response(),
        },
        Op::RotateSecret => respond(status, integrations::rotate_secret(call, id).await),
        Op::OauthStart => respond(status, oauth::start(call, id).await),
        Op::AmocrmFields => respond(status, oauth::amocrm_fields(call, id).await),
        Op::Bitrix24Fields => respond(status, oauth::bitrix24_fields(call, id).await),
        Op::Reconcile => respond(status, reconcile::run(call, id).await),
        Op::Skipped => respond(status, reconcile::skipped(call, id).await),
        Op::Appeals => respond(status, appeals::list(call).await),
        Op::Appeal => respond(status, appeals::get(call, id).await),
        Op::RawEvents => respond(status, raw_events::list(call).await),
        Op::RawEvent => respond(status, raw_events::get(call, id).await),
        Op::Replay => respond(status, raw_events::replay(call, id).await),
        Op::Keys => respond(status, keys::list(call).await),
        Op::CreateKey => respond(status, keys::create(call).await),
        Op::RevokeKey => match keys::revoke(call, id).await {
            Ok(()) => no_content(),
            Err(e) => e.into_response(),
        },
        Op::Account => respond(status, settings::get(call).await),
        Op::UpdateAccount => respond(status, settings::update(call).await),
        Op::MetrikaExport => exports::metrika(call).await,
        Op::GoogleAdsExport => exports::google_ads(call).await,
        Op::CsvExport => respond(status, appeals_csv::status(call, id).await),
        Op::ReportAppeals => respond(status, reports::appeals(call).await),
        Op::Reattribute => respond(status, reattribute::start(call).await),
        Op::ReattributeRuns => respond(status, reattribute::list(call).await),
        Op::ReattributeRun => respond(status, reattribute::get(call, id).await),
        // Answered before authentication.
        Op::OpenApi | Op::CreateAccount => ApiError::method_not_allowed().into_response(),
    }
}
