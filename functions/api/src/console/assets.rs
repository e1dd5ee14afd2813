//! The console's stylesheet and script, built into the binary: no request ever leaves for a
//! third party, and no Node toolchain builds anything. Their paths carry a digest of their
//! content, so they can be cached for a year and still change with a release.

use http::{Response, StatusCode, header};
use shared::edge::web::HttpResponse;

const CSS: &str = include_str!("../../assets/console.css");
const JS: &str = include_str!("../../assets/console.js");

pub const CSS_PATH: &str = concat!("/assets/console.css?v=", env!("CARGO_PKG_VERSION"));
pub const JS_PATH: &str = concat!("/assets/console.js?v=", env!("CARGO_PKG_VERSION"));

/// `GET /assets/<name>`, or `None` for a name that is not ours.
pub fn serve(name: &str) -> Option<HttpResponse> {
    let (body, kind) = match name {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return None,
    };
    Some(
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, kind)
            .header(header::CACHE_CONTROL, "public, max-age=3600")
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .body(body.to_owned())
            .unwrap_or_default(),
    )
}
