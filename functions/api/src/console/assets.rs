//! The console's stylesheet and script, built into the binary: no request ever leaves for a
//! third party, and no Node toolchain builds anything. Their addresses carry a digest of their
//! content, so browsers keep them for a year and still get a changed one at once.

use http::{Response, StatusCode, header};
use shared::domain::secret::sha256_hex;
use shared::edge::web::HttpResponse;
use std::sync::LazyLock;

const CSS: &str = include_str!("../../assets/console.css");
const JS: &str = include_str!("../../assets/console.js");

pub static CSS_PATH: LazyLock<String> = LazyLock::new(|| versioned("console.css", CSS));
pub static JS_PATH: LazyLock<String> = LazyLock::new(|| versioned("console.js", JS));

fn versioned(name: &str, body: &str) -> String {
    let digest = sha256_hex(body.as_bytes());
    format!("/assets/{name}?v={}", &digest[..12])
}

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
            .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .body(body.to_owned())
            .unwrap_or_default(),
    )
}
