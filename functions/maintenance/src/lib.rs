//! Scheduled upkeep, run hourly (a SAM schedule on AWS, a timer in `chatsource serve`).
//!
//! amoCRM refresh tokens die after three months unused: a connection nobody called in that
//! time would need the user again. Each run refreshes the tokens obtained more than
//! [`REFRESH_AFTER`] ago, under the same lease as the workers' refreshes.

use chrono::Utc;
use serde::Serialize;
use shared::app::App;
use shared::clients::amocrm::Amocrm;
use shared::integration::Integration;
use shared::oauth::{Refresh, TokenError};
use std::time::Duration;

/// Well inside amoCRM's three months, and rare enough never to bother the provider.
pub const REFRESH_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    pub refreshed: usize,
    pub needs_reauth: usize,
    pub failed: usize,
}

pub async fn run(app: &App) -> Report {
    let mut report = Report::default();
    let cutoff = Utc::now() - chrono::Duration::from_std(REFRESH_AFTER).unwrap_or_default();
    let stale = match app.store.tokens_obtained_before(cutoff, 200).await {
        Ok(tokens) => tokens,
        Err(e) => {
            tracing::error!(error = %e, "could not list the tokens to refresh");
            report.failed += 1;
            return report;
        }
    };
    for tokens in stale.iter().filter(|t| t.refresh_token.is_some()) {
        let Ok(Some(integration)) = app.integration(tokens.integration_id.as_str()).await else {
            continue;
        };
        match refresh(app, &integration).await {
            Ok(()) => report.refreshed += 1,
            Err(TokenError::NeedsReauth(_)) => report.needs_reauth += 1,
            Err(TokenError::NotConnected) => {}
            Err(TokenError::Unavailable(e)) => {
                tracing::warn!(integration_id = %integration.id, error = %e, "a token refresh failed; the next run retries");
                report.failed += 1;
            }
        }
    }
    tracing::info!(
        refreshed = report.refreshed,
        needs_reauth = report.needs_reauth,
        failed = report.failed,
        "maintenance done"
    );
    report
}

async fn refresh(app: &App, integration: &Integration) -> Result<(), TokenError> {
    let Some(settings) = &integration.amocrm else {
        return Ok(());
    };
    let client = Amocrm {
        http: &app.http,
        settings,
    };
    app.store
        .access_token(
            &integration.id,
            &client,
            Refresh::IfOlderThan(REFRESH_AFTER),
            Utc::now,
        )
        .await
        .map(|_| ())
}
