//! What one webhook costs DynamoDB, counted on the wire: every request the SDK sends to moto
//! (retries included) is counted by operation, per kind of event, through the real webhook
//! path (`ingest::receive`). The counts are exact, so a read that sneaks back in fails here.
//! `scripts/bench` prints the table (`-- store_calls --nocapture`).

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use chatsource_tests::server::{jivo_body_with, local_app};
use chrono::Utc;
use serde_json::{Value, json};
use shared::app::App;
use shared::app::ingest::{Delivery, receive};
use shared::domain::appeal::Provider;
use shared::store::Store;
use shared::store::dynamodb::DynamoKv;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Requests sent, by DynamoDB operation (`PutItem`, `TransactWriteItems`, ...).
#[derive(Debug, Default, Clone)]
struct Requests(Arc<Mutex<BTreeMap<String, usize>>>);

impl Requests {
    fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "count requests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("unknown");
        let mut operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        // A read of cached settings (the integration: every 0.5 s, issue 8's bound; the
        // account and its directory: every 30 s) lands on whichever webhook finds the cache
        // stale, which on a loaded machine is any of them: counted apart.
        let body = context.request().body().bytes().unwrap_or_default();
        let body = String::from_utf8_lossy(body);
        if ["\"INTEGRATION#", "\"ACCOUNT#", "\"DIR#"]
            .iter()
            .any(|prefix| body.contains(prefix))
        {
            operation.push_str(SETTINGS);
        }
        *self.0.lock().unwrap().entry(operation).or_default() += 1;
        Ok(())
    }
}

/// Marks a request that read cached settings.
const SETTINGS: &str = " (settings, cached)";

/// A store on a fresh moto table, seeded with the demo account, whose requests are counted.
async fn counted_store() -> (Store, Requests) {
    let (_, table) = chatsource_tests::moto::dynamodb_table().await;
    let requests = Requests::default();
    let config = aws_sdk_dynamodb::Config::from(&chatsource_tests::moto::sdk_config().await)
        .to_builder()
        .interceptor(requests.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let store = Store::new(Arc::new(DynamoKv::new(client, table)));
    shared::app::demo::seed(&store, None, Utc::now())
        .await
        .expect("seed");
    requests.take();
    (store, requests)
}

/// A finished Jivo chat: no session id of ours (a foreign `user_token`), and the contact
/// given (`None`: no phone nor e-mail, so there is no person to look up).
fn chat(chat_id: u64, phone: Option<&str>, event: &str) -> Vec<u8> {
    // Each chat a minute after the one before, so a person's later chat is later.
    let ts = Utc::now().timestamp() - 3600 + 60 * chat_id as i64;
    let (phone, email) = match phone {
        Some(phone) => (json!(phone), json!(format!("v{chat_id}@example.org"))),
        None => (json!(""), json!("")),
    };
    let mut changes = vec![
        ("/chat_id", json!(chat_id)),
        ("/user_token", json!(format!("not-ours-{chat_id}"))),
        ("/visitor/phone", phone),
        ("/visitor/email", email),
    ];
    if event == "chat_finished" {
        for pointer in [
            "/chat/messages/0/timestamp",
            "/chat/messages/1/timestamp",
            "/chat/messages/2/timestamp",
        ] {
            changes.push((pointer, json!(ts)));
        }
    }
    jivo_body_with(event, &changes)
}

fn with_session(body: &[u8], session: &str) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(body).unwrap();
    doc["user_token"] = json!(session);
    serde_json::to_vec(&doc).unwrap()
}

async fn deliver(app: &App, body: &[u8]) -> shared::app::ingest::Receipt {
    deliver_to(app, Provider::Jivo, body).await
}

async fn deliver_to(app: &App, provider: Provider, body: &[u8]) -> shared::app::ingest::Receipt {
    use shared::app::demo::*;
    let (integration_id, secret, hook, content_type) = match provider {
        Provider::Bitrix24 => (
            BITRIX24_INTEGRATION_ID,
            BITRIX24_SECRET,
            "events",
            "application/x-www-form-urlencoded",
        ),
        _ => (
            JIVO_INTEGRATION_ID,
            JIVO_SECRET,
            "chats",
            "application/json",
        ),
    };
    receive(
        app,
        Delivery {
            provider,
            integration_id,
            secret,
            hook,
            body,
            content_type: Some(content_type),
        },
        Utc::now(),
    )
    .await
    .expect("delivered")
}

fn total(counts: &BTreeMap<String, usize>) -> usize {
    counts.values().sum()
}

fn described(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(op, n)| format!("{n} {op}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test]
#[allow(clippy::print_stdout)] // the table is this test's output for `scripts/bench`
async fn each_kind_of_webhook_costs_dynamodb_what_the_table_says() {
    let (store, requests) = counted_store().await;
    let mut rows: Vec<(&str, BTreeMap<String, usize>, &str)> = Vec::new();

    // A cold instance: its first webhook reads the integration, the account's directory
    // (campaigns, sources, sites, employees in one partition) and settings (the repeat
    // window), and marks the integration's last appeal.
    let app = local_app(store.clone());
    deliver(&app, &chat(1, Some("+79160000001"), "chat_finished")).await;
    rows.push((
        "new chat with a contact, on a cold instance (its first webhook)",
        requests.take(),
        "+1 GetItem integration, +1 Query directory, +1 GetItem account, +1 PutItem health: once per instance (health: once per 30 s)",
    ));

    let body = chat(2, None, "chat_finished");
    let receipt = deliver(&app, &body).await;
    assert!(!receipt.duplicate);
    let new_chat = requests.take();
    rows.push((
        "new chat, no session id, no contact",
        new_chat.clone(),
        "keep the body; make the appeal with its counters and the body's outcome",
    ));

    assert!(deliver(&app, &body).await.duplicate);
    let duplicate = requests.take();
    rows.push((
        "exact duplicate",
        duplicate.clone(),
        "the refused put hands the kept event back",
    ));

    let first = chat(3, None, "chat_accepted");
    deliver(&app, &first).await;
    requests.take();
    deliver(&app, &chat(3, None, "chat_finished")).await;
    let later = requests.take();
    rows.push((
        "later event of a chat (finished after accepted)",
        later.clone(),
        "the refused create hands the appeal back; then its versioned write",
    ));

    deliver(
        &app,
        &with_session(
            &chat(4, None, "chat_finished"),
            shared::domain::ids::SessionId::generate().as_str(),
        ),
    )
    .await;
    let session = requests.take();
    rows.push((
        "new chat with a session id",
        session.clone(),
        "+1 GetItem: the session (here unknown)",
    ));

    let session_id = shared::domain::ids::SessionId::generate();
    deliver(
        &app,
        &with_session(&chat(7, None, "chat_accepted"), session_id.as_str()),
    )
    .await;
    requests.take();
    deliver(
        &app,
        &with_session(&chat(7, None, "chat_finished"), session_id.as_str()),
    )
    .await;
    let later_session = requests.take();
    rows.push((
        "later event of a chat with a session id",
        later_session.clone(),
        "the session read once for both attempts (the refused create and the update)",
    ));

    deliver(&app, &chat(5, Some("+79161112233"), "chat_finished")).await;
    let contact = requests.take();
    rows.push((
        "new chat with a phone and an e-mail (first of that person)",
        contact.clone(),
        "+1 write indexing the person keys, +1 Query per key (the repeat lookup)",
    ));

    deliver(&app, &chat(6, Some("+79161112233"), "chat_finished")).await;
    let repeat = requests.take();
    rows.push((
        "new chat of a known person (a repeat)",
        repeat.clone(),
        "a Query per key until one finds an earlier appeal; +1 GetItem and +1 write marking it a repeat, its counters moved",
    ));

    // A Bitrix24 lead event: the lead is read by the worker, so the webhook keeps the body,
    // queues the read (SQS, not counted here) and records the outcome.
    let (sqs, queue_url, dead_letter_url) = chatsource_tests::moto::sqs_queues().await;
    let app = local_app(store.clone()).with_queue(Arc::new(shared::queue::sqs::SqsQueue::new(
        sqs,
        queue_url,
        dead_letter_url,
    )));
    let lead =
        std::fs::read(chatsource_tests::server::events_dir().join("bitrix24/bodies/lead_add.form"))
            .expect("sample");
    deliver_to(&app, Provider::Bitrix24, &lead).await;
    requests.take();
    let mut lead = String::from_utf8(lead).unwrap();
    lead = lead.replace("ts=", "ts=1");
    deliver_to(&app, Provider::Bitrix24, lead.as_bytes()).await;
    let bitrix24 = requests.take();
    rows.push((
        "Bitrix24 lead event (warm instance)",
        bitrix24.clone(),
        "keep the body; its outcome once the read is queued",
    ));

    println!("| webhook | DynamoDB requests | which | why |");
    println!("|---|---|---|---|");
    for (what, counts, why) in &rows {
        println!(
            "| {what} | {} | {} | {why} |",
            total(counts),
            described(counts)
        );
    }

    // The bounds, and every count exactly, so a read that comes back fails here.
    let exact = |counts: &BTreeMap<String, usize>, want: &[(&str, usize)]| {
        let want: BTreeMap<String, usize> =
            want.iter().map(|(op, n)| (op.to_string(), *n)).collect();
        let counts: BTreeMap<String, usize> = counts
            .iter()
            .filter(|(op, _)| !op.ends_with(SETTINGS))
            .map(|(op, n)| (op.clone(), *n))
            .collect();
        assert_eq!(counts, want);
    };
    exact(&new_chat, &[("PutItem", 1), ("TransactWriteItems", 1)]);
    assert!(total(&new_chat) <= 3);
    exact(&duplicate, &[("PutItem", 1)]);
    exact(
        &later_session,
        &[("GetItem", 1), ("PutItem", 1), ("TransactWriteItems", 2)],
    );
    exact(&bitrix24, &[("PutItem", 2)]);
    exact(&later, &[("PutItem", 1), ("TransactWriteItems", 2)]);
    exact(
        &session,
        &[("GetItem", 1), ("PutItem", 1), ("TransactWriteItems", 1)],
    );
    exact(
        &contact,
        &[("PutItem", 1), ("Query", 2), ("TransactWriteItems", 2)],
    );
    exact(
        &repeat,
        &[
            ("GetItem", 1),
            ("PutItem", 1),
            ("Query", 1),
            ("TransactWriteItems", 3),
        ],
    );
    assert!(
        store
            .appeal(&shared::domain::ids::AppealId::derive(
                &shared::domain::ids::IntegrationId::parse(shared::app::demo::JIVO_INTEGRATION_ID)
                    .unwrap(),
                "jivo",
                &format!("{}:6", "5501234"),
            ))
            .await
            .unwrap()
            .expect("the repeat appeal")
            .repeat,
        "the second chat of one phone is a repeat"
    );
}
