//! The Verbox REST API: a finished dialog's transcript (`chat/message/getClientMessageList`,
//! `X-Token`; providers.md section 2, assumption 9 of `shared::domain::providers::verbox`).

use crate::Failure;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use shared::app::App;
use shared::app::ingest;
use shared::domain::appeal::Appeal;
use shared::domain::integration::Integration;
use shared::domain::providers::verbox::parse_messages;

/// The REST API returns the client's whole history; this much before the finish is the dialog.
const DIALOG_WINDOW: Duration = Duration::hours(24);

/// Which dialog to fetch (the job's task).
pub struct Dialog<'a> {
    pub client_id: Option<&'a str>,
    pub search_id: Option<i64>,
    pub finished_at: DateTime<Utc>,
}

pub async fn transcript(
    http: &reqwest::Client,
    app: &App,
    integration: &Integration,
    appeal: &Appeal,
    dialog: Dialog<'_>,
) -> Result<(), Failure> {
    let Dialog {
        client_id,
        search_id,
        finished_at,
    } = dialog;
    let settings = integration
        .verbox
        .as_ref()
        .ok_or_else(|| Failure::GiveUp("not a Verbox integration".into()))?;
    let token = settings
        .rest_token
        .as_ref()
        .ok_or_else(|| Failure::GiveUp("the integration has no Verbox REST token".into()))?;
    let mut client = json!({});
    if let Some(id) = client_id {
        client["clientId"] = json!(id);
    }
    if let Some(id) = search_id {
        client["searchId"] = json!(id);
    }
    let url = format!("{}/chat/message/getClientMessageList", settings.rest_url);
    let response = http
        .post(&url)
        .header("X-Token", token.expose())
        .json(&json!({"client": client, "orderDirection": "asc"}))
        .send()
        .await
        .map_err(|e| {
            Failure::Retry(if e.is_timeout() {
                "Verbox did not answer in time".into()
            } else {
                format!("Verbox could not be reached: {e}")
            })
        })?;
    let status = response.status();
    if status == 401 || status == 403 {
        return Err(Failure::GiveUp(format!(
            "Verbox refused the REST token (HTTP {}); set a valid token and replay",
            status.as_u16()
        )));
    }
    if status == 429 || status.is_server_error() {
        return Err(Failure::Retry(format!(
            "Verbox answered HTTP {}",
            status.as_u16()
        )));
    }
    if !status.is_success() {
        return Err(Failure::GiveUp(format!(
            "Verbox answered HTTP {}",
            status.as_u16()
        )));
    }
    let body: Value = response
        .json()
        .await
        .map_err(|e| Failure::Retry(format!("Verbox's answer is not JSON: {e}")))?;
    let items = items(&body)?;

    let messages: Vec<_> = parse_messages(Some(items), appeal.contact.name.as_deref())
        .into_iter()
        // A minute of slack: the finish time and the last message's clock may disagree.
        .filter(|m| {
            m.at >= finished_at - DIALOG_WINDOW && m.at <= finished_at + Duration::minutes(1)
        })
        .collect();
    let now = Utc::now();
    ingest::update_appeal(app, integration, &appeal.id, now, |a| {
        a.complete_with(messages.clone(), now)
    })
    .await
    .map(|_| ())
    .map_err(|e| Failure::Retry(e.to_string()))
}

/// The message list from either envelope the API has used: `{"success", "result": {"items"}}`
/// and the older `{"ok", "data": [...]}`; a refusal inside a 200 is told apart.
fn items(body: &Value) -> Result<&Value, Failure> {
    if body.get("success") == Some(&Value::Bool(false))
        || body.get("ok") == Some(&Value::Bool(false))
    {
        let error = body
            .get("error")
            .map(Value::to_string)
            .unwrap_or_else(|| "no reason given".into());
        let lower = error.to_lowercase();
        return Err(if lower.contains("token") || lower.contains("auth") {
            Failure::GiveUp(format!("Verbox refused the REST token: {error}"))
        } else {
            Failure::GiveUp(format!("Verbox refused the request: {error}"))
        });
    }
    body.pointer("/result/items")
        .or_else(|| body.get("data"))
        .or_else(|| body.get("result").filter(|r| r.is_array()))
        .ok_or_else(|| Failure::Retry("Verbox's answer has no message list".into()))
}
