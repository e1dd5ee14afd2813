//! `GET /api/appeals` (filters, search, cursor pagination) and `GET /api/appeals/{id}`.

use crate::call::Call;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shared::domain::appeal::{Appeal, Channel, ChannelGroup, Provider, Status, Via};
use shared::domain::ids::{AppealId, CampaignId, IntegrationId, SourceId};
use shared::edge::web::{ApiError, Invalid};
use shared::store::{AppealFilter, cursor, keys};

const DEFAULT_LIMIT: usize = 50;
/// A search longer than this is no phone, e-mail or name.
const QUERY_CHARS: usize = 200;

/// Every step of attribution the API has ever named, in order; `vias()` keeps those the
/// domain knows, so a step added there is accepted here without a second list to update.
const VIA_TOKENS: [&str; 5] = ["session", "utm", "click_id", "messenger_mapping", "default"];
const GROUP_TOKENS: [&str; 7] = [
    "paid",
    "organic",
    "social",
    "referral",
    "direct",
    "messenger",
    "email",
];
const STATUS_TOKENS: [&str; 4] = ["in_progress", "pending_enrichment", "complete", "failed"];

/// The `via` values an appeal can have.
pub fn vias() -> Vec<&'static str> {
    known::<Via>(&VIA_TOKENS)
}

/// The `status` values an appeal can have.
pub fn statuses() -> Vec<&'static str> {
    known::<Status>(&STATUS_TOKENS)
}

pub async fn list(call: &Call<'_>) -> Result<Value, ApiError> {
    // CSV is answered before the route runs (`appeals_csv`); here only JSON is.
    if crate::appeals_csv::wants_csv(call, None)? {
        return Err(ApiError::bad_request(
            "format=csv is answered by GET /api/appeals itself.",
        ));
    }
    let filter = filter(call)?;
    let limit = call.limit(DEFAULT_LIMIT)?;
    let after = call.cursor(&keys::appeals(call.account.id.as_str()))?;
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

/// The journal's filters of the request: the JSON listing and the CSV export read them here,
/// so both take (and refuse) the same.
pub fn filter(call: &Call<'_>) -> Result<AppealFilter, ApiError> {
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
        via: call
            .param("via")
            .map(|v| token::<Via>(&v, "via", &VIA_TOKENS))
            .transpose()?,
        status: call
            .param("status")
            .map(|v| token::<Status>(&v, "status", &STATUS_TOKENS))
            .transpose()?,
        search: match call.param("q") {
            Some(q) if q.chars().count() > QUERY_CHARS => {
                return Err(ApiError::invalid(
                    "q",
                    Invalid::TooLong,
                    format!(
                        "q is a phone, an e-mail or a name of at most {QUERY_CHARS} characters."
                    ),
                ));
            }
            Some(q) => AppealFilter::search_for(&q),
            None => None,
        },
        repeat: call.param("repeat").map(|v| repeat(&v)).transpose()?,
        channel_group: call
            .param("channel_group")
            .map(|v| token::<ChannelGroup>(&v, "channel_group", &GROUP_TOKENS))
            .transpose()?,
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from >= to
    {
        return Err(ApiError::bad_request("from must be before to."));
    }
    Ok(filter)
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

/// `repeat=`: `true` for repeat appeals only, `false` for first ones only.
fn repeat(value: &str) -> Result<bool, ApiError> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::invalid(
            "repeat",
            Invalid::InvalidValue,
            format!("repeat `{value}`: use true (repeat appeals) or false (first appeals)."),
        )),
    }
}

/// A value of one of the domain's enums, by its JSON name.
fn token<T: DeserializeOwned>(
    value: &str,
    field: &str,
    tokens: &[&'static str],
) -> Result<T, ApiError> {
    serde_json::from_value(Value::String(value.to_owned())).map_err(|_| {
        ApiError::invalid(
            field,
            Invalid::InvalidValue,
            format!("{field} `{value}`: use {}.", known::<T>(tokens).join(", ")),
        )
    })
}

fn known<T: DeserializeOwned>(tokens: &[&'static str]) -> Vec<&'static str> {
    tokens
        .iter()
        .copied()
        .filter(|t| serde_json::from_value::<T>(Value::String((*t).to_owned())).is_ok())
        .collect()
}

fn id<T>(
    parse: fn(&str) -> Result<T, shared::domain::ids::InvalidId>,
    value: &str,
) -> Result<T, ApiError> {
    parse(value).map_err(|e| ApiError::bad_request(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_via_and_status_choices_are_the_domains_own_names() {
        let vias = vias();
        for via in ["session", "utm", "messenger_mapping", "default"] {
            assert!(vias.contains(&via), "{via} in {vias:?}");
        }
        assert_eq!(
            statuses(),
            ["in_progress", "pending_enrichment", "complete", "failed"]
        );
        let refused = token::<Via>("sesion", "via", &VIA_TOKENS).expect_err("not a via");
        assert_eq!(refused.field.as_deref(), Some("via"));
        assert!(
            refused.message.contains("messenger_mapping"),
            "{}",
            refused.message
        );
    }
}
