//! The site tracker: `GET /t/{site_id}/script.js` (the site script) and
//! `POST /t/{site_id}/sessions` (its page views).

mod script;
mod sessions;

pub use script::{ScriptConfig, minified, render};

use http::{HeaderValue, Method, Response, StatusCode, header};
use lambda_http::Request;
use shared::app::App;
use shared::domain::integration::Integration;
use shared::edge::web::{self, ApiError, HttpResponse};

pub async fn handler(app: &App, req: Request) -> HttpResponse {
    let path = req.uri().path().to_owned();
    match (req.method(), &web::segments(&path)[..]) {
        (&Method::GET | &Method::HEAD, ["t", site, "script.js"]) => {
            serve_script(app, site, &req).await
        }
        (&Method::POST, ["t", site, "sessions"]) => sessions::record(app, site, &req).await,
        (&Method::OPTIONS, ["t", site, "sessions"]) => sessions::preflight(app, site, &req).await,
        (_, ["t", _, "script.js" | "sessions"]) => ApiError::method_not_allowed().into_response(),
        _ => ApiError::not_found("No such path.").into_response(),
    }
}

/// The script tag a site pastes on every page, after its main code.
pub fn script_tag(base_url: &str, site_id: &str) -> String {
    format!(r#"<script async src="{base_url}/t/{site_id}/script.js"></script>"#)
}

async fn serve_script(app: &App, site_id: &str, req: &Request) -> HttpResponse {
    let site = match app.site(site_id).await {
        Ok(Some(site)) => site,
        // A script tag with a wrong id should not throw in the page's console: a comment does not.
        Ok(None) => {
            return javascript(
                StatusCode::NOT_FOUND,
                "/* chatsource: no such site */\n".into(),
            );
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let base = web::base_url(req.headers(), app.public_url.as_deref());
    // The session fields the account's amoCRM integrations chose (`amo_social_button.setMeta`).
    let amo_fields = match app.store.entities::<Integration>(&site.account_id).await {
        Ok(integrations) => integrations
            .iter()
            .filter(|i| i.active)
            .filter_map(|i| i.amocrm.as_ref()?.session_field_id)
            .collect(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let body = render(&ScriptConfig {
        endpoint: format!("{base}/t/{}/sessions", site.id),
        site: site.id.to_string(),
        amo_fields,
    });
    let etag = script::etag(&body);
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if unchanged {
        javascript(StatusCode::NOT_MODIFIED, String::new())
    } else {
        javascript(StatusCode::OK, body)
    };
    let h = response.headers_mut();
    // Short enough that settings reach browsers within minutes; revalidation is a 304.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300, stale-while-revalidate=86400"),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, value);
    }
    response
}

fn javascript(status: StatusCode, body: String) -> HttpResponse {
    Response::builder()
        .status(status)
        .header(
            header::CONTENT_TYPE,
            "application/javascript; charset=utf-8",
        )
        .header("x-content-type-options", "nosniff")
        .body(body)
        .unwrap_or_default()
}
