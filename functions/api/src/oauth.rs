//! Connecting a CRM (amoCRM, Bitrix24): the authorize URL (a signed, single-use `state`
//! inside), the callback that exchanges the code (`GET /oauth/{provider}/callback`, no API key:
//! the state says who asked), and reads the settings page needs (amoCRM's custom fields, to
//! pick the session field).

use crate::call::Call;
use crate::resources;
use chrono::Utc;
use http::{Response, StatusCode, header};
use serde_json::{Value, json};
use shared::app::App;
use shared::crm::{self, Deadline, Session};
use shared::domain::appeal::Provider;
use shared::domain::integration::{AmocrmSettings, Bitrix24Settings, Integration};
use shared::edge::web::{self, ApiError, HttpResponse};
use shared::store::StateError;

/// Our callback for a provider; the user registers it in the CRM's integration settings.
pub fn redirect_uri(call: &Call<'_>, provider: Provider) -> String {
    format!("{}/oauth/{provider}/callback", call.base_url)
}

/// `POST /api/integrations/{id}/oauth/start`
pub async fn start(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    let integration: Integration = resources::get(call, id).await?;
    if let Some(settings) = &integration.bitrix24 {
        return start_bitrix24(call, &integration, settings).await;
    }
    let settings = amocrm(&integration)?;
    if settings.client_id.is_none() || settings.client_secret.is_none() {
        return Err(ApiError::bad_request(
            "Set amocrm.client_id and amocrm.client_secret (from the integration made in amoCRM) first.",
        ));
    }
    // Token requests must repeat the redirect URI the authorization used.
    let redirect = redirect_uri(call, integration.provider);
    let integration = if settings.redirect_uri.as_deref() == Some(redirect.as_str()) {
        integration
    } else {
        let redirect = redirect.clone();
        let key = shared::store::keys::entity("INTEGRATION", integration.id.as_str());
        let saved = call
            .app
            .store
            .update_record(&key, |current: Option<Integration>| {
                let result = current
                    .map(|mut i| {
                        if let Some(a) = i.amocrm.as_mut() {
                            a.redirect_uri = Some(redirect.clone());
                        }
                        i
                    })
                    .ok_or_else(|| ApiError::not_found("No such integration."));
                std::future::ready(result)
            })
            .await?;
        call.app.forget(&call.account.id);
        saved
    };
    let state = call
        .app
        .store
        .issue_oauth_state(&integration.id, call.now)
        .await?;
    let authorize_url = crm::amocrm::authorize_url(amocrm(&integration)?, &state)
        .ok_or_else(|| ApiError::bad_request("amocrm.base_url is not a URL."))?;
    Ok(json!({"authorize_url": authorize_url, "redirect_uri": redirect}))
}

/// Bitrix24 sends the user back to the handler URL of its local application (our callback):
/// the authorize URL carries no redirect of its own.
async fn start_bitrix24(
    call: &Call<'_>,
    integration: &Integration,
    settings: &Bitrix24Settings,
) -> Result<Value, ApiError> {
    if settings.client_id.is_none() || settings.client_secret.is_none() {
        return Err(ApiError::bad_request(
            "Set bitrix24.client_id and bitrix24.client_secret (from the local application made in Bitrix24) first.",
        ));
    }
    let state = call
        .app
        .store
        .issue_oauth_state(&integration.id, call.now)
        .await?;
    let authorize_url = crm::bitrix24::authorize_url(settings, &state)
        .ok_or_else(|| ApiError::bad_request("bitrix24.portal_url is not a URL."))?;
    Ok(json!({
        "authorize_url": authorize_url,
        "redirect_uri": redirect_uri(call, integration.provider),
    }))
}

/// `GET /oauth/{provider}/callback?code=...&state=...`: the CRM sends the user's browser here.
/// A browser signed in to the console of the integration's account (the one that pressed
/// Connect: the session cookie is Lax, so it comes along on this top-level navigation) goes
/// back to the integration's page; anyone else (an administrator given the link) reads a
/// small page saying it is done.
pub async fn callback(
    app: &App,
    provider: &str,
    query: Option<&str>,
    headers: &http::HeaderMap,
    deadline: Deadline,
) -> HttpResponse {
    let integration = match connect(app, provider, query, deadline).await {
        Ok(integration) => integration,
        Err(e) => return page(e.status, &e.message),
    };
    let console = crate::console::signed_in_account(app, headers).await;
    if console.as_ref() == Some(&integration.account_id) {
        return crate::console::redirect(&format!(
            "/integrations/{}?done=connected",
            integration.id.as_str()
        ));
    }
    page(
        StatusCode::OK,
        &format!(
            "«{}» is connected. You can close this window.",
            integration.name
        ),
    )
}

async fn connect(
    app: &App,
    provider: &str,
    query: Option<&str>,
    deadline: Deadline,
) -> Result<Integration, ApiError> {
    let provider = match Provider::parse(provider) {
        Some(p @ (Provider::Amocrm | Provider::Bitrix24)) => p,
        _ => return Err(ApiError::not_found(format!("No OAuth for `{provider}`."))),
    };
    if let Some(error) = web::query_param(query, "error") {
        return Err(ApiError::bad_request(format!(
            "{} did not grant access ({error}); nothing changed.",
            provider.title()
        )));
    }
    let (Some(code), Some(state)) = (
        web::query_param(query, "code"),
        web::query_param(query, "state"),
    ) else {
        return Err(ApiError::bad_request(
            "The callback needs `code` and `state`.",
        ));
    };
    let integration_id = match app.store.consume_oauth_state(&state, Utc::now()).await? {
        Ok(id) => id,
        Err(e @ (StateError::Invalid | StateError::Spent)) => {
            return Err(ApiError::bad_request(format!("{e}.")));
        }
    };
    let integration = app
        .store
        .entity::<Integration>(integration_id.as_str())
        .await?
        .filter(|i| i.provider == provider)
        .ok_or_else(|| ApiError::not_found("The integration was deleted."))?;
    // The code lives seconds (Bitrix24) to minutes (amoCRM): exchanged at once, and the pair
    // stored before anything else.
    let session = Session::new(app, &integration, deadline);
    let connected = match provider {
        Provider::Bitrix24 => crm::bitrix24::connect(&session, &code, Utc::now()).await,
        _ => crm::amocrm::connect(&session, &code, Utc::now()).await,
    };
    connected.map_err(|e| ApiError::connect(provider, "connecting", e))?;
    Ok(integration)
}

/// `GET /api/integrations/{id}/amocrm/fields`: the account's lead and contact custom fields,
/// to choose the one our site script fills with the session id.
pub async fn amocrm_fields(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    let integration: Integration = resources::get(call, id).await?;
    let crm_account = amocrm(&integration)?.pace_key();
    fields(call, &integration, &crm_account, |session| async move {
        crm::amocrm::fields(&session).await.map(to_values)
    })
    .await
}

/// `GET /api/integrations/{id}/bitrix24/fields`: the portal's lead (or deal) user fields, to
/// choose the one the site fills with the session id.
pub async fn bitrix24_fields(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    let integration: Integration = resources::get(call, id).await?;
    let Some(settings) = &integration.bitrix24 else {
        return Err(ApiError::bad_request(
            "Only Bitrix24 integrations have a portal's user fields.",
        ));
    };
    let crm_account = settings.pace_key();
    fields(call, &integration, &crm_account, |session| async move {
        crm::bitrix24::fields(&session).await.map(to_values)
    })
    .await
}

/// A CRM's field list: as read within the last minutes (`?fresh=true` reads it again), else
/// read now and kept. `{"items": [...], "read_at": time}`.
async fn fields<'a, F, Fut>(
    call: &'a Call<'_>,
    integration: &'a Integration,
    crm_account: &str,
    read: F,
) -> Result<Value, ApiError>
where
    F: FnOnce(Session<'a>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Value>, crm::SessionError>>,
{
    let fresh = call.param("fresh").is_some_and(|f| f == "true" || f == "1");
    let store = &call.app.store;
    if !fresh
        && let Some((items, read_at)) = store
            .crm_fields(&integration.id, crm_account, call.now)
            .await?
    {
        return Ok(json!({ "items": items, "read_at": read_at }));
    }
    let session = Session::new(call.app, integration, call.deadline);
    let items = read(session)
        .await
        .map_err(|e| ApiError::crm(integration.provider, "reading the fields", e))?;
    // Not keeping the list costs a read next time, not this answer.
    if let Err(e) = store
        .keep_crm_fields(&integration.id, crm_account, items.clone(), call.now)
        .await
    {
        tracing::warn!(error = %e, "could not keep the CRM's field list");
    }
    Ok(json!({ "items": items, "read_at": call.now }))
}

fn to_values<T: serde::Serialize>(fields: Vec<T>) -> Vec<Value> {
    fields
        .iter()
        .filter_map(|f| serde_json::to_value(f).ok())
        .collect()
}

fn amocrm(integration: &Integration) -> Result<&AmocrmSettings, ApiError> {
    integration.amocrm.as_ref().ok_or_else(|| {
        ApiError::bad_request("Only amoCRM and Bitrix24 integrations connect over OAuth.")
    })
}

/// The callback answers a person's browser: a small page, not JSON.
fn page(status: StatusCode, message: &str) -> HttpResponse {
    let escaped = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>chatsource</title></head>\
         <body><p>{escaped}</p></body></html>"
    );
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(body)
        .unwrap_or_default()
}
