//! Connecting a CRM: the authorize URL (a signed, single-use `state` inside), the callback that
//! exchanges the code (`GET /oauth/{provider}/callback`, no API key: the state says who asked),
//! and reads the settings page needs (amoCRM's custom fields, to pick the session field).

use crate::call::Call;
use crate::resources;
use chrono::Utc;
use http::{Response, StatusCode, header};
use serde_json::{Value, json};
use shared::app::App;
use shared::appeal::Provider;
use shared::clients::CallError;
use shared::clients::amocrm::{Amocrm, REQUESTS_PER_SECOND};
use shared::connections;
use shared::integration::{AmocrmSettings, Integration};
use shared::oauth::{Refresh, TokenError};
use shared::store::StateError;
use shared::web::{self, ApiError, HttpResponse};

/// Our callback for a provider; the user registers it in the CRM's integration settings.
pub fn redirect_uri(call: &Call<'_>, provider: Provider) -> String {
    format!("{}/oauth/{provider}/callback", call.base_url)
}

/// `POST /api/integrations/{id}/oauth/start`
pub async fn start(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    let integration: Integration = resources::get(call, id).await?;
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
    if provider != "amocrm" {
        return Err(ApiError::not_found(format!("No OAuth for `{provider}`.")));
    }
    if let Some(error) = web::query_param(query, "error") {
        return Err(ApiError::bad_request(format!(
            "amoCRM did not grant access ({error}); nothing changed."
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
    let now = Utc::now();
    let integration_id = match app.store.consume_oauth_state(&state, now).await? {
        Ok(id) => id,
        Err(e @ (StateError::Invalid | StateError::Spent)) => {
            return Err(ApiError::bad_request(format!("{e}.")));
        }
    };
    let integration: Integration = app
        .store
        .entity(integration_id.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("The integration was deleted."))?;
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
    .map_err(|e| provider_error("exchanging the code", e))?;
    connections::connect_amocrm(app, &integration, grant, now)
        .await
        .map_err(|e| match e {
            connections::ConnectError::Call(e) => provider_error("reading the account", e),
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

/// One read with the connection's token: a refused token is refreshed once.
async fn get(
    call: &Call<'_>,
    integration: &Integration,
    client: &Amocrm<'_>,
    path: &str,
) -> Result<Value, ApiError> {
    let store = &call.app.store;
    let key = client.settings.rate_key();
    let turn = || store.take_turn(&key, REQUESTS_PER_SECOND);
    let token = store
        .access_token(&integration.id, client, Refresh::IfExpiring, Utc::now)
        .await
        .map_err(token_error)?;
    turn().await?;
    match client.get(&token, path).await {
        Err(CallError::Unauthorized(_)) => {
            let fresh = store
                .access_token(&integration.id, client, Refresh::Refused(&token), Utc::now)
                .await
                .map_err(token_error)?;
            turn().await?;
            client
                .get(&fresh, path)
                .await
                .map_err(|e| provider_error("reading the fields", e))
        }
        other => other.map_err(|e| provider_error("reading the fields", e)),
    }
}

fn amocrm(integration: &Integration) -> Result<&AmocrmSettings, ApiError> {
    integration
        .amocrm
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("Only amoCRM integrations connect over OAuth here."))
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
pub fn provider_error(doing: &str, e: CallError) -> ApiError {
    match e {
        CallError::Unauthorized(m) | CallError::Refused(m) | CallError::NotFound(m) => {
            ApiError::bad_request(format!("amoCRM refused {doing}: {m}."))
        }
        CallError::RateLimited(m) | CallError::Unavailable(m) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "provider_unavailable",
            format!("amoCRM failed {doing}: {m}."),
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
