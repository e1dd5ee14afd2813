//! The CRMs we call (amoCRM, Bitrix24, Verbox's REST API), one file each: connecting, the
//! enrichment of a job, and (Bitrix24) reconciliation. Every call goes through a
//! [`Session`]: a valid token, the account's pace, the caller's deadline.

pub mod amocrm;
pub mod bitrix24;
mod session;
pub mod verbox;

pub use session::{
    AMOCRM_PER_SECOND, BITRIX24_PER_SECOND, Deadline, Session, SessionError, Timing,
};

use crate::app::{App, jobs};
use crate::clients::CallError;
use crate::domain::integration::Integration;
use crate::domain::job::{Failure, Job, Task};
use crate::domain::oauth::{Grant, TokenError, Tokens};
use crate::store::StoreError;
use chrono::{DateTime, Utc};

/// Runs one job within `deadline`: reads the CRM and completes (or, for Bitrix24, makes) the
/// job's appeal; or one of an integration's chores.
pub async fn run(app: &App, job: &Job, deadline: Deadline, timing: Timing) -> Result<(), Failure> {
    let integration = app
        .integration(job.integration_id.as_str())
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?
        .filter(|i| i.account_id == job.account_id)
        .ok_or_else(|| Failure::GiveUp("the integration was deleted".into()))?;
    let session = Session::new(app, &integration, deadline).with_timing(timing);
    // A job the pace cannot serve before the deadline is better not started.
    session
        .can_make(job.task.usual_calls())
        .await
        .map_err(|e| failure(&integration, e))?;
    match &job.task {
        Task::AmocrmTalk { .. } => amocrm::enrich(&session, job).await,
        Task::VerboxTranscript { .. } => verbox::enrich(&session, job).await,
        Task::Bitrix24Entity { entity, id } => bitrix24::enrich(&session, *entity, *id).await,
        Task::Reconcile => bitrix24::reconcile(&session, bitrix24::Run::OnDemand, Utc::now())
            .await
            .map(|_| ())
            .map_err(|e| match e {
                bitrix24::ReconcileError::NotReconciled => Failure::GiveUp(e.to_string()),
                bitrix24::ReconcileError::Crm(e) => failure(&integration, e),
                bitrix24::ReconcileError::Store(e) => Failure::Retry(e.to_string()),
            }),
        Task::Forward { raw_event_id, url } => {
            crate::app::forward::run(app, &integration, raw_event_id, url).await
        }
        // The worker runs an account's own jobs itself (`app::jobs::run_account_job`).
        Task::ExportAppeals { .. } | Task::Run { .. } => {
            Err(Failure::GiveUp("an account's own job is no CRM job".into()))
        }
        Task::ReleaseWaiting => {
            // A page takes a moment; past the deadline the rest goes on in the next job.
            let more_time = || deadline.remaining() > std::time::Duration::from_secs(2);
            match jobs::release_waiting(app, &integration.id, more_time).await {
                Ok((_, false)) => Ok(()),
                Ok((_, true)) => Err(Failure::Defer("more jobs wait to be released".into())),
                Err(e) => Err(Failure::Retry(e.to_string())),
            }
        }
    }
}

/// What a job does next after a CRM session failed: a connection that needs the user waits
/// for them; passing trouble is retried; time running out defers; a refusal is final.
pub fn failure(integration: &Integration, e: SessionError) -> Failure {
    let provider = integration.provider.title();
    match e {
        SessionError::Token(TokenError::NotConnected) => {
            Failure::Wait(format!("{provider} is not connected yet"))
        }
        SessionError::Token(TokenError::NeedsReauth(reason)) => {
            Failure::Wait(format!("{provider} needs to be connected again: {reason}"))
        }
        SessionError::Token(TokenError::Unavailable(reason))
        | SessionError::Unavailable(reason) => Failure::Retry(reason),
        SessionError::Call(
            CallError::RateLimited(m) | CallError::Unavailable(m) | CallError::TimedOut(m),
        ) => Failure::Retry(m),
        SessionError::Call(
            CallError::NotFound(m) | CallError::Refused(m) | CallError::Unauthorized(m),
        ) => Failure::GiveUp(m),
        SessionError::OutOfTime(reason) => Failure::Defer(reason),
    }
}

/// Connecting did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Crm(#[from] SessionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The end of every connection: the grant stored (before anything uses it), what was learned
/// of the CRM account written into the integration, and the jobs that waited sent back.
/// Returns the integration as saved.
async fn connected(
    app: &App,
    integration: &Integration,
    grant: Grant,
    now: DateTime<Utc>,
    learn: impl Fn(&mut Integration),
) -> Result<Integration, ConnectError> {
    let tokens = Tokens::connected(
        integration.id.clone(),
        integration.account_id.clone(),
        grant,
        now,
    );
    app.store.connect(&tokens).await?;
    let key = crate::store::keys::entity("INTEGRATION", integration.id.as_str());
    let saved = app
        .store
        .update_record(&key, |current: Option<Integration>| {
            let result = current
                .map(|mut i| {
                    learn(&mut i);
                    i
                })
                .ok_or(StoreError::ConditionFailed);
            std::future::ready(result)
        })
        .await?;
    if let Err(e) = session::carry_pace(app, integration, &saved).await {
        // The limit may be hit once; the caller that meets it backs off.
        tracing::warn!(integration_id = %integration.id, error = %e, "could not carry the pace over");
    }
    app.forget(&integration.account_id);
    // Released in the background, all of them, however many waited: the callback answers now.
    // Not queued, they are released by the next hourly run.
    if let Err(e) = jobs::enqueue_chore(app, &saved, Task::ReleaseWaiting, now).await {
        tracing::warn!(integration_id = %integration.id, error = %e, "releasing the waiting jobs is left to the hourly run");
    }
    tracing::info!(integration_id = %integration.id, provider = %integration.provider, "connected");
    Ok(saved)
}
