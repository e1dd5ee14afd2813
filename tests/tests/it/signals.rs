//! Every signal a careful marketer reads, over HTTP on a real `chatsource serve`: a visit our
//! script recorded with only a click id, or only a referrer, decides the chat's source; a
//! visit from nowhere is direct and the default decides; each appeal says how (`via`,
//! `evidence`) and carries its channel group, which the journal filters by and reports group
//! by.

use chatsource_tests::server::{TestServer, jivo_body_with, start};
use serde_json::{Value, json};

/// A page view our script posts on the demo shop: its session id.
async fn visit(server: &TestServer, url: &str, referrer: Option<&str>) -> String {
    let mut body = json!({ "url": url });
    if let Some(r) = referrer {
        body["referrer"] = json!(r);
    }
    let answer: Value = server
        .client
        .post(format!("{}/t/site_demo_shop/sessions", server.base))
        .header("origin", "https://shop.example.ru")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["session_id"].as_str().expect("a session").to_owned()
}

/// A finished Jivo chat carrying `token` (our session id) with no tags of its own.
async fn chat(server: &TestServer, chat_id: u64, token: &str) -> Value {
    let body = jivo_body_with(
        "chat_finished",
        &[
            ("/chat_id", json!(chat_id)),
            ("/user_token", json!(token)),
            ("/page/url", json!("https://shop.example.ru/sofas")),
            ("/session/utm", json!("")),
            ("/session/utm_json", json!({})),
            ("/visitor/number", json!(format!("v{chat_id}"))),
        ],
    );
    let answer = server.post_raw(&server.jivo_url(), body).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let id = answer.json["appeal_ids"][0].as_str().map(str::to_owned);
    let appeals = server
        .demo("GET", "/api/appeals?limit=200", None)
        .await
        .json;
    appeals["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            id.as_deref().is_some_and(|id| a["id"] == id)
                || a["provider_ref"]
                    .as_str()
                    .is_some_and(|r| r.ends_with(&format!(":{chat_id}")))
        })
        .cloned()
        .unwrap_or_else(|| panic!("chat {chat_id} made no appeal: {appeals}"))
}

#[tokio::test]
async fn click_ids_and_referrers_of_the_visit_decide_and_a_visit_from_nowhere_is_direct() {
    // The demo's sources carry the rules: Google Ads lists gclid, Organic search the search
    // engines, Social the social networks.
    let server = start().await;

    let clicked = visit(&server, "https://shop.example.ru/?gclid=Cj0KCQ-only", None).await;
    let a = chat(&server, 8101, &clicked).await;
    assert_eq!(a["attribution"]["source_id"], "src_demo_google", "{a}");
    assert_eq!(a["attribution"]["via"], "session");
    assert_eq!(a["attribution"]["evidence"], "click_id");
    assert_eq!(a["channel_group"], "paid");

    let searched = visit(
        &server,
        "https://shop.example.ru/",
        Some("https://yandex.ru/search/?text=угловой+диван"),
    )
    .await;
    let a = chat(&server, 8102, &searched).await;
    assert_eq!(a["attribution"]["source_id"], "src_demo_search", "{a}");
    assert_eq!(a["attribution"]["evidence"], "referrer");
    assert_eq!(a["channel_group"], "organic");

    let social = visit(
        &server,
        "https://shop.example.ru/",
        Some("https://m.vk.com/wall-1_2"),
    )
    .await;
    let a = chat(&server, 8103, &social).await;
    assert_eq!(a["attribution"]["source_id"], "src_demo_social", "{a}");
    assert_eq!(a["channel_group"], "social");

    let direct = visit(&server, "https://shop.example.ru/", None).await;
    let a = chat(&server, 8104, &direct).await;
    assert_eq!(a["attribution"]["via"], "default", "{a}");
    assert_eq!(a["attribution"]["campaign_id"], "cmp_demo_default");
    assert_eq!(
        a["attribution"]["site_id"], "site_demo_shop",
        "the visit's site stands"
    );
    assert_eq!(a["channel_group"], "direct");

    // The journal filters by the group; the report groups by it, one key per step in `via`.
    let paid = server
        .demo("GET", "/api/appeals?channel_group=paid", None)
        .await;
    assert_eq!(paid.status, 200, "{}", paid.json);
    assert_eq!(paid.json["items"].as_array().unwrap().len(), 1);
    let bad = server
        .demo("GET", "/api/appeals?channel_group=cosmic", None)
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json["field"], "channel_group");
    // The sample chat's messages were written in June 2024.
    let report = server
        .demo(
            "GET",
            "/api/reports/appeals?from=2024-06-01&to=2024-06-30&group_by=channel_group&tz=UTC",
            None,
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.json);
    let groups: Vec<(&str, i64)> = report.json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["channel_group"].as_str().unwrap(),
                r["count"].as_i64().unwrap(),
            )
        })
        .collect();
    for group in ["paid", "organic", "social", "direct"] {
        assert!(groups.contains(&(group, 1)), "{group}: {groups:?}");
    }
    let via = report.json["totals"]["via"].as_object().unwrap();
    assert!(via.contains_key("click_id"), "{via:?}");
}
