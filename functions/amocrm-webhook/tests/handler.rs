//! The amoCRM handler called directly with the form-encoded API Gateway events in
//! `events/amocrm/` (one of them base64-encoded, as API Gateway may deliver a form).

use http::StatusCode;
use lambda_http::Request;
use serde_json::Value;
use shared::app::App;
use shared::app::demo;
use shared::domain::appeal::{Appeal, Kind, Status};
use shared::domain::ids::{AccountId, IntegrationId};
use shared::queue::Queue;
use shared::queue::embedded::EmbeddedQueue;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

struct Harness {
    app: App,
    queue: Arc<EmbeddedQueue>,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = demo::seeded_sqlite(dir.path(), None).await.unwrap();
    let queue = Arc::new(EmbeddedQueue::enrichment(store.clone()));
    let app = App::new(store).with_queue(queue.clone() as Arc<dyn Queue>);
    Harness {
        app,
        queue,
        _dir: dir,
    }
}

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/amocrm")
}

fn event(name: &str) -> Request {
    let text = std::fs::read_to_string(events_dir().join(format!("{name}.json"))).unwrap();
    lambda_http::request::from_str(&text).unwrap()
}

async fn post(h: &Harness, name: &str) -> (StatusCode, Value) {
    let response = amocrm_webhook::handler(&h.app, event(name)).await;
    (
        response.status(),
        serde_json::from_str(response.body()).unwrap(),
    )
}

async fn appeals(h: &Harness) -> Vec<Appeal> {
    let account = AccountId::parse(demo::ACCOUNT_ID).unwrap();
    h.app
        .store
        .appeals(&account, &Default::default(), 100, None)
        .await
        .unwrap()
        .items
}

async fn queued(h: &Harness) -> usize {
    h.queue
        .receive(10, Duration::from_secs(60))
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_closed_talk_becomes_a_pending_appeal_and_a_queued_job() {
    let h = harness().await;
    let (status, body) = post(&h, "talk_closed").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let all = appeals(&h).await;
    assert_eq!(all.len(), 1);
    let a = &all[0];
    assert_eq!((a.kind, a.status), (Kind::Chat, Status::PendingEnrichment));
    assert_eq!(a.provider_ref, "talk:8841");
    assert_eq!(a.channel.as_str(), "telegram");
    assert_eq!(queued(&h).await, 1);
}

#[tokio::test]
async fn open_talks_make_no_appeal_and_the_same_closed_talk_twice_makes_one() {
    let h = harness().await;
    let (status, _) = post(&h, "talk_open").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        appeals(&h).await.is_empty(),
        "a talk in work is recorded, not an appeal"
    );
    post(&h, "talk_closed").await;
    post(&h, "talk_closed").await;
    // The same body, base64-encoded by API Gateway, is the same delivery.
    post(&h, "talk_closed_base64").await;
    assert_eq!(appeals(&h).await.len(), 1);
}

#[tokio::test]
async fn several_items_in_one_hook_are_each_decided() {
    let h = harness().await;
    let (status, _) = post(&h, "two_talks").await;
    assert_eq!(status, StatusCode::OK);
    let all = appeals(&h).await;
    assert_eq!(all.len(), 1, "one talk closed, one still in work");
    assert_eq!(all[0].provider_ref, "talk:8842");
    assert_eq!(all[0].channel.as_str(), "whatsapp");
}

#[tokio::test]
async fn messages_before_the_close_are_kept_for_the_talk() {
    let h = harness().await;
    post(&h, "messages").await;
    assert!(appeals(&h).await.is_empty());
    let integration = IntegrationId::parse(demo::AMOCRM_INTEGRATION_ID).unwrap();
    let kept = h
        .app
        .store
        .collected_messages(&integration, "talk:8841")
        .await
        .unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0].author, shared::domain::appeal::Author::Visitor);
    assert_eq!(kept[1].author, shared::domain::appeal::Author::Employee);
}

#[tokio::test]
async fn messages_after_the_close_join_the_appeal_at_once() {
    let h = harness().await;
    post(&h, "talk_closed").await;
    post(&h, "messages").await;
    let a = &appeals(&h).await[0];
    assert_eq!(a.messages.len(), 2);
    assert_eq!(
        a.messages[0].text,
        "Здравствуйте, хочу узнать про рассрочку"
    );
}

#[tokio::test]
async fn a_hook_of_another_amocrm_account_is_refused_and_nothing_is_kept() {
    let h = harness().await;
    let (status, body) = post(&h, "foreign_account").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["message"].as_str().unwrap().contains("someone-else"));
    let integration = IntegrationId::parse(demo::AMOCRM_INTEGRATION_ID).unwrap();
    let (raw, _) = h
        .app
        .store
        .integration_raw_events(&integration, 10, None)
        .await
        .unwrap();
    assert!(raw.is_empty());
}

#[tokio::test]
async fn other_entities_are_ignored_and_a_talk_without_id_is_quarantined() {
    let h = harness().await;
    assert_eq!(post(&h, "leads_add").await.0, StatusCode::OK);
    let (status, body) = post(&h, "malformed").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("talk_id"),
        "{body}"
    );
    assert!(appeals(&h).await.is_empty());
}

#[tokio::test]
async fn every_event_file_carries_its_body_file_unchanged() {
    for entry in std::fs::read_dir(events_dir().join("bodies")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let body = std::fs::read(&path).unwrap();
        assert_eq!(
            event(&name).body().as_ref(),
            &body[..],
            "events/amocrm/{name}.json is stale: run python3 events/build.py"
        );
    }
    assert_eq!(
        event("talk_closed_base64").body().as_ref(),
        &std::fs::read(events_dir().join("bodies/talk_closed.form")).unwrap()[..]
    );
}

/// A hook of `fields` (`message[add][0][...]` style pairs) to the demo amoCRM integration.
fn form_hook(fields: &[(&str, String)]) -> Request {
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    body.append_pair("account[subdomain]", "demo-shop")
        .append_pair("account[id]", "30123456");
    for (k, v) in fields {
        body.append_pair(k, v);
    }
    let mut req = Request::new(lambda_http::Body::Text(body.finish()));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = format!(
        "/hooks/amocrm/{}/{}",
        demo::AMOCRM_INTEGRATION_ID,
        demo::AMOCRM_SECRET
    )
    .parse()
    .unwrap();
    req.headers_mut().insert(
        http::header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    req
}

fn talk_closed(talk: u32) -> Request {
    form_hook(&[
        ("talk[update][0][talk_id]", talk.to_string()),
        ("talk[update][0][created_at]", "1717400100".into()),
        ("talk[update][0][contact_id]", "5512093".into()),
        ("talk[update][0][entity_id]", "2209871".into()),
        ("talk[update][0][entity_type]", "lead".into()),
        ("talk[update][0][is_in_work]", "0".into()),
        ("talk[update][0][origin]", "telegram".into()),
    ])
}

fn message_hook(talk: u32, n: u32) -> Request {
    form_hook(&[
        ("message[add][0][id]", format!("msg-{talk}-{n}")),
        ("message[add][0][talk_id]", talk.to_string()),
        ("message[add][0][contact_id]", "5512093".into()),
        ("message[add][0][text]", format!("сообщение {n}")),
        ("message[add][0][created_at]", (1717400105 + n).to_string()),
        ("message[add][0][type]", "incoming".into()),
        ("message[add][0][author][type]", "external".into()),
        ("message[add][0][origin]", "telegram".into()),
    ])
}

#[tokio::test]
async fn two_message_hooks_of_one_talk_interleaved_lose_no_message() {
    let plain = harness().await;
    let gate = shared::store::gate::Gate::new(plain.app.store.kv().clone());
    let store = shared::store::Store::new(gate.clone());
    let app = Arc::new(App::new(store).with_queue(plain.queue.clone() as Arc<dyn Queue>));
    let closed = amocrm_webhook::handler(&app, talk_closed(77)).await;
    assert_eq!(closed.status(), StatusCode::OK, "{}", closed.body());

    // The first hook has read everything and is about to write the appeal...
    gate.hold_next_write("APPEAL#");
    let first = tokio::spawn({
        let app = app.clone();
        async move {
            amocrm_webhook::handler(&app, message_hook(77, 1))
                .await
                .status()
        }
    });
    gate.holding().await;
    // ...when the second arrives, and writes first.
    let second = amocrm_webhook::handler(&app, message_hook(77, 2)).await;
    assert_eq!(second.status(), StatusCode::OK);
    gate.release();
    assert_eq!(first.await.unwrap(), StatusCode::OK);

    let all = appeals(&Harness {
        app: App::new(plain.app.store.clone()),
        queue: plain.queue,
        _dir: plain._dir,
    })
    .await;
    let texts: Vec<&str> = all[0].messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["сообщение 1", "сообщение 2"], "no message is lost");
}
