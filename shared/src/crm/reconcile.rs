//! Reconciliation for a CRM that never sends an event twice (Bitrix24, providers.md 4.4): the
//! leads (or deals) created since the watermark are listed, and each one we have not seen (no
//! appeal, not skipped) is queued to be read, so an event lost while we were down, or dropped
//! on the way, still becomes an appeal. Running it again queues nothing new; an entity queued
//! twice makes one appeal all the same (its appeal id is derived from it).

use crate::app::App;
use crate::app::ingest;
use crate::clients::bitrix24::Portal;
use crate::crm::connections::ConnectedError;
use crate::domain::ids::AppealId;
use crate::domain::integration::Integration;
use crate::domain::job::Task;
use crate::domain::providers::bitrix24::entity_ref;
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;

/// Events come through Bitrix24's queue, seconds late, and clocks differ: each run lists again
/// from this long before the watermark.
pub const OVERLAP: Duration = Duration::from_secs(10 * 60);
/// Pages of 50 listed per run; a backlog beyond them waits for the next run.
pub const MAX_PAGES: usize = 20;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciled {
    /// Entities created since the watermark (less the overlap).
    pub listed: usize,
    /// Of them, the ones never seen, now queued.
    pub queued: usize,
    /// Entities created up to this moment have been listed.
    pub watermark: Option<DateTime<Utc>>,
    /// More were left for the next run.
    pub more: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("only Bitrix24 integrations are reconciled")]
    NotReconciled,
    #[error(transparent)]
    Provider(#[from] ConnectedError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn bitrix24(
    app: &App,
    integration: &Integration,
    now: DateTime<Utc>,
) -> Result<Reconciled, ReconcileError> {
    let (Some(settings), Some(portal)) = (&integration.bitrix24, Portal::new(app, integration))
    else {
        return Err(ReconcileError::NotReconciled);
    };
    let entity = settings.entity;
    // Nothing before the integration existed was ever sent to us.
    let watermark = app
        .store
        .watermark(&integration.id)
        .await?
        .unwrap_or(integration.created_at);
    let since = watermark - chrono::Duration::from_std(OVERLAP).unwrap_or_default();
    let method = format!("crm.{}.list", entity.as_str());
    let mut report = Reconciled {
        watermark: Some(watermark),
        ..Reconciled::default()
    };
    let mut newest: Option<DateTime<Utc>> = None;
    let mut start = 0u64;
    for page in 0..MAX_PAGES {
        let body = portal
            .call(
                &method,
                json!({
                    "filter": {">DATE_CREATE": since.to_rfc3339()},
                    "order": {"DATE_CREATE": "ASC", "ID": "ASC"},
                    "select": ["ID", "DATE_CREATE"],
                    "start": start,
                }),
            )
            .await?;
        for row in body["result"].as_array().into_iter().flatten() {
            let Some(id) = field(row, "ID").and_then(|id| id.parse::<u64>().ok()) else {
                continue;
            };
            report.listed += 1;
            if let Some(created) = field(row, "DATE_CREATE")
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc))
            {
                newest = newest.max(Some(created));
            }
            let provider_ref = entity_ref(entity, id);
            let appeal_id = AppealId::derive(
                &integration.id,
                integration.provider.as_str(),
                &provider_ref,
            );
            if app.store.appeal(&appeal_id).await?.is_some()
                || app
                    .store
                    .skipped_entity(&integration.id, &provider_ref)
                    .await?
                    .is_some()
            {
                continue;
            }
            let task = Task::Bitrix24Entity { entity, id };
            ingest::enqueue(app, integration, &appeal_id, task, now).await?;
            report.queued += 1;
        }
        match body["next"].as_u64() {
            Some(next) if next > start => start = next,
            _ => break,
        }
        report.more = page + 1 == MAX_PAGES;
    }
    if let Some(newest) = newest {
        report.watermark = Some(
            app.store
                .advance_watermark(&integration.id, newest, now)
                .await?,
        );
    }
    tracing::info!(
        integration_id = %integration.id,
        listed = report.listed,
        queued = report.queued,
        "Bitrix24 reconciled"
    );
    Ok(report)
}

fn field(row: &Value, key: &str) -> Option<String> {
    crate::domain::providers::lenient::as_string(row.get(key)?)
}
