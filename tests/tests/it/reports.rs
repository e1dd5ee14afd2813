//! Reports and re-attribution over HTTP on a real `chatsource serve`: chats Jivo sent over a
//! month give a report equal to a recount of the journal (by Moscow day and source, and in
//! another zone); retries and racing runs never count an appeal twice or lose one; a mapping
//! changed and a run move the report, each moved appeal says why, and a second run moves
//! nothing.

use chatsource_tests::server::{TestServer, jivo_body_with, start};
use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use serde_json::{Value, json};
use shared::app::demo::JIVO_TELEGRAM_WIDGET;
use std::collections::BTreeMap;

/// A chat as Jivo sends it when it finishes: its own tags (no session of ours), written at
/// `at`, from `phone`, through `widget`.
pub(crate) fn chat_body(
    chat_id: u64,
    at: DateTime<Utc>,
    utm: Option<&str>,
    phone: &str,
    widget: &str,
) -> Vec<u8> {
    let ts = at.timestamp();
    let (utm_text, utm_json) = match utm {
        Some(source) => (
            json!(format!("source={source}|medium=cpc")),
            json!({"source": source, "medium": "cpc"}),
        ),
        None => (json!(""), json!({})),
    };
    jivo_body_with(
        "chat_finished",
        &[
            ("/chat_id", json!(chat_id)),
            ("/widget_id", json!(widget)),
            ("/user_token", json!(format!("not-ours-{chat_id}"))),
            ("/page/url", json!("https://shop.example.ru/catalog")),
            ("/session/utm", utm_text),
            ("/session/utm_json", utm_json),
            ("/visitor/number", json!(format!("v{chat_id}"))),
            ("/visitor/phone", json!(phone)),
            ("/visitor/email", json!(format!("v{chat_id}@example.org"))),
            ("/chat/messages/0/timestamp", json!(ts)),
            ("/chat/messages/1/timestamp", json!(ts)),
            ("/chat/messages/2/timestamp", json!(ts)),
            ("/chat/messages/2/message", json!("спасибо")),
        ],
    )
}

async fn post(server: &TestServer, body: Vec<u8>) {
    let answer = server.post_raw(&server.jivo_url(), body).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
}

/// Every appeal of the journal (all pages).
async fn journal(server: &TestServer) -> Vec<Value> {
    let mut all = Vec::new();
    let mut path = "/api/appeals?limit=200".to_owned();
    loop {
        let page = server.demo("GET", &path, None).await;
        assert_eq!(page.status, 200, "{}", page.json);
        all.extend(page.json["items"].as_array().unwrap().iter().cloned());
        match page.json["next_cursor"].as_str() {
            Some(c) => path = format!("/api/appeals?limit=200&cursor={c}"),
            None => return all,
        }
    }
}

/// (day, source) -> (count, first, repeat, via counts), recounted from the journal's appeals
/// in a zone `offset` hours east of UTC.
type Recount = BTreeMap<(String, Option<String>), (i64, i64, i64, BTreeMap<String, i64>)>;

fn recount(appeals: &[Value], offset_hours: i32) -> Recount {
    let zone = FixedOffset::east_opt(offset_hours * 3600).unwrap();
    let mut out = Recount::new();
    for a in appeals {
        let at: DateTime<Utc> = a["created_at"].as_str().unwrap().parse().unwrap();
        let day = at.with_timezone(&zone).format("%Y-%m-%d").to_string();
        let source = a["attribution"]["source_id"].as_str().map(str::to_owned);
        let cell = out.entry((day, source)).or_default();
        cell.0 += 1;
        match a["repeat"]
            .as_bool()
            .expect("every appeal says whether it is a repeat")
        {
            true => cell.2 += 1,
            false => cell.1 += 1,
        }
        *cell
            .3
            .entry(a["attribution"]["via"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    out
}

/// The report's rows in the recount's shape, checking on the way that every row's `via`
/// has every step (zeros too) and adds up to its count.
fn report_cells(report: &Value) -> Recount {
    let mut out = Recount::new();
    for row in report["rows"].as_array().unwrap() {
        let via = row["via"].as_object().unwrap();
        let steps: Vec<&str> = via.keys().map(String::as_str).collect();
        assert_eq!(
            steps,
            ["click_id", "default", "messenger_mapping", "session", "utm"],
            "one key per step, zeros included: {row}"
        );
        let count = row["count"].as_i64().unwrap();
        assert_eq!(
            via.values().map(|v| v.as_i64().unwrap()).sum::<i64>(),
            count
        );
        assert_eq!(
            row["first"].as_i64().unwrap() + row["repeat"].as_i64().unwrap(),
            count
        );
        let source = row["source"]["id"].as_str().map(str::to_owned);
        if let Value::Object(s) = &row["source"] {
            assert!(s["name"].is_string(), "a source has its name: {row}");
        }
        let via = via
            .iter()
            .filter(|(_, n)| n.as_i64() != Some(0))
            .map(|(k, n)| (k.clone(), n.as_i64().unwrap()))
            .collect();
        let key = (row["day"].as_str().unwrap().to_owned(), source);
        let before = out.insert(
            key,
            (
                count,
                row["first"].as_i64().unwrap(),
                row["repeat"].as_i64().unwrap(),
                via,
            ),
        );
        assert!(before.is_none(), "one row per group: {row}");
    }
    out
}

async fn report(server: &TestServer, query: &str) -> Value {
    let answer = server
        .demo("GET", &format!("/api/reports/appeals?{query}"), None)
        .await;
    assert_eq!(answer.status, 200, "{query}: {}", answer.json);
    answer.json
}

/// Five weeks of chats, some near Moscow's midnight, some of one person, some sent twice.
async fn a_month(server: &TestServer, start: DateTime<Utc>) {
    let sources = [Some("yandex"), Some("google"), None, None];
    for i in 0..60u64 {
        // Every 14h 53m: hours of the day drift, so days split differently in each zone.
        let at = start + Duration::minutes(893 * i as i64);
        let phone = format!("+7 916 000-00-{:02}", i % 9);
        let widget = if i % 5 == 0 {
            JIVO_TELEGRAM_WIDGET
        } else {
            "5501234"
        };
        let body = chat_body(5000 + i, at, sources[(i % 4) as usize], &phone, widget);
        post(server, body.clone()).await;
        if i % 6 == 0 {
            // Jivo retries when it did not hear back in time.
            post(server, body).await;
        }
    }
}

fn month_start() -> DateTime<Utc> {
    // 21:30 UTC is 00:30 in Moscow: the first chat is already the next Moscow day.
    Utc.with_ymd_and_hms(2026, 10, 1, 21, 30, 0).unwrap()
}

#[tokio::test]
async fn a_month_of_chats_reports_what_the_journal_recounts_by_moscow_day_and_source() {
    let server = start().await;
    a_month(&server, month_start()).await;
    let appeals = journal(&server).await;
    assert_eq!(appeals.len(), 60, "a retried chat is one appeal");
    assert!(
        appeals.iter().any(|a| a["repeat"] == true) && appeals.iter().any(|a| a["repeat"] == false),
        "people who wrote again within 30 days are repeats"
    );

    let moscow = report(&server, "from=2026-10-01&to=2026-11-30&group_by=day,source").await;
    assert_eq!(
        moscow["tz"], "Europe/Moscow",
        "the account's zone by default"
    );
    assert_eq!(report_cells(&moscow), recount(&appeals, 3));
    assert_eq!(moscow["totals"]["count"], 60);
    let via_total: i64 = moscow["totals"]["via"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(via_total, 60, "the quality shares add up to every appeal");
    assert!(
        moscow["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["source"]["id"] == "src_demo_telegram"),
        "telegram chats go by the messenger mapping"
    );

    let yekaterinburg = report(
        &server,
        "from=2026-10-01&to=2026-11-30&group_by=day,source&tz=Asia/Yekaterinburg",
    )
    .await;
    assert_eq!(report_cells(&yekaterinburg), recount(&appeals, 5));
    assert_ne!(
        recount(&appeals, 5),
        recount(&appeals, 3),
        "the zones split these days differently"
    );

    // A period that starts at Moscow's midnight leaves out the chat at 00:29 of the day before.
    let from_second = report(&server, "from=2026-10-03&to=2026-11-30").await;
    let later = appeals
        .iter()
        .filter(|a| {
            let at: DateTime<Utc> = a["created_at"].as_str().unwrap().parse().unwrap();
            at >= Utc.with_ymd_and_hms(2026, 10, 2, 21, 0, 0).unwrap()
        })
        .count();
    assert_eq!(from_second["totals"]["count"], later as i64);

    // Weeks start on Monday; months are named by their month.
    let months = report(&server, "from=2026-10-01&to=2026-11-30&group_by=month").await;
    let months: Vec<&str> = months["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["month"].as_str().unwrap())
        .collect();
    assert_eq!(months, ["2026-10", "2026-11"]);
    let weeks = report(
        &server,
        "from=2026-10-01&to=2026-11-30&group_by=week,provider",
    )
    .await;
    for row in weeks["rows"].as_array().unwrap() {
        let monday =
            chrono::NaiveDate::parse_from_str(row["week"].as_str().unwrap(), "%Y-%m-%d").unwrap();
        assert_eq!(chrono::Datelike::weekday(&monday), chrono::Weekday::Mon);
        assert_eq!(row["provider"], "jivo");
    }
}

#[tokio::test]
async fn bad_report_questions_are_refused_naming_the_field() {
    let server = start().await;
    for (query, field) in [
        ("from=2026-13-01", "from"),
        ("from=2026-11-05&to=2026-11-01", "from"),
        ("from=2025-01-01&to=2026-11-01", "to"),
        ("tz=Mars/Olympus", "tz"),
        ("tz=Asia/Kolkata", "tz"),
        ("group_by=day,week", "group_by"),
        ("group_by=day,source,site", "group_by"),
        ("group_by=colour", "group_by"),
        ("provider=icq", "provider"),
        ("group=day", "group"),
    ] {
        let answer = server
            .demo("GET", &format!("/api/reports/appeals?{query}"), None)
            .await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.json);
        assert_eq!(answer.json["field"], field, "{query}: {}", answer.json);
    }
}

/// Waits for a run to finish and returns it.
async fn finished(server: &TestServer, id: &str) -> Value {
    for _ in 0..400 {
        let run = server
            .demo("GET", &format!("/api/reattribute/{id}"), None)
            .await;
        assert_eq!(run.status, 200, "{}", run.json);
        if run.json["status"] != "running" {
            return run.json;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("run {id} did not finish");
}

async fn reattribute(server: &TestServer, body: Value) -> Value {
    let started = server.demo("POST", "/api/reattribute", Some(body)).await;
    assert_eq!(started.status, 202, "{}", started.json);
    assert_eq!(started.json["status"], "running");
    finished(server, started.json["id"].as_str().unwrap()).await
}

fn count_of(report: &Value, source: &str) -> i64 {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"]["id"] == source)
        .map(|r| r["count"].as_i64().unwrap())
        .sum()
}

#[tokio::test]
async fn a_changed_mapping_moves_the_report_only_through_a_run_and_a_second_run_moves_nothing() {
    let server = start().await;
    let at = Utc.with_ymd_and_hms(2026, 11, 10, 9, 0, 0).unwrap();
    for i in 0..5u64 {
        let body = chat_body(
            7000 + i,
            at + Duration::hours(i as i64),
            None,
            "+7 916 555-00-00",
            JIVO_TELEGRAM_WIDGET,
        );
        post(&server, body).await;
    }
    post(
        &server,
        chat_body(7100, at, Some("yandex"), "+7 916 555-11-11", "5501234"),
    )
    .await;
    let period = "from=2026-11-01&to=2026-11-30&group_by=source";
    let before = report(&server, period).await;
    assert_eq!(count_of(&before, "src_demo_telegram"), 5);
    assert_eq!(count_of(&before, "src_demo_google"), 0);

    let remap = json!({"messenger_mapping": {"telegram": {"campaign_id": "cmp_demo_google"}}});
    let patched = server
        .demo("PATCH", "/api/integrations/int_demo_jivo", Some(remap))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.json);

    // A later event of a chat brings nothing new: the old appeal keeps its answer.
    let mut later: Value = serde_json::from_slice(&chat_body(
        7000,
        at,
        None,
        "+7 916 555-00-00",
        JIVO_TELEGRAM_WIDGET,
    ))
    .unwrap();
    later["chat"]["messages"][2]["message"] = json!("И ещё вопрос про доставку");
    post(&server, serde_json::to_vec(&later).unwrap()).await;
    let unchanged = report(&server, period).await;
    assert_eq!(count_of(&unchanged, "src_demo_telegram"), 5);

    let run = reattribute(
        &server,
        json!({"from": "2026-11-01", "to": "2026-11-30", "tz": "Europe/Moscow"}),
    )
    .await;
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(run["examined"], 6);
    let moves = run["moved"].as_array().unwrap();
    assert_eq!(moves.len(), 1, "{run}");
    assert_eq!(moves[0]["count"], 5);
    assert_eq!(moves[0]["from"]["campaign_id"], "cmp_demo_telegram");
    assert_eq!(moves[0]["from"]["source_id"], "src_demo_telegram");
    assert_eq!(moves[0]["to"]["campaign_id"], "cmp_demo_google");
    assert_eq!(moves[0]["to"]["source_id"], "src_demo_google");
    let after = report(&server, period).await;
    assert_eq!(count_of(&after, "src_demo_telegram"), 0);
    assert_eq!(count_of(&after, "src_demo_google"), 5);
    assert_eq!(after["totals"]["count"], 6, "moved, never lost or doubled");

    let appeals = journal(&server).await;
    let moved: Vec<&Value> = appeals
        .iter()
        .filter(|a| a["channel"] == "telegram")
        .collect();
    assert_eq!(moved.len(), 5);
    for a in moved {
        let history = a["attribution_history"].as_array().unwrap();
        assert_eq!(history.len(), 1, "{a}");
        assert_eq!(history[0]["previous"]["campaign_id"], "cmp_demo_telegram");
        assert_eq!(history[0]["run_id"], run["id"]);
        assert!(
            history[0]["reason"].as_str().unwrap().contains("settings"),
            "{}",
            history[0]
        );
        assert_eq!(a["attribution"]["campaign_id"], "cmp_demo_google");
    }

    let again = reattribute(&server, json!({"from": "2026-11-01", "to": "2026-11-30"})).await;
    assert_eq!(again["examined"], 6);
    assert_eq!(again["moved"], json!([]), "nothing left to move");
    assert_eq!(report(&server, period).await["rows"], after["rows"]);

    // Only the journal's filters, and nothing unknown, ride along.
    for (body, field) in [
        (json!({"from": "2026-11-01"}), "to"),
        (json!({"from": "2026-11-31", "to": "2026-11-30"}), "from"),
        (
            json!({"from": "2026-11-01", "to": "2026-11-30", "colour": "red"}),
            "colour",
        ),
        (
            json!({"from": "2026-11-01", "to": "2026-11-30", "via": "guess"}),
            "via",
        ),
        (
            json!({"from": "2026-11-01", "to": "2026-11-30", "tz": "Nowhere"}),
            "tz",
        ),
    ] {
        let refused = server
            .demo("POST", "/api/reattribute", Some(body.clone()))
            .await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.json);
        assert_eq!(refused.json["field"], field, "{body}: {}", refused.json);
    }
    let unknown = server
        .demo(
            "GET",
            "/api/reattribute/run_0000000000000000000000000000000",
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn racing_retries_and_runs_leave_the_counters_equal_to_a_recount() {
    let server = start().await;
    let at = Utc.with_ymd_and_hms(2026, 11, 3, 20, 0, 0).unwrap();
    let remap =
        |campaign: &str| json!({"messenger_mapping": {"telegram": {"campaign_id": campaign}}});
    let bodies: Vec<Vec<u8>> = (0..30u64)
        .map(|i| {
            let widget = if i % 2 == 0 {
                JIVO_TELEGRAM_WIDGET
            } else {
                "5501234"
            };
            let utm = if i % 3 == 0 { Some("google") } else { None };
            chat_body(
                9000 + i,
                at + Duration::minutes(37 * i as i64),
                utm,
                &format!("+7 916 777-00-{:02}", i % 4),
                widget,
            )
        })
        .collect();
    // Every chat sent four times at once, while the mapping flips and runs go over the period.
    let mut sends = Vec::new();
    for body in &bodies {
        for _ in 0..4 {
            let server = &server;
            let body = body.clone();
            sends.push(async move { post(server, body).await });
        }
    }
    let runs = async {
        let mut ids = Vec::new();
        for campaign in ["cmp_demo_google", "cmp_demo_spring", "cmp_demo_google"] {
            let patched = server
                .demo(
                    "PATCH",
                    "/api/integrations/int_demo_jivo",
                    Some(remap(campaign)),
                )
                .await;
            assert_eq!(patched.status, 200);
            let started = server
                .demo(
                    "POST",
                    "/api/reattribute",
                    Some(json!({"from": "2026-11-01", "to": "2026-11-30"})),
                )
                .await;
            assert_eq!(started.status, 202, "{}", started.json);
            ids.push(started.json["id"].as_str().unwrap().to_owned());
        }
        ids
    };
    let (_, ids) = tokio::join!(futures::future::join_all(sends), runs);
    for id in ids {
        assert_eq!(finished(&server, &id).await["status"], "done");
    }
    let appeals = journal(&server).await;
    assert_eq!(
        appeals.len(),
        30,
        "four deliveries of a chat are one appeal"
    );
    let by_day = report(&server, "from=2026-11-01&to=2026-11-30&group_by=day,source").await;
    assert_eq!(report_cells(&by_day), recount(&appeals, 3));
    assert_eq!(by_day["totals"]["count"], 30);
}

/// Appeals as a version before reports kept them: no counter, no evidence, no person index.
async fn legacy_appeals(store: &shared::store::Store, n: u64) {
    use shared::domain::appeal::{Appeal, AppealFacts, Channel, Kind, Provider, Status};
    use shared::domain::contact::Contact;
    use shared::domain::ids::{AccountId, AppealId, CampaignId, IntegrationId, SourceId};
    let integration = IntegrationId::parse(shared::app::demo::JIVO_INTEGRATION_ID).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 9, 1, 22, 0, 0).unwrap();
    for i in 0..n {
        let facts = AppealFacts {
            kind: Kind::Chat,
            provider_ref: format!("legacy-{i}"),
            channel: Channel::parse("site").unwrap(),
            occurred_at: Some(start + Duration::hours(7 * i as i64)),
            contact: Contact {
                name: Some(format!("Клиент {i}")),
                phones: vec![format!("+7916888{:04}", i % 5)],
                emails: vec![],
            },
            agent: None,
            messages: None,
            session: Default::default(),
            visitor_ref: None,
            status: Status::Complete,
        };
        let id = AppealId::derive(&integration, "jivo", &facts.provider_ref);
        let mut a = Appeal::new(
            id,
            AccountId::parse(shared::app::demo::ACCOUNT_ID).unwrap(),
            integration.clone(),
            Provider::Jivo,
            &facts,
            start,
        );
        let source = if i % 2 == 0 {
            "src_demo_yandex"
        } else {
            "src_demo_organic"
        };
        a.attribution.source_id = Some(SourceId::parse(source).unwrap());
        a.attribution.campaign_id = Some(CampaignId::parse("cmp_demo_default").unwrap());
        store
            .put_record(
                &shared::store::StoredAppeal::new(a),
                shared::store::Condition::NotExists,
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn appeals_stored_before_reports_are_counted_by_a_backfill_safe_to_run_twice() {
    use shared::domain::account::Backfill;
    let server = start().await;
    legacy_appeals(&server.store, 40).await;
    // A new chat beside them, counted as it is made.
    post(
        &server,
        chat_body(
            4242,
            Utc.with_ymd_and_hms(2026, 9, 5, 10, 0, 0).unwrap(),
            Some("google"),
            "+7 916 888-00-01",
            "5501234",
        ),
    )
    .await;
    let period = "from=2026-09-01&to=2026-09-30&group_by=day,source";
    assert_eq!(report(&server, period).await["totals"]["count"], 1);

    let account = shared::domain::ids::AccountId::parse(shared::app::demo::ACCOUNT_ID).unwrap();
    let app = chatsource_tests::server::local_app(server.store.clone())
        .with_queue(chatsource::embedded_queue(&server.store));
    let mark_needed = || async {
        server
            .store
            .update_account(&account, |a| {
                let mut a = a.ok_or(shared::store::StoreError::ConditionFailed)?;
                a.backfill = Backfill::Needed;
                Ok::<_, shared::store::StoreError>(a)
            })
            .await
            .unwrap()
    };
    let mut appeals_seen = Vec::new();
    for round in 0..2 {
        // An account stored before reports existed; the second time, as if the mark was lost.
        mark_needed().await;
        let ran =
            maintenance::run(&app, shared::crm::Deadline::after(maintenance::INVOCATION)).await;
        assert_eq!(ran.backfills, 1, "round {round}: {ran:?}");
        let stored = server.store.account(&account).await.unwrap().unwrap();
        let Backfill::Started(run) = stored.backfill else {
            panic!("the account names its backfill: {:?}", stored.backfill);
        };
        let done = finished(&server, run.as_str()).await;
        assert_eq!(done["status"], "done", "{done}");
        assert_eq!(done["kind"], "backfill");
        assert_eq!(done["examined"], 82, "both passes over 41 appeals");
        assert_eq!(done["moved"], json!([]), "a backfill moves nothing");

        let appeals = journal(&server).await;
        assert_eq!(appeals.len(), 41);
        let counted = report(&server, period).await;
        assert_eq!(
            report_cells(&counted),
            recount(&appeals, 3),
            "round {round}"
        );
        assert_eq!(counted["totals"]["count"], 41, "round {round}");
        appeals_seen.push(appeals);
    }
    assert_eq!(
        appeals_seen[0], appeals_seen[1],
        "a second backfill changes nothing"
    );
    let repeats = appeals_seen[0]
        .iter()
        .filter(|a| a["repeat"] == true)
        .count();
    // Five people over 40 stored appeals a few days apart: all but each one's first are
    // repeats. The new chat of one of them was decided when it was made, before the index
    // knew the older ones, and stays first until a re-attribution run decides it again.
    assert_eq!(repeats, 40 - 5, "{repeats}");
    let run = reattribute(&server, json!({"from": "2026-09-01", "to": "2026-09-30"})).await;
    assert_eq!(run["status"], "done");
    let appeals = journal(&server).await;
    assert_eq!(
        appeals.iter().filter(|a| a["repeat"] == true).count(),
        41 - 5,
        "the run decided the late-known person's chat again"
    );
    assert_eq!(
        report_cells(&report(&server, period).await),
        recount(&appeals, 3)
    );

    // A maintenance run with the account's backfill started starts nothing.
    let ran = maintenance::run(&app, shared::crm::Deadline::after(maintenance::INVOCATION)).await;
    assert_eq!(ran.backfills, 0);
}

#[tokio::test]
async fn on_dynamodb_racing_writes_and_duplicate_run_jobs_leave_the_counters_equal_to_a_recount() {
    use shared::app::runs;
    use shared::domain::appeal::{AppealFacts, Channel, Kind, Status};
    use shared::domain::contact::Contact;
    use shared::domain::ids::{AccountId, RunId};
    use shared::domain::reattribution::{Run, RunKind, Scope};
    use shared::domain::rollup::Cell;
    use shared::store::dynamodb::DynamoKv;
    use std::sync::Arc;

    let (client, table) = chatsource_tests::moto::dynamodb_table().await;
    let store = shared::store::Store::new(Arc::new(DynamoKv::new(client, table)));
    shared::app::demo::seed(&store, None, Utc::now())
        .await
        .unwrap();
    let app = Arc::new(chatsource_tests::server::local_app(store.clone()));
    let account = AccountId::parse(shared::app::demo::ACCOUNT_ID).unwrap();
    let integration = app
        .integration(shared::app::demo::JIVO_INTEGRATION_ID)
        .await
        .unwrap()
        .unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 3, 20, 0, 0).unwrap();
    let facts: Vec<AppealFacts> = (0..16i64)
        .map(|i| AppealFacts {
            kind: Kind::Chat,
            provider_ref: format!("race-{i}"),
            channel: Channel::parse(if i % 2 == 0 { "telegram" } else { "site" }).unwrap(),
            occurred_at: Some(at + Duration::minutes(41 * i)),
            contact: Contact {
                name: None,
                phones: vec![format!("+7916999{:04}", i % 3)],
                emails: vec![],
            },
            agent: None,
            messages: None,
            session: Default::default(),
            visitor_ref: None,
            status: Status::Complete,
        })
        .collect();
    let remap = |campaign: &str| {
        let app = Arc::clone(&app);
        let campaign = campaign.to_owned();
        async move {
            let mut i: shared::domain::integration::Integration = app
                .store
                .entity(shared::app::demo::JIVO_INTEGRATION_ID)
                .await
                .unwrap()
                .unwrap();
            i.messenger_mapping
                .get_mut(&Channel::parse("telegram").unwrap())
                .unwrap()
                .campaign_id = Some(shared::domain::ids::CampaignId::parse(&campaign).unwrap());
            app.store.put_entity(&i).await.unwrap();
            app.forget(&account_id());
        }
    };
    fn account_id() -> AccountId {
        AccountId::parse(shared::app::demo::ACCOUNT_ID).unwrap()
    }
    // Each chat applied three times at once, while two runs each take their pages twice at
    // once (a job delivered twice).
    let mut writes = Vec::new();
    for f in &facts {
        for _ in 0..3 {
            let app = Arc::clone(&app);
            let integration = integration.clone();
            let f = f.clone();
            writes.push(tokio::spawn(async move {
                shared::app::ingest::apply(&app, &integration, &f, Utc::now())
                    .await
                    .unwrap();
            }));
        }
    }
    let mut run_jobs = Vec::new();
    for campaign in ["cmp_demo_google", "cmp_demo_spring"] {
        remap(campaign).await;
        let run = Run::new(
            RunId::generate(),
            account.clone(),
            RunKind::Reattribute,
            Scope::default(),
            Utc::now(),
        );
        store.create_run(&run).await.unwrap();
        for _ in 0..2 {
            let app = Arc::clone(&app);
            let (account, id) = (account.clone(), run.id.clone());
            run_jobs.push(tokio::spawn(async move {
                runs::run_job(&app, &account, &id, || true).await.unwrap();
                id
            }));
        }
    }
    for w in writes {
        w.await.unwrap();
    }
    for j in run_jobs {
        let id = j.await.unwrap();
        assert_eq!(
            store.run(&account, &id).await.unwrap().unwrap().status,
            shared::domain::reattribution::RunStatus::Done
        );
    }

    let page = store
        .appeals(&account, &Default::default(), 200, None)
        .await
        .unwrap();
    assert_eq!(
        page.items.len(),
        16,
        "three deliveries of a chat are one appeal"
    );
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for a in &page.items {
        *expected.entry(Cell::of(a).name()).or_default() += 1;
    }
    let counters = store
        .rollup_counters(&account, at - Duration::days(1), at + Duration::days(2))
        .await
        .unwrap();
    let mut actual: BTreeMap<String, i64> = BTreeMap::new();
    for (_, item) in &counters {
        for (name, n) in item.iter() {
            *actual.entry(name.to_owned()).or_default() += n;
        }
    }
    actual.retain(|_, n| *n != 0);
    assert_eq!(
        actual, expected,
        "the counters are a recount of the appeals"
    );
}
