//! `GET /api/appeals?format=csv`: the journal's rows as a CSV a real parser reads back, in the
//! plain and the Excel dialect, safe with hostile names; streamed by the local server as it
//! reads; on AWS answered within the answer's limits or made by a job into the export bucket
//! (moto's S3) and handed out as a presigned link.

use async_trait::async_trait;
use chatsource_tests::moto;
use chatsource_tests::server::{API_KEY, TestServer, jivo_body, start};
use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use serde_json::{Value, json};
use shared::app::App;
use shared::app::appeals_csv::{self, Limits};
use shared::domain::appeal::{
    Appeal, AppealFacts, Channel, Kind, Provider, SessionInfo, Status, Via,
};
use shared::domain::contact::Contact;
use shared::domain::csv::COLUMNS;
use shared::domain::ids::{AccountId, AppealId, CampaignId, IntegrationId, SourceId};
use shared::store::kv::{Condition, CounterPage, Item, Key, Kv, Page, Query, StoreError, Write};
use shared::store::{Store, StoredAppeal};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const DEMO_ACCOUNT: &str = shared::app::demo::ACCOUNT_ID;

/// Names a stranger can type into a chat widget.
const HOSTILE: [&str; 6] = [
    "=cmd|' /C calc'!A0",
    "Иван \"Ваня\"; Петров, мл.",
    "two\nlines\r\nthree",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "+HYPERLINK(\"http://evil.example\")",
];

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
}

/// An appeal of the demo account, as ingestion would keep it, with attribution and tags.
fn appeal(i: usize, name: &str, at: DateTime<Utc>) -> Appeal {
    let integration = IntegrationId::parse("int_demo_jivo").unwrap();
    let channels = ["site", "telegram", "whatsapp"];
    let facts = AppealFacts {
        kind: if i % 4 == 3 {
            Kind::OfflineRequest
        } else {
            Kind::Chat
        },
        provider_ref: format!("seeded-{i}"),
        channel: Channel::parse(channels[i % 3]).unwrap(),
        occurred_at: Some(at),
        contact: Contact {
            name: Some(name.to_owned()),
            phones: vec![format!("+7916{:07}", i), "+79031234567".into()],
            emails: vec![format!("person{i}@example.org")],
        },
        agent: None,
        messages: None,
        session: SessionInfo {
            id: Some(format!("ses_{i}")),
            landing_page: Some(format!("https://shop.example.ru/p/{i}?utm_source=yandex")),
            ..SessionInfo::default()
        },
        visitor_ref: None,
        status: if i % 5 == 4 {
            Status::PendingEnrichment
        } else {
            Status::Complete
        },
    };
    let id = AppealId::derive(&integration, "jivo", &facts.provider_ref);
    let mut a = Appeal::new(
        id,
        AccountId::parse(DEMO_ACCOUNT).unwrap(),
        integration,
        Provider::ALL[i % 4],
        &facts,
        at,
    );
    a.session.utm.source = Some("yandex".into());
    a.session.utm.campaign = Some(format!("spring;{i}"));
    a.session
        .click_ids
        .insert("yclid".into(), format!("73155{i}"));
    let (via, campaign, source) = match i % 3 {
        0 => (Via::Utm, "cmp_demo_spring", "src_demo_yandex"),
        1 => (
            Via::MessengerMapping,
            "cmp_demo_telegram",
            "src_demo_telegram",
        ),
        _ => (Via::Default, "cmp_demo_default", "src_demo_organic"),
    };
    a.attribution.via = via;
    a.attribution.campaign_id = Some(CampaignId::parse(campaign).unwrap());
    a.attribution.source_id = Some(SourceId::parse(source).unwrap());
    a.attribution.site_id = Some(shared::domain::ids::SiteId::parse("site_demo_shop").unwrap());
    a.repeat = i % 4 == 1;
    a
}

/// Keeps an appeal as ingestion does (fast: no webhook per appeal).
async fn put(store: &Store, appeal: Appeal) {
    store
        .put_record(&StoredAppeal::new(appeal), Condition::NotExists)
        .await
        .expect("appeal kept");
}

/// The CSV of `query` and its answer's content type.
async fn csv(server: &TestServer, query: &str) -> (u16, String, String) {
    let response = server
        .client
        .get(format!("{}/api/appeals{query}", server.base))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, response.text().await.expect("body"))
}

/// Parsed with the `csv` crate: the header and the records.
fn parse(text: &str, separator: u8) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .expect("a header row")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("a record").iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn column(name: &str) -> usize {
    COLUMNS.iter().position(|c| *c == name).expect("a column")
}

/// The JSON listing of `query` (one page holds them all here).
async fn listed(server: &TestServer, query: &str) -> Vec<Value> {
    let sep = if query.is_empty() { "?" } else { "&" };
    let answer = server
        .demo("GET", &format!("/api/appeals{query}{sep}limit=200"), None)
        .await;
    assert_eq!(answer.status, 200, "{query}: {}", answer.json);
    assert!(answer.json["next_cursor"].is_null(), "one page");
    answer.json["items"].as_array().expect("items").clone()
}

/// Five posted Jivo chats, and 24 kept appeals spread over providers, channels, campaigns,
/// `via`, statuses and two days, six of them with hostile names.
async fn journal() -> TestServer {
    let server = start().await;
    for body in [
        jivo_body("chat_finished"),
        jivo_body("telegram_chat_finished"),
        jivo_body("call_event"),
        jivo_body("offline_message"),
        jivo_body("chat_accepted"),
    ] {
        let answer = server.post_raw(&server.jivo_url(), body).await;
        assert_eq!(answer.status, 200, "{}", answer.json);
    }
    for i in 0..24 {
        let name = match HOSTILE.get(i) {
            Some(hostile) => (*hostile).to_owned(),
            None => format!("Покупатель {i}"),
        };
        put(
            &server.store,
            appeal(i, &name, t0() + Span::hours(2 * i as i64)),
        )
        .await;
    }
    server
}

#[tokio::test]
async fn the_csv_has_exactly_the_rows_the_journal_lists_with_each_of_its_filters() {
    let server = journal().await;
    let from = "2026-11-02T12:00:00Z";
    let to = "2026-11-03T12:00:00Z";
    for query in [
        String::new(),
        format!("?from={from}"),
        format!("?from={from}&to={to}"),
        "?provider=verbox".into(),
        "?channel=telegram".into(),
        "?campaign_id=cmp_demo_spring".into(),
        "?source_id=src_demo_organic".into(),
        "?integration_id=int_demo_jivo".into(),
        "?via=messenger_mapping".into(),
        "?status=pending_enrichment".into(),
        "?q=%D0%BF%D0%BE%D0%BA%D1%83%D0%BF%D0%B0%D1%82%D0%B5%D0%BB%D1%8C".into(), // покупатель
        "?q=%2B7%20916%20123-45-67".into(),
        format!("?channel=site&via=utm&from={from}"),
        "?repeat=true".into(),
        "?repeat=false&channel=telegram".into(),
    ] {
        let items = listed(&server, &query).await;
        let sep = if query.is_empty() { "?" } else { "&" };
        let (status, kind, text) = csv(&server, &format!("{query}{sep}format=csv")).await;
        assert_eq!(status, 200, "{query}: {text}");
        assert_eq!(kind, "text/csv; charset=utf-8");
        let (header, rows) = parse(&text, b',');
        assert_eq!(header, COLUMNS, "{query}");
        let ids: Vec<&str> = rows.iter().map(|r| r[column("id")].as_str()).collect();
        let want: Vec<&str> = items.iter().map(|a| a["id"].as_str().unwrap()).collect();
        assert_eq!(ids, want, "{query}");
        for (row, a) in rows.iter().zip(&items) {
            assert_eq!(row.len(), COLUMNS.len());
            let cell = |name: &str| row[column(name)].as_str();
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            let joined = |v: &Value| {
                let all: Vec<String> = v.as_array().unwrap().iter().map(text).collect();
                all.join(", ")
            };
            assert_eq!(cell("created_at"), a["created_at"].as_str().unwrap());
            assert_eq!(cell("provider"), a["provider"].as_str().unwrap());
            assert_eq!(cell("kind"), a["kind"].as_str().unwrap());
            assert_eq!(cell("channel"), a["channel"].as_str().unwrap());
            assert_eq!(cell("status"), a["status"].as_str().unwrap());
            // The JSON's boolean, written as JSON writes it.
            assert_eq!(cell("repeat"), a["repeat"].as_bool().unwrap().to_string());
            assert_eq!(cell("via"), a["attribution"]["via"].as_str().unwrap());
            assert_eq!(cell("phones"), joined(&a["contact"]["phones"]));
            assert_eq!(cell("emails"), joined(&a["contact"]["emails"]));
            assert_eq!(cell("campaign_id"), text(&a["attribution"]["campaign_id"]));
            assert_eq!(cell("source_id"), text(&a["attribution"]["source_id"]));
            assert_eq!(cell("utm_source"), text(&a["session"]["utm"]["source"]));
            assert_eq!(cell("session_id"), text(&a["session"]["id"]));
            let name = text(&a["contact"]["name"]);
            let guarded = name.starts_with(['=', '+', '-', '@', '\t', '\r']);
            assert_eq!(
                cell("contact_name"),
                if guarded { format!("'{name}") } else { name },
                "{query}"
            );
        }
    }
    // Names beside ids, from the account's directory.
    let (_, _, text) = csv(&server, "?campaign_id=cmp_demo_telegram&format=csv").await;
    let (_, rows) = parse(&text, b',');
    assert!(!rows.is_empty());
    for row in &rows {
        assert_eq!(row[column("source")], "Telegram");
        // The demo account's one site (shared::app::demo).
        assert_eq!(row[column("site")], "Demo shop");
        assert!(!row[column("campaign")].is_empty());
    }
}

#[tokio::test]
async fn accept_text_csv_asks_for_the_same_file_and_excel_gets_a_bom_and_semicolons() {
    let server = journal().await;
    let (_, _, by_format) = csv(&server, "?format=csv&channel=whatsapp").await;
    let by_accept = server
        .client
        .get(format!("{}/api/appeals?channel=whatsapp", server.base))
        .bearer_auth(API_KEY)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("request");
    assert_eq!(by_accept.status(), 200);
    assert!(
        by_accept.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"appeals-")
    );
    assert_eq!(by_accept.text().await.unwrap(), by_format);

    let (status, _, excel) = csv(&server, "?format=csv&excel=1&channel=whatsapp").await;
    assert_eq!(status, 200);
    let body = excel
        .strip_prefix('\u{feff}')
        .expect("a UTF-8 byte order mark first");
    assert!(body.starts_with("id;created_at;provider;"), "{body}");
    let (header, rows) = parse(body, b';');
    let (_, plain_rows) = parse(&by_format, b',');
    assert_eq!(header, COLUMNS);
    assert_eq!(rows, plain_rows, "the same cells, only written otherwise");
    // Every row ends in CRLF, as RFC 4180 says; fields with line breaks are quoted.
    assert!(by_format.ends_with("\r\n"));
}

#[tokio::test]
async fn hostile_names_come_back_as_text_in_both_dialects() {
    let server = journal().await;
    for (query, separator, bom) in [
        ("?format=csv", b',', ""),
        ("?format=csv&excel=1", b';', "\u{feff}"),
    ] {
        let (_, _, text) = csv(&server, query).await;
        let (_, rows) = parse(text.strip_prefix(bom).unwrap(), separator);
        let names: Vec<&str> = rows
            .iter()
            .map(|r| r[column("contact_name")].as_str())
            .collect();
        for hostile in HOSTILE {
            let want = if hostile.starts_with(['=', '+', '-', '@']) {
                format!("'{hostile}")
            } else {
                hostile.to_owned()
            };
            assert!(
                names.contains(&want.as_str()),
                "{query}: {want:?} in {names:?}"
            );
        }
        // No cell a spreadsheet would run: each starts with a guard or something harmless.
        for row in &rows {
            for cell in row {
                let formula = cell.starts_with(['=', '@', '\t', '\r'])
                    || (cell.starts_with(['+', '-']) && cell.chars().any(|c| c.is_alphabetic()));
                assert!(!formula, "{cell:?}");
            }
        }
        // The stored phones stay phones.
        assert!(rows.iter().any(|r| r[column("phones")].starts_with("+7")));
    }
}

#[tokio::test]
async fn a_bad_filter_is_refused_as_the_json_listing_refuses_it() {
    let server = journal().await;
    for query in [
        "?via=sesion",
        "?status=done",
        "?provider=whatsapp",
        "?channel=Tele%20gram",
        "?from=yesterday",
        "?from=2026-11-03T00:00:00Z&to=2026-11-02T00:00:00Z",
        "?campaign_id=a%23b",
        "?frm=2026-11-02T00:00:00Z",
    ] {
        let json = server
            .demo("GET", &format!("/api/appeals{query}"), None)
            .await;
        assert_eq!(json.status, 400, "{query}");
        let (status, kind, text) = csv(&server, &format!("{query}&format=csv")).await;
        assert_eq!(status, 400, "{query}: {text}");
        assert_eq!(kind, "application/json");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body, json.json, "{query}");
    }
    for (query, field) in [
        ("?format=xml", "format"),
        ("?format=csv&excel=yes", "excel"),
        ("?excel=1", "excel"),
        ("?format=csv&limit=10", "limit"),
    ] {
        let answer = server
            .demo("GET", &format!("/api/appeals{query}"), None)
            .await;
        assert_eq!(answer.status, 400, "{query}");
        assert_eq!(answer.json["field"], field, "{query}: {}", answer.json);
    }
    let stranger = server
        .client
        .get(format!("{}/api/appeals?format=csv", server.base))
        .bearer_auth("not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 401);
}

/// The store, with the appeal listing held back after `free` pages until released: what the
/// client has by then was sent before the last appeal was read.
struct HeldListing {
    inner: Arc<dyn Kv>,
    pages: AtomicUsize,
    free: usize,
    release: tokio::sync::Semaphore,
}

#[async_trait]
impl Kv for HeldListing {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn put(&self, item: &Item, condition: Condition) -> Result<(), StoreError> {
        self.inner.put(item, condition).await
    }
    async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        if query.pk.starts_with("APPEALS#")
            && self.pages.fetch_add(1, Ordering::SeqCst) >= self.free
        {
            self.release.acquire().await.expect("open").forget();
        }
        self.inner.query(query).await
    }
    async fn transact(&self, writes: &[Write]) -> Result<(), StoreError> {
        self.inner.transact(writes).await
    }
    async fn counters(&self, query: &Query) -> Result<CounterPage, StoreError> {
        self.inner.counters(query).await
    }
}

#[tokio::test]
async fn a_large_export_streams_its_first_rows_before_the_last_appeal_is_read() {
    const APPEALS: usize = 3000;
    let dir = tempfile::tempdir().unwrap();
    let (plain, _) = chatsource::open_store(dir.path()).unwrap();
    chatsource::ensure_demo(&plain, Some(API_KEY.into()))
        .await
        .unwrap();
    for i in 0..APPEALS {
        put(
            &plain,
            appeal(i, &format!("Клиент {i}"), t0() + Span::minutes(i as i64)),
        )
        .await;
    }
    let held = Arc::new(HeldListing {
        inner: plain.kv().clone(),
        pages: AtomicUsize::new(0),
        free: 2,
        release: tokio::sync::Semaphore::new(0),
    });
    let app = Arc::new(App::new(Store::new(held.clone())));
    let running = chatsource::serve(
        app,
        chatsource::ServeOptions {
            addr: "127.0.0.1:0".parse().unwrap(),
        },
    )
    .await
    .unwrap();

    let started = Instant::now();
    let mut response = reqwest::Client::new()
        .get(format!("http://{}/api/appeals?format=csv", running.addr))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The transport cuts the body where it likes (a page may come in several pieces), so what
    // counts is what has arrived while the listing is held: a server that read every page
    // before sending would send nothing until released, and this would time out.
    let mut first = Vec::new();
    let mut first_byte = None;
    while first.iter().filter(|b| **b == b'\n').count() <= 100 {
        let chunk = tokio::time::timeout(Duration::from_secs(20), response.chunk())
            .await
            .expect("the first page's rows, sent while the rest is unread")
            .unwrap()
            .expect("a chunk");
        first_byte.get_or_insert_with(|| started.elapsed());
        first.extend_from_slice(&chunk);
    }
    let first_byte = first_byte.unwrap_or_default();
    assert!(
        first.starts_with(b"id,created_at,"),
        "{}",
        String::from_utf8_lossy(&first)
    );
    let read = held.pages.load(Ordering::SeqCst);
    assert!(
        read <= 3,
        "{read} pages read when the first rows arrived, of {}",
        APPEALS / 200
    );

    held.release.add_permits(1_000);
    // Bytes, not text, until the end: a piece may end inside a Cyrillic letter.
    let mut body = first;
    let mut largest = 0;
    while let Some(chunk) = response.chunk().await.unwrap() {
        largest = largest.max(chunk.len());
        body.extend_from_slice(&chunk);
    }
    let body = String::from_utf8(body).expect("UTF-8");
    let total = started.elapsed();
    // One page of the store at a time, never the whole file.
    assert!(largest < 256 * 1024, "a chunk of {largest} bytes");
    let (_, rows) = parse(&body, b',');
    assert_eq!(rows.len(), APPEALS);
    assert_eq!(
        rows[0][column("contact_name")],
        format!("Клиент {}", APPEALS - 1)
    );
    assert!(held.pages.load(Ordering::SeqCst) >= APPEALS / 200);
    eprintln!(
        "{APPEALS} appeals, {} bytes: first bytes after {first_byte:?}, all after {total:?}",
        body.len()
    );
}

/// An app as a Lambda's: DynamoDB, SQS and the export bucket on moto, the demo account seeded,
/// and its export limits.
async fn aws_app(limits: Limits) -> Arc<App> {
    let sdk = moto::sdk_config().await;
    let (dynamodb, table) = moto::dynamodb_table().await;
    let (sqs, queue_url, dead_letter_url) = moto::sqs_queues().await;
    static BUCKETS: AtomicUsize = AtomicUsize::new(0);
    let bucket = format!(
        "chatsource-exports-{}-{}",
        std::process::id(),
        BUCKETS.fetch_add(1, Ordering::Relaxed)
    );
    let made = reqwest::Client::new()
        .put(format!("{}/{bucket}", moto::endpoint()))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "{}", made.text().await.unwrap());
    let store = Store::new(Arc::new(shared::store::dynamodb::DynamoKv::new(
        dynamodb, table,
    )));
    shared::app::demo::seed(&store, Some(API_KEY.into()), Utc::now())
        .await
        .unwrap();
    Arc::new(
        App::new(store)
            .with_queue(Arc::new(shared::queue::sqs::SqsQueue::new(
                sqs,
                queue_url,
                dead_letter_url,
            )))
            .with_objects(Arc::new(shared::store::s3::S3Objects::new(
                &sdk,
                bucket,
                reqwest::Client::new(),
            )))
            .with_export_limits(limits),
    )
}

/// A `GET` of the API as API Gateway hands it to the Lambda (HTTP API, payload 2.0).
fn api_event(path: &str, query: &str) -> lambda_http::Request {
    let event = json!({
        "version": "2.0",
        "routeKey": "ANY /api/{proxy+}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "host": "a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com",
            "authorization": format!("Bearer {API_KEY}"),
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": "a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com",
            "domainPrefix": "a1b2c3d4e5",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.10", "userAgent": "chatsource-test"},
            "requestId": "export-test",
            "routeKey": "ANY /api/{proxy+}",
            "stage": "$default",
            "time": "02/Nov/2026:09:00:00 +0000",
            "timeEpoch": 1793610000000_u64
        },
        "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("an HTTP API event")
}

/// The worker, as SQS would invoke it, until the queue is empty.
async fn work_the_queue(app: &App) {
    let worker = enrichment_worker::Worker::new();
    let queue = app.queue.clone().unwrap();
    for _ in 0..20 {
        let batch = queue.receive(10, Duration::from_secs(60)).await.unwrap();
        if batch.is_empty() {
            return;
        }
        let outcomes = worker
            .batch(
                app,
                &batch,
                shared::crm::Deadline::after(Duration::from_secs(30)),
            )
            .await;
        for (delivery, outcome) in batch.iter().zip(outcomes) {
            assert_eq!(
                outcome,
                enrichment_worker::Outcome::Done,
                "{}",
                delivery.body
            );
            queue.delete(&delivery.receipt).await.unwrap();
        }
    }
    panic!("the queue never emptied");
}

/// The same appeals on the local server: what it streams is what the bucket must hold.
async fn local_csv(appeals: &[Appeal], query: &str) -> String {
    let server = start().await;
    for a in appeals {
        put(&server.store, a.clone()).await;
    }
    let (status, _, text) = csv(&server, query).await;
    assert_eq!(status, 200);
    text
}

#[tokio::test]
async fn on_aws_a_csv_too_large_for_one_answer_is_made_by_a_job_and_handed_out_as_a_link() {
    let appeals: Vec<Appeal> = (0..40)
        .map(|i| {
            appeal(
                i,
                HOSTILE.get(i).copied().unwrap_or("Мария"),
                t0() + Span::minutes(i as i64),
            )
        })
        .collect();
    let tiny = Limits {
        inline_bytes: 2_000,
        ..Limits::default()
    };
    let app = aws_app(tiny).await;
    for a in &appeals {
        put(&app.store, a.clone()).await;
    }
    let query = "format=csv&excel=1&channel=telegram";
    let answer = api::handler(&app, api_event("/api/appeals", query)).await;
    assert_eq!(answer.status(), 202, "{}", answer.body());
    let body: Value = serde_json::from_str(answer.body()).unwrap();
    assert_eq!(body["export"]["status"], "queued");
    let id = body["export"]["id"].as_str().unwrap().to_owned();
    assert_eq!(answer.headers()["location"], format!("/api/exports/{id}"));

    let status = |app: Arc<App>, id: String| async move {
        let answer = api::handler(&app, api_event(&format!("/api/exports/{id}"), "")).await;
        assert_eq!(answer.status(), 200, "{}", answer.body());
        serde_json::from_str::<Value>(answer.body()).unwrap()["export"].clone()
    };
    assert_eq!(status(app.clone(), id.clone()).await["status"], "queued");
    work_the_queue(&app).await;
    let done = status(app.clone(), id.clone()).await;
    assert_eq!(done["status"], "done", "{done}");
    let telegram = appeals
        .iter()
        .filter(|a| a.channel.as_str() == "telegram")
        .count();
    assert_eq!(done["rows"], telegram);
    let url = done["url"].as_str().unwrap();
    assert!(
        url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=3600"),
        "{url}"
    );
    let downloaded = reqwest::get(url).await.unwrap();
    assert_eq!(downloaded.status(), 200);
    let downloaded = downloaded.text().await.unwrap();
    assert_eq!(downloaded, local_csv(&appeals, &format!("?{query}")).await);

    // One that fits is answered at once, the same bytes.
    let roomy = aws_app(Limits::default()).await;
    for a in &appeals {
        put(&roomy.store, a.clone()).await;
    }
    let inline = api::handler(&roomy, api_event("/api/appeals", query)).await;
    assert_eq!(inline.status(), 200);
    assert_eq!(inline.body(), &downloaded);

    // Another account's key does not see the export; a made-up id is no export.
    let missing = api::handler(&app, api_event("/api/exports/exp_nothing", "")).await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn an_export_job_cut_off_by_its_deadline_resumes_where_it_stopped_reading() {
    // About 3 kB a row, 600 kB a page of 200: the first part (S3's smallest, 5 MiB) fills
    // at the ninth or tenth page, and the 3000 rows (about 9 MB) take two parts.
    let appeals: Vec<Appeal> = (0..3000)
        .map(|i| {
            let mut a = appeal(i, &format!("Клиент {i}"), t0() + Span::seconds(i as i64));
            a.session.landing_page = Some(format!(
                "https://shop.example.ru/{}?i={i}",
                "x".repeat(2000)
            ));
            a.session.utm.content = Some("c".repeat(250));
            a.session.utm.term = Some("t".repeat(250));
            a
        })
        .collect();
    let app = aws_app(Limits {
        inline_bytes: 1,
        inline_time: Duration::from_secs(5),
        part_bytes: shared::store::objects::MIN_PART,
    })
    .await;
    for a in &appeals {
        put(&app.store, a.clone()).await;
    }
    let account = AccountId::parse(DEMO_ACCOUNT).unwrap();
    let export = appeals_csv::queue(
        &app,
        &account,
        shared::store::AppealFilter::default(),
        shared::domain::csv::Dialect::default(),
        Utc::now(),
    )
    .await
    .unwrap();
    // The deadline comes after eleven pages (one part, and some rows past it).
    let pages = AtomicUsize::new(0);
    let cut_off = appeals_csv::run_job(&app, &account, &export.id, || {
        pages.fetch_add(1, Ordering::SeqCst) < 11
    })
    .await;
    assert!(
        matches!(cut_off, Err(shared::domain::job::Failure::Defer(_))),
        "{cut_off:?}"
    );
    let kept = app
        .store
        .csv_export(&account, &export.id)
        .await
        .unwrap()
        .unwrap();
    let progress = kept.progress.expect("progress kept");
    assert_eq!(progress.etags.len(), 1, "one part up");
    // Every page read is kept: those past the part in an object of their own.
    assert_eq!(progress.rows, 11 * 200);
    assert!(progress.carry.is_some());

    // A second delivery of the same job, and the resumed run: the file is whole, once.
    work_the_queue(&app).await;
    let status = appeals_csv::status(&app, &account, &export.id, Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.export.rows as usize, appeals.len());
    let downloaded = reqwest::get(status.url.unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(downloaded.len() > shared::store::objects::MIN_PART);
    assert_eq!(downloaded, local_csv(&appeals, "?format=csv").await);
}

#[tokio::test]
async fn an_export_job_cut_off_before_its_first_part_keeps_the_rows_it_read_for_the_next_run() {
    // 500 short rows: three pages, far under a part; the run stops after two of them.
    let appeals: Vec<Appeal> = (0..500)
        .map(|i| appeal(i, &format!("Клиент {i}"), t0() + Span::seconds(i as i64)))
        .collect();
    let app = aws_app(Limits::default()).await;
    for a in &appeals {
        put(&app.store, a.clone()).await;
    }
    let account = AccountId::parse(DEMO_ACCOUNT).unwrap();
    let excel = shared::domain::csv::Dialect { excel: true };
    let export = appeals_csv::queue(
        &app,
        &account,
        shared::store::AppealFilter::default(),
        excel,
        Utc::now(),
    )
    .await
    .unwrap();
    let pages = AtomicUsize::new(0);
    let more_time = || pages.fetch_add(1, Ordering::SeqCst) < 2;
    let cut_off = appeals_csv::run_job(&app, &account, &export.id, more_time).await;
    assert!(
        matches!(cut_off, Err(shared::domain::job::Failure::Defer(_))),
        "{cut_off:?}"
    );
    let kept = app
        .store
        .csv_export(&account, &export.id)
        .await
        .unwrap()
        .unwrap();
    let progress = kept.progress.expect("progress kept");
    assert!(progress.etags.is_empty(), "no part: too few bytes for one");
    assert!(progress.carry.is_some(), "the rows read are kept aside");
    assert_eq!(progress.rows, 400);

    // The next run reads only the last page: it goes on from where the first stopped.
    let pages = AtomicUsize::new(0);
    let more_time = || pages.fetch_add(1, Ordering::SeqCst) < 100;
    appeals_csv::run_job(&app, &account, &export.id, more_time)
        .await
        .unwrap();
    assert_eq!(
        pages.load(Ordering::SeqCst),
        1,
        "one page read by the second run"
    );
    let status = appeals_csv::status(&app, &account, &export.id, Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.export.rows as usize, appeals.len());
    let downloaded = reqwest::get(status.url.unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // One byte order mark and one header, however many runs made it.
    assert_eq!(downloaded.matches('\u{feff}').count(), 1);
    assert_eq!(downloaded.matches("id;created_at;").count(), 1);
    assert_eq!(downloaded, local_csv(&appeals, "?format=csv&excel=1").await);
}
