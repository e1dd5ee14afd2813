//! Relaying webhook bodies to an integration's forward URLs (a bot platform on the same Jivo
//! channel, which has one webhook URL field): queued once each body is kept, whatever we make
//! of it, then sent verbatim by the worker with its retries and dead-letter queue.
//!
//! Delivery is at least once: a job retried after the receiver took the body but answered
//! late sends it again. A body Jivo sends twice byte for byte is one kept event, relayed once.

use super::{App, jobs};
use crate::clients::{CallError, forward};
use crate::domain::integration::Integration;
use crate::domain::job::{Failure, Job, Task};
use crate::domain::raw_event::RawEvent;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Queues one relay per forward URL of a body just kept. Never an error: the provider's
/// delivery does not wait on, nor fail for, the relay. A job the queue refused is set aside
/// in the store (the waiting jobs of the integration) and sent again after the next relay of
/// the integration that succeeds (or when a CRM connection is made again); the body is kept
/// meanwhile, so nothing is lost but time.
pub async fn enqueue(app: &App, integration: &Integration, raw: &RawEvent, now: DateTime<Utc>) {
    for url in &integration.forward_urls {
        let task = Task::Forward {
            raw_event_id: raw.id.clone(),
            url: url.clone(),
        };
        let job = Job::new(
            integration.account_id.clone(),
            integration.id.clone(),
            None,
            task,
            now,
        );
        let Err(e) = jobs::send(app, &job, Duration::ZERO).await else {
            continue;
        };
        let reason = format!(
            "the relay to {} could not be queued: {e}",
            forward::host(url)
        );
        tracing::warn!(integration_id = %integration.id, raw_event_id = %raw.id, error = %e, "relay not queued; set aside");
        let kept = app
            .store
            .wait_for_connection(&integration.id, &job.to_body(), &reason, now)
            .await;
        if let Err(e) = kept {
            // Neither queue nor store: the body stays kept, the health says which.
            tracing::error!(integration_id = %integration.id, raw_event_id = %raw.id, error = %e, "relay lost");
            let reason = format!("{reason}; raw event {} was not relayed", raw.id);
            let _ = app.store.mark_error(&integration.id, now, &reason).await;
        }
    }
}

/// The worker's run of a [`Task::Forward`]: the kept body read back and posted.
pub async fn run(
    app: &App,
    integration: &Integration,
    raw_event_id: &str,
    url: &str,
) -> Result<(), Failure> {
    if !integration.forward_urls.iter().any(|u| u == url) {
        // Removed from the settings since: the user no longer wants it there.
        tracing::info!(integration_id = %integration.id, "forward URL no longer listed; relay dropped");
        return Ok(());
    }
    let raw = app
        .store
        .raw_event(raw_event_id)
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?
        .filter(|r| r.integration_id == integration.id)
        .ok_or_else(|| Failure::GiveUp(format!("raw event {raw_event_id} is no longer kept")))?;
    let body = app
        .store
        .raw_body(raw_event_id)
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?
        .ok_or_else(|| Failure::GiveUp(format!("raw event {raw_event_id} has no body kept")))?;
    forward::relay(
        &app.http,
        app.url_policy,
        url,
        raw.content_type.as_deref(),
        body,
    )
    .await
    .map_err(failure)?;
    tracing::info!(integration_id = %integration.id, raw_event_id, "body relayed");
    release_set_aside(app, integration).await;
    Ok(())
}

/// Passing trouble (no answer, 408, 429, 5xx) is retried on the worker's schedule, then
/// parked; a refusal (any other 4xx, a redirect, an address the rules refuse) is parked at
/// once, with the reason in the integration's health.
fn failure(e: CallError) -> Failure {
    match e {
        CallError::RateLimited(m) | CallError::Unavailable(m) | CallError::TimedOut(m) => {
            Failure::Retry(m)
        }
        CallError::NotFound(m) | CallError::Refused(m) | CallError::Unauthorized(m) => {
            Failure::GiveUp(m)
        }
    }
}

/// Relays whose queueing failed go to the queue now that relaying works again: a page of the
/// integration's set-aside jobs, the relays among them (jobs waiting for a CRM connection stay).
async fn release_set_aside(app: &App, integration: &Integration) {
    let Ok(waiting) = app.store.waiting_jobs(&integration.id, 20).await else {
        return;
    };
    for parked in waiting {
        let is_relay =
            Job::from_body(&parked.body).is_ok_and(|job| matches!(job.task, Task::Forward { .. }));
        if !is_relay {
            continue;
        }
        let Some(queue) = app.queue.as_deref() else {
            return;
        };
        // Sent before it is forgotten: a failure half-way sends it twice, never loses it.
        if queue.send(&parked.body, Duration::ZERO).await.is_err()
            || app.store.forget_waiting(&parked).await.is_err()
        {
            return;
        }
        tracing::info!(integration_id = %integration.id, "set-aside relay queued again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passing_trouble_is_retried_and_refusals_are_given_up() {
        for e in [
            CallError::RateLimited("429".into()),
            CallError::Unavailable("500".into()),
            CallError::TimedOut("408".into()),
        ] {
            assert!(matches!(failure(e), Failure::Retry(_)));
        }
        for e in [
            CallError::Refused("400".into()),
            CallError::NotFound("404".into()),
            CallError::Unauthorized("401".into()),
        ] {
            assert!(matches!(failure(e), Failure::GiveUp(_)));
        }
    }
}
