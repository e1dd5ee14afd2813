//! The requests of the HTTP sample: a body posted to the demo integration's webhook URL as
//! its provider would post it, and now and then as no provider would (a wrong secret, an
//! unknown integration, a GET, an odd content type).

use crate::fuzzer::Fuzzer;
use crate::rng::Gen;
use crate::targets::Target;
use http::{Method, Request};
use lambda_http::Body;
use shared::app::demo;

/// The webhook URL a generated body of `target` goes to, and the method; now and then a
/// wrong secret, an unknown integration, a URL that does not exist, or a GET.
fn route(g: &mut Gen, target: Target) -> (Method, String) {
    let (provider, id, secret, hook) = match target {
        Target::Jivo => ("jivo", demo::JIVO_INTEGRATION_ID, demo::JIVO_SECRET, ""),
        Target::Verbox => {
            let hook = *g.pick(&["/chats", "/offline"]);
            (
                "verbox",
                demo::VERBOX_INTEGRATION_ID,
                demo::VERBOX_SECRET,
                hook,
            )
        }
        Target::Amocrm => (
            "amocrm",
            demo::AMOCRM_INTEGRATION_ID,
            demo::AMOCRM_SECRET,
            "",
        ),
        _ => (
            "bitrix24",
            demo::BITRIX24_INTEGRATION_ID,
            demo::BITRIX24_SECRET,
            "",
        ),
    };
    let mut path = format!("/hooks/{provider}/{id}/{secret}{hook}");
    if g.chance(0.03) {
        path = path.replace(secret, "wrong_secret");
    }
    if g.chance(0.02) {
        let other = *g.pick(&["int_nope", "%00", "..", "int_demo_jivo"]);
        path = path.replace(id, other);
    }
    if g.chance(0.01) {
        path.push_str("/extra");
    }
    let method = if g.chance(0.02) {
        Method::GET
    } else {
        Method::POST
    };
    (method, path)
}

/// The status and answer of a body posted to the provider's webhook URL.
pub fn post(
    fuzzer: &Fuzzer,
    g: &mut Gen,
    target: Target,
    body: &[u8],
) -> Result<(u16, String), String> {
    let (method, path) = route(g, target);
    let content_type = *g.pick(&[
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
        "",
    ]);
    let mut req = Request::builder()
        .method(method)
        .uri(format!("https://hooks.example.com{path}"));
    if !content_type.is_empty() {
        req = req.header("content-type", content_type);
    }
    let req = req
        .body(Body::from(body.to_vec()))
        .map_err(|e| format!("request: {e}"))?;
    let function = chatsource::Function::for_path(&path).ok_or("no function for the path")?;
    let demo = &fuzzer.demo;
    let answer = demo.runtime.block_on(function.handle(&demo.app, req));
    Ok((answer.status().as_u16(), answer.into_body()))
}
