//! Enrichment jobs as the application keeps them: queued after their appeal exists, their
//! appeal marked when they fail or wait, set aside while their connection needs the user, and
//! sent back when it is connected again. (What a job does is `crm`'s; how a delivery is
//! retried or parked is the worker's.)

use super::{App, ingest};
use crate::domain::appeal::Appeal;
use crate::domain::ids::{AppealId, IntegrationId};
use crate::domain::integration::Integration;
use crate::domain::job::{Failure, Job, Task};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Queues a job for the enrichment worker. A failed send is the caller's error: the raw
/// event stays `received`, and its replay (or the provider's retry) queues it again.
pub async fn enqueue(
    app: &App,
    integration: &Integration,
    appeal_id: &AppealId,
    task: Task,
    now: DateTime<Utc>,
) -> Result<Job, StoreError> {
    let job = Job::new(
        integration.account_id.clone(),
        integration.id.clone(),
        appeal_id.clone(),
        task,
        now,
    );
    send(app, &job, Duration::ZERO).await?;
    Ok(job)
}

/// Sends a job (again) to the queue, visible after `delay`.
pub async fn send(app: &App, job: &Job, delay: Duration) -> Result<(), StoreError> {
    let queue = app
        .queue
        .as_ref()
        .ok_or_else(|| StoreError::Unavailable("no job queue is configured".into()))?;
    queue
        .send(&job.to_body(), delay)
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// The appeal a job completes; a job whose appeal is gone has nothing left to do.
pub async fn appeal_of(app: &App, job: &Job, integration: &Integration) -> Result<Appeal, Failure> {
    app.store
        .appeal(&job.appeal_id)
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?
        .filter(|a| a.integration_id == integration.id)
        .ok_or_else(|| Failure::GiveUp(format!("no appeal {} to enrich", job.appeal_id)))
}

/// A job given up: its appeal (if there is one) says `failed`, with the reason.
pub async fn fail(app: &App, job: &Job, reason: &str) -> Result<(), StoreError> {
    let Some(integration) = app.integration(job.integration_id.as_str()).await? else {
        // Nothing left to mark: the integration, and what it made, are gone.
        return Ok(());
    };
    if app.store.appeal(&job.appeal_id).await?.is_none() {
        return Ok(());
    }
    let now = Utc::now();
    ingest::update_appeal(app, &integration, &job.appeal_id, now, |a| {
        a.fail(reason, now)
    })
    .await
    .map(|_| ())
}

/// A job that must wait for the user: kept aside (the queue forgets it), and the appeal says
/// what it waits for.
pub async fn set_aside(app: &App, job: &Job, body: &str, reason: &str) -> Result<(), StoreError> {
    let now = Utc::now();
    app.store
        .wait_for_connection(&job.integration_id, body, reason, now)
        .await?;
    if let Some(integration) = app.integration(job.integration_id.as_str()).await?
        && app.store.appeal(&job.appeal_id).await?.is_some()
    {
        ingest::update_appeal(app, &integration, &job.appeal_id, now, |a| {
            a.wait_for(reason, now)
        })
        .await?;
    }
    Ok(())
}

/// Sends the jobs that waited for this integration's connection back to the queue; how many
/// went. Each is sent before it is forgotten, so a failure half-way loses nothing (jobs are
/// idempotent).
pub async fn release_waiting(app: &App, integration: &IntegrationId) -> Result<usize, StoreError> {
    let Some(queue) = app.queue.as_deref() else {
        return Ok(0);
    };
    let jobs = app.store.waiting_jobs(integration, 1000).await?;
    for job in &jobs {
        queue
            .send(&job.body, Duration::ZERO)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        app.store.forget_waiting(job).await?;
    }
    if !jobs.is_empty() {
        tracing::info!(integration_id = %integration, released = jobs.len(), "waiting jobs released");
    }
    Ok(jobs.len())
}
