//! The enrichment worker's runner: jobs come from SQS on AWS ([`Worker::sqs_batch`]) or the
//! embedded queue locally ([`run_local`]); both go through [`Worker::batch`], so retries,
//! deferrals and dead-lettering are the same everywhere. What a job does is `shared::crm`'s.
//!
//! A job that fails for a passing reason (a timeout, HTTP 429 or 5xx) is retried on the
//! schedule; after the last attempt, or at once for a lasting reason (a refused token), it is
//! given up: the appeal says `failed` with the reason, and the job is parked in the
//! dead-letter queue with the same reason. A job the invocation's deadline leaves no time for
//! goes back to the queue as a new message carrying its attempts, so it never runs into a
//! Lambda timeout and never climbs toward the dead-letter queue for want of time.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::{FutureExt, StreamExt};
use shared::app::{App, jobs};
use shared::crm::{self, Deadline, Timing};
use shared::domain::job::{Failure, Job, RETRY_AFTER};
use shared::queue::{Delivery, Queue};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Finished, given up and parked, set aside, or sent again for later: delete it.
    Done,
    /// Try again later: it shows again after its retry delay.
    RetryLater,
}

/// Time kept back from the invocation's deadline to report the batch's outcome.
const REPORTING: Duration = Duration::from_secs(2);
/// A job is not started with less time than this left: it goes back to the queue.
const LEAST_FOR_A_JOB: Duration = Duration::from_secs(3);
/// The template's worker timeout: the local runner gives each batch as long.
pub const INVOCATION: Duration = Duration::from_secs(30);

pub struct Worker {
    schedule: Vec<Duration>,
    timing: Timing,
    /// How long a job that ran out of time waits before it shows again.
    defer: Duration,
}

impl Worker {
    /// A worker with the production retry schedule and CRM session timing.
    pub fn new() -> Worker {
        Worker::with(RETRY_AFTER.to_vec(), Timing::default())
    }

    /// A worker with its own schedule (attempts = schedule length + 1) and session timing.
    pub fn with(schedule: Vec<Duration>, timing: Timing) -> Worker {
        Worker {
            schedule,
            timing,
            defer: Duration::from_secs(10),
        }
    }

    /// How long a job that ran out of time waits before it shows again.
    pub fn deferring_for(mut self, defer: Duration) -> Worker {
        self.defer = defer;
        self
    }

    pub fn max_attempts(&self) -> u32 {
        self.schedule.len() as u32 + 1
    }

    /// One invocation's deliveries, done by `deadline`. Jobs of one integration run one after
    /// another (they share its CRM's pace, and a job that cannot finish in time is better not
    /// started); different integrations' run side by side.
    pub async fn batch(
        &self,
        app: &App,
        deliveries: &[Delivery],
        deadline: Deadline,
    ) -> Vec<Outcome> {
        let mut lanes: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, d) in deliveries.iter().enumerate() {
            let lane = Job::from_body(&d.body)
                .map(|j| j.lane())
                .unwrap_or_default();
            lanes.entry(lane).or_default().push(i);
        }
        let deadline = deadline.sooner_by(REPORTING);
        let mut outcomes = vec![Outcome::RetryLater; deliveries.len()];
        let done: Vec<Vec<(usize, Outcome)>> = futures::stream::iter(lanes.into_values())
            .map(|lane| async move {
                let mut out = Vec::with_capacity(lane.len());
                for i in lane {
                    out.push((i, self.handle(app, &deliveries[i], deadline).await));
                }
                out
            })
            .buffer_unordered(deliveries.len().max(1))
            .collect()
            .await;
        for (i, outcome) in done.into_iter().flatten() {
            outcomes[i] = outcome;
        }
        outcomes
    }

    /// Handles one delivery, including its retry, deferral or parking.
    pub async fn handle(&self, app: &App, delivery: &Delivery, deadline: Deadline) -> Outcome {
        let Some(queue) = app.queue.as_deref() else {
            tracing::error!("the worker runs without a queue to retry or park jobs on");
            return Outcome::RetryLater;
        };
        let job = match Job::from_body(&delivery.body) {
            Ok(job) => job,
            Err(reason) => return park(queue, delivery, &reason).await,
        };
        let span = tracing::info_span!(
            "job",
            job_id = %job.id,
            integration_id = %job.integration_id,
            appeal_id = job.appeal_id.as_ref().map(|a| a.as_str()),
            provider = job.task.provider().map(|p| p.as_str()),
        );
        self.settle(app, queue, delivery, job, deadline)
            .instrument(span)
            .await
    }

    async fn settle(
        &self,
        app: &App,
        queue: &dyn Queue,
        delivery: &Delivery,
        job: Job,
        deadline: Deadline,
    ) -> Outcome {
        let attempt = job.attempts + delivery.receive_count;
        let result = if deadline.remaining() < LEAST_FOR_A_JOB {
            Err(Failure::Defer(
                "the invocation had no time left for it".into(),
            ))
        } else if jobs::is_account_job(&job) {
            let more_time = || deadline.remaining() > LEAST_FOR_A_JOB;
            jobs::run_account_job(app, &job, more_time).await
        } else {
            crm::run(app, &job, deadline, self.timing).await
        };
        let reason = match result {
            Ok(()) => {
                tracing::info!(attempt, "enrichment done");
                return Outcome::Done;
            }
            Err(Failure::Retry(reason)) if attempt < self.max_attempts() => {
                let wait = self.schedule[(attempt.max(1) - 1) as usize];
                tracing::warn!(attempt, retry_in_s = wait.as_secs(), reason = %reason, "enrichment will be retried");
                // If the delay cannot be set, the queue's visibility timeout still brings it back.
                let _ = queue.retry_later(&delivery.receipt, wait).await;
                return Outcome::RetryLater;
            }
            Err(Failure::Defer(reason)) => return self.defer(app, job, delivery, &reason).await,
            Err(Failure::Retry(reason)) => format!("gave up after {attempt} attempts: {reason}"),
            Err(Failure::GiveUp(reason)) => reason,
            Err(Failure::Wait(reason)) => {
                return match jobs::set_aside(app, &job, &delivery.body, &reason).await {
                    Ok(()) => {
                        tracing::warn!(reason = %reason, "enrichment waits for the connection");
                        Outcome::Done
                    }
                    Err(_) => Outcome::RetryLater,
                };
            }
        };
        if let Err(e) = jobs::fail(app, &job, &reason).await {
            tracing::warn!(error = %e, "could not mark the appeal failed; retrying");
            return Outcome::RetryLater;
        }
        tracing::warn!(attempt, reason = %reason, "enrichment given up");
        park(queue, delivery, &reason).await
    }

    /// A job out of time: sent again as a new message that carries the attempts made so far
    /// (this receive not among them: nothing was tried), so the receive count that leads to
    /// the dead-letter queue starts over.
    async fn defer(&self, app: &App, mut job: Job, delivery: &Delivery, reason: &str) -> Outcome {
        job.attempts += delivery.receive_count.saturating_sub(1);
        let delay = self.defer + Duration::from_millis(rand::random_range(0..=1000));
        match jobs::send(app, &job, delay).await {
            Ok(()) => {
                tracing::info!(reason = %reason, defer_s = delay.as_secs(), "enrichment deferred");
                Outcome::Done
            }
            // Not sent, not lost: the original shows again after its visibility timeout.
            Err(_) => Outcome::RetryLater,
        }
    }

    /// An SQS event (a Lambda invocation): the batch handled by `deadline`; the records to
    /// retry are reported as batch item failures, so SQS redelivers only those.
    pub async fn sqs_batch(
        &self,
        app: &App,
        event: SqsEvent,
        deadline: Deadline,
    ) -> SqsBatchResponse {
        let deliveries: Vec<Delivery> = event
            .records
            .into_iter()
            .map(|r| Delivery {
                message_id: r.message_id.unwrap_or_default(),
                receipt: r.receipt_handle.unwrap_or_default(),
                body: r.body.unwrap_or_default(),
                receive_count: r
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1),
            })
            .collect();
        let outcomes = self.batch(app, &deliveries, deadline).await;
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = deliveries
            .iter()
            .zip(outcomes)
            .filter(|(_, outcome)| *outcome == Outcome::RetryLater)
            .map(|(d, _)| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = d.message_id.clone();
                failure
            })
            .collect();
        response
    }
}

impl Default for Worker {
    fn default() -> Self {
        Worker::new()
    }
}

/// A job's run, with a panic in it (a bug of ours on some input) turned into a give-up with
/// the reason: the job is parked for a replay once fixed, and the worker goes on with the
/// others instead of dying with them.
pub async fn supervised(run: impl Future<Output = Result<(), Failure>>) -> Result<(), Failure> {
    match std::panic::AssertUnwindSafe(run).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            tracing::error!(panic = %what, "a job panicked");
            Err(Failure::GiveUp(format!(
                "the job failed on a bug of ours ({what}); parked, to be replayed once fixed"
            )))
        }
    }
}

async fn park(queue: &dyn Queue, delivery: &Delivery, reason: &str) -> Outcome {
    match queue.park(&delivery.body, reason).await {
        Ok(()) => Outcome::Done,
        // Not parked, not lost: it comes back, and the queue's redrive catches it in the end.
        Err(_) => Outcome::RetryLater,
    }
}

/// The embedded queue's consumer for `chatsource serve`: receives, handles (each batch with
/// the Lambda's time), deletes what is done, until the process ends. Idle, it looks for work
/// every `idle`.
pub async fn run_local(app: Arc<App>, worker: Arc<Worker>, idle: Duration) {
    let Some(queue) = app.queue.clone() else {
        return;
    };
    loop {
        // Jobs are supervised one by one; this catches whatever else could panic, so the
        // local worker never stops for good while the server runs on.
        let round = std::panic::AssertUnwindSafe(one_round(&app, &worker, queue.as_ref()));
        match round.catch_unwind().await {
            Ok(true) => {}
            Ok(false) => tokio::time::sleep(idle).await,
            Err(_) => {
                tracing::error!("the local worker's round panicked; it goes on");
                tokio::time::sleep(idle).await;
            }
        }
    }
}

/// One receive and its batch; whether there was work.
async fn one_round(app: &App, worker: &Worker, queue: &dyn Queue) -> bool {
    // Hidden a little longer than a batch may take, so nobody else takes them meanwhile.
    let batch = match queue.receive(10, INVOCATION * 2).await {
        Ok(batch) => batch,
        Err(e) => {
            tracing::warn!(error = %e, "the embedded queue is unavailable");
            return false;
        }
    };
    if batch.is_empty() {
        return false;
    }
    let outcomes = worker.batch(app, &batch, Deadline::after(INVOCATION)).await;
    for (delivery, outcome) in batch.iter().zip(outcomes) {
        if outcome == Outcome::Done {
            let _ = queue.delete(&delivery.receipt).await;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_job_is_given_up_with_the_reason_and_nothing_else_stops() {
        let panicked = supervised(async {
            let items: Vec<u8> = Vec::new();
            let _ = items[3]; // a bug of ours, on some input
            Ok(())
        })
        .await;
        match panicked {
            Err(Failure::GiveUp(reason)) => {
                assert!(reason.contains("index out of bounds"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(supervised(async { Ok(()) }).await, Ok(()));
    }
}
