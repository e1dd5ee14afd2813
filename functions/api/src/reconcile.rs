//! Reconciliation on demand (the scheduled run does the same every hour), and the CRM entities
//! that were read and found to be no chat.

use crate::call::Call;
use crate::resources;
use serde_json::{Value, json};
use shared::crm::{self, Session};
use shared::domain::integration::Integration;
use shared::edge::web::ApiError;

/// `POST /api/integrations/{id}/reconcile`: lists what the CRM created since the watermark and
/// queues what never reached us; answers how many.
pub async fn run(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    let integration: Integration = resources::get(call, id).await?;
    let session = Session::new(call.app, &integration, call.deadline);
    crm::bitrix24::reconcile(&session, call.now)
        .await
        .map(|report| json!(report))
        .map_err(|e| ApiError::reconcile(integration.provider, e))
}

/// `GET /api/integrations/{id}/skipped`: the latest entities that became no appeal, and why.
pub async fn skipped(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    let integration: Integration = resources::get(call, id).await?;
    let limit = call
        .param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, 200);
    let items = call
        .app
        .store
        .skipped_entities(&integration.id, limit)
        .await?;
    Ok(json!({ "items": items }))
}
