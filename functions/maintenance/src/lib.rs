//! Scheduled upkeep, run hourly (a SAM schedule on AWS, a timer in `chatsource serve`).
//!
//! - CRM refresh tokens die unused: amoCRM's after three months, Bitrix24's after 28 days by
//!   the older docs (180 by the newer; the shorter is the safe bound). Each run refreshes the
//!   connections whose tokens are older than [`refresh_after`] their provider, under the same
//!   lease as the workers' refreshes. Busy connections refresh on their own and never qualify.
//! - Bitrix24 never sends a failed event again: each connected, switched-on Bitrix24
//!   integration is reconciled (`shared::crm::reconcile`), so a lead whose event was lost becomes
//!   an appeal within the hour.
//! - Accounts that switched on the Metrika upload send their new chats to Yandex Metrika as
//!   offline conversions ([`metrika`]).

pub mod metrika;

use chrono::Utc;
use futures::StreamExt;
use serde::Serialize;
use shared::app::App;
use shared::app::{ingest, jobs};
use shared::crm::bitrix24::{ReconcileError, Run};
use shared::crm::{self, Deadline, Session, SessionError};
use shared::domain::appeal::Provider;
use shared::domain::integration::Integration;
use shared::domain::oauth::{Connection, Refresh, TokenError, Tokens};
use std::time::Duration;

const DAY: u64 = 24 * 3600;

/// How old a connection's tokens may get before a run refreshes them: well inside the
/// provider's lifetime, and rare enough never to bother it.
pub fn refresh_after(provider: Provider) -> Duration {
    match provider {
        Provider::Bitrix24 => Duration::from_secs(14 * DAY),
        _ => Duration::from_secs(30 * DAY),
    }
}

/// Portals reconciled at once: each is paced at its own 2 requests/s.
const RECONCILE_AT_ONCE: usize = 4;

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    pub refreshed: usize,
    pub needs_reauth: usize,
    pub failed: usize,
    /// Integrations reconciled, and the entities they queued.
    pub reconciled: usize,
    pub queued: usize,
    /// Jobs that waited for a connection that is connected now, sent back to the queue.
    pub released: usize,
    /// Webhooks whose handling was cut off half-way (a process killed), finished now.
    pub finished: usize,
    /// Accounts whose new chats Metrika accepted, and how many conversions they were.
    pub metrika_uploads: usize,
    pub metrika_conversions: usize,
    /// Accounts whose backfill (counting and indexing the appeals made before reports
    /// existed) was started.
    pub backfills: usize,
}

/// The template's maintenance timeout.
pub const INVOCATION: Duration = Duration::from_secs(300);

/// One run, to be done by `deadline` (the invocation's, on Lambda), less a few seconds to
/// report.
pub async fn run(app: &App, deadline: Deadline) -> Report {
    let deadline = deadline.sooner_by(Duration::from_secs(5));
    let mut report = Report::default();
    finish_abandoned(app, deadline, &mut report).await;
    match shared::app::runs::backfill_all(app, chrono::Utc::now()).await {
        Ok(started) => report.backfills = started,
        Err(e) => {
            tracing::error!(error = %e, "could not start the backfills; the next run retries");
            report.failed += 1;
        }
    }
    let uploads = metrika::upload_all(app, deadline).await;
    report.metrika_uploads = uploads.uploaded;
    report.metrika_conversions = uploads.conversions;
    report.failed += uploads.failed;
    let connections = match app.store.connections().await {
        Ok(all) => all,
        Err(e) => {
            tracing::error!(error = %e, "could not list the connections");
            report.failed += 1;
            return report;
        }
    };
    let mut to_reconcile = Vec::new();
    for tokens in &connections {
        let Ok(Some(integration)) = app.integration(tokens.integration_id.as_str()).await else {
            continue;
        };
        match refresh(app, &integration, tokens, deadline).await {
            Ok(true) => report.refreshed += 1,
            Ok(false) | Err(SessionError::Token(TokenError::NotConnected)) => {}
            Err(SessionError::Token(TokenError::NeedsReauth(_))) => report.needs_reauth += 1,
            Err(e) => {
                tracing::warn!(integration_id = %integration.id, error = %e, "a token refresh failed; the next run retries");
                report.failed += 1;
            }
        }
        // Jobs parked just as the user reconnected, or whose release was cut short, wait no
        // longer than this run.
        if tokens.state == Connection::Connected {
            let more_time = || deadline.remaining() > Duration::from_secs(10);
            match jobs::release_waiting(app, &integration.id, more_time).await {
                Ok((released, _)) => report.released += released,
                Err(e) => {
                    tracing::warn!(integration_id = %integration.id, error = %e, "releasing waiting jobs failed; the next run retries");
                    report.failed += 1;
                }
            }
        }
        if integration.provider == Provider::Bitrix24
            && integration.active
            && tokens.state == Connection::Connected
        {
            to_reconcile.push(integration);
        }
    }
    // Owned items: a stream of borrows would not be `Send` for every lifetime `spawn` asks.
    let results: Vec<_> = futures::stream::iter(to_reconcile)
        .map(|integration| async move {
            let session = Session::new(app, &integration, deadline);
            let result = crm::bitrix24::reconcile(&session, Run::Scheduled, Utc::now()).await;
            (integration, result)
        })
        .buffer_unordered(RECONCILE_AT_ONCE)
        .collect()
        .await;
    for (integration, result) in results {
        match result {
            Ok(done) => {
                report.reconciled += 1;
                report.queued += done.queued;
            }
            Err(ReconcileError::NotReconciled) => {}
            Err(e) => {
                tracing::warn!(integration_id = %integration.id, error = %e, "reconciliation failed; the next run retries");
                report.failed += 1;
            }
        }
    }
    tracing::info!(
        refreshed = report.refreshed,
        needs_reauth = report.needs_reauth,
        reconciled = report.reconciled,
        queued = report.queued,
        failed = report.failed,
        "maintenance done"
    );
    report
}

/// Every account's webhooks whose handling never finished (kept, then the process died) are
/// handled now: a provider that never sends again (Bitrix24) loses nothing to a crash.
async fn finish_abandoned(app: &App, deadline: Deadline, report: &mut Report) {
    let before =
        Utc::now() - chrono::Duration::from_std(ingest::ABANDONED_AFTER).unwrap_or_default();
    let accounts = match app.store.accounts().await {
        Ok(accounts) => accounts,
        Err(e) => {
            tracing::error!(error = %e, "could not list the accounts");
            report.failed += 1;
            return;
        }
    };
    let more_time = || deadline.remaining() > Duration::from_secs(30);
    for account in accounts {
        match ingest::finish_abandoned(app, &account.id, before, more_time).await {
            Ok(n) => report.finished += n,
            Err(e) => {
                tracing::warn!(account_id = %account.id, error = %e, "finishing abandoned webhooks failed; the next run retries");
                report.failed += 1;
            }
        }
    }
}

/// Refreshes the connection's tokens if they are old, through the integration's session (the
/// account's pace, the lease every refresh takes); whether it did.
async fn refresh(
    app: &App,
    integration: &Integration,
    tokens: &Tokens,
    deadline: Deadline,
) -> Result<bool, SessionError> {
    let age = refresh_after(integration.provider);
    if !tokens.wants_refresh(Refresh::IfOlderThan(age), Utc::now()) {
        return Ok(false);
    }
    Session::new(app, integration, deadline)
        .token(Refresh::IfOlderThan(age))
        .await
        .map(|_| true)
}
