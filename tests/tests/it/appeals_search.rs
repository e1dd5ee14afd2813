//! `GET /api/appeals` searched by `q` (a phone in any spelling, an e-mail, part of a name) and
//! filtered by `via` and `status`; a bad value is a 400 naming its field.

use chatsource_tests::server::{TestServer, jivo_body, jivo_body_with, start};
use serde_json::{Value, json};

async fn appeals(server: &TestServer, query: &str) -> Vec<Value> {
    let answer = server
        .demo("GET", &format!("/api/appeals{query}"), None)
        .await;
    assert_eq!(answer.status, 200, "{query}: {}", answer.json);
    answer.json["items"].as_array().expect("items").clone()
}

fn names(items: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = items
        .iter()
        .map(|a| a["contact"]["name"].as_str().unwrap_or("-").to_owned())
        .collect();
    names.sort();
    names
}

/// Мария (site chat, UTM), Павел (Telegram), a call with only a phone, Игорь (an offline
/// message) and a chat still in progress.
async fn five_appeals() -> TestServer {
    let server = start().await;
    let url = server.jivo_url();
    let in_progress = jivo_body_with("chat_accepted", &[("/chat_id", json!(555))]);
    for body in [
        jivo_body("chat_finished"),
        jivo_body("telegram_chat_finished"),
        jivo_body("call_event"),
        jivo_body("offline_message"),
        in_progress,
    ] {
        let answer = server.post_raw(&url, body).await;
        assert_eq!(answer.status, 200, "{}", answer.json);
    }
    assert_eq!(appeals(&server, "").await.len(), 5);
    server
}

#[tokio::test]
async fn a_phone_is_found_however_it_is_written_an_email_lower_cased_and_a_name_in_any_case() {
    let server = five_appeals().await;
    for (q, who) in [
        ("%2B79161234567", "Мария Ковалёва"),
        ("8%20(916)%20123-45-67", "Мария Ковалёва"),
        ("916%20123%2045%2067", "Мария Ковалёва"),
        ("123-45-67", "Мария Ковалёва"),
        ("M.KOVALEVA%40Example.org", "Мария Ковалёва"),
        ("%40example.net", "Игорь"),
        ("8-903-555-01-01", "Игорь"),
        ("%D0%BC%D0%B0%D1%80%D0%B8%D1%8F", "Мария Ковалёва"), // мария
        (
            "%D0%9A%D0%9E%D0%92%D0%90%D0%9B%D0%95%D0%92%D0%90",
            "Мария Ковалёва",
        ), // КОВАЛЕВА
        ("%D0%BF%D0%B0%D0%B2%D0%B5%D0%BB", "Павел"),          // павел
    ] {
        assert_eq!(
            names(&appeals(&server, &format!("?q={q}")).await),
            [who],
            "{q}"
        );
    }
    let call = appeals(&server, "?q=8%20926%20000-11-22").await;
    assert_eq!(call.len(), 1);
    assert_eq!(call[0]["contact"]["phones"], json!(["+79260001122"]));
    for q in ["nobody", "%2B7%20999%20000-00-00", "nobody%40example.org"] {
        assert!(appeals(&server, &format!("?q={q}")).await.is_empty(), "{q}");
    }
    assert_eq!(
        appeals(&server, "?q=").await.len(),
        5,
        "a blank search is none"
    );
    let both = appeals(
        &server,
        "?q=%D0%BC%D0%B0%D1%80%D0%B8%D1%8F&channel=telegram",
    )
    .await;
    assert!(both.is_empty(), "search and filters hold together");
}

#[tokio::test]
async fn via_and_status_filters_keep_exactly_the_appeals_that_have_them() {
    let server = five_appeals().await;
    let all = appeals(&server, "").await;
    let ids = |items: &[Value]| {
        let mut ids: Vec<String> = items
            .iter()
            .map(|a| a["id"].as_str().expect("id").to_owned())
            .collect();
        ids.sort();
        ids
    };
    for (field, values) in [
        (
            "via",
            &["session", "utm", "messenger_mapping", "default"][..],
        ),
        (
            "status",
            &["in_progress", "pending_enrichment", "complete", "failed"][..],
        ),
    ] {
        for value in values {
            let expected: Vec<Value> = all
                .iter()
                .filter(|a| {
                    let got = if field == "via" {
                        &a["attribution"]["via"]
                    } else {
                        &a["status"]
                    };
                    got == value
                })
                .cloned()
                .collect();
            let got = appeals(&server, &format!("?{field}={value}")).await;
            assert_eq!(ids(&got), ids(&expected), "{field}={value}");
        }
    }
    let telegram = appeals(&server, "?via=messenger_mapping").await;
    assert_eq!(names(&telegram), ["Павел"]);
    assert_eq!(appeals(&server, "?status=in_progress").await.len(), 1);
    let utm_complete = appeals(&server, "?via=utm&status=complete&provider=jivo").await;
    assert!(
        names(&utm_complete).contains(&"Мария Ковалёва".to_owned()),
        "{utm_complete:#?}"
    );
}

#[tokio::test]
async fn a_bad_via_status_or_search_is_a_400_naming_its_field() {
    let server = start().await;
    let long = "a".repeat(201);
    for (query, field, code) in [
        ("?via=sesion".to_owned(), "via", "invalid_value"),
        ("?status=done".to_owned(), "status", "invalid_value"),
        (format!("?q={long}"), "q", "too_long"),
    ] {
        let answer = server
            .demo("GET", &format!("/api/appeals{query}"), None)
            .await;
        assert_eq!(answer.status, 400, "{query}");
        assert_eq!(
            answer.json["error"], "invalid_request",
            "{query}: {}",
            answer.json
        );
        assert_eq!(answer.json["reason"], code, "{query}: {}", answer.json);
        assert_eq!(answer.json["field"], field, "{query}: {}", answer.json);
    }
    let says = server.demo("GET", "/api/appeals?via=x", None).await.json;
    assert!(
        says["message"]
            .as_str()
            .expect("message")
            .contains("messenger_mapping"),
        "{says}"
    );
}
