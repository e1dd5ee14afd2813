//! `GET /api/appeals` (filters, cursor pagination) and `GET /api/appeals/{id}`.

use crate::call::Call;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::domain::appeal::{Appeal, Channel, Provider};
use shared::domain::ids::{AppealId, CampaignId, IntegrationId, SourceId};
use shared::edge::web::ApiError;
use shared::store::{AppealFilter, cursor, keys};

const DEFAULT_LIMIT: usize = 50;

pub async fn list(call: &Call<'_>) -> Result<Value, ApiError> {
    let filter = AppealFilter {
        from: call.param("from").map(|v| time(&v, "from")).transpose()?,
        to: call.param("to").map(|v| time(&v, "to")).transpose()?,
        provider: call
            .param("provider")
            .map(|p| {
                Provider::parse(&p).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "provider `{p}`: use jivo, verbox, amocrm or bitrix24."
                    ))
                })
            })
            .transpose()?,
        channel: call
            .param("channel")
            .map(|c| Channel::parse(&c).map_err(|e| ApiError::bad_request(e.to_string())))
            .transpose()?,
        campaign_id: call
            .param("campaign_id")
            .map(|v| id(CampaignId::parse, &v))
            .transpose()?,
        source_id: call
            .param("source_id")
            .map(|v| id(SourceId::parse, &v))
            .transpose()?,
        integration_id: call
            .param("integration_id")
            .map(|v| id(IntegrationId::parse, &v))
            .transpose()?,
    };
    let limit = match call.param("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .ok_or_else(|| ApiError::bad_request("limit is a whole number from 1 to 200."))?,
    };
    let after = call.cursor(&keys::appeals(call.account.id.as_str()))?;
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from >= to
    {
        return Err(ApiError::bad_request("from must be before to."));
    }
    let page = call
        .app
        .store
        .appeals(&call.account.id, &filter, limit, after)
        .await?;
    Ok(json!({
        "items": page.items,
        "next_cursor": page.next.as_ref().map(cursor::encode),
    }))
}

pub async fn get(call: &Call<'_>, id: &str) -> Result<Appeal, ApiError> {
    let not_found = || ApiError::not_found(format!("No appeal {id}."));
    let id = AppealId::parse(id).map_err(|_| not_found())?;
    call.app
        .store
        .appeal(&id)
        .await?
        .filter(|a| a.account_id == call.account.id)
        .ok_or_else(not_found)
}

fn time(value: &str, name: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{name} is an RFC 3339 time, like 2024-06-03T00:00:00Z."
            ))
        })
}

fn id<T>(
    parse: fn(&str) -> Result<T, shared::domain::ids::InvalidId>,
    value: &str,
) -> Result<T, ApiError> {
    parse(value).map_err(|e| ApiError::bad_request(e.to_string()))
}
