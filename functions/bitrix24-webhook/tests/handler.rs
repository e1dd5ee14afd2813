//! The Bitrix24 handler called directly with the form-encoded API Gateway events in
//! `events/bitrix24/`, on the demo account (its integration is not connected, so what is
//! queued stays queued here; the worker's part runs in the integration tests).

use http::StatusCode;
use lambda_http::Request;
use serde_json::Value;
use shared::app::App;
use shared::app::demo;
use shared::domain::ids::IntegrationId;
use shared::domain::integration::CrmEntity;
use shared::domain::job::{Job, Task};
use shared::domain::raw_event::RawStatus;
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
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn event(name: &str) -> Request {
    let path = events_dir().join(format!("bitrix24/{name}.json"));
    let text = std::fs::read_to_string(path).unwrap();
    lambda_http::request::from_str(&text).unwrap()
}

async fn post(h: &Harness, name: &str) -> (StatusCode, Value) {
    let response = bitrix24_webhook::handler(&h.app, event(name)).await;
    (
        response.status(),
        serde_json::from_str(response.body()).unwrap(),
    )
}

async fn jobs(h: &Harness) -> Vec<Job> {
    h.queue
        .receive(10, Duration::from_secs(60))
        .await
        .unwrap()
        .iter()
        .map(|d| Job::from_body(&d.body).unwrap())
        .collect()
}

async fn raw_events(h: &Harness) -> Vec<shared::domain::raw_event::RawEvent> {
    let integration = IntegrationId::parse(demo::BITRIX24_INTEGRATION_ID).unwrap();
    h.app
        .store
        .integration_raw_events(&integration, 10, None)
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn a_lead_event_queues_the_lead_to_be_read_and_answers_at_once() {
    let h = harness().await;
    let (status, body) = post(&h, "lead_add").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let jobs = jobs(&h).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].task,
        Task::Bitrix24Entity {
            entity: CrmEntity::Lead,
            id: 48211
        }
    );
    // The worker sample is the job this event queues.
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(events_dir().join("worker/bitrix24_lead.json")).unwrap(),
    )
    .unwrap();
    let sample = Job::from_body(sample["Records"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (&sample.appeal_id, &sample.task),
        (&jobs[0].appeal_id, &jobs[0].task)
    );
    let raw = raw_events(&h).await;
    assert_eq!(raw[0].status, RawStatus::Processed);
    assert_eq!(
        raw[0].reason.as_deref(),
        Some("lead 48211 queued to be read")
    );
    assert!(
        h.app
            .store
            .appeal(jobs[0].appeal_id.as_ref().unwrap())
            .await
            .unwrap()
            .is_none(),
        "no appeal until the lead is known to be a chat"
    );
}

#[tokio::test]
async fn the_same_event_twice_is_queued_once() {
    let h = harness().await;
    assert_eq!(post(&h, "lead_add").await.0, StatusCode::OK);
    assert_eq!(post(&h, "lead_add").await.0, StatusCode::OK);
    assert_eq!(jobs(&h).await.len(), 1);
}

#[tokio::test]
async fn a_wrong_application_token_is_refused_and_nothing_is_kept() {
    let h = harness().await;
    let (status, body) = post(&h, "wrong_token").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("application_token"), "{message}");
    assert!(!message.contains("not_the_application_token"), "{message}");
    assert!(raw_events(&h).await.is_empty());
    assert!(jobs(&h).await.is_empty());
}

#[tokio::test]
async fn a_malformed_event_is_quarantined_for_replay() {
    let h = harness().await;
    let (status, body) = post(&h, "malformed").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("data[FIELDS][ID]"),
        "{body}"
    );
    let raw = raw_events(&h).await;
    assert_eq!(raw[0].status, RawStatus::Quarantined);
    assert!(jobs(&h).await.is_empty());
}

#[tokio::test]
async fn a_deal_event_for_a_lead_integration_is_acknowledged_and_ignored() {
    let h = harness().await;
    let (status, _) = post(&h, "deal_add").await;
    assert_eq!(status, StatusCode::OK);
    let raw = raw_events(&h).await;
    assert_eq!(raw[0].status, RawStatus::Ignored);
    assert!(
        raw[0].reason.as_deref().unwrap().contains("ONCRMLEADADD"),
        "{:?}",
        raw[0].reason
    );
    assert!(jobs(&h).await.is_empty());
}

#[tokio::test]
async fn every_event_file_carries_its_body_file_unchanged() {
    for entry in std::fs::read_dir(events_dir().join("bitrix24/bodies")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let body = std::fs::read(&path).unwrap();
        assert_eq!(
            event(&name).body().as_ref(),
            &body[..],
            "events/bitrix24/{name}.json is stale: run python3 events/build.py"
        );
    }
}
