//! The tracker handler called directly: the `events/tracker/` samples, sessions continued and
//! started by the visit rules, CORS, and bad input answered with a 4xx.

use http::{Method, StatusCode};
use lambda_http::{Body, Request};
use serde_json::{Value, json};
use shared::app::App;
use shared::app::demo;
use std::path::PathBuf;

struct Harness {
    app: App,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = demo::seeded_sqlite(dir.path(), None).await.unwrap();
    Harness {
        app: App::new(store),
        _dir: dir,
    }
}

fn event(name: &str) -> Request {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../events/tracker/{name}.json"));
    lambda_http::request::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn page_view(site: &str, origin: Option<&str>, body: Value) -> Request {
    let mut req = http::Request::builder()
        .method(Method::POST)
        .uri(format!("https://api.example.com/t/{site}/sessions"))
        .header("host", "api.example.com")
        .header("content-type", "text/plain");
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    req.body(Body::from(body.to_string())).unwrap()
}

async fn send(h: &Harness, req: Request) -> (StatusCode, http::HeaderMap, Value) {
    let response = tracker::handler(&h.app, req).await;
    let (parts, body) = response.into_parts();
    let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (parts.status, parts.headers, json)
}

const ORIGIN: Option<&str> = Some("https://shop.example.ru");

#[tokio::test]
async fn the_script_sample_gets_the_minified_script_with_the_sites_endpoint() {
    let h = harness().await;
    let response = tracker::handler(&h.app, event("script")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/javascript; charset=utf-8"
    );
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let body = response.body();
    assert!(body.contains(r#""endpoint":"https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/t/site_demo_shop/sessions""#), "{body}");
    assert_eq!(body, &tracker::render(&tracker::ScriptConfig {
        site: "site_demo_shop".into(),
        endpoint: "https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/t/site_demo_shop/sessions".into(),
        amo_fields: vec![],
    }));

    // Revalidation is answered with 304 and no body.
    let etag = response.headers()["etag"].clone();
    let mut again = event("script");
    again.headers_mut().insert("if-none-match", etag);
    let revalidated = tracker::handler(&h.app, again).await;
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert!(revalidated.body().is_empty());
}

#[tokio::test]
async fn an_unknown_sites_script_is_a_harmless_404() {
    let h = harness().await;
    let mut req = event("script");
    *req.uri_mut() = "https://x.example/t/site_nope/script.js".parse().unwrap();
    let response = tracker::handler(&h.app, req).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.body().starts_with("/*"));
}

#[tokio::test]
async fn the_page_view_sample_starts_a_session_with_the_ads_tags_and_click_id() {
    let h = harness().await;
    let (status, headers, body) = send(&h, event("page_view")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://shop.example.ru"
    );
    assert_eq!(body["new"], true);
    let session = h
        .app
        .store
        .session(body["session_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.utm.campaign.as_deref(), Some("spring_sale"));
    assert_eq!(session.click_ids["yclid"], "7315542");
    assert_eq!(
        session.referrer.as_deref(),
        Some("https://yandex.ru/search/?text=%D0%B4%D0%B8%D0%B2%D0%B0%D0%BD")
    );
    assert_eq!(
        session.code.as_ref().map(|c| c.as_str()),
        body["code"].as_str()
    );
    assert!(body["visitor_id"].as_str().unwrap().starts_with("v_"));
}

#[tokio::test]
async fn a_second_page_view_continues_the_session_and_a_new_ad_click_starts_another() {
    let h = harness().await;
    let landing =
        "https://shop.example.ru/?utm_source=yandex&utm_medium=cpc&utm_campaign=spring_sale";
    let (_, _, first) = send(
        &h,
        page_view("site_demo_shop", ORIGIN, json!({"url": landing})),
    )
    .await;
    let next = json!({"visitor_id": first["visitor_id"], "session_id": first["session_id"], "url": "https://shop.example.ru/cart"});
    let (_, _, second) = send(&h, page_view("site_demo_shop", ORIGIN, next)).await;
    assert_eq!(second["session_id"], first["session_id"]);
    assert_eq!(second["new"], false);
    let ad = json!({"visitor_id": first["visitor_id"], "session_id": first["session_id"], "url": "https://shop.example.ru/?gclid=abc"});
    let (_, _, third) = send(&h, page_view("site_demo_shop", ORIGIN, ad)).await;
    assert_ne!(third["session_id"], first["session_id"]);
    assert_eq!(
        third["visitor_id"], first["visitor_id"],
        "the visitor id persists across sessions"
    );
}

#[tokio::test]
async fn the_ad_platforms_ids_are_kept_on_the_session_and_a_later_post_of_the_visit_adds_them() {
    let h = harness().await;
    let landing = "https://shop.example.ru/?yclid=42";
    let first = json!({"url": landing, "ym": "1700000000123456789", "ga": "not an id"});
    let (status, _, first) = send(&h, page_view("site_demo_shop", ORIGIN, first)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let sid = first["session_id"].as_str().unwrap().to_owned();
    let stored = h.app.store.session(&sid).await.unwrap().unwrap();
    assert_eq!(
        stored.metrika_client_id.as_deref(),
        Some("1700000000123456789")
    );
    assert_eq!(
        stored.ga_client_id, None,
        "a malformed id is dropped, the view still counts"
    );

    // The GA counter loaded later: the page posts again, seconds after, with its id.
    let again = json!({"visitor_id": first["visitor_id"], "session_id": sid, "url": landing,
                       "ym": 999, "ga": "123456.1700000000"});
    let (_, _, second) = send(&h, page_view("site_demo_shop", ORIGIN, again)).await;
    assert_eq!(second["session_id"], first["session_id"]);
    let stored = h.app.store.session(&sid).await.unwrap().unwrap();
    assert_eq!(stored.ga_client_id.as_deref(), Some("123456.1700000000"));
    assert_eq!(
        stored.metrika_client_id.as_deref(),
        Some("1700000000123456789"),
        "the first id found stands"
    );
}

#[tokio::test]
async fn bad_page_views_get_a_4xx_with_a_reason() {
    let h = harness().await;
    let (status, _, body) = send(&h, event("page_view_junk")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not a page view")
    );

    let cases = [
        (
            "site_nope",
            ORIGIN,
            json!({"url": "https://shop.example.ru/"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "site_demo_shop",
            Some("https://evil.example.com"),
            json!({"url": "https://shop.example.ru/"}),
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
        ),
        (
            "site_demo_shop",
            ORIGIN,
            json!({"url": "https://other.example.com/"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "site_demo_shop",
            ORIGIN,
            json!({"url": "javascript:alert(1)"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "site_demo_shop",
            ORIGIN,
            json!({"url": format!("https://shop.example.ru/?q={}", "x".repeat(3000))}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "site_demo_shop",
            ORIGIN,
            json!({"referrer": "https://ya.ru/"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "site_demo_shop",
            ORIGIN,
            json!({"url": "https://shop.example.ru/", "pad": "x".repeat(20_000)}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "site_demo_shop",
            ORIGIN,
            json!([1, 2]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (site, origin, body, want, code) in cases {
        let (status, headers, answer) = send(&h, page_view(site, origin, body.clone())).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (want, Some(code)),
            "{site} {body}: {answer}"
        );
        if code == "origin_not_allowed" {
            assert!(headers.get("access-control-allow-origin").is_none());
        }
    }
}

#[tokio::test]
async fn tampered_ids_are_replaced_rather_than_trusted() {
    let h = harness().await;
    let body = json!({"visitor_id": "<script>", "session_id": "ses_../../x", "url": "https://shop.example.ru/"});
    let (status, _, answer) = send(&h, page_view("site_demo_shop", ORIGIN, body)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(answer["visitor_id"].as_str().unwrap().starts_with("v_"));
    assert_eq!(answer["new"], true);
}

#[tokio::test]
async fn a_preflight_from_the_site_is_allowed_and_from_elsewhere_refused() {
    let h = harness().await;
    let preflight = |origin: &str| {
        http::Request::builder()
            .method(Method::OPTIONS)
            .uri("https://api.example.com/t/site_demo_shop/sessions")
            .header("origin", origin)
            .body(Body::Empty)
            .unwrap()
    };
    let ok = tracker::handler(&h.app, preflight("https://m.shop.example.ru")).await;
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://m.shop.example.ru"
    );
    assert!(
        ok.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let refused = tracker::handler(&h.app, preflight("https://evil.example.com")).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

#[test]
fn every_event_file_carries_its_body_file_unchanged() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/tracker");
    for entry in std::fs::read_dir(dir.join("bodies")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        assert_eq!(
            event(&name).body().as_ref(),
            &std::fs::read(&path).unwrap()[..],
            "events/tracker/{name}.json is stale: run python3 events/build.py"
        );
    }
}
