//! `POST /t/{site_id}/sessions`: a page view from the site script, answered with the
//! visitor's session (continued or new), its deep-link code and the visitor id; CORS for the
//! site's own domain only.

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use lambda_http::Request;
use serde::Deserialize;
use serde_json::json;
use shared::app::App;
use shared::domain::directory::{Site, host_of};
use shared::domain::secret::random_token;
use shared::domain::session::{PageView, PlatformIds, Visit, visit};
use shared::edge::web::{self, ApiError, HttpResponse};

/// A page view is a few hundred bytes; anything this big is not our script.
const MAX_BODY: usize = 16 * 1024;
/// Longer URLs exist, but not as landing pages worth keeping.
const MAX_URL: usize = 2048;

/// What the script posts. Unknown fields are ignored: browsers may run an older or newer
/// script than the server for a while (caches).
#[derive(Deserialize)]
struct PageViewPost {
    visitor_id: Option<String>,
    session_id: Option<String>,
    url: Option<String>,
    referrer: Option<String>,
    /// The browser's Metrika ClientID and Google Analytics client id, when the page has their
    /// counters (they may come on a later post of the same page: counters load late). Short
    /// names, as the script is small; a number is taken as its digits.
    ym: Option<serde_json::Value>,
    ga: Option<serde_json::Value>,
}

/// An id the page sent, as text (anything but text or a number is no id).
fn id_text(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub async fn record(app: &App, site_id: &str, req: &Request) -> HttpResponse {
    let origin = allowed_origin(app, site_id, req.headers()).await;
    let result = match &origin {
        Err(e) => Err(e.clone()),
        Ok(site) => handle(app, site, req.body().as_ref()).await,
    };
    let mut response = web::respond(StatusCode::OK, result);
    cors(&mut response, req.headers(), origin.is_ok());
    response
}

/// `OPTIONS`: a preflight, for clients that send `application/json` (our script does not).
pub async fn preflight(app: &App, site_id: &str, req: &Request) -> HttpResponse {
    match allowed_origin(app, site_id, req.headers()).await {
        Err(e) => e.into_response(),
        Ok(_) => {
            let mut response = web::no_content();
            cors(&mut response, req.headers(), true);
            let h = response.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("POST, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("86400"),
            );
            response
        }
    }
}

/// The site, if it exists and the request's `Origin` (when a browser sent one) is its
/// domain or a subdomain of it.
async fn allowed_origin(app: &App, site_id: &str, headers: &HeaderMap) -> Result<Site, ApiError> {
    let site = app
        .site(site_id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such site."))?;
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok())
        && !host_of(origin).is_some_and(|h| on_site(&site, &h))
    {
        return Err(ApiError::origin_not_allowed(format!(
            "Pages of {} may record sessions of this site; {origin} may not.",
            site.domain
        )));
    }
    Ok(site)
}

fn on_site(site: &Site, host: &str) -> bool {
    host == site.domain || host.ends_with(&format!(".{}", site.domain))
}

fn cors(response: &mut Response<String>, headers: &HeaderMap, allowed: bool) {
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let (true, Some(origin)) = (allowed, headers.get(header::ORIGIN)) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
}

async fn handle(app: &App, site: &Site, body: &[u8]) -> Result<serde_json::Value, ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::payload_too_large(format!(
            "A page view is at most {MAX_BODY} bytes."
        )));
    }
    let post: PageViewPost = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("The body is not a page view: {e}.")))?;
    let url = post
        .url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::bad_request("url is required: the page's address."))?;
    check_url(site, url)?;
    let referrer = post
        .referrer
        .as_deref()
        .filter(|r| r.len() <= MAX_URL && url::Url::parse(r).is_ok());
    let view = PageView::new(site, url, referrer);
    let visitor_id = post
        .visitor_id
        .filter(|v| is_visitor_id(v))
        .unwrap_or_else(|| format!("v_{}", random_token(16)));
    let current = match post.session_id.as_deref() {
        Some(id) if id.len() <= 64 => app.store.session(id).await?,
        _ => None,
    };
    let ids = PlatformIds::checked(
        id_text(post.ym.as_ref()).as_deref(),
        id_text(post.ga.as_ref()).as_deref(),
    );
    let now = chrono::Utc::now();
    let (session, new) = match visit(current, site, &visitor_id, &view, now) {
        Visit::Start(mut session) => {
            session.learn(&ids);
            app.store.start_session(&mut session).await?;
            (session, true)
        }
        Visit::Continue {
            mut session,
            touched,
        } => {
            let learned = session.learn(&ids);
            if touched || learned {
                app.store.put_session(&session).await?;
            }
            (session, false)
        }
    };
    if new {
        tracing::info!(site_id = %site.id, session_id = %session.id, ad_click = view.is_ad_click(), "session started");
    }
    Ok(json!({
        "session_id": session.id,
        "visitor_id": session.visitor_id,
        "code": session.code,
        "new": new,
    }))
}

fn check_url(site: &Site, url: &str) -> Result<(), ApiError> {
    if url.len() > MAX_URL {
        return Err(ApiError::bad_request(format!(
            "url is over {MAX_URL} characters."
        )));
    }
    let parsed =
        url::Url::parse(url).map_err(|_| ApiError::bad_request("url is not an absolute URL."))?;
    let host_ok = matches!(parsed.scheme(), "http" | "https")
        && parsed.host_str().is_some_and(|h| {
            let h = h.to_ascii_lowercase();
            on_site(site, h.strip_prefix("www.").unwrap_or(&h))
        });
    if !host_ok {
        return Err(ApiError::bad_request(format!(
            "url must be a page of {}.",
            site.domain
        )));
    }
    Ok(())
}

/// Ours look like `v_` and 22 URL-safe characters; a tampered one is replaced, not refused.
fn is_visitor_id(v: &str) -> bool {
    v.len() >= 10
        && v.len() <= 64
        && v.starts_with("v_")
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
