//! Repeat appeals over HTTP: `GET /api/appeals?repeat=` keeps first or repeat ones (the CSV
//! export too) and refuses anything but true or false naming the field; a site's own repeat
//! window is written, kept across a PATCH of other fields, cleared with `null`, and refused
//! outside 1..=365 naming the field. Appeals are stored directly, as ingestion keeps them with
//! `repeat` decided.

use chatsource_tests::server::{API_KEY, TestServer, start};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use shared::domain::appeal::{Appeal, AppealFacts, Channel, Kind, SessionInfo, Status};
use shared::domain::contact::Contact;
use shared::domain::ids::{AccountId, AppealId, IntegrationId};
use shared::store::StoredAppeal;
use shared::store::kv::Condition;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
}

/// A demo-account chat of `name` at `phone`, `days` after `t0`, stored with `repeat` decided.
pub async fn put_appeal(server: &TestServer, n: u32, name: &str, phone: &str, repeat: bool) {
    let at = t0() + Duration::days(i64::from(n));
    let integration = IntegrationId::parse("int_demo_jivo").unwrap();
    let facts = AppealFacts {
        kind: Kind::Chat,
        provider_ref: format!("repeat-{n}"),
        channel: Channel::parse("site").unwrap(),
        occurred_at: Some(at),
        contact: Contact {
            name: Some(name.to_owned()),
            phones: vec![phone.to_owned()],
            emails: Vec::new(),
        },
        agent: None,
        messages: None,
        session: SessionInfo::default(),
        visitor_ref: None,
        status: Status::Complete,
    };
    let id = AppealId::derive(&integration, "jivo", &facts.provider_ref);
    let account = AccountId::parse(shared::app::demo::ACCOUNT_ID).unwrap();
    let mut appeal = Appeal::new(
        id,
        account,
        integration,
        shared::domain::appeal::Provider::Jivo,
        &facts,
        at,
    );
    appeal.repeat = repeat;
    let mut stored = StoredAppeal::new(appeal);
    stored.repeat_decided = true;
    server
        .store
        .put_record(&stored, Condition::NotExists)
        .await
        .expect("appeal kept");
}

async fn names(server: &TestServer, query: &str) -> Vec<(String, bool)> {
    let answer = server
        .demo("GET", &format!("/api/appeals{query}"), None)
        .await;
    assert_eq!(answer.status, 200, "{query}: {}", answer.json);
    let mut names: Vec<(String, bool)> = answer.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| {
            let name = a["contact"]["name"].as_str().unwrap_or("-").to_owned();
            (name, a["repeat"].as_bool().expect("repeat is shown"))
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_journal_keeps_first_or_repeat_appeals_and_refuses_any_other_value() {
    let server = start().await;
    put_appeal(&server, 0, "Анна", "+79160000001", false).await;
    put_appeal(&server, 3, "Анна", "+79160000001", true).await;
    put_appeal(&server, 5, "Борис", "+79160000002", false).await;
    let pair = |name: &str, repeat| (name.to_owned(), repeat);
    assert_eq!(names(&server, "").await.len(), 3);
    assert_eq!(names(&server, "?repeat=true").await, [pair("Анна", true)]);
    assert_eq!(
        names(&server, "?repeat=false").await,
        [pair("Анна", false), pair("Борис", false)]
    );
    // With a search, as the card's "all appeals of this person" link and a filter combine.
    assert_eq!(
        names(&server, "?repeat=false&q=%2B79160000001").await,
        [pair("Анна", false)]
    );
    // Across pages of one.
    let first = server
        .demo("GET", "/api/appeals?repeat=false&limit=1", None)
        .await;
    let cursor = first.json["next_cursor"].as_str().expect("a next page");
    let second = server
        .demo(
            "GET",
            &format!("/api/appeals?repeat=false&limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(second.json["items"][0]["repeat"], false, "{}", second.json);
    assert_ne!(first.json["items"][0]["id"], second.json["items"][0]["id"]);

    // The CSV export takes the same filter: a header and the one repeat appeal.
    let csv = server
        .client
        .get(format!(
            "{}/api/appeals?format=csv&repeat=true",
            server.base
        ))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.expect("body");
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("Анна"), "{text}");

    for bad in ["yes", "1", "TRUE", "true,false"] {
        let answer = server
            .demo("GET", &format!("/api/appeals?repeat={bad}"), None)
            .await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.json);
        assert_eq!(answer.json["field"], "repeat", "{bad}: {}", answer.json);
        assert_eq!(answer.json["reason"], "invalid_value", "{}", answer.json);
    }
    // The OpenAPI document lists it.
    let openapi = server.demo("GET", "/api/openapi.json", None).await.json;
    let params = &openapi["paths"]["/api/appeals"]["get"]["parameters"];
    assert!(
        params
            .as_array()
            .expect("parameters")
            .iter()
            .any(|p| p["name"] == "repeat"),
        "{params}"
    );
}

async fn site(server: &TestServer, method: &str, path: &str, body: Value) -> (u16, Value) {
    let answer = server.demo(method, path, Some(body)).await;
    (answer.status, answer.json)
}

#[tokio::test]
async fn a_sites_repeat_window_is_kept_cleared_and_bounded() {
    let server = start().await;
    // Without one, a site follows the account's.
    let (status, plain) = site(
        &server,
        "POST",
        "/api/sites",
        json!({"name": "Plain", "domain": "plain.example.ru"}),
    )
    .await;
    assert_eq!(status, 201, "{plain}");
    assert_eq!(plain["repeat_window_days"], Value::Null, "{plain}");
    let demo = server.demo("GET", "/api/sites/site_demo_shop", None).await;
    assert_eq!(
        demo.json["repeat_window_days"],
        Value::Null,
        "{}",
        demo.json
    );

    let (status, own) = site(
        &server,
        "POST",
        "/api/sites",
        json!({"name": "Own", "domain": "own.example.ru", "repeat_window_days": 7}),
    )
    .await;
    assert_eq!(status, 201, "{own}");
    assert_eq!(own["repeat_window_days"], 7);
    let path = format!("/api/sites/{}", own["id"].as_str().unwrap());

    // Another field changed, the window stays; as the console's form sends it, digits count.
    let (_, renamed) = site(&server, "PATCH", &path, json!({"name": "Own shop"})).await;
    assert_eq!(renamed["repeat_window_days"], 7, "{renamed}");
    let (status, typed) = site(
        &server,
        "PATCH",
        &path,
        json!({"repeat_window_days": " 14 "}),
    )
    .await;
    assert_eq!(
        (status, &typed["repeat_window_days"]),
        (200, &json!(14)),
        "{typed}"
    );
    for edge in [1, 365] {
        let (status, kept) =
            site(&server, "PATCH", &path, json!({"repeat_window_days": edge})).await;
        assert_eq!(
            (status, &kept["repeat_window_days"]),
            (200, &json!(edge)),
            "{kept}"
        );
    }

    for bad in [
        json!(0),
        json!(366),
        json!(-1),
        json!(1.5),
        json!(70_000),
        json!(1e30),
        json!("a week"),
        json!(true),
        json!([7]),
        json!({"days": 7}),
    ] {
        for (method, p, body) in [
            ("PATCH", path.as_str(), json!({"repeat_window_days": bad})),
            (
                "POST",
                "/api/sites",
                json!({"name": "Bad", "domain": "bad.example.ru", "repeat_window_days": bad}),
            ),
        ] {
            let (status, answer) = site(&server, method, p, body).await;
            assert_eq!(status, 400, "{method} {bad}: {answer}");
            assert_eq!(answer["field"], "repeat_window_days", "{bad}: {answer}");
            assert_eq!(answer["reason"], "invalid_value", "{bad}: {answer}");
        }
    }
    let unchanged = server.demo("GET", &path, None).await.json;
    assert_eq!(unchanged["repeat_window_days"], 365, "{unchanged}");
    let sites = server.demo("GET", "/api/sites", None).await.json;
    assert!(
        !sites.to_string().contains("bad.example.ru"),
        "no refused site was made: {sites}"
    );

    // null: back to the account's.
    let (status, cleared) =
        site(&server, "PATCH", &path, json!({"repeat_window_days": null})).await;
    assert_eq!(
        (status, &cleared["repeat_window_days"]),
        (200, &Value::Null),
        "{cleared}"
    );
}
