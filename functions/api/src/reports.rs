//! `GET /api/reports/appeals`: appeals counted by time and by what brought them, from the
//! hourly counters the store keeps as appeals are made and moved (never from the appeals).

use crate::call::Call;
use chrono::{Duration, NaiveDate};
use serde_json::{Map, Value, json};
use shared::domain::account::TimeZone;
use shared::domain::appeal::Provider;
use shared::domain::directory::Directory;
use shared::domain::ids::{CampaignId, EmployeeId, SiteId, SourceId};
use shared::domain::rollup::{self, Dim, Filter, Report, Tally};
use shared::edge::web::{ApiError, Invalid};
use shared::store::{Counters, StoreError};

/// A report covers at most this many days (a year and a day: "this month last year" fits).
pub const MAX_DAYS: i64 = 366;
/// Without `from` and `to`: the last 30 days.
const DEFAULT_DAYS: i64 = 30;

/// What a report asks, read and checked.
pub struct Ask {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub tz: TimeZone,
    pub group_by: Vec<Dim>,
    pub filter: Filter,
}

pub fn ask(call: &Call<'_>) -> Result<Ask, ApiError> {
    let tz = match call.param("tz") {
        Some(name) => TimeZone::parse(&name)
            .map_err(|e| ApiError::invalid("tz", Invalid::InvalidValue, format!("{e}.")))?,
        None => call.account.time_zone,
    };
    let today = call.now.with_timezone(&tz.tz()).date_naive();
    let date = |name: &str| -> Result<Option<NaiveDate>, ApiError> {
        call.param(name)
            .map(|v| {
                NaiveDate::parse_from_str(&v, "%Y-%m-%d").map_err(|_| {
                    ApiError::invalid(
                        name,
                        Invalid::InvalidValue,
                        format!("{name} is a date like 2026-11-30, in the report's time zone."),
                    )
                })
            })
            .transpose()
    };
    let to = date("to")?.unwrap_or(today);
    let from = date("from")?.unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
    if from > to {
        return Err(ApiError::invalid(
            "from",
            Invalid::InvalidValue,
            "from must not be after to.",
        ));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(ApiError::invalid(
            "to",
            Invalid::InvalidValue,
            format!("A report covers at most {MAX_DAYS} days."),
        ));
    }
    if !rollup::whole_hours(tz.tz(), from, to) {
        // Counters are hourly: a zone off UTC by a part of an hour would cut days inexactly.
        return Err(ApiError::invalid(
            "tz",
            Invalid::InvalidValue,
            format!(
                "Reports count by the hour, and {} is not a whole number of hours off UTC in this period: pick a zone that is.",
                tz.name()
            ),
        ));
    }
    let group_by = match call.param("group_by") {
        None => vec![Dim::Day],
        Some(list) => parse_group_by(&list)?,
    };
    let provider = call
        .param("provider")
        .map(|p| {
            Provider::parse(&p).ok_or_else(|| {
                ApiError::invalid(
                    "provider",
                    Invalid::InvalidValue,
                    format!("provider `{p}`: use jivo, verbox, amocrm or bitrix24."),
                )
            })
        })
        .transpose()?;
    Ok(Ask {
        from,
        to,
        tz,
        group_by,
        filter: Filter {
            integration: call.param("integration_id"),
            site: call.param("site_id"),
            provider,
            channel: call.param("channel"),
        },
    })
}

fn parse_group_by(list: &str) -> Result<Vec<Dim>, ApiError> {
    let names: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let known = || {
        Dim::ALL
            .iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut dims = Vec::new();
    for name in &names {
        let dim = Dim::parse(name).ok_or_else(|| {
            ApiError::invalid(
                "group_by",
                Invalid::InvalidValue,
                format!("group_by `{name}`: use one or two of {}.", known()),
            )
        })?;
        if dims.contains(&dim) {
            return Err(ApiError::invalid(
                "group_by",
                Invalid::InvalidValue,
                format!("group_by names `{name}` twice."),
            ));
        }
        dims.push(dim);
    }
    if dims.is_empty() || dims.len() > 2 {
        return Err(ApiError::invalid(
            "group_by",
            Invalid::InvalidValue,
            format!("group_by takes one or two of {}.", known()),
        ));
    }
    if dims.iter().filter(|d| d.is_time()).count() > 1 {
        return Err(ApiError::invalid(
            "group_by",
            Invalid::InvalidValue,
            "group_by takes one time (day, week or month) at most.",
        ));
    }
    Ok(dims)
}

/// The report, computed.
pub async fn compute(call: &Call<'_>, ask: &Ask) -> Result<Report, ApiError> {
    let (start, end) = rollup::day_bounds(ask.tz.tz(), ask.from, ask.to);
    let counters = call
        .app
        .store
        .rollup_counters(&call.account.id, start, end - Duration::seconds(1))
        .await?;
    // A busy account's period is a million counters: summed in two halves on two threads
    // (a report is a sum, so the halves merge exactly), a small one in place.
    let sum = |part: &[(chrono::DateTime<chrono::Utc>, Counters)]| {
        rollup::report(
            part.iter()
                .flat_map(|(h, c)| c.iter().map(move |(n, v)| (*h, n, v))),
            &ask.group_by,
            &ask.filter,
            (ask.from, ask.to),
            rollup::local_day(ask.tz.tz()),
        )
    };
    let size: usize = counters.iter().map(|(_, c)| c.len()).sum();
    if size < PARALLEL_FROM {
        return Ok(sum(&counters));
    }
    let (a, b) = counters.split_at(counters.len() / 2);
    std::thread::scope(|s| {
        let other = s.spawn(|| sum(b));
        let mine = sum(a);
        other.join().map(|theirs| mine.merge(theirs))
    })
    .map_err(|_| {
        // Summing has no failing step; a panic in it is a bug, answered as one (a 500).
        StoreError::Corrupt("summing the report's counters failed".into()).into()
    })
}

/// Counters from which a report is summed on two threads (below it, a thread costs more than
/// it saves).
const PARALLEL_FROM: usize = 50_000;

pub async fn appeals(call: &Call<'_>) -> Result<Value, ApiError> {
    let ask = ask(call)?;
    let report = compute(call, &ask).await?;
    let dir = call.app.directory(&call.account.id).await?;
    let mut rows: Vec<Value> = report
        .rows
        .iter()
        .map(|(key, tally)| {
            let mut row = Map::new();
            for (dim, value) in ask.group_by.iter().zip(key) {
                row.insert(
                    dim.as_str().into(),
                    group_value(*dim, value.as_deref(), &dir),
                );
            }
            if let Value::Object(counts) = tally_json(tally) {
                row.extend(counts);
            }
            Value::Object(row)
        })
        .collect();
    // Time in order; within a time (or without one), the biggest groups first.
    let time = ask.group_by.iter().position(|d| d.is_time());
    rows.sort_by(|a, b| {
        let at = |r: &Value| {
            time.map(|i| {
                r[ask.group_by[i].as_str()]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
        };
        at(a)
            .cmp(&at(b))
            .then_with(|| b["count"].as_i64().cmp(&a["count"].as_i64()))
    });
    Ok(json!({
        "from": ask.from,
        "to": ask.to,
        "tz": ask.tz.name(),
        "group_by": ask.group_by.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        "rows": rows,
        "totals": tally_json(&report.totals),
    }))
}

pub fn tally_json(t: &Tally) -> Value {
    json!({"count": t.count, "first": t.first, "repeat": t.repeat, "via": t.via})
}

/// A group's value as the answer shows it: records with their names (`null`: none assigned;
/// a record deleted since keeps its id, with a `null` name), tokens and dates as strings.
pub fn group_value(dim: Dim, value: Option<&str>, dir: &Directory) -> Value {
    let Some(v) = value else {
        return Value::Null;
    };
    if !dim.is_record() {
        return json!(v);
    }
    let name = match dim {
        Dim::Campaign => CampaignId::parse(v)
            .ok()
            .and_then(|id| dir.campaign(&id).map(|c| c.name.clone())),
        Dim::Source => SourceId::parse(v)
            .ok()
            .and_then(|id| dir.source(&id).map(|c| c.name.clone())),
        Dim::Site => SiteId::parse(v)
            .ok()
            .and_then(|id| dir.site(&id).map(|c| c.name.clone())),
        Dim::Employee => EmployeeId::parse(v)
            .ok()
            .and_then(|id| dir.employee(&id).map(|c| c.name.clone())),
        _ => None,
    };
    json!({"id": v, "name": name})
}
