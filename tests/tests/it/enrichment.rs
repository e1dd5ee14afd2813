//! The enrichment worker completing Verbox dialogs against the Verbox REST stand-in: the
//! transcript fetched, retries on passing failures, parking with a reason on lasting ones, the
//! appeal honest about each state, and the same on Lambda's SQS batches.

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chatsource_tests::verbox::{Mode, TOKEN, Verbox};
use chrono::{TimeZone, Utc};
use enrichment_worker::{INVOCATION, Outcome, Worker};
use serde_json::json;
use shared::app::App;
use shared::app::demo;
use shared::app::ingest::{self, Delivery};
use shared::crm::{Deadline, Timing};
use shared::domain::appeal::{Appeal, Status};
use shared::domain::integration::Integration;
use shared::domain::secret::Secret;
use shared::queue::Queue;
use shared::queue::embedded::EmbeddedQueue;
use shared::store::Store;
use shared::store::sqlite::SqliteKv;
use std::sync::Arc;
use std::time::Duration;

struct Harness {
    app: Arc<App>,
    queue: Arc<EmbeddedQueue>,
    stand_in: Arc<Verbox>,
    _dir: tempfile::TempDir,
}

async fn harness(mode: Mode, token: &str) -> Harness {
    let stand_in = Verbox::start(mode).await;

    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(Arc::new(SqliteKv::open(&dir.path().join("t.db")).unwrap()));
    demo::seed(&store, None, Utc::now()).await.unwrap();
    let mut verbox: Integration = store
        .entity(demo::VERBOX_INTEGRATION_ID)
        .await
        .unwrap()
        .unwrap();
    let settings = verbox.verbox.as_mut().unwrap();
    settings.rest_token = Some(Secret::new(token));
    settings.rest_url = stand_in.rest_url.clone();
    store.put_entity(&verbox).await.unwrap();

    let queue = Arc::new(EmbeddedQueue::enrichment(store.clone()));
    let app = Arc::new(
        chatsource_tests::server::local_app(store).with_queue(queue.clone() as Arc<dyn Queue>),
    );
    Harness {
        app,
        queue,
        stand_in,
        _dir: dir,
    }
}

/// The no-transcript sample through the webhook pipeline: a pending appeal and a queued job.
async fn dialog_without_messages(h: &Harness) -> Appeal {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/verbox/bodies/no_transcript.json"
    ))
    .unwrap();
    let delivery = Delivery {
        provider: shared::domain::appeal::Provider::Verbox,
        integration_id: demo::VERBOX_INTEGRATION_ID,
        secret: demo::VERBOX_SECRET,
        hook: "chats",
        body: &body,
        content_type: Some("application/json"),
    };
    let receipt = ingest::receive(&h.app, delivery, Utc::now()).await.unwrap();
    h.app
        .store
        .appeal(&receipt.appeal_ids[0])
        .await
        .unwrap()
        .unwrap()
}

/// One pass of the local consumer: what it received and what became of it.
async fn round(h: &Harness, worker: &Worker) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for delivery in h.queue.receive(10, Duration::from_secs(60)).await.unwrap() {
        let outcome = worker
            .handle(&h.app, &delivery, Deadline::after(INVOCATION))
            .await;
        if outcome == Outcome::Done {
            h.queue.delete(&delivery.receipt).await.unwrap();
        }
        outcomes.push(outcome);
    }
    outcomes
}

async fn appeal(h: &Harness, id: &shared::domain::ids::AppealId) -> Appeal {
    h.app.store.appeal(id).await.unwrap().unwrap()
}

fn fast(retries: usize) -> Worker {
    Worker::with(vec![Duration::ZERO; retries], Timing::default())
}

#[tokio::test]
async fn a_dialog_without_messages_is_pending_until_the_worker_fetches_its_transcript() {
    let h = harness(Mode::Answer, TOKEN).await;
    let pending = dialog_without_messages(&h).await;
    assert_eq!(pending.status, Status::PendingEnrichment);
    assert!(pending.messages.is_empty());

    assert_eq!(round(&h, &fast(2)).await, [Outcome::Done]);
    let done = appeal(&h, &pending.id).await;
    assert_eq!(done.status, Status::Complete);
    let texts: Vec<_> = done.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Здравствуйте, нужен диван",
            "Добрый день! Какой размер?",
            "Три метра"
        ],
        "only this dialog's messages"
    );
    assert_eq!(
        done.created_at,
        Utc.with_ymd_and_hms(2024, 6, 3, 15, 10, 0).unwrap()
    );
    let request = h.stand_in.last_request().unwrap();
    assert_eq!(
        request["client"],
        json!({"clientId": "0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f", "searchId": 70402})
    );
    assert!(h.queue.is_empty().await.unwrap());
}

#[tokio::test]
async fn server_errors_are_retried_and_the_appeal_completes_when_verbox_recovers() {
    let h = harness(Mode::Fail(2), TOKEN).await;
    let pending = dialog_without_messages(&h).await;
    let worker = fast(3);
    assert_eq!(round(&h, &worker).await, [Outcome::RetryLater]);
    assert_eq!(
        appeal(&h, &pending.id).await.status,
        Status::PendingEnrichment,
        "honest while retrying"
    );
    assert_eq!(round(&h, &worker).await, [Outcome::RetryLater]);
    assert_eq!(round(&h, &worker).await, [Outcome::Done]);
    assert_eq!(appeal(&h, &pending.id).await.status, Status::Complete);
    assert_eq!(h.stand_in.calls(), 3);
    assert!(h.queue.parked(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failure_that_persists_is_parked_with_its_reason_and_the_appeal_says_failed() {
    let h = harness(Mode::Down, TOKEN).await;
    let pending = dialog_without_messages(&h).await;
    let worker = fast(2);
    assert_eq!(round(&h, &worker).await, [Outcome::RetryLater]);
    assert_eq!(round(&h, &worker).await, [Outcome::RetryLater]);
    assert_eq!(
        round(&h, &worker).await,
        [Outcome::Done],
        "given up after the third attempt"
    );
    let failed = appeal(&h, &pending.id).await;
    assert_eq!(failed.status, Status::Failed);
    let reason = failed.status_reason.unwrap();
    assert!(
        reason.contains("gave up after 3 attempts") && reason.contains("HTTP 503"),
        "{reason}"
    );
    let parked = h.queue.parked(10).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].reason.as_deref(), Some(reason.as_str()));
    assert!(h.queue.is_empty().await.unwrap(), "nothing left to retry");
    assert_eq!(round(&h, &worker).await, []);
}

#[tokio::test]
async fn a_refused_token_is_given_up_at_once() {
    let h = harness(Mode::Answer, "wrong-token").await;
    let pending = dialog_without_messages(&h).await;
    assert_eq!(round(&h, &fast(5)).await, [Outcome::Done]);
    assert_eq!(h.stand_in.calls(), 1, "no retries for a lasting failure");
    let failed = appeal(&h, &pending.id).await;
    assert_eq!(failed.status, Status::Failed);
    assert!(
        failed
            .status_reason
            .unwrap()
            .contains("refused the REST token (HTTP 401)")
    );
    assert_eq!(h.queue.parked(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_slow_answer_times_out_and_the_retry_succeeds() {
    let h = harness(Mode::SlowFirst(Duration::from_secs(3)), TOKEN).await;
    let pending = dialog_without_messages(&h).await;
    let timing = Timing {
        request: Duration::from_millis(300),
        ..Timing::default()
    };
    let worker = Worker::with(vec![Duration::ZERO], timing);
    assert_eq!(round(&h, &worker).await, [Outcome::RetryLater]);
    assert_eq!(round(&h, &worker).await, [Outcome::Done]);
    assert_eq!(appeal(&h, &pending.id).await.status, Status::Complete);
}

#[tokio::test]
async fn on_lambda_retries_are_reported_as_batch_item_failures_and_the_last_attempt_parks() {
    let h = harness(Mode::Down, TOKEN).await;
    let pending = dialog_without_messages(&h).await;
    let delivery = h
        .queue
        .receive(1, Duration::from_secs(60))
        .await
        .unwrap()
        .remove(0);
    let event = |receive_count: u32| {
        let mut message = SqsMessage::default();
        message.message_id = Some("m-1".into());
        message.receipt_handle = Some(delivery.receipt.clone());
        message.body = Some(delivery.body.clone());
        message
            .attributes
            .insert("ApproximateReceiveCount".into(), receive_count.to_string());
        let mut event = SqsEvent::default();
        event.records = vec![message];
        event
    };
    let worker = fast(2);
    let first = worker
        .sqs_batch(&h.app, event(1), Deadline::after(INVOCATION))
        .await;
    assert_eq!(first.batch_item_failures.len(), 1);
    assert_eq!(first.batch_item_failures[0].item_identifier, "m-1");
    let last = worker
        .sqs_batch(&h.app, event(3), Deadline::after(INVOCATION))
        .await;
    assert!(
        last.batch_item_failures.is_empty(),
        "given up: acknowledged, and parked"
    );
    assert_eq!(appeal(&h, &pending.id).await.status, Status::Failed);
    assert_eq!(h.queue.parked(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_dialog_finished_at_the_end_of_time_is_enriched_without_overflowing() {
    let h = harness(Mode::Answer, TOKEN).await;
    let pending = dialog_without_messages(&h).await;
    // A job whose finish time came from a payload that says the year 262142.
    for delivery in h.queue.receive(10, Duration::from_secs(60)).await.unwrap() {
        h.queue.delete(&delivery.receipt).await.unwrap();
    }
    let mut job: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/worker/verbox_transcript.json"
        ))
        .map(|e| {
            let e: serde_json::Value = serde_json::from_str(&e).unwrap();
            e["Records"][0]["body"].as_str().unwrap().to_owned()
        })
        .unwrap(),
    )
    .unwrap();
    job["appeal_id"] = json!(pending.id);
    job["task"]["finished_at"] = json!("+262142-12-31T23:59:59Z");
    h.queue
        .send(&job.to_string(), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(round(&h, &fast(1)).await, [Outcome::Done]);
    assert_eq!(appeal(&h, &pending.id).await.status, Status::Complete);
}
