//! `POST /api/accounts`: creating a tenant and its first API key, with the admin key.

use crate::call::parse;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::app::App;
use shared::domain::ids::AccountId;
use shared::edge::web::ApiError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    name: String,
}

pub async fn create(app: &App, admin_key: Option<&str>, body: &[u8]) -> Result<Value, ApiError> {
    let Some(expected) = &app.admin_key else {
        return Err(ApiError::not_found("No such path."));
    };
    if !admin_key.is_some_and(|k| expected.verify(k)) {
        return Err(ApiError::unauthorized());
    }
    let input: NewAccount = parse(
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("The body is not valid JSON: {e}.")))?,
    )?;
    let name = crate::resources::name(&input.name, "account")?;
    let (account, api_key) = app
        .store
        .create_account(AccountId::generate(), &name, None, chrono::Utc::now())
        .await?;
    tracing::info!(account_id = %account.id, "account created");
    Ok(json!({"account": account, "api_key": api_key}))
}
