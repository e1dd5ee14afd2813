//! Jobs that waited for a connection go back to the queue, all of them, in the background, and
//! one set aside just as the user reconnected does not wait for the next hourly run.

use chatsource_tests::server::local_app;
use enrichment_worker::{INVOCATION, Outcome, Worker};
use shared::app::{App, demo, jobs};
use shared::crm::Deadline;
use shared::domain::ids::IntegrationId;
use shared::domain::job::{Job, Task};
use shared::domain::oauth::{Grant, Tokens};
use shared::domain::secret::Secret;
use shared::queue::Queue;
use shared::queue::embedded::EmbeddedQueue;
use std::sync::Arc;
use std::time::Duration;

struct Harness {
    app: Arc<App>,
    queue: Arc<EmbeddedQueue>,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = demo::seeded_sqlite(dir.path(), None).await.unwrap();
    let queue = Arc::new(EmbeddedQueue::enrichment(store.clone()));
    let app = Arc::new(local_app(store).with_queue(queue.clone() as Arc<dyn Queue>));
    Harness {
        app,
        queue,
        _dir: dir,
    }
}

fn amocrm() -> IntegrationId {
    IntegrationId::parse(demo::AMOCRM_INTEGRATION_ID).unwrap()
}

async fn connect(h: &Harness) {
    let integration = h.app.integration(amocrm().as_str()).await.unwrap().unwrap();
    let grant = Grant {
        access_token: Secret::new("a"),
        refresh_token: None,
        expires_in: None,
    };
    let tokens = Tokens::connected(
        integration.id.clone(),
        integration.account_id.clone(),
        grant,
        chrono::Utc::now(),
    );
    h.app.store.connect(&tokens).await.unwrap();
}

fn talk_job(talk: u64) -> Job {
    Job::new(
        shared::domain::ids::AccountId::parse(demo::ACCOUNT_ID).unwrap(),
        amocrm(),
        None,
        Task::AmocrmTalk {
            talk_id: talk,
            lead_id: None,
            contact_id: None,
        },
        chrono::Utc::now(),
    )
}

/// Every message in the queue, taken out.
async fn drain(queue: &EmbeddedQueue) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let batch = queue.receive(10, Duration::from_secs(60)).await.unwrap();
        if batch.is_empty() {
            return bodies;
        }
        for d in batch {
            queue.delete(&d.receipt).await.unwrap();
            bodies.push(d.body);
        }
    }
}

#[tokio::test]
async fn every_waiting_job_goes_back_however_many_waited() {
    let h = harness().await;
    let id = amocrm();
    for talk in 0..1_050 {
        h.app
            .store
            .wait_for_connection(
                &id,
                &talk_job(talk).to_body(),
                "revoked",
                chrono::Utc::now(),
            )
            .await
            .unwrap();
    }
    connect(&h).await;
    let integration = h.app.integration(id.as_str()).await.unwrap().unwrap();
    jobs::enqueue_chore(
        &h.app,
        &integration,
        Task::ReleaseWaiting,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let chore = h.queue.receive(1, Duration::from_secs(60)).await.unwrap();
    let worker = Worker::new();
    assert_eq!(
        worker
            .batch(&h.app, &chore, Deadline::after(INVOCATION))
            .await,
        [Outcome::Done]
    );
    h.queue.delete(&chore[0].receipt).await.unwrap();
    assert!(h.app.store.waiting_jobs(&id, 10).await.unwrap().is_empty());
    let released = drain(&h.queue).await;
    assert_eq!(released.len(), 1_050, "all of them, not the first thousand");
    // Released twice (a repeated chore), nothing is lost or left behind.
    let (again, more) = jobs::release_waiting(&h.app, &id, || true).await.unwrap();
    assert_eq!((again, more), (0, false));
}

#[tokio::test]
async fn a_job_set_aside_just_as_the_user_reconnected_goes_back_at_once() {
    let h = harness().await;
    // The worker saw `needs_reauth`; meanwhile the user connected again.
    connect(&h).await;
    let job = talk_job(77);
    jobs::set_aside(
        &h.app,
        &job,
        &job.to_body(),
        "amoCRM needs to be connected again",
    )
    .await
    .unwrap();
    let queued = drain(&h.queue).await;
    assert_eq!(queued.len(), 1, "a release was queued: {queued:?}");
    let chore = Job::from_body(&queued[0]).unwrap();
    assert_eq!(chore.task, Task::ReleaseWaiting);
    h.queue.send(&queued[0], Duration::ZERO).await.unwrap();
    let batch = h.queue.receive(1, Duration::from_secs(60)).await.unwrap();
    Worker::new()
        .batch(&h.app, &batch, Deadline::after(INVOCATION))
        .await;
    h.queue.delete(&batch[0].receipt).await.unwrap();
    let back = drain(&h.queue).await;
    assert_eq!(back, [job.to_body()], "the job itself is back in the queue");
}
