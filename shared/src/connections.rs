//! Connecting a CRM: the grant stored, the CRM account learned (its hooks must name it), and
//! the jobs that waited for the connection sent back to the queue.

use crate::app::App;
use crate::clients::CallError;
use crate::clients::amocrm::{Amocrm, REQUESTS_PER_SECOND};
use crate::integration::Integration;
use crate::oauth::{Grant, Tokens};
use crate::store::StoreError;
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stores an amoCRM grant (from the OAuth callback, or a long-lived token) and makes the
/// integration whole: its account id, and its waiting jobs released. Returns the integration
/// as saved.
pub async fn connect_amocrm(
    app: &App,
    integration: &Integration,
    grant: Grant,
    now: DateTime<Utc>,
) -> Result<Integration, ConnectError> {
    let settings = integration
        .amocrm
        .as_ref()
        .ok_or_else(|| CallError::Refused("not an amoCRM integration".into()))?;
    let client = Amocrm {
        http: &app.http,
        settings,
    };
    // The account the token opens: its hooks must name it from now on.
    app.store
        .take_turn(&settings.rate_key(), REQUESTS_PER_SECOND)
        .await?;
    let account = client.get(&grant.access_token, "account").await?;
    let account_id = account["id"].as_u64();
    let tokens = Tokens::connected(
        integration.id.clone(),
        integration.account_id.clone(),
        grant,
        now,
    );
    app.store.connect(&tokens).await?;
    let saved = app
        .store
        .update_record(
            &crate::store::keys::entity("INTEGRATION", integration.id.as_str()),
            |current: Option<Integration>| {
                let result = current
                    .map(|mut i| {
                        if let Some(a) = i.amocrm.as_mut() {
                            a.account_id = account_id.or(a.account_id);
                        }
                        i
                    })
                    .ok_or(StoreError::ConditionFailed);
                std::future::ready(result)
            },
        )
        .await?;
    app.forget(&integration.account_id);
    release_waiting(app, &saved).await?;
    tracing::info!(integration_id = %integration.id, "amoCRM connected");
    Ok(saved)
}

/// Sends the jobs that waited for this integration's connection back to the queue.
pub async fn release_waiting(app: &App, integration: &Integration) -> Result<usize, StoreError> {
    let Some(queue) = app.queue.as_deref() else {
        return Ok(0);
    };
    let released = app.store.release_waiting(&integration.id, queue).await?;
    if released > 0 {
        tracing::info!(integration_id = %integration.id, released, "waiting jobs released");
    }
    Ok(released)
}
