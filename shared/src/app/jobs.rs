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

/// Whether the job is the account's own (an export, a run) rather than an integration's.
pub fn is_account_job(job: &Job) -> bool {
    matches!(job.task, Task::ExportAppeals { .. } | Task::Run { .. })
}

/// Runs an account's own job while `more_time` allows (a `Defer` says it goes on later).
pub async fn run_account_job(
    app: &App,
    job: &Job,
    more_time: impl Fn() -> bool,
) -> Result<(), Failure> {
    match &job.task {
        Task::ExportAppeals { export_id } => {
            super::appeals_csv::run_job(app, &job.account_id, export_id, more_time).await
        }
        Task::Run { run_id } => super::runs::run_job(app, &job.account_id, run_id, more_time).await,
        _ => Err(Failure::GiveUp("not an account's own job".into())),
    }
}

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
        Some(appeal_id.clone()),
        task,
        now,
    );
    send(app, &job, Duration::ZERO).await?;
    Ok(job)
}

/// Queues one of an integration's chores (no appeal of its own): a reconciliation asked for,
/// releasing the jobs that waited for a connection.
pub async fn enqueue_chore(
    app: &App,
    integration: &Integration,
    task: Task,
    now: DateTime<Utc>,
) -> Result<Job, StoreError> {
    let job = Job::new(
        integration.account_id.clone(),
        integration.id.clone(),
        None,
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
    let id = job
        .appeal_id
        .as_ref()
        .ok_or_else(|| Failure::GiveUp("the job names no appeal".into()))?;
    app.store
        .appeal(id)
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?
        .filter(|a| a.integration_id == integration.id)
        .ok_or_else(|| Failure::GiveUp(format!("no appeal {id} to enrich")))
}

/// A job given up: its integration's health keeps the reason, and its appeal (if there is
/// one) says `failed`, with it.
pub async fn fail(app: &App, job: &Job, reason: &str) -> Result<(), StoreError> {
    match &job.task {
        Task::ExportAppeals { export_id } => {
            return super::appeals_csv::fail(app, &job.account_id, export_id, reason).await;
        }
        Task::Run { run_id } => {
            return super::runs::fail(app, &job.account_id, run_id, reason).await;
        }
        _ => {}
    }
    let Some(integration) = app.integration(job.integration_id.as_str()).await? else {
        // Nothing left to mark: the integration, and what it made, are gone.
        return Ok(());
    };
    let now = Utc::now();
    // The integration's health shows it: the last job given up, and why.
    app.store.mark_error(&integration.id, now, reason).await?;
    let Some(id) = &job.appeal_id else {
        return Ok(());
    };
    if app.store.appeal(id).await?.is_none() {
        return Ok(());
    }
    ingest::update_appeal(app, &integration, id, now, |a| a.fail(reason, now))
        .await
        .map(|_| ())
}

/// A job that must wait for the user: kept aside (the queue forgets it), and the appeal says
/// what it waits for. If the user connected meanwhile (between the job's look at the tokens
/// and now), the job is released again at once rather than left to the next hourly run.
pub async fn set_aside(app: &App, job: &Job, body: &str, reason: &str) -> Result<(), StoreError> {
    let now = Utc::now();
    app.store
        .wait_for_connection(&job.integration_id, body, reason, now)
        .await?;
    let Some(integration) = app.integration(job.integration_id.as_str()).await? else {
        return Ok(());
    };
    if let Some(id) = &job.appeal_id
        && app.store.appeal(id).await?.is_some()
    {
        ingest::update_appeal(app, &integration, id, now, |a| a.wait_for(reason, now)).await?;
    }
    let connected = app
        .store
        .tokens(&integration.id)
        .await?
        .is_some_and(|t| t.state == crate::domain::oauth::Connection::Connected);
    if connected {
        enqueue_chore(app, &integration, Task::ReleaseWaiting, now).await?;
    }
    Ok(())
}

/// Waiting jobs released per page.
const RELEASE_PAGE: usize = 100;

/// Sends the jobs that waited for this integration's connection back to the queue, every one
/// of them, page by page while `more_time` says so; how many went, and whether any are left.
/// Each is sent before it is forgotten, so a failure half-way loses nothing, and releasing
/// twice only sends a job twice (jobs are idempotent).
pub async fn release_waiting(
    app: &App,
    integration: &IntegrationId,
    more_time: impl Fn() -> bool,
) -> Result<(usize, bool), StoreError> {
    let queue = app
        .queue
        .as_deref()
        .ok_or_else(|| StoreError::Unavailable("no job queue is configured".into()))?;
    let mut released = 0;
    loop {
        let page = app.store.waiting_jobs(integration, RELEASE_PAGE).await?;
        if page.is_empty() {
            break;
        }
        if !more_time() {
            return Ok((released, true));
        }
        for job in &page {
            queue
                .send(&job.body, Duration::ZERO)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            app.store.forget_waiting(job).await?;
            released += 1;
        }
    }
    if released > 0 {
        tracing::info!(integration_id = %integration, released, "waiting jobs released");
    }
    Ok((released, false))
}
