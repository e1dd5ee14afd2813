//! The enrichment worker: each job completes one appeal from a provider's API. Jobs come from
//! SQS on AWS ([`Worker::sqs_batch`]) or the embedded queue locally ([`run_local`]); both
//! go through [`Worker::handle`], so retries and dead-lettering are the same everywhere.
//!
//! A job that fails for a passing reason (a timeout, HTTP 429 or 5xx) is retried on the
//! schedule; after the last attempt, or at once for a lasting reason (a refused token), it is
//! given up: the appeal says `failed` with the reason, and the job is parked in the
//! dead-letter queue with the same reason, ready to be looked at and sent again.

mod amocrm;
mod bitrix24;
mod verbox;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use shared::app::App;
use shared::app::ingest;
use shared::clients::CallError;
use shared::crm::connections::ConnectedError;
use shared::domain::appeal::Appeal;
use shared::domain::integration::Integration;
use shared::domain::job::{Job, Task};
use shared::domain::oauth::TokenError;
use shared::queue::{Delivery, Queue};
use std::sync::Arc;
use std::time::Duration;

/// Waits between attempts, as data: attempt n failed, the next comes after `RETRY_AFTER[n-1]`.
pub const RETRY_AFTER: [Duration; 5] = [
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(1800),
    Duration::from_secs(3600),
];

/// Why a job did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt (timeouts, rate limits, server errors).
    Retry(String),
    /// No attempt will succeed (a refused token, a deleted integration).
    GiveUp(String),
    /// Nothing can happen until the user connects the integration again (a revoked OAuth
    /// grant): the job waits, set aside, and goes back to the queue on reconnection.
    Wait(String),
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Finished, or given up and parked: delete it.
    Done,
    /// Try again later: it shows again after its retry delay.
    RetryLater,
}

pub struct Worker {
    http: reqwest::Client,
    schedule: Vec<Duration>,
}

impl Worker {
    /// A worker with the production retry schedule and HTTP timeouts.
    pub fn new() -> Worker {
        Worker::with(RETRY_AFTER.to_vec(), Duration::from_secs(15))
    }

    /// A worker with its own schedule (attempts = schedule length + 1) and request timeout.
    pub fn with(schedule: Vec<Duration>, timeout: Duration) -> Worker {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent("chatsource-enrichment")
            .build()
            .expect("an HTTP client with rustls");
        Worker { http, schedule }
    }

    pub fn max_attempts(&self) -> u32 {
        self.schedule.len() as u32 + 1
    }

    /// Handles one delivery, including its retry or its parking.
    pub async fn handle(&self, app: &App, delivery: &Delivery) -> Outcome {
        let Some(queue) = app.queue.as_deref() else {
            tracing::error!("the worker runs without a queue to retry or park jobs on");
            return Outcome::RetryLater;
        };
        let job = match Job::from_body(&delivery.body) {
            Ok(job) => job,
            Err(reason) => return park(queue, delivery, &reason).await,
        };
        let result = self.run(app, &job).await;
        let attempt = delivery.receive_count;
        let reason = match result {
            Ok(()) => {
                tracing::info!(appeal_id = %job.appeal_id, attempt, "enrichment done");
                return Outcome::Done;
            }
            Err(Failure::Retry(reason)) if attempt < self.max_attempts() => {
                let wait = self.schedule[(attempt.max(1) - 1) as usize];
                tracing::warn!(appeal_id = %job.appeal_id, attempt, retry_in_s = wait.as_secs(), reason = %reason, "enrichment will be retried");
                // If the delay cannot be set, the queue's visibility timeout still brings it back.
                let _ = queue.retry_later(&delivery.receipt, wait).await;
                return Outcome::RetryLater;
            }
            Err(Failure::Retry(reason)) => format!("gave up after {attempt} attempts: {reason}"),
            Err(Failure::GiveUp(reason)) => reason,
            Err(Failure::Wait(reason)) => {
                return set_aside(app, &job, &delivery.body, &reason).await;
            }
        };
        if let Err(e) = fail_appeal(app, &job, &reason).await {
            tracing::warn!(appeal_id = %job.appeal_id, error = %e, "could not mark the appeal failed; retrying");
            return Outcome::RetryLater;
        }
        tracing::warn!(appeal_id = %job.appeal_id, attempt, reason = %reason, "enrichment given up");
        park(queue, delivery, &reason).await
    }

    async fn run(&self, app: &App, job: &Job) -> Result<(), Failure> {
        let integration = app
            .integration(job.integration_id.as_str())
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?
            .filter(|i| i.account_id == job.account_id)
            .ok_or_else(|| Failure::GiveUp("the integration was deleted".into()))?;
        match &job.task {
            Task::AmocrmTalk {
                talk_id,
                lead_id,
                contact_id,
            } => {
                let appeal = appeal(app, job, &integration).await?;
                let talk = amocrm::Talk {
                    talk_id: *talk_id,
                    lead_id: *lead_id,
                    contact_id: *contact_id,
                };
                amocrm::talk(&self.http, app, &integration, &appeal, talk).await
            }
            Task::VerboxTranscript {
                client_id,
                search_id,
                finished_at,
            } => {
                let appeal = appeal(app, job, &integration).await?;
                let dialog = verbox::Dialog {
                    client_id: client_id.as_deref(),
                    search_id: *search_id,
                    finished_at: *finished_at,
                };
                verbox::transcript(&self.http, app, &integration, &appeal, dialog).await
            }
            // The appeal is made by the job, if the entity turns out to be a chat.
            Task::Bitrix24Entity { entity, id } => {
                bitrix24::entity(app, &integration, *entity, *id).await
            }
        }
    }

    /// An SQS event (a Lambda invocation): every record handled at once; the ones to retry
    /// are reported as batch item failures, so SQS redelivers only those.
    pub async fn sqs_batch(&self, app: &App, event: SqsEvent) -> SqsBatchResponse {
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
        let outcomes =
            futures::future::join_all(deliveries.iter().map(|d| self.handle(app, d))).await;
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

/// The appeal a job completes.
async fn appeal(app: &App, job: &Job, integration: &Integration) -> Result<Appeal, Failure> {
    app.store
        .appeal(&job.appeal_id)
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?
        .filter(|a| a.integration_id == integration.id)
        .ok_or_else(|| Failure::GiveUp(format!("no appeal {} to enrich", job.appeal_id)))
}

/// A CRM call made with the connection's token, by what the job does next: a connection
/// that needs the user waits for them; passing trouble is retried; a refusal is final.
fn connected_failure(provider: &str, e: ConnectedError) -> Failure {
    match e {
        ConnectedError::Token(TokenError::NotConnected) => {
            Failure::Wait(format!("{provider} is not connected yet"))
        }
        ConnectedError::Token(TokenError::NeedsReauth(reason)) => {
            Failure::Wait(format!("{provider} needs to be connected again: {reason}"))
        }
        ConnectedError::Token(TokenError::Unavailable(reason)) => Failure::Retry(reason),
        ConnectedError::Call(CallError::RateLimited(m) | CallError::Unavailable(m)) => {
            Failure::Retry(m)
        }
        ConnectedError::Call(
            CallError::NotFound(m) | CallError::Refused(m) | CallError::Unauthorized(m),
        ) => Failure::GiveUp(m),
    }
}

async fn fail_appeal(app: &App, job: &Job, reason: &str) -> Result<(), String> {
    let Some(integration) = app
        .integration(job.integration_id.as_str())
        .await
        .map_err(|e| e.to_string())?
    else {
        // Nothing left to mark: the integration, and what it made, are gone.
        return Ok(());
    };
    if app
        .store
        .appeal(&job.appeal_id)
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Ok(());
    }
    let now = chrono::Utc::now();
    ingest::update_appeal(app, &integration, &job.appeal_id, now, |a| {
        a.fail(reason, now)
    })
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// A job that must wait for the user: kept aside (the queue forgets it), and the appeal says
/// what it waits for.
async fn set_aside(app: &App, job: &Job, body: &str, reason: &str) -> Outcome {
    let now = chrono::Utc::now();
    if app
        .store
        .wait_for_connection(&job.integration_id, body, reason, now)
        .await
        .is_err()
    {
        return Outcome::RetryLater;
    }
    if let Ok(Some(integration)) = app.integration(job.integration_id.as_str()).await {
        let _ = ingest::update_appeal(app, &integration, &job.appeal_id, now, |a| {
            a.wait_for(reason, now)
        })
        .await;
    }
    tracing::warn!(appeal_id = %job.appeal_id, integration_id = %job.integration_id, reason = %reason, "enrichment waits for the connection");
    Outcome::Done
}

async fn park(queue: &dyn Queue, delivery: &Delivery, reason: &str) -> Outcome {
    match queue.park(&delivery.body, reason).await {
        Ok(()) => Outcome::Done,
        // Not parked, not lost: it comes back, and the queue's redrive catches it in the end.
        Err(_) => Outcome::RetryLater,
    }
}

/// The embedded queue's consumer for `chatsource serve`: receives, handles, deletes what is
/// done, until the process ends. Idle, it looks for work every `idle`.
pub async fn run_local(app: Arc<App>, worker: Arc<Worker>, idle: Duration) {
    let Some(queue) = app.queue.clone() else {
        return;
    };
    loop {
        // A minute to finish a batch before its messages show again.
        let batch = match queue.receive(10, Duration::from_secs(60)).await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "the embedded queue is unavailable");
                Vec::new()
            }
        };
        if batch.is_empty() {
            tokio::time::sleep(idle).await;
            continue;
        }
        let outcomes =
            futures::future::join_all(batch.iter().map(|d| worker.handle(&app, d))).await;
        for (delivery, outcome) in batch.iter().zip(outcomes) {
            if outcome == Outcome::Done {
                let _ = queue.delete(&delivery.receipt).await;
            }
        }
    }
}
