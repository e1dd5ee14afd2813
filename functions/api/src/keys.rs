//! An account's API keys: named, each with its last use; a new one is shown once; revoking one
//! stops it and the console sessions it opened at once.

use crate::call::Call;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::domain::account::ApiKey;
use shared::edge::web::ApiError;

/// A key as the API and the console show it: never the key itself.
pub fn view(key: &ApiKey) -> Value {
    json!({
        "id": key.id(),
        "name": key.name,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    })
}

/// `GET /api/keys`
pub async fn list(call: &Call<'_>) -> Result<Value, ApiError> {
    let keys = call.app.store.keys(&call.account.id).await?;
    Ok(json!({"items": keys.iter().map(view).collect::<Vec<_>>()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
}

/// `POST /api/keys {"name": "..."}`: the new key, in clear this once.
pub async fn create(call: &Call<'_>) -> Result<Value, ApiError> {
    let input: NewKey = crate::call::parse(Value::Object(call.object()?))?;
    let name = crate::resources::name(&input.name, "key")?;
    let (record, key) = call
        .app
        .store
        .create_key(&call.account.id, &name, call.now)
        .await?;
    let mut answer = view(&record);
    answer["key"] = json!(key);
    Ok(answer)
}

/// `DELETE /api/keys/{id}`: the last live key is kept, so the account is never locked out.
pub async fn revoke(call: &Call<'_>, id: &str) -> Result<(), ApiError> {
    let keys = call.app.store.keys(&call.account.id).await?;
    let live: Vec<&ApiKey> = keys.iter().filter(|k| k.is_live()).collect();
    if !keys.iter().any(|k| k.id() == id) {
        return Err(ApiError::not_found(format!("No key {id}.")));
    }
    if live.len() == 1 && live[0].id() == id {
        return Err(ApiError::last_key());
    }
    call.app
        .store
        .revoke_key(&call.account.id, id, call.now)
        .await?
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found(format!("No key {id}.")))
}
