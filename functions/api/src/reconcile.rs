//! Reconciliation on demand (the scheduled run does the same every hour), and the CRM entities
//! that were read and found to be no chat.

use crate::call::Call;
use crate::resources;
use serde_json::{Value, json};
use shared::app::jobs;
use shared::crm::SessionError;
use shared::crm::bitrix24::ReconcileError;
use shared::domain::appeal::Provider;
use shared::domain::integration::Integration;
use shared::domain::job::Task;
use shared::domain::oauth::{Connection, TokenError};
use shared::edge::web::ApiError;

/// `POST /api/integrations/{id}/reconcile`: queues a reconciliation (what the CRM created
/// since the watermark and never reached us, and every reading that failed) and answers 202 at
/// once: a Lambda is frozen once it has answered, so the work goes through the queue. The
/// integration's `reconciliation` shows how far it has got.
pub async fn run(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    let integration: Integration = resources::get(call, id).await?;
    if integration.provider != Provider::Bitrix24 {
        return Err(ApiError::reconcile(
            integration.provider,
            ReconcileError::NotReconciled,
        ));
    }
    // Told now, not found out by a job nobody watches.
    let refusal = match call.app.store.tokens(&integration.id).await? {
        None => Some(TokenError::NotConnected),
        Some(t) => match t.state {
            Connection::Connected => None,
            Connection::NeedsReauth { reason, .. } => Some(TokenError::NeedsReauth(reason)),
        },
    };
    if let Some(refusal) = refusal {
        return Err(ApiError::crm(
            integration.provider,
            "reconciling",
            SessionError::Token(refusal),
        ));
    }
    let job = jobs::enqueue_chore(call.app, &integration, Task::Reconcile, call.now).await?;
    Ok(json!({"queued": true, "job_id": job.id}))
}

/// `GET /api/integrations/{id}/skipped`: the latest entities that became no appeal, and why.
pub async fn skipped(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    let integration: Integration = resources::get(call, id).await?;
    let limit = call.limit(50)?;
    let items = call
        .app
        .store
        .skipped_entities(&integration.id, limit)
        .await?;
    Ok(json!({ "items": items }))
}
