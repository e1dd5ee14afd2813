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
use shared::clients::CallError;
use shared::clients::amocrm::{Amocrm, REQUESTS_PER_SECOND};
use shared::clients::bitrix24::Bitrix24;
use shared::crm::connections::{self, ConnectedError, with_token};
use shared::domain::appeal::Provider;
use shared::domain::integration::{AmocrmSettings, Bitrix24Settings, Integration};
use shared::domain::oauth::TokenError;
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
    let client = Amocrm {
        http: &call.app.http,
        settings: amocrm(&integration)?,
    };
    let authorize_url = client
        .authorize_url(&state)
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
    let authorize_url = Bitrix24 {
        http: &call.app.http,
        settings,
    }
    .authorize_url(&state)
    .ok_or_else(|| ApiError::bad_request("bitrix24.portal_url is not a URL."))?;
    Ok(json!({
        "authorize_url": authorize_url,
        "redirect_uri": redirect_uri(call, integration.provider),
    }))
}

/// `GET /oauth/{provider}/callback?code=...&state=...`: the CRM sends the user's browser here.
pub async fn callback(app: &App, provider: &str, query: Option<&str>) -> HttpResponse {
    match connect(app, provider, query).await {
        Ok(name) => page(
            StatusCode::OK,
            &format!("«{name}» is connected. You can close this window."),
        ),
        Err(e) => page(e.status, &e.message),
    }
}

async fn connect(app: &App, provider: &str, query: Option<&str>) -> Result<String, ApiError> {
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
    let now = Utc::now();
    if let Some(settings) = &integration.bitrix24 {
        // The code lives 30 seconds: exchanged first, the pair stored before anything else.
        let connected = Bitrix24 {
            http: &app.http,
            settings,
        }
        .exchange_code(&code)
        .await
        .map_err(|e| provider_error(provider, "exchanging the code", e))?;
        connections::connect_bitrix24(app, &integration, connected, now)
            .await
            .map_err(|e| match e {
                connections::ConnectError::Call(e) => provider_error(provider, "connecting", e),
                connections::ConnectError::Store(e) => e.into(),
            })?;
        return Ok(integration.name);
    }
    let settings = amocrm(&integration)?;
    // The code lives minutes: exchange it now, and store the pair before anything else.
    app.store
        .take_turn(&settings.rate_key(), REQUESTS_PER_SECOND)
        .await?;
    let grant = Amocrm {
        http: &app.http,
        settings,
    }
    .exchange_code(&code)
    .await
    .map_err(|e| provider_error(provider, "exchanging the code", e))?;
    connections::connect_amocrm(app, &integration, grant, now)
        .await
        .map_err(|e| match e {
            connections::ConnectError::Call(e) => {
                provider_error(provider, "reading the account", e)
            }
            connections::ConnectError::Store(e) => e.into(),
        })?;
    Ok(integration.name)
}

/// `GET /api/integrations/{id}/amocrm/fields`: the account's lead and contact custom fields,
/// to choose the one our site script fills with the session id.
pub async fn amocrm_fields(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    let integration: Integration = resources::get(call, id).await?;
    let settings = amocrm(&integration)?;
    let client = Amocrm {
        http: &call.app.http,
        settings,
    };
    let mut items = Vec::new();
    for (entity, kind) in [("leads", "lead"), ("contacts", "contact")] {
        let mut page = 1;
        loop {
            let body = get(
                call,
                &integration,
                &client,
                &format!("{entity}/custom_fields?limit=250&page={page}"),
            )
            .await?;
            for field in body
                .pointer("/_embedded/custom_fields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                items.push(json!({
                    "entity": kind,
                    "id": field["id"],
                    "name": field["name"],
                    "code": field["code"],
                    "type": field["type"],
                }));
            }
            if body.pointer("/_links/next/href").is_none() || page >= 50 {
                break;
            }
            page += 1;
        }
    }
    Ok(json!({ "items": items }))
}

/// One read with the connection's token, under the account's rate limit.
async fn get(
    call: &Call<'_>,
    integration: &Integration,
    client: &Amocrm<'_>,
    path: &str,
) -> Result<Value, ApiError> {
    let key = client.settings.rate_key();
    with_token(call.app, integration, client, |token| {
        let key = &key;
        async move {
            call.app
                .store
                .take_turn(key, REQUESTS_PER_SECOND)
                .await
                .map_err(|e| CallError::Unavailable(e.to_string()))?;
            client.get(&token, path).await
        }
    })
    .await
    .map_err(|e| connected_error(Provider::Amocrm, "reading the fields", e))
}

/// A call with a connection's token that failed, as the API answers it.
pub fn connected_error(provider: Provider, doing: &str, e: ConnectedError) -> ApiError {
    match e {
        ConnectedError::Token(e) => token_error(e),
        ConnectedError::Call(e) => provider_error(provider, doing, e),
    }
}

fn amocrm(integration: &Integration) -> Result<&AmocrmSettings, ApiError> {
    integration.amocrm.as_ref().ok_or_else(|| {
        ApiError::bad_request("Only amoCRM and Bitrix24 integrations connect over OAuth.")
    })
}

fn token_error(e: TokenError) -> ApiError {
    let code = match e {
        TokenError::NotConnected => "not_connected",
        TokenError::NeedsReauth(_) => "needs_reauth",
        TokenError::Unavailable(_) => {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            );
        }
    };
    ApiError::new(
        StatusCode::CONFLICT,
        code,
        format!("{e}; connect the integration (POST .../oauth/start)."),
    )
}

/// A provider's refusal is the request's fault; its absence is a bad gateway.
pub fn provider_error(provider: Provider, doing: &str, e: CallError) -> ApiError {
    let name = provider.title();
    match e {
        CallError::Unauthorized(m) | CallError::Refused(m) | CallError::NotFound(m) => {
            ApiError::bad_request(format!("{name} refused {doing}: {m}."))
        }
        CallError::RateLimited(m) | CallError::Unavailable(m) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "provider_unavailable",
            format!("{name} failed {doing}: {m}."),
        ),
    }
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
