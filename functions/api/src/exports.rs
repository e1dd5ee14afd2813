//! `GET /api/exports/metrika.csv` and `GET /api/exports/google-ads.csv`: a period's chats as
//! the offline-conversion files Yandex Metrika and Google Ads import (formats in
//! `shared::domain::exports`). `from` and `to` are dates in the account's time zone, inclusive.

use crate::call::Call;
use chrono::{DateTime, NaiveDate, Utc};
use http::{Response, StatusCode, header};
use shared::app::exports::{CollectError, conversions};
use shared::domain::exports::{Conversion, google_ads_csv, metrika_csv};
use shared::edge::web::{ApiError, HttpResponse, Invalid};
use std::time::Duration;

/// Longest period one file covers.
const MAX_DAYS: i64 = 366;
/// Longest goal id or conversion name taken (Google's conversion action names are at most 100).
const NAME_CHARS: usize = 100;

pub async fn metrika(call: &Call<'_>) -> HttpResponse {
    let made = async {
        let goal = match call.param("goal") {
            Some(goal) => Some(name(&goal, "goal")?),
            None => call.account.metrika.goal.clone(),
        }
        .ok_or_else(|| {
            ApiError::invalid(
                "goal",
                Invalid::Required,
                "goal is required (the Metrika goal's identifier), unless the account's metrika.goal is set.",
            )
        })?;
        let (from, to, found) = collect(call).await?;
        Ok::<_, ApiError>((metrika_csv(&found, &goal).0, from, to))
    };
    match made.await {
        Ok((csv, from, to)) => file(csv, &format!("metrika-{from}-{to}.csv")),
        Err(e) => e.into_response(),
    }
}

pub async fn google_ads(call: &Call<'_>) -> HttpResponse {
    let made = async {
        let conversion_name = call.param("conversion_name").ok_or_else(|| {
            ApiError::invalid(
                "conversion_name",
                Invalid::Required,
                "conversion_name is required: the name of the conversion action in Google Ads, exactly as written there.",
            )
        })?;
        let conversion_name = name(&conversion_name, "conversion_name")?;
        let (from, to, found) = collect(call).await?;
        let tz = call.account.time_zone.tz();
        Ok::<_, ApiError>((google_ads_csv(&found, &conversion_name, tz), from, to))
    };
    match made.await {
        Ok((csv, from, to)) => file(csv, &format!("google-ads-{from}-{to}.csv")),
        Err(e) => e.into_response(),
    }
}

/// The period's conversions, oldest first, with its first and last day.
async fn collect(call: &Call<'_>) -> Result<(NaiveDate, NaiveDate, Vec<Conversion>), ApiError> {
    let from = date(call, "from")?;
    let to = date(call, "to")?;
    if to < from {
        return Err(ApiError::invalid(
            "to",
            Invalid::InvalidValue,
            "to is before from.",
        ));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(ApiError::invalid(
            "to",
            Invalid::InvalidValue,
            format!("A file covers at most {MAX_DAYS} days; take a shorter period."),
        ));
    }
    let tz = call.account.time_zone;
    let (start, end): (DateTime<Utc>, DateTime<Utc>) =
        (tz.day_start(from), tz.day_start(to + chrono::Days::new(1)));
    let more_time = || call.deadline.remaining() > Duration::from_secs(2);
    let found = conversions(&call.app.store, &call.account.id, start, end, more_time)
        .await
        .map_err(|e| match e {
            CollectError::Store(e) => e.into(),
            e @ (CollectError::OutOfTime | CollectError::TooMany) => {
                ApiError::invalid("to", Invalid::InvalidValue, format!("{e}."))
            }
        })?;
    Ok((from, to, found))
}

fn date(call: &Call<'_>, field: &'static str) -> Result<NaiveDate, ApiError> {
    let value = call.param(field).ok_or_else(|| {
        ApiError::invalid(
            field,
            Invalid::Required,
            "from and to are required: dates (2026-11-01) in the account's time zone, both included.",
        )
    })?;
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .ok()
        .filter(|d| (2000..2100).contains(&chrono::Datelike::year(d)))
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                Invalid::InvalidValue,
                format!("{field} is a date like 2026-11-01 (`{value}` is not)."),
            )
        })
}

/// A goal id or conversion name: one line, bounded.
fn name(value: &str, field: &'static str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.chars().count() > NAME_CHARS {
        return Err(ApiError::invalid(
            field,
            Invalid::TooLong,
            format!("{field} is over {NAME_CHARS} characters."),
        ));
    }
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            Invalid::InvalidValue,
            format!("{field} is one line of text."),
        ));
    }
    Ok(value.to_owned())
}

fn file(csv: String, filename: &str) -> HttpResponse {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        )
        .header(header::CACHE_CONTROL, "no-store")
        .body(csv)
        .unwrap_or_default()
}
