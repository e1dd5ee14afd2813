//! Connecting a CRM: the grant stored, the CRM account learned (its hooks must name it), and
//! the jobs that waited for the connection sent back to the queue; and calling it with the
//! connection's token ([`with_token`]).

use crate::app::App;
use crate::clients::CallError;
use crate::clients::amocrm::{Amocrm, REQUESTS_PER_SECOND};
use crate::clients::bitrix24::Connected;
use crate::domain::integration::Integration;
use crate::domain::oauth::{Grant, Refresh, Refresher, TokenError, Tokens};
use crate::domain::secret::Secret;
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
    connected(app, integration, grant, now, |i| {
        if let Some(a) = i.amocrm.as_mut() {
            a.account_id = account_id.or(a.account_id);
        }
    })
    .await
}

/// Stores a Bitrix24 grant (from the OAuth callback) with the portal it names: its events
/// must carry that member id and domain from now on. Returns the integration as saved.
pub async fn connect_bitrix24(
    app: &App,
    integration: &Integration,
    portal: Connected,
    now: DateTime<Utc>,
) -> Result<Integration, ConnectError> {
    if integration.bitrix24.is_none() {
        return Err(CallError::Refused("not a Bitrix24 integration".into()).into());
    }
    let Connected {
        grant,
        member_id,
        domain,
    } = portal;
    connected(app, integration, grant, now, |i| {
        if let Some(b) = i.bitrix24.as_mut() {
            b.member_id = member_id.clone().or(b.member_id.take());
            b.domain = domain
                .as_ref()
                .map(|d| d.to_ascii_lowercase())
                .or(b.domain.take());
        }
    })
    .await
}

/// The end of every connection: the grant stored (before anything uses it), what was learned
/// of the CRM account written into the integration, and the jobs that waited sent back.
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
    app.forget(&integration.account_id);
    release_waiting(app, &saved).await?;
    tracing::info!(integration_id = %integration.id, provider = %integration.provider, "connected");
    Ok(saved)
}

/// A provider call made with a connection's token that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectedError {
    /// The provider failed or refused the call itself.
    #[error(transparent)]
    Call(CallError),
    /// There is no token to call with: not connected, refused for good (the user must connect
    /// again), or its refresh cannot happen now.
    #[error(transparent)]
    Token(TokenError),
}

/// Makes `call` with the connection's access token, refreshed first when it is about to
/// expire. A refused token (401) is refreshed once, unless another worker already did, and
/// the call repeated; refused again, the connection needs the user.
pub async fn with_token<T, Fut>(
    app: &App,
    integration: &Integration,
    refresher: &dyn Refresher,
    call: impl Fn(Secret) -> Fut,
) -> Result<T, ConnectedError>
where
    Fut: Future<Output = Result<T, CallError>>,
{
    let token = |when| {
        app.store
            .access_token(&integration.id, refresher, when, Utc::now)
    };
    let first = token(Refresh::IfExpiring)
        .await
        .map_err(ConnectedError::Token)?;
    let refused = match call(first.clone()).await {
        Err(CallError::Unauthorized(_)) => first,
        other => return other.map_err(ConnectedError::Call),
    };
    let fresh = token(Refresh::Refused(&refused))
        .await
        .map_err(ConnectedError::Token)?;
    match call(fresh).await {
        Err(CallError::Unauthorized(reason)) => {
            let reason = format!(
                "{} refused a fresh token: {reason}",
                integration.provider.title()
            );
            // Kept even if this write fails: the next call finds out the same way.
            let _ = app
                .store
                .needs_reauth(&integration.id, &reason, Utc::now())
                .await;
            Err(ConnectedError::Token(TokenError::NeedsReauth(reason)))
        }
        other => other.map_err(ConnectedError::Call),
    }
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
