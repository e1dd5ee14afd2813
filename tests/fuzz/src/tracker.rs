//! The tracker's input, through its handler: the page-view parsing is private to the
//! `tracker` crate (its `sessions` module is not public), so each body is posted to
//! `POST /t/site_demo_shop/sessions` on the demo store, as the site script posts it.

use crate::context::Demo;
use crate::shapes::tracker::{SESSION, VISITOR};
use http::{Method, Request};
use lambda_http::Body;

pub const SITE: &str = "site_demo_shop";

/// A session (and its visitor) made by one plain page view, for inputs that continue it.
pub struct Visit {
    pub session_id: String,
    pub visitor_id: String,
}

impl Visit {
    pub fn new(demo: &Demo) -> Visit {
        let body = br#"{"url": "https://shop.example.ru/?utm_source=yandex&utm_medium=cpc&utm_campaign=spring_sale"}"#;
        let (status, answer) = post(demo, body.to_vec(), None);
        let json: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
        let field = |k: &str| json[k].as_str().map(str::to_owned);
        match (field("session_id"), field("visitor_id")) {
            (Some(session_id), Some(visitor_id)) => Visit {
                session_id,
                visitor_id,
            },
            _ => panic!("the first page view was answered {status}: {answer}"),
        }
    }

    /// The body with the stand-ins replaced by this visit's ids.
    pub fn fill(&self, body: &[u8]) -> Vec<u8> {
        let text = String::from_utf8_lossy(body);
        if !text.contains(SESSION) && !text.contains(VISITOR) {
            return body.to_vec();
        }
        text.replace(SESSION, &self.session_id)
            .replace(VISITOR, &self.visitor_id)
            .into_bytes()
    }
}

/// Which `Origin` the page view carries, chosen by the body's length, so that the body alone
/// replays the input: none (a non-browser client), the site, a subdomain, a stranger.
pub fn origin(body: &[u8]) -> Option<&'static str> {
    [
        None,
        Some("https://shop.example.ru"),
        Some("https://m.shop.example.ru"),
        Some("https://shop.example.ru"),
        Some("https://evil.example"),
    ][body.len() % 5]
}

/// Posts a page view; the answer's status and body.
pub fn post(demo: &Demo, body: Vec<u8>, origin: Option<&str>) -> (u16, String) {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(format!("https://hooks.example.com/t/{SITE}/sessions"))
        .header("content-type", "text/plain;charset=UTF-8");
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    let req = req.body(Body::from(body)).expect("a request");
    let answer = demo
        .runtime
        .block_on(chatsource::Function::Tracker.handle(&demo.app, req));
    (answer.status().as_u16(), answer.into_body())
}
