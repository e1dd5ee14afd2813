//! `POST /api/reattribute` starts a re-attribution run over a period (and the journal's
//! filters); `GET /api/reattribute/{id}` tells how it goes and what moved. The run itself is
//! queued jobs (`shared::app::runs`): an answer cannot wait for a month of appeals.

use crate::call::Call;
use crate::routes::{Op, ROUTES};
use chrono::NaiveDate;
use serde_json::{Value, json};
use shared::domain::account::TimeZone;
use shared::domain::ids::RunId;
use shared::domain::reattribution::{Run, RunKind, Scope};
use shared::domain::rollup;
use shared::edge::web::{ApiError, Invalid};

/// `POST /api/reattribute {"from": "2026-11-01", "to": "2026-11-30", "tz": "Europe/Moscow",
/// "source_id": "..."}`: 202 with the run.
pub async fn start(call: &Call<'_>) -> Result<Value, ApiError> {
    let scope = scope(call)?;
    let run = shared::app::runs::start(
        call.app,
        &call.account.id,
        RunKind::Reattribute,
        scope,
        call.now,
    )
    .await?;
    tracing::info!(account_id = %call.account.id, run_id = %run.id, "re-attribution started");
    Ok(view(&run))
}

/// `GET /api/reattribute`: the latest runs, newest first.
pub async fn list(call: &Call<'_>) -> Result<Value, ApiError> {
    let runs = call.app.store.runs(&call.account.id).await?;
    Ok(json!({"items": runs.iter().map(view).collect::<Vec<_>>()}))
}

/// `GET /api/reattribute/{id}`
pub async fn get(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    let missing = || ApiError::not_found(format!("No re-attribution run {id}."));
    let id = RunId::parse(id).map_err(|_| missing())?;
    let run = call
        .app
        .store
        .run(&call.account.id, &id)
        .await?
        .ok_or_else(missing)?;
    Ok(view(&run))
}

pub fn view(run: &Run) -> Value {
    json!({
        "id": run.id,
        "kind": run.kind,
        "status": run.status,
        "scope": run.scope,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "examined": run.examined,
        "moved": run.moved,
        "error": run.error,
    })
}

/// The body read as a scope: `from` and `to` are dates (both required, inclusive) in `tz` (the
/// account's zone unless given); every other field is one of the journal's filters, read and
/// refused exactly as the journal reads them.
fn scope(call: &Call<'_>) -> Result<Scope, ApiError> {
    let mut body = call.object()?;
    let text = |body: &mut serde_json::Map<String, Value>,
                name: &str|
     -> Result<Option<String>, ApiError> {
        match body.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(ApiError::invalid(
                name,
                Invalid::InvalidValue,
                format!("{name} is a string."),
            )),
        }
    };
    let tz = match text(&mut body, "tz")? {
        Some(name) => TimeZone::parse(&name)
            .map_err(|e| ApiError::invalid("tz", Invalid::InvalidValue, format!("{e}.")))?,
        None => call.account.time_zone,
    };
    let date = |name: &str, value: Option<String>| -> Result<NaiveDate, ApiError> {
        let value = value.ok_or_else(|| {
            ApiError::invalid(
                name,
                Invalid::Required,
                format!("{name} is required: a date like 2026-11-30."),
            )
        })?;
        NaiveDate::parse_from_str(&value, "%Y-%m-%d").map_err(|_| {
            ApiError::invalid(
                name,
                Invalid::InvalidValue,
                format!("{name} is a date like 2026-11-30, in the run's time zone."),
            )
        })
    };
    let from = date("from", text(&mut body, "from")?)?;
    let to = date("to", text(&mut body, "to")?)?;
    if from > to {
        return Err(ApiError::invalid(
            "from",
            Invalid::InvalidValue,
            "from must not be after to.",
        ));
    }
    // The rest are the journal's filters: read through the journal's own reader.
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for name in body.keys().cloned().collect::<Vec<_>>() {
        if let Some(value) = text(&mut body, &name)? {
            query.append_pair(&name, &value);
        }
    }
    let query = query.finish();
    // The table always has the journal (a test of the router reads it).
    let Some(journal) = ROUTES.iter().find(|r| r.op == Op::Appeals) else {
        return Err(shared::store::StoreError::Corrupt("no journal route".into()).into());
    };
    let as_journal = Call {
        app: call.app,
        account: call.account.clone(),
        base_url: call.base_url.clone(),
        query: Some(&query),
        body: &[],
        now: call.now,
        deadline: call.deadline,
        route: journal,
    };
    if let Some(refused) = as_journal.unknown_param() {
        return Err(refused);
    }
    let filter = crate::appeals::filter(&as_journal)?;
    let (start, end) = rollup::day_bounds(tz.tz(), from, to);
    Ok(Scope {
        from: Some(start),
        to: Some(end),
        provider: filter.provider,
        channel: filter.channel,
        campaign_id: filter.campaign_id,
        source_id: filter.source_id,
        integration_id: filter.integration_id,
        via: filter.via,
        status: filter.status,
        q: as_journal.param("q"),
        repeat: filter.repeat,
        channel_group: filter.channel_group,
    })
}
