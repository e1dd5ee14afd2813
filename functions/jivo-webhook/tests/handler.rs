//! The Jivo handler called directly with the API Gateway events in `events/jivo/`: the same
//! files `sam local invoke` and `chatsource invoke` take.

use http::StatusCode;
use lambda_http::{Body, Request};
use serde_json::{Value, json};
use shared::app::App;
use shared::app::demo;
use shared::domain::appeal::{Author, Kind, Status, Via};
use shared::domain::ids::AppealId;
use shared::domain::ids::IntegrationId;
use shared::domain::raw_event::RawStatus;
use std::path::PathBuf;
use std::sync::Arc;

struct Harness {
    app: Arc<App>,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = demo::seeded_sqlite(dir.path(), Some("test-key-0123456789".into()))
        .await
        .unwrap();
    Harness {
        app: Arc::new(App::new(store)),
        _dir: dir,
    }
}

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/jivo")
}

fn event(name: &str) -> Request {
    let text = std::fs::read_to_string(events_dir().join(format!("{name}.json"))).unwrap();
    lambda_http::request::from_str(&text).unwrap()
}

fn body_json(r: &http::Response<String>) -> Value {
    serde_json::from_str(r.body()).unwrap()
}

fn chat_appeal_id() -> AppealId {
    let int = IntegrationId::parse(demo::JIVO_INTEGRATION_ID).unwrap();
    AppealId::derive(&int, "jivo", "5501234:90817")
}

async fn post(h: &Harness, name: &str) -> http::Response<String> {
    jivo_webhook::handler(&h.app, event(name)).await
}

#[tokio::test]
async fn every_sample_event_is_answered_as_jivo_expects() {
    let h = harness().await;
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| f.strip_suffix(".json").map(str::to_owned))
        .collect();
    names.sort();
    assert!(names.len() >= 9, "{names:?}");
    for name in names {
        let response = post(&h, &name).await;
        if name == "malformed" {
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            let body = body_json(&response);
            assert_eq!(body["error"], "invalid_payload");
            assert!(body["message"].as_str().unwrap().contains("not JSON"));
        } else {
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "{name}: {}",
                response.body()
            );
            assert_eq!(body_json(&response), json!({"result": "ok"}), "{name}");
        }
    }
}

#[tokio::test]
async fn a_finished_chat_becomes_a_complete_attributed_appeal() {
    let h = harness().await;
    post(&h, "chat_finished").await;
    let appeal = h
        .app
        .store
        .appeal(&chat_appeal_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(appeal.kind, Kind::Chat);
    assert_eq!(appeal.status, Status::Complete);
    assert_eq!(appeal.channel.as_str(), "site");
    assert_eq!(appeal.contact.phones, ["+79161234567"]);
    assert_eq!(appeal.contact.emails, ["m.kovaleva@example.org"]);
    assert_eq!(appeal.created_at.timestamp(), 1717410000);
    let authors: Vec<_> = appeal.messages.iter().map(|m| m.author).collect();
    assert_eq!(
        authors,
        [Author::Visitor, Author::Employee, Author::Visitor]
    );
    assert_eq!(appeal.employee.unwrap().id.as_str(), "emp_demo_oleg");
    assert_eq!(appeal.attribution.via, Via::Utm);
    assert_eq!(
        appeal.attribution.campaign_id.unwrap().as_str(),
        "cmp_demo_spring"
    );
    assert_eq!(
        appeal.attribution.source_id.unwrap().as_str(),
        "src_demo_yandex"
    );
    assert_eq!(
        appeal.attribution.site_id.unwrap().as_str(),
        "site_demo_shop"
    );
    assert_eq!(appeal.session.click_ids["yclid"], "7315542");
}

#[tokio::test]
async fn accepted_updated_finished_leave_one_complete_appeal_with_the_merged_contact() {
    let h = harness().await;
    post(&h, "chat_accepted").await;
    let running = h
        .app
        .store
        .appeal(&chat_appeal_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(running.status, Status::InProgress);
    assert!(running.contact.phones.is_empty());
    post(&h, "chat_updated").await;
    post(&h, "chat_finished").await;
    post(&h, "client_updated").await;
    let appeal = h
        .app
        .store
        .appeal(&chat_appeal_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(appeal.status, Status::Complete);
    assert_eq!(appeal.contact.name.as_deref(), Some("Мария Ковалёва"));
    assert_eq!(appeal.contact.phones, ["+79161234567", "+79031112233"]);
    assert_eq!(
        appeal.contact.emails,
        ["m.kovaleva@example.org", "maria.k@example.org"]
    );
    let account = appeal.account_id.clone();
    let page = h
        .app
        .store
        .appeals(&account, &Default::default(), 50, None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1, "one chat, one appeal");
}

#[tokio::test]
async fn messenger_widgets_follow_the_mapping_and_requests_are_their_own_kinds() {
    let h = harness().await;
    post(&h, "telegram_chat_finished").await;
    post(&h, "offline_message").await;
    post(&h, "call_event").await;
    let account = shared::domain::ids::AccountId::parse(demo::ACCOUNT_ID).unwrap();
    let page = h
        .app
        .store
        .appeals(&account, &Default::default(), 50, None)
        .await
        .unwrap();
    let by_kind = |k: Kind| page.items.iter().find(|a| a.kind == k).unwrap();
    let chat = by_kind(Kind::Chat);
    assert_eq!(chat.channel.as_str(), "telegram");
    assert_eq!(chat.attribution.via, Via::MessengerMapping);
    assert_eq!(
        chat.attribution.campaign_id.as_ref().unwrap().as_str(),
        "cmp_demo_telegram"
    );
    let offline = by_kind(Kind::OfflineRequest);
    assert_eq!(offline.contact.phones, ["+79035550101"]);
    assert_eq!(offline.messages.len(), 1);
    let callback = by_kind(Kind::CallbackRequest);
    assert_eq!(
        callback.attribution.campaign_id.as_ref().unwrap().as_str(),
        "cmp_demo_google"
    );
}

/// A sample event whose body has `pointer` set to `value` (a JSON pointer into the body).
fn event_with(name: &str, pointer: &str, value: Value) -> Request {
    let text = std::fs::read_to_string(events_dir().join(format!("{name}.json"))).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    let mut body: Value = serde_json::from_str(doc["body"].as_str().unwrap()).unwrap();
    *body.pointer_mut(pointer).unwrap() = value;
    doc["body"] = Value::String(body.to_string());
    lambda_http::request::from_str(&doc.to_string()).unwrap()
}

#[tokio::test]
async fn two_events_of_one_chat_interleaved_keep_what_each_said() {
    let h = harness().await;
    let gate = shared::store::gate::Gate::new(h.app.store.kv().clone());
    let app = Arc::new(App::new(shared::store::Store::new(gate.clone())));
    assert_eq!(
        jivo_webhook::handler(&app, event("chat_accepted"))
            .await
            .status(),
        StatusCode::OK
    );
    // `chat_finished` has read the appeal and is about to write it...
    gate.hold_next_write("APPEAL#");
    let finished = tokio::spawn({
        let app = app.clone();
        async move {
            jivo_webhook::handler(&app, event("chat_finished"))
                .await
                .status()
        }
    });
    gate.holding().await;
    // ...when `chat_updated`, with a second phone only it knows, is written first.
    let updated = event_with("chat_updated", "/visitor/phone", json!("8 (903) 555-00-11"));
    assert_eq!(
        jivo_webhook::handler(&app, updated).await.status(),
        StatusCode::OK
    );
    gate.release();
    assert_eq!(finished.await.unwrap(), StatusCode::OK);

    let appeal = h
        .app
        .store
        .appeal(&chat_appeal_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(appeal.status, Status::Complete);
    assert_eq!(appeal.messages.len(), 3, "what chat_finished said");
    assert!(
        appeal.contact.phones.contains(&"+79035550011".to_owned()),
        "what chat_updated said, not lost under the later write: {:?}",
        appeal.contact
    );
}

#[tokio::test]
async fn every_event_of_many_chats_posted_at_once_in_any_order_makes_one_complete_appeal_each() {
    let h = harness().await;
    let mut tasks = tokio::task::JoinSet::new();
    for chat in 0..10u64 {
        let id = json!(800_000 + chat);
        let phone = json!(format!("8 (903) 555-{:02}-{:02}", chat, chat));
        let events = [
            event_with("chat_accepted", "/chat_id", id.clone()),
            {
                let mut e = event_with("chat_updated", "/chat_id", id.clone());
                let mut body: Value = serde_json::from_slice(e.body().as_ref()).unwrap();
                body["visitor"]["phone"] = phone;
                *e.body_mut() = Body::Text(body.to_string());
                e
            },
            event_with("chat_finished", "/chat_id", id),
        ];
        for req in events {
            let app = Arc::clone(&h.app);
            tasks.spawn(async move { jivo_webhook::handler(&app, req).await.status() });
        }
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    let account = shared::domain::ids::AccountId::parse(demo::ACCOUNT_ID).unwrap();
    let page = h
        .app
        .store
        .appeals(&account, &Default::default(), 50, None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 10, "one appeal per chat");
    for a in &page.items {
        assert_eq!(a.status, Status::Complete, "{}", a.provider_ref);
        assert_eq!(a.messages.len(), 3, "{}", a.provider_ref);
        assert_eq!(a.contact.phones.len(), 2, "both phones: {:?}", a.contact);
        assert_eq!(a.contact.emails.len(), 1, "{:?}", a.contact);
    }
}

#[tokio::test]
async fn unknown_integration_and_wrong_secret_get_the_same_404() {
    let h = harness().await;
    let answer = |path: &str| {
        let mut req = event("chat_finished");
        *req.uri_mut() = path.parse().unwrap();
        let app = Arc::clone(&h.app);
        async move { jivo_webhook::handler(&app, req).await }
    };
    let wrong_secret = answer("/hooks/jivo/int_demo_jivo/guess").await;
    let unknown = answer("/hooks/jivo/int_nope/demo_jivo_secret").await;
    assert_eq!(wrong_secret.status(), StatusCode::NOT_FOUND);
    assert_eq!(wrong_secret.body(), unknown.body());
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn oversized_bodies_get_413_and_other_methods_405() {
    let h = harness().await;
    let mut big = event("chat_finished");
    *big.body_mut() = Body::from(vec![b' '; 1024 * 1024 + 1]);
    assert_eq!(
        jivo_webhook::handler(&h.app, big).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let mut get = event("chat_finished");
    *get.method_mut() = http::Method::GET;
    assert_eq!(
        jivo_webhook::handler(&h.app, get).await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn unreadable_bodies_are_quarantined_and_repeats_answer_alike() {
    let h = harness().await;
    let first = post(&h, "malformed").await;
    let again = post(&h, "malformed").await;
    assert_eq!(first.status(), StatusCode::BAD_REQUEST);
    assert_eq!(first.body(), again.body());
    let account = shared::domain::ids::AccountId::parse(demo::ACCOUNT_ID).unwrap();
    let (quarantined, _) = h.app.store.quarantined(&account, 10, None).await.unwrap();
    assert_eq!(quarantined.len(), 1);
    let raw = &quarantined[0];
    assert_eq!(raw.status, RawStatus::Quarantined);
    assert!(raw.reason.as_deref().unwrap().contains("not JSON"));
    let kept = h.app.store.raw_body(&raw.id).await.unwrap().unwrap();
    assert_eq!(
        kept,
        std::fs::read(events_dir().join("bodies/malformed.json")).unwrap()
    );
}

#[tokio::test]
async fn every_event_file_carries_its_body_file_unchanged() {
    for entry in std::fs::read_dir(events_dir().join("bodies")).unwrap() {
        let path = entry.unwrap().path();
        let body = std::fs::read(&path).unwrap();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let req = event(&name);
        assert_eq!(
            req.body().as_ref(),
            &body[..],
            "events/jivo/{name}.json is stale: run python3 events/build.py"
        );
    }
}

#[tokio::test]
async fn a_chat_of_six_thousand_messages_still_becomes_an_appeal_that_says_what_it_left_out() {
    let h = harness().await;
    // A reviewer's 379 KB chat: short messages, many of them.
    let messages: Vec<Value> = (0..6000)
        .map(|i| {
            json!({"message": format!("ок {i}"), "timestamp": 1717410000 + i,
                   "type": if i % 2 == 0 { "visitor" } else { "agent" }, "agent_id": 731})
        })
        .collect();
    let req = event_with("chat_finished", "/chat/messages", json!(messages));
    assert!(req.body().len() > 300_000, "{}", req.body().len());
    let answer = jivo_webhook::handler(&h.app, req).await;
    assert_eq!(answer.status(), StatusCode::OK, "{}", answer.body());
    let appeal = h
        .app
        .store
        .appeal(&chat_appeal_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(appeal.status, Status::Complete);
    assert!(appeal.messages_omitted > 0);
    assert_eq!(appeal.messages.len() + appeal.messages_omitted, 6000);
    assert_eq!(
        appeal.messages[0].text, "ок 0",
        "the start of the chat is kept"
    );
}

#[tokio::test]
async fn a_visitor_name_of_a_hundred_thousand_characters_is_cut_not_refused() {
    let h = harness().await;
    let req = event_with("chat_finished", "/visitor/name", json!("Я".repeat(100_000)));
    let answer = jivo_webhook::handler(&h.app, req).await;
    assert_eq!(answer.status(), StatusCode::OK, "{}", answer.body());
    let appeal = h
        .app
        .store
        .appeal(&chat_appeal_id())
        .await
        .unwrap()
        .unwrap();
    let name = appeal.contact.name.unwrap();
    assert_eq!(name.chars().count(), shared::domain::limits::NAME_CHARS);
    assert!(name.ends_with('…'));
}

#[tokio::test]
async fn a_body_sent_as_an_image_is_kept_and_refused_with_the_reason_not_read() {
    let h = harness().await;
    let mut req = event("chat_finished");
    req.headers_mut()
        .insert(http::header::CONTENT_TYPE, "image/png".parse().unwrap());
    let answer = jivo_webhook::handler(&h.app, req).await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let body = body_json(&answer);
    assert!(
        body["message"].as_str().unwrap().contains("image/png"),
        "{body}"
    );
    assert!(
        h.app
            .store
            .appeal(&chat_appeal_id())
            .await
            .unwrap()
            .is_none()
    );
    let account = shared::domain::ids::AccountId::parse(demo::ACCOUNT_ID).unwrap();
    let (kept, _) = h.app.store.quarantined(&account, 10, None).await.unwrap();
    assert_eq!(kept.len(), 1, "kept, quarantined, for a replay");
}

#[tokio::test]
async fn another_instance_refuses_a_rotated_secret_or_a_switched_off_integration_within_half_a_second()
 {
    let h = harness().await;
    // Two warm Lambdas on one table: `other` has the integration cached.
    let other = App::new(h.app.store.clone());
    assert_eq!(
        jivo_webhook::handler(&other, event("chat_accepted"))
            .await
            .status(),
        StatusCode::OK
    );
    let id = demo::JIVO_INTEGRATION_ID;
    let mut integration: shared::domain::integration::Integration =
        h.app.store.entity(id).await.unwrap().unwrap();
    integration.secret = shared::domain::secret::Secret::generate();
    h.app.store.put_entity(&integration).await.unwrap();
    let rotated = std::time::Instant::now();
    loop {
        let status = jivo_webhook::handler(&other, event("chat_updated"))
            .await
            .status();
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            rotated.elapsed()
                < shared::app::INTEGRATION_TTL + std::time::Duration::from_millis(100),
            "the old secret still works after {:?}",
            rotated.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(rotated.elapsed() <= std::time::Duration::from_secs(1));
}
