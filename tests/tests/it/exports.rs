//! Closing the loop with the ad platforms, over HTTP on a real `chatsource serve`: visits our
//! script recorded (with a gclid, a yclid, Metrika's ClientID), chats Jivo then sent with
//! those sessions, and the offline-conversion files and the scheduled Metrika upload that
//! carry the visits' ids; the account settings that drive them.

use chatsource_tests::console::Console;
use chatsource_tests::metrika::{self, Metrika};
use chatsource_tests::server::{API_KEY, TestServer, jivo_body_with, start};
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const YM_UID: &str = "1700000000123456789";

/// A page view our script posts on the demo shop: its session id.
async fn visit(server: &TestServer, body: Value) -> String {
    let answer: Value = server
        .client
        .post(format!("{}/t/site_demo_shop/sessions", server.base))
        .header("origin", "https://shop.example.ru")
        .body(body.to_string())
        .send()
        .await
        .expect("page view")
        .json()
        .await
        .expect("JSON");
    answer["session_id"].as_str().expect("a session").to_owned()
}

/// A finished Jivo chat whose messages were all written at `at`, carrying `token` (our
/// session id, or anything) from the page `page`.
async fn chat(server: &TestServer, chat_id: u64, token: &str, page: &str, at: i64) {
    let body = jivo_body_with(
        "chat_finished",
        &[
            ("/chat_id", json!(chat_id)),
            ("/user_token", json!(token)),
            ("/page/url", json!(page)),
            ("/visitor/number", json!(format!("v{chat_id}"))),
            ("/chat/messages/0/timestamp", json!(at)),
            ("/chat/messages/1/timestamp", json!(at)),
            ("/chat/messages/2/timestamp", json!(at)),
        ],
    );
    let answer = server.post_raw(&server.jivo_url(), body).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
}

/// A CSV export: status, content type and body.
async fn export(server: &TestServer, path: &str) -> (u16, String, String) {
    let answer = server
        .client
        .get(format!("{}{path}", server.base))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("export");
    let status = answer.status().as_u16();
    let kind = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, answer.text().await.expect("body"))
}

/// A period of Moscow dates around now, as the exports take it.
fn period() -> String {
    let moscow = Utc::now() + Duration::hours(3);
    let from = (moscow - Duration::days(2)).format("%Y-%m-%d");
    let to = (moscow + Duration::days(1)).format("%Y-%m-%d");
    format!("from={from}&to={to}")
}

#[tokio::test]
async fn the_metrika_and_google_ads_files_carry_the_ids_of_the_sessions_behind_the_chats() {
    let server = start().await;
    let at = (Utc::now() - Duration::hours(5)).timestamp();
    let google = visit(
        &server,
        json!({"url": "https://shop.example.ru/?utm_source=google&gclid=Cj0KCQ-test_1", "ym": YM_UID}),
    )
    .await;
    let direct = visit(
        &server,
        json!({"url": "https://shop.example.ru/?yclid=555777"}),
    )
    .await;
    chat(&server, 7001, &google, "https://shop.example.ru/sofas", at).await;
    chat(&server, 7002, &direct, "https://shop.example.ru/sofas", at).await;
    // No session of ours: the iOS click is on the chat page's own address.
    chat(
        &server,
        7003,
        "their-own-token",
        "https://shop.example.ru/sofas?gbraid=0AAAAx9",
        at,
    )
    .await;
    // No id any platform can match: in neither file.
    chat(
        &server,
        7004,
        "their-own-token",
        "https://shop.example.ru/sofas",
        at,
    )
    .await;

    let (status, kind, csv) = export(
        &server,
        &format!("/api/exports/metrika.csv?{}&goal=chat", period()),
    )
    .await;
    assert_eq!(status, 200, "{csv}");
    assert!(kind.starts_with("text/csv"), "{kind}");
    let mut lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.remove(0), "ClientId,Yclid,Target,DateTime");
    lines.sort();
    assert_eq!(
        lines,
        [format!(",555777,chat,{at}"), format!("{YM_UID},,chat,{at}")],
        "ClientId where the script found one, else the Direct click"
    );

    let (status, _, csv) = export(
        &server,
        &format!(
            "/api/exports/google-ads.csv?{}&conversion_name=Chat%20on%20site",
            period()
        ),
    )
    .await;
    assert_eq!(status, 200, "{csv}");
    let moscow = chrono::DateTime::from_timestamp(at, 0).unwrap() + Duration::hours(3);
    let time = moscow.format("%Y-%m-%d %H:%M:%S");
    let mut lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.remove(0), "Parameters:TimeZone=Europe/Moscow");
    assert_eq!(
        lines.remove(0),
        "Google Click ID,GBRAID,WBRAID,Conversion Name,Conversion Time"
    );
    lines.sort();
    assert_eq!(
        lines,
        [
            format!(",0AAAAx9,,Chat on site,{time}"),
            format!("Cj0KCQ-test_1,,,Chat on site,{time}")
        ]
    );

    // The appeal shows the ids its session carried.
    let appeals = server.demo("GET", "/api/appeals?limit=10", None).await.json;
    let first = appeals["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["provider_ref"]
                .as_str()
                .is_some_and(|r| r.ends_with(":7001"))
        })
        .expect("the chat of the Google visit");
    assert_eq!(first["session"]["metrika_client_id"], YM_UID, "{first:#}");

    // A day in another account zone moves the day boundaries: an account in UTC-10 sees the
    // same chats under its own dates.
    let changed = server
        .demo(
            "PATCH",
            "/api/account",
            Some(json!({"time_zone": "Pacific/Honolulu"})),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.json);
    let (_, _, csv) = export(
        &server,
        &format!(
            "/api/exports/google-ads.csv?{}&conversion_name=Chat",
            period()
        ),
    )
    .await;
    assert!(
        csv.starts_with("Parameters:TimeZone=Pacific/Honolulu\n"),
        "{csv}"
    );
    let honolulu = chrono::DateTime::from_timestamp(at, 0).unwrap() - Duration::hours(10);
    assert!(
        csv.contains(&format!(
            "Cj0KCQ-test_1,,,Chat,{}",
            honolulu.format("%Y-%m-%d %H:%M:%S")
        )),
        "{csv}"
    );
}

#[tokio::test]
async fn exports_refuse_a_missing_or_malformed_period_and_name_the_field() {
    let server = start().await;
    let refused = |path: &'static str, field: &'static str, reason: &'static str| {
        let server = &server;
        async move {
            let answer = server.demo("GET", path, None).await;
            assert_eq!(answer.status, 400, "{path}: {}", answer.json);
            assert_eq!(answer.json["field"], field, "{path}: {}", answer.json);
            assert_eq!(answer.json["reason"], reason, "{path}: {}", answer.json);
        }
    };
    refused(
        "/api/exports/metrika.csv?to=2026-11-30&goal=chat",
        "from",
        "required",
    )
    .await;
    refused(
        "/api/exports/metrika.csv?from=2026-11-31&to=2026-12-01&goal=chat",
        "from",
        "invalid_value",
    )
    .await;
    refused(
        "/api/exports/metrika.csv?from=2026-11-10&to=2026-11-01&goal=chat",
        "to",
        "invalid_value",
    )
    .await;
    refused(
        "/api/exports/metrika.csv?from=2024-01-01&to=2026-11-01&goal=chat",
        "to",
        "invalid_value",
    )
    .await;
    refused(
        "/api/exports/metrika.csv?from=2026-11-01&to=2026-11-30",
        "goal",
        "required",
    )
    .await;
    refused(
        "/api/exports/google-ads.csv?from=2026-11-01&to=2026-11-30",
        "conversion_name",
        "required",
    )
    .await;
    refused(
        "/api/exports/google-ads.csv?from=2026-11-01&to=2026-11-30&conversion_name=Chat&tz=UTC",
        "tz",
        "unknown_field",
    )
    .await;

    // The account's goal stands in for `goal=`.
    let set = server
        .demo(
            "PATCH",
            "/api/account",
            Some(json!({"metrika": {"goal": "chat"}})),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.json);
    let (status, _, csv) = export(
        &server,
        "/api/exports/metrika.csv?from=2026-11-01&to=2026-11-30",
    )
    .await;
    assert_eq!(
        (status, csv.as_str()),
        (200, "ClientId,Yclid,Target,DateTime\n")
    );
}

#[tokio::test]
async fn account_settings_are_read_and_patched_and_bad_ones_refused_with_the_field() {
    let server = start().await;
    let account = server.demo("GET", "/api/account", None).await;
    assert_eq!(account.status, 200, "{}", account.json);
    assert_eq!(account.json["time_zone"], "Europe/Moscow");
    assert_eq!(account.json["repeat_window_days"], 30);
    assert_eq!(account.json["metrika"]["token"], "unset");

    let patched = server
        .demo(
            "PATCH",
            "/api/account",
            Some(json!({"repeat_window_days": 14, "metrika": {"counter_id": 44556677, "goal": "chat", "token": "y0_secret_token", "upload": true}})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.json);
    assert_eq!(patched.json["repeat_window_days"], 14);
    assert_eq!(patched.json["metrika"]["token"], "set");
    assert!(!patched.json.to_string().contains("y0_secret_token"));
    // What was read, sent back whole, changes nothing (the read-only parts are ignored).
    let echoed = server
        .demo("PATCH", "/api/account", Some(patched.json.clone()))
        .await;
    assert_eq!(echoed.status, 200, "{}", echoed.json);
    assert_eq!(echoed.json, patched.json);

    for (patch, field, reason) in [
        (
            json!({"time_zone": "Moscow/Kremlin"}),
            "time_zone",
            "invalid_value",
        ),
        (
            json!({"repeat_window_days": 400}),
            "repeat_window_days",
            "invalid_value",
        ),
        (
            json!({"metrika": {"token": "unset"}}),
            "metrika.token",
            "required",
        ),
        (
            json!({"metrika": {"counter_id": -5}}),
            "metrika.counter_id",
            "invalid_value",
        ),
        (json!({"colour": "red"}), "colour", "unknown_field"),
    ] {
        let answer = server
            .demo("PATCH", "/api/account", Some(patch.clone()))
            .await;
        assert_eq!(answer.status, 400, "{patch}: {}", answer.json);
        assert_eq!(
            (
                answer.json["field"].as_str(),
                answer.json["reason"].as_str()
            ),
            (Some(field), Some(reason)),
            "{patch}: {}",
            answer.json
        );
    }
    let openapi = server.demo("GET", "/api/openapi.json", None).await.json;
    for path in [
        "/api/account",
        "/api/exports/metrika.csv",
        "/api/exports/google-ads.csv",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "{path} in the OpenAPI document"
        );
    }
    assert!(openapi["paths"]["/api/account"]["patch"]["requestBody"].is_object());
}

/// The app maintenance runs with, its Metrika being the stand-in.
fn maintenance_app(server: &TestServer, metrika: &Metrika) -> shared::app::App {
    chatsource_tests::server::local_app(server.store.clone())
        .with_metrika_url(Some(metrika.base_url.clone()))
}

async fn run_maintenance(server: &TestServer, metrika: &Metrika) -> maintenance::Report {
    let app = maintenance_app(server, metrika);
    maintenance::run(&app, shared::crm::Deadline::after(maintenance::INVOCATION)).await
}

async fn switch_upload_on(server: &TestServer, token: &str) {
    let answer = server
        .demo(
            "PATCH",
            "/api/account",
            Some(json!({"metrika": {"counter_id": 44556677, "goal": "chat", "token": token, "upload": true}})),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
}

async fn upload_state(server: &TestServer) -> Value {
    server.demo("GET", "/api/account", None).await.json["metrika_upload"].clone()
}

#[tokio::test]
async fn the_hourly_upload_sends_new_chats_to_metrika_once_and_moves_its_watermark() {
    let server = start().await;
    let metrika = Metrika::start().await;
    let at = (Utc::now() - Duration::hours(4)).timestamp();
    let sid = visit(
        &server,
        json!({"url": "https://shop.example.ru/?yclid=31337", "ym": YM_UID}),
    )
    .await;
    chat(&server, 8001, &sid, "https://shop.example.ru/", at).await;
    // Too fresh for this run: the chat may not have reached us whole yet.
    chat(
        &server,
        8002,
        &sid,
        "https://shop.example.ru/",
        Utc::now().timestamp() - 60,
    )
    .await;

    // Switched off: nothing is sent.
    let report = run_maintenance(&server, &metrika).await;
    assert_eq!((report.metrika_uploads, metrika.calls()), (0, 0));

    switch_upload_on(&server, metrika::TOKEN).await;
    let report = run_maintenance(&server, &metrika).await;
    assert_eq!(
        (report.metrika_uploads, report.metrika_conversions),
        (1, 1),
        "{report:?}"
    );
    let uploads = metrika.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].counter, 44556677);
    let row: BTreeMap<String, String> = [
        ("ClientId", YM_UID.to_owned()),
        ("Yclid", String::new()),
        ("Target", "chat".to_owned()),
        ("DateTime", at.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(uploads[0].rows, [row]);
    let state = upload_state(&server).await;
    assert_eq!(state["uploaded"], 1, "{state}");
    assert_eq!(state["last_upload_id"], 1, "{state}");
    assert!(
        state["last_upload_at"].is_string() && state["last_error"].is_null(),
        "{state}"
    );
    let through = state["uploaded_through"]
        .as_str()
        .expect("a watermark")
        .to_owned();

    // The next run has nothing new: Metrika is not called, the chat is not sent twice.
    let report = run_maintenance(&server, &metrika).await;
    assert_eq!(report.metrika_uploads, 0, "{report:?}");
    assert_eq!(metrika.calls(), 1);
    assert!(
        upload_state(&server).await["uploaded_through"]
            .as_str()
            .unwrap()
            >= through.as_str()
    );
}

#[tokio::test]
async fn a_refused_or_failed_upload_keeps_the_watermark_says_why_and_the_next_run_sends_it() {
    let server = start().await;
    let metrika = Metrika::start().await;
    let at = (Utc::now() - Duration::hours(4)).timestamp();
    let sid = visit(
        &server,
        json!({"url": "https://shop.example.ru/?yclid=4242"}),
    )
    .await;
    chat(&server, 9001, &sid, "https://shop.example.ru/", at).await;

    // A token Metrika does not know: 403 invalid_token.
    switch_upload_on(&server, "y0_not-the-right-one").await;
    for (fail, says) in [
        (None, "token"),
        (Some(429), "429"),
        (Some(503), "503"),
        (Some(401), "401"),
    ] {
        if let Some(status) = fail {
            switch_upload_on(&server, metrika::TOKEN).await;
            metrika.fail_next(&[status]);
        }
        let report = run_maintenance(&server, &metrika).await;
        assert_eq!(report.metrika_uploads, 0, "{report:?}");
        let state = upload_state(&server).await;
        let reason = state["last_error"]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(says), "{says}: {state}");
        assert!(
            !reason.contains("y0_"),
            "the token is never repeated: {reason}"
        );
        assert!(state["last_error"]["at"].is_string(), "{state}");
        assert!(
            state["uploaded_through"].is_null(),
            "the watermark stays: {state}"
        );
    }
    assert!(metrika.uploads().is_empty());
    let shown = Console::sign_in(&server).await.get("/settings").await;
    assert!(
        shown.html.contains("401"),
        "the settings page shows the last error"
    );

    // Metrika answers again: the chat goes, once, and the error is cleared.
    let report = run_maintenance(&server, &metrika).await;
    assert_eq!(
        (report.metrika_uploads, report.metrika_conversions),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(metrika.uploads()[0].rows[0]["Yclid"], "4242");
    let state = upload_state(&server).await;
    assert!(
        state["last_error"].is_null() && state["uploaded_through"].is_string(),
        "{state}"
    );
    run_maintenance(&server, &metrika).await;
    assert_eq!(metrika.uploads().len(), 1);
}

#[tokio::test]
async fn metrika_refuses_a_malformed_upload_and_the_client_says_why() {
    let metrika = Metrika::start().await;
    let http = reqwest::Client::new();
    let client = shared::clients::metrika::Metrika {
        http: &http,
        base_url: &metrika.base_url,
        timeout: std::time::Duration::from_secs(5),
    };
    let token = shared::domain::secret::Secret::new(metrika::TOKEN);
    let future = Utc::now().timestamp() + 3600;
    let bad = format!("ClientId,Yclid,Target,DateTime\n1,,chat,{future}\n");
    match client.upload(1, &token, &bad).await {
        Err(shared::clients::CallError::Refused(m)) => assert!(m.contains("DateTime"), "{m}"),
        other => panic!("{other:?}"),
    }
    let good = "ClientId,Yclid,Target,DateTime\n1,,chat,1700000000\n";
    let accepted = client.upload(1, &token, good).await.expect("accepted");
    assert_eq!(accepted.id, Some(1));
}

#[tokio::test]
async fn the_settings_page_saves_the_zone_and_metrika_and_says_what_is_wrong_in_russian() {
    let server = start().await;
    let console = Console::sign_in(&server).await;
    let page = console.get("/settings").await;
    assert_eq!(page.status, 200);
    assert!(
        page.html.contains("Настройки") && page.html.contains("Europe/Moscow"),
        "{}",
        page.html
    );
    let keys = console.get("/keys").await.html;
    assert!(
        keys.find("Сырые данные").unwrap() < keys.find("Настройки").unwrap(),
        "Settings follow Raw data in the navigation"
    );

    let form = |tz: &'static str| {
        vec![
            ("name", "Демо-магазин"),
            ("time_zone", tz),
            ("repeat_window_days", "21"),
            ("metrika.counter_id", "44556677"),
            ("metrika.goal", "chat"),
            ("metrika.token", "y0_from_the_form"),
            ("metrika.upload", "on"),
        ]
    };
    let refused = console.post("/settings", &form("Europe/Nowhere")).await;
    assert_eq!(refused.status, 200);
    assert!(
        refused.html.contains("Проверьте значение."),
        "{}",
        refused.html
    );
    assert!(
        refused.html.contains("Europe/Nowhere"),
        "what was typed stays in the form"
    );

    let saved = console.post("/settings", &form("Asia/Yekaterinburg")).await;
    assert_eq!(saved.location.as_deref(), Some("/settings?saved=1"));
    let account = server.demo("GET", "/api/account", None).await.json;
    assert_eq!(account["time_zone"], "Asia/Yekaterinburg");
    assert_eq!(account["repeat_window_days"], 21);
    assert_eq!(account["metrika"]["upload"], true);
    assert_eq!(account["metrika"]["token"], "set");
    // Saved again without typing the token: it is kept.
    let mut again = form("Asia/Yekaterinburg");
    again.retain(|(k, _)| *k != "metrika.token");
    let saved = console.post("/settings", &again).await;
    assert_eq!(
        saved.location.as_deref(),
        Some("/settings?saved=1"),
        "{}",
        saved.html
    );
    let account = server.demo("GET", "/api/account", None).await.json;
    assert_eq!(account["metrika"]["token"], "set");
}
