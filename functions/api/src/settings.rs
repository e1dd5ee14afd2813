//! `GET /api/account` and `PATCH /api/account` (JSON merge patch): the account's own settings
//! (name, time zone, repeat window, Yandex Metrika) and how the hourly Metrika upload is doing.
//! The OAuth token is write-only: it reads back as "set" or "unset", and sending "set" (or
//! leaving it out) keeps it.

use crate::call::{Call, merge_patch};
use serde_json::{Map, Value, json};
use shared::domain::account::{Account, MetrikaSettings, REPEAT_WINDOW_DAYS, TimeZone};
use shared::domain::secret::Secret;
use shared::edge::web::{ApiError, Invalid};

/// Longest goal id and token taken: Metrika's goal ids are short identifiers, its OAuth tokens
/// under a hundred characters.
const GOAL_CHARS: usize = 100;
const TOKEN_CHARS: usize = 512;

pub async fn get(call: &Call<'_>) -> Result<Value, ApiError> {
    let account = call
        .app
        .store
        .account(&call.account.id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such account."))?;
    Ok(view(&account))
}

pub async fn update(call: &Call<'_>) -> Result<Value, ApiError> {
    let mut patch = call.object()?;
    // Read-only: a client may send back what it read.
    patch.remove("metrika_upload");
    let patch = Value::Object(patch);
    let account = call
        .app
        .store
        .update_account(&call.account.id, |current: Option<Account>| {
            let current = current.ok_or_else(|| ApiError::not_found("No such account."))?;
            let mut doc = input(&current);
            merge_patch(&mut doc, patch.clone());
            build(&current, doc)
        })
        .await?;
    tracing::info!(account_id = %account.id, metrika_upload = account.metrika.upload, "account settings changed");
    Ok(view(&account))
}

/// The account as the API shows it.
pub fn view(account: &Account) -> Value {
    let mut doc = input(account);
    doc["id"] = json!(account.id);
    doc["created_at"] = json!(account.created_at);
    doc["metrika_upload"] = json!(account.metrika_upload);
    doc
}

/// The settings as a client writes them: the base a PATCH applies to.
fn input(account: &Account) -> Value {
    let m = &account.metrika;
    json!({
        "name": account.name,
        "time_zone": account.time_zone.name(),
        "repeat_window_days": account.repeat_window_days,
        "metrika": {
            "counter_id": m.counter_id,
            "goal": m.goal,
            "token": if m.token.is_some() { "set" } else { "unset" },
            "upload": m.upload,
        },
    })
}

/// Validates the patched settings into the account's next state; what only the server
/// writes (id, creation, the upload's progress) is kept from `current`.
fn build(current: &Account, doc: Value) -> Result<Account, ApiError> {
    let Value::Object(mut doc) = doc else {
        return Err(ApiError::bad_request("The body must be a JSON object."));
    };
    let name = match doc.remove("name") {
        Some(Value::String(s)) => crate::resources::name(&s, "account")?,
        _ => {
            return Err(ApiError::invalid(
                "name",
                Invalid::Required,
                "The account needs a name.",
            ));
        }
    };
    let time_zone = match doc.remove("time_zone") {
        Some(Value::String(s)) => TimeZone::parse(&s).map_err(|e| {
            ApiError::invalid(
                "time_zone",
                Invalid::InvalidValue,
                format!("time_zone: {e}."),
            )
        })?,
        None | Some(Value::Null) => TimeZone::default(),
        Some(_) => {
            return Err(ApiError::invalid(
                "time_zone",
                Invalid::InvalidValue,
                "time_zone is an IANA time zone name, like Europe/Moscow.",
            ));
        }
    };
    let repeat_window_days = match doc.remove("repeat_window_days") {
        None | Some(Value::Null) => shared::domain::account::DEFAULT_REPEAT_WINDOW_DAYS,
        Some(v) => whole(&v)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| REPEAT_WINDOW_DAYS.contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "repeat_window_days",
                    Invalid::InvalidValue,
                    "repeat_window_days is a whole number of days from 1 to 365.",
                )
            })?,
    };
    let metrika = match doc.remove("metrika") {
        None | Some(Value::Null) => MetrikaSettings::default(),
        Some(Value::Object(m)) => metrika(m, &current.metrika)?,
        Some(_) => return Err(ApiError::bad_request("metrika must be an object.")),
    };
    if let Some(field) = doc.keys().next() {
        return Err(unknown(field));
    }
    Ok(Account {
        name,
        time_zone,
        repeat_window_days,
        metrika,
        ..current.clone()
    })
}

fn metrika(
    mut m: Map<String, Value>,
    stored: &MetrikaSettings,
) -> Result<MetrikaSettings, ApiError> {
    let counter_id = match m.remove("counter_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(v) => Some(whole(&v).filter(|n| *n > 0).ok_or_else(|| {
            ApiError::invalid(
                "metrika.counter_id",
                Invalid::InvalidValue,
                "metrika.counter_id is the counter's number, like 12345678.",
            )
        })?),
    };
    let goal = match m.remove("goal") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let goal = s.trim();
            if goal.chars().count() > GOAL_CHARS {
                return Err(ApiError::invalid(
                    "metrika.goal",
                    Invalid::TooLong,
                    format!("metrika.goal is over {GOAL_CHARS} characters."),
                ));
            }
            if goal.chars().any(char::is_control) {
                return Err(ApiError::invalid(
                    "metrika.goal",
                    Invalid::InvalidValue,
                    "metrika.goal is the goal's identifier in Metrika, on one line.",
                ));
            }
            (!goal.is_empty()).then(|| goal.to_owned())
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "metrika.goal",
                Invalid::InvalidValue,
                "metrika.goal is the goal's identifier in Metrika (text).",
            ));
        }
    };
    let token = match m.remove("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.trim() {
            "set" => stored.token.clone(),
            "unset" | "" => None,
            t if t.len() > TOKEN_CHARS
                || t.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                return Err(ApiError::invalid(
                    "metrika.token",
                    Invalid::InvalidValue,
                    "metrika.token is an OAuth token from Yandex ID, one word.",
                ));
            }
            t => Some(Secret::new(t)),
        },
        Some(_) => {
            return Err(ApiError::invalid(
                "metrika.token",
                Invalid::InvalidValue,
                "metrika.token is an OAuth token (text).",
            ));
        }
    };
    let upload = match m.remove("upload") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            return Err(ApiError::invalid(
                "metrika.upload",
                Invalid::InvalidValue,
                "metrika.upload is true or false.",
            ));
        }
    };
    if let Some(field) = m.keys().next() {
        return Err(unknown(&format!("metrika.{field}")));
    }
    let settings = MetrikaSettings {
        counter_id,
        goal,
        token,
        upload,
    };
    if upload {
        // An upload switched on that could never run would only fail quietly every hour.
        for (field, missing) in [
            ("metrika.counter_id", settings.counter_id.is_none()),
            ("metrika.goal", settings.goal.is_none()),
            ("metrika.token", settings.token.is_none()),
        ] {
            if missing {
                return Err(ApiError::invalid(
                    field,
                    Invalid::Required,
                    format!("The upload to Metrika needs {field}."),
                ));
            }
        }
    }
    Ok(settings)
}

/// A whole number, written as a JSON number or as digits.
fn whole(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn unknown(field: &str) -> ApiError {
    ApiError::invalid(
        field,
        Invalid::Unknown,
        format!(
            "`{field}` is not an account setting; the settings are name, time_zone, repeat_window_days and metrika (counter_id, goal, token, upload)."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::ids::AccountId;

    fn account() -> Account {
        Account::new(
            AccountId::parse("acc_demo").unwrap(),
            "Shop",
            chrono::Utc::now(),
        )
    }

    fn patched(current: &Account, patch: Value) -> Result<Account, ApiError> {
        let mut doc = input(current);
        merge_patch(&mut doc, patch);
        build(current, doc)
    }

    #[test]
    fn a_patch_changes_what_it_names_and_the_token_stays_write_only() {
        let a = patched(
            &account(),
            json!({"time_zone": "Asia/Yekaterinburg", "repeat_window_days": "14",
                   "metrika": {"counter_id": 12345678, "goal": "chat", "token": "y0_tok", "upload": true}}),
        )
        .unwrap();
        assert_eq!(a.time_zone.name(), "Asia/Yekaterinburg");
        assert_eq!(a.repeat_window_days, 14);
        assert_eq!(a.metrika.token.as_ref().map(Secret::expose), Some("y0_tok"));
        let shown = view(&a);
        assert_eq!(shown["metrika"]["token"], "set");
        assert!(!shown.to_string().contains("y0_tok"));
        // Sending back what was read keeps the token; "unset" removes it.
        let again = patched(&a, json!({"metrika": shown["metrika"].clone()})).unwrap();
        assert_eq!(again.metrika, a.metrika);
        let removed = patched(&a, json!({"metrika": {"token": "unset", "upload": false}})).unwrap();
        assert_eq!(removed.metrika.token, None);
        assert_eq!(removed.metrika.goal.as_deref(), Some("chat"));
    }

    #[test]
    fn bad_settings_are_refused_naming_the_field_and_why() {
        let refused = |patch: Value| patched(&account(), patch).unwrap_err();
        let cases = [
            (json!({"time_zone": "Moscow"}), "time_zone", "invalid_value"),
            (json!({"time_zone": 3}), "time_zone", "invalid_value"),
            (
                json!({"repeat_window_days": 0}),
                "repeat_window_days",
                "invalid_value",
            ),
            (
                json!({"repeat_window_days": 366}),
                "repeat_window_days",
                "invalid_value",
            ),
            (
                json!({"repeat_window_days": 1.5}),
                "repeat_window_days",
                "invalid_value",
            ),
            (json!({"name": "  "}), "name", "required"),
            (
                json!({"metrika": {"counter_id": "abc"}}),
                "metrika.counter_id",
                "invalid_value",
            ),
            (
                json!({"metrika": {"goal": "x".repeat(101)}}),
                "metrika.goal",
                "too_long",
            ),
            (
                json!({"metrika": {"token": "two words"}}),
                "metrika.token",
                "invalid_value",
            ),
            (
                json!({"metrika": {"upload": true, "goal": "chat"}}),
                "metrika.counter_id",
                "required",
            ),
            (
                json!({"metrika": {"upload": "yes"}}),
                "metrika.upload",
                "invalid_value",
            ),
            (
                json!({"metrika": {"countr_id": 1}}),
                "metrika.countr_id",
                "unknown_field",
            ),
            (json!({"timezone": "UTC"}), "timezone", "unknown_field"),
        ];
        for (patch, field, reason) in cases {
            let e = refused(patch.clone());
            assert_eq!(
                (e.field.as_deref(), e.reason),
                (Some(field), Some(reason)),
                "{patch}: {}",
                e.message
            );
        }
    }

    #[test]
    fn the_uploads_progress_is_kept_whatever_a_patch_says() {
        let mut a = account();
        a.metrika_upload.uploaded = 7;
        let b = patched(&a, json!({"name": "Shop 2"})).unwrap();
        assert_eq!(b.metrika_upload.uploaded, 7);
        assert_eq!(b.id, a.id);
    }
}
