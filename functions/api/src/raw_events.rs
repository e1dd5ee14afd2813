//! Raw events: the quarantine, one event with its body, and replay.

use crate::call::Call;
use crate::resources;
use base64::Engine;
use serde_json::{Value, json};
use shared::app::ingest;
use shared::domain::integration::Integration;
use shared::domain::raw_event::{RawEvent, RawStatus};
use shared::edge::web::ApiError;
use shared::store::{cursor, keys};

/// `GET /api/raw-events?status=quarantined` (the default), `?status=received` (kept, handling
/// not finished: the hourly run finishes those older than five minutes), or
/// `?integration_id=...`.
pub async fn list(call: &Call<'_>) -> Result<Value, ApiError> {
    let limit = call.limit(50)?;
    let (partition, integration) = match call.param("integration_id") {
        Some(id) => {
            let integration: Integration = resources::get(call, &id).await?;
            (keys::raws(integration.id.as_str()), Some(integration.id))
        }
        None => match call.param("status").as_deref() {
            None | Some("quarantined") => (keys::quarantine(call.account.id.as_str()), None),
            Some("received") => (keys::unfinished(call.account.id.as_str()), None),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "status={other}: list quarantined or received events, or all events of one integration_id."
                )));
            }
        },
    };
    let after = call.cursor(&partition)?;
    let (items, next) = match &integration {
        Some(id) => {
            call.app
                .store
                .integration_raw_events(id, limit, after)
                .await?
        }
        None if partition.starts_with("UNFINISHED#") => {
            call.app
                .store
                .unfinished(&call.account.id, limit, after)
                .await?
        }
        None => {
            call.app
                .store
                .quarantined(&call.account.id, limit, after)
                .await?
        }
    };
    Ok(json!({"items": items, "next_cursor": next.as_ref().map(cursor::encode)}))
}

pub async fn get(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    let event = owned(call, id).await?;
    let body = call.app.store.raw_body(id).await?.unwrap_or_default();
    let mut view = serde_json::to_value(&event).unwrap_or_default();
    if let Some(map) = view.as_object_mut() {
        match String::from_utf8(body) {
            Ok(text) => map.insert("body".into(), json!(text)),
            Err(e) => map.insert(
                "body_base64".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(e.as_bytes())),
            ),
        };
    }
    Ok(view)
}

/// Handles a kept event again with the integration's current settings (after a fix, or a
/// settings change); idempotent like a provider's retry.
pub async fn replay(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    let event = owned(call, id).await?;
    let integration: Integration = resources::get(call, event.integration_id.as_str()).await?;
    let body = call.app.store.raw_body(id).await?.unwrap_or_default();
    let receipt = match ingest::replay(call.app, &integration, event, &body, call.now).await {
        Ok(r) => json!({"status": r.status, "reason": r.reason, "appeal_ids": r.appeal_ids}),
        Err(ingest::IngestError::Unreadable { reason, .. }) => {
            json!({"status": RawStatus::Quarantined, "reason": reason, "appeal_ids": []})
        }
        Err(e) => return Err(e.into()),
    };
    Ok(receipt)
}

async fn owned(call: &Call<'_>, id: &str) -> Result<RawEvent, ApiError> {
    call.app
        .store
        .raw_event(id)
        .await?
        .filter(|e| e.account_id == call.account.id)
        .ok_or_else(|| ApiError::not_found(format!("No raw event {id}.")))
}
