//! The Verbox handler called directly with the API Gateway events in `events/verbox/`.

use http::StatusCode;
use lambda_http::Request;
use serde_json::{Value, json};
use shared::app::App;
use shared::app::demo;
use shared::domain::appeal::{Kind, Status, Via};
use shared::domain::ids::{AccountId, IntegrationId};
use shared::domain::integration::Integration;
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

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/verbox")
}

fn event(name: &str) -> Request {
    let text = std::fs::read_to_string(events_dir().join(format!("{name}.json"))).unwrap();
    lambda_http::request::from_str(&text).unwrap()
}

async fn post(h: &Harness, name: &str) -> (StatusCode, Value) {
    let response = verbox_webhook::handler(&h.app, event(name)).await;
    (
        response.status(),
        serde_json::from_str(response.body()).unwrap(),
    )
}

async fn appeals(h: &Harness) -> Vec<shared::domain::appeal::Appeal> {
    let account = AccountId::parse(demo::ACCOUNT_ID).unwrap();
    h.app
        .store
        .appeals(&account, &Default::default(), 100, None)
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn every_sample_is_answered_and_the_malformed_one_is_quarantined() {
    let h = harness().await;
    for entry in std::fs::read_dir(events_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(name) = name.strip_suffix(".json") else {
            continue;
        };
        let (status, body) = post(&h, name).await;
        if name == "malformed" {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["error"], "invalid_payload");
        } else {
            assert_eq!(
                (status, &body),
                (StatusCode::OK, &json!({"result": "ok"})),
                "{name}"
            );
        }
    }
    let kinds: Vec<_> = appeals(&h).await.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == Kind::Chat).count(),
        4,
        "widget, telegram, form, no transcript"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == Kind::OfflineRequest).count(),
        1
    );
}

#[tokio::test]
async fn a_finished_widget_dialog_becomes_a_chat_appeal_with_contact_transcript_and_employee() {
    let h = harness().await;
    post(&h, "chat_finished").await;
    let a = &appeals(&h).await[0];
    assert_eq!(a.provider_ref, "dialog:d-5501-7731");
    assert_eq!(a.status, Status::Complete);
    assert_eq!(a.contact.phones, ["+79031234567"]);
    assert_eq!(a.messages.len(), 3);
    assert_eq!(a.employee.as_ref().unwrap().id.as_str(), "emp_demo_oleg");
    // The session id in custom data is looked up (and, in this sample, unknown).
    let lookup = a.attribution.session_lookup.as_ref().unwrap();
    assert_eq!(
        (lookup.id.as_str(), lookup.found),
        ("ses_00000000000000000000000000000000", false)
    );
    assert_eq!(a.attribution.via, Via::Default);
}

#[tokio::test]
async fn a_telegram_dialog_via_verbox_follows_the_messenger_mapping() {
    let h = harness().await;
    post(&h, "telegram_dialog").await;
    let a = &appeals(&h).await[0];
    assert_eq!(a.channel.as_str(), "telegram");
    assert_eq!(a.attribution.via, Via::MessengerMapping);
    assert_eq!(
        a.attribution.campaign_id.as_ref().unwrap().as_str(),
        "cmp_demo_telegram"
    );
}

#[tokio::test]
async fn an_offline_question_is_an_offline_request_in_real_time() {
    let h = harness().await;
    let (status, _) = post(&h, "offline").await;
    assert_eq!(status, StatusCode::OK);
    let a = &appeals(&h).await[0];
    assert_eq!(a.kind, Kind::OfflineRequest);
    assert_eq!(a.contact.emails, ["sveta@example.net"]);
    assert_eq!(a.status, Status::Complete);
}

#[tokio::test]
async fn with_the_toggle_off_the_offline_url_is_refused_and_nothing_is_stored() {
    let h = harness().await;
    let id = IntegrationId::parse(demo::VERBOX_INTEGRATION_ID).unwrap();
    let mut integration: Integration = h.app.store.entity(id.as_str()).await.unwrap().unwrap();
    integration.verbox.as_mut().unwrap().offline_requests = false;
    h.app.store.put_entity(&integration).await.unwrap();
    let (status, body) = post(&h, "offline").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(appeals(&h).await.is_empty());
    let (raw, _) = h
        .app
        .store
        .integration_raw_events(&id, 10, None)
        .await
        .unwrap();
    assert!(raw.is_empty(), "a refused delivery keeps no raw event");
}

#[tokio::test]
async fn repeats_of_either_hook_make_no_second_appeal() {
    let h = harness().await;
    for _ in 0..3 {
        post(&h, "chat_finished").await;
        post(&h, "offline").await;
        post(&h, "dialog_form").await;
    }
    assert_eq!(appeals(&h).await.len(), 3);
}

#[tokio::test]
async fn every_event_file_carries_its_body_file_unchanged() {
    for entry in std::fs::read_dir(events_dir().join("bodies")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        assert_eq!(
            event(&name).body().as_ref(),
            &std::fs::read(&path).unwrap()[..],
            "events/verbox/{name}.json is stale: run python3 events/build.py"
        );
    }
}
