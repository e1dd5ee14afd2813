//! The console: the web pages a marketer uses, served by the API function on every path that is
//! not `/api/...`. Pages are rendered on the server (maud), forms post back, and every change a
//! form makes goes through the management API's own routes, in process (`api`): the console can
//! do nothing the documented API cannot.

mod api;
mod appeals;
mod assets;
mod auth;
mod charts;
mod directories;
mod i18n;
mod integrations;
mod keys;
mod layout;
mod login;
mod raw;
mod reattribute;
mod reports;
mod settings;
pub mod widgets;

pub use api::Failure;
pub use i18n::Lang;

use auth::SignedIn;
use http::{HeaderMap, Method, Response, StatusCode, header};
use lambda_http::Request;
use shared::app::App;
use shared::crm::Deadline;
use shared::edge::web::{self, ApiError, HttpResponse};

/// The account a request's console session is signed in to, if any (a store failure counts as
/// none: the caller then says less, it does not fail).
pub async fn signed_in_account(
    app: &App,
    headers: &HeaderMap,
) -> Option<shared::domain::ids::AccountId> {
    match auth::signed_in(app, headers).await {
        Ok(signed_in) => signed_in.map(|s| s.account.id),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the console session");
            None
        }
    }
}

/// What every page of a signed-in request knows.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub lang: Lang,
    pub signed_in: SignedIn,
    pub csrf: String,
    /// The request's path and query, for links that keep them (the language switch).
    pub path: String,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub deadline: Deadline,
    /// Origins a page's forms may be sent on to (a CRM's consent page after Connect).
    pub extra_form_actions: Vec<String>,
}

/// A form as posted: its fields in order (a name may repeat).
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated field.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

pub async fn handle(app: &App, req: &Request, deadline: Deadline) -> HttpResponse {
    let path = req.uri().path().to_owned();
    let segments = web::segments(&path);
    let method = req.method().clone();
    let headers = req.headers();
    let query = req.uri().query();
    let lang = Lang::choose(query, headers);
    if let ["assets", name] = segments[..] {
        return assets::serve(name)
            .unwrap_or_else(|| ApiError::not_found("No such asset.").into_response());
    }
    let body: &[u8] = req.body().as_ref();
    let mut response = match (&method, &segments[..]) {
        (&Method::GET, ["login"]) => login::page(lang, query, None),
        (&Method::POST, ["login"]) => login::post(app, lang, headers, body).await,
        _ => match auth::signed_in(app, headers).await {
            Err(e) => error_page(lang, ApiError::from(e)),
            Ok(None) => to_sign_in(&path, query),
            Ok(Some(signed_in)) => {
                let ctx = Ctx {
                    app,
                    lang,
                    csrf: signed_in.csrf.clone(),
                    signed_in,
                    path: path.clone(),
                    query,
                    headers,
                    deadline,
                    extra_form_actions: Vec::new(),
                };
                signed_in_route(ctx, &method, &segments, body).await
            }
        },
    };
    // `?lang=` on any page picks the language from then on.
    if let Some(chosen) = web::query_param(query, "lang").and_then(|l| Lang::parse(&l)) {
        response
            .headers_mut()
            .append(header::SET_COOKIE, auth::lang_cookie(chosen.code()));
    }
    response
}

async fn signed_in_route(
    ctx: Ctx<'_>,
    method: &Method,
    segments: &[&str],
    body: &[u8],
) -> HttpResponse {
    if *method == Method::POST {
        let form = Form::parse(body);
        if !auth::same_origin(ctx.headers) || !auth::csrf_ok(&ctx.signed_in, form.get("_csrf")) {
            return stale_form(ctx.lang);
        }
        return match segments {
            ["logout"] => login::sign_out(ctx.app, ctx.headers).await,
            ["keys"] => keys::create(&ctx, &form).await,
            ["keys", id, "revoke"] => keys::revoke(&ctx, id).await,
            ["appeals", rest @ ..] => appeals::post(&ctx, rest, &form).await,
            ["integrations", rest @ ..] => integrations::post(&ctx, rest, &form).await,
            ["directories", rest @ ..] => directories::post(&ctx, rest, &form).await,
            ["raw", rest @ ..] => raw::post(&ctx, rest, &form).await,
            ["reattribute"] => reattribute::post(&ctx, &form).await,
            ["settings"] => settings::post(&ctx, &form).await,
            _ => not_found(ctx.lang),
        };
    }
    if *method != Method::GET {
        return ApiError::method_not_allowed().into_response();
    }
    match segments {
        [] => redirect("/appeals"),
        ["keys"] => keys::page(&ctx, None).await,
        ["appeals", rest @ ..] => appeals::get(&ctx, rest).await,
        ["integrations", rest @ ..] => integrations::get(&ctx, rest).await,
        ["directories", rest @ ..] => directories::get(&ctx, rest).await,
        ["raw", rest @ ..] => raw::get(&ctx, rest).await,
        ["reattribute", rest @ ..] => reattribute::get(&ctx, rest).await,
        ["reports"] => reports::page(&ctx).await,
        ["reports.csv"] => reports::csv(&ctx).await,
        ["settings"] => settings::get(&ctx).await,
        _ => not_found(ctx.lang),
    }
}

/// `303 See Other` to `location`: after a post, the browser loads the page anew.
pub fn redirect(location: &str) -> HttpResponse {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .body(String::new())
        .unwrap_or_default()
}

/// Off to sign in, and back here afterwards.
fn to_sign_in(path: &str, query: Option<&str>) -> HttpResponse {
    let here = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let next = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", &here)
        .finish();
    redirect(&format!("/login?{next}"))
}

pub fn not_found(lang: Lang) -> HttpResponse {
    problem_page(lang, StatusCode::NOT_FOUND, lang.t("No such page."))
}

/// An error as a page (a person's browser gets HTML, not JSON).
pub fn error_page(lang: Lang, e: ApiError) -> HttpResponse {
    if e.status.is_server_error() {
        // Its message is for the logs (where `into_response` would put it), not for the user.
        tracing::error!(code = e.code, message = %e.message, "a console page failed");
        return problem_page(
            lang,
            e.status,
            lang.t("Please try again in a minute; if it keeps failing, tell your administrator."),
        );
    }
    problem_page(lang, e.status, &e.message)
}

/// A form whose CSRF token or origin is not this console's (a stale tab, another site).
pub fn stale_form(lang: Lang) -> HttpResponse {
    problem_page(
        lang,
        StatusCode::BAD_REQUEST,
        lang.t(
            "The form was old or not sent from this console. Reload the page and send it again.",
        ),
    )
}

/// An API call's failure as a page, said in the user's language where it can be.
pub fn failed_page(lang: Lang, e: &Failure) -> HttpResponse {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
    problem_page(lang, status, &e.say(lang))
}

fn problem_page(lang: Lang, status: StatusCode, message: &str) -> HttpResponse {
    let title = match status {
        StatusCode::NOT_FOUND => lang.t("Not found"),
        s if s.is_server_error() => lang.t("Something failed on our side"),
        _ => lang.t("This did not work"),
    };
    let content = maud::html! {
        h1 { (title) }
        p { (message) }
        p { a href="/appeals" { (lang.t("Back to the console")) } }
    };
    layout::bare(lang, status, title, content)
}

/// A time from the API (RFC 3339, UTC), as people read it: to the minute, with its zone.
pub fn when(lang: Lang, value: &serde_json::Value) -> String {
    let Some(t) = value
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    else {
        return String::new();
    };
    let t = t.with_timezone(&chrono::Utc);
    match lang {
        Lang::Ru => t.format("%d.%m.%Y %H:%M UTC").to_string(),
        Lang::En => t.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}
