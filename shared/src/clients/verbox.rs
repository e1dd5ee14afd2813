//! The Verbox REST API (`X-Token`; providers.md section 2): a client's message history,
//! `chat/message/getClientMessageList`.

use super::CallError;
use crate::domain::integration::VerboxSettings;
use crate::domain::secret::Secret;
use serde_json::{Value, json};
use std::time::Duration;

pub struct Verbox<'a> {
    pub http: &'a reqwest::Client,
    pub settings: &'a VerboxSettings,
    /// How long one request may take (the caller's deadline decides).
    pub timeout: Duration,
}

impl Verbox<'_> {
    /// The client's messages, oldest first, as Verbox lists them (the whole history: the
    /// caller cuts the dialog out of it).
    pub async fn client_messages(
        &self,
        token: &Secret,
        client_id: Option<&str>,
        search_id: Option<i64>,
    ) -> Result<Value, CallError> {
        let mut client = json!({});
        if let Some(id) = client_id {
            client["clientId"] = json!(id);
        }
        if let Some(id) = search_id {
            client["searchId"] = json!(id);
        }
        let url = format!(
            "{}/chat/message/getClientMessageList",
            self.settings.rest_url
        );
        let response = self
            .http
            .post(&url)
            .timeout(self.timeout)
            .header("X-Token", token.expose())
            .json(&json!({"client": client, "orderDirection": "asc"}))
            .send()
            .await
            .map_err(|e| CallError::from_reqwest("Verbox", &e))?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            // Verbox answers a bad token with either.
            return Err(CallError::Unauthorized(format!(
                "Verbox refused the REST token (HTTP {status}); set a valid token and replay"
            )));
        }
        if !(200..300).contains(&status) {
            return Err(CallError::from_status("Verbox", status, ""));
        }
        let body: Value = response
            .json()
            .await
            .map_err(|e| CallError::Unavailable(format!("Verbox's answer is not JSON: {e}")))?;
        items(body)
    }
}

/// The message list from either envelope the API has used: `{"success", "result": {"items"}}`
/// and the older `{"ok", "data": [...]}`; a refusal inside a 200 is told apart.
fn items(mut body: Value) -> Result<Value, CallError> {
    if body.get("success") == Some(&Value::Bool(false))
        || body.get("ok") == Some(&Value::Bool(false))
    {
        let error = body
            .get("error")
            .map(Value::to_string)
            .unwrap_or_else(|| "no reason given".into());
        let lower = error.to_lowercase();
        return Err(if lower.contains("token") || lower.contains("auth") {
            CallError::Unauthorized(format!("Verbox refused the REST token: {error}"))
        } else {
            CallError::Refused(format!("Verbox refused the request: {error}"))
        });
    }
    for pointer in ["/result/items", "/data", "/result"] {
        if let Some(list) = body.pointer_mut(pointer).filter(|l| l.is_array()) {
            return Ok(list.take());
        }
    }
    Err(CallError::Unavailable(
        "Verbox's answer has no message list".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_envelopes_give_the_list_and_a_refusal_in_a_200_is_told_apart() {
        let list = json!([{"text": "hi"}]);
        assert_eq!(
            items(json!({"success": true, "result": {"items": list}})).unwrap(),
            list
        );
        assert_eq!(items(json!({"ok": true, "data": list})).unwrap(), list);
        assert!(matches!(
            items(json!({"success": false, "error": "bad token"})),
            Err(CallError::Unauthorized(_))
        ));
        assert!(matches!(
            items(json!({"ok": false, "error": "too many clients"})),
            Err(CallError::Refused(_))
        ));
        assert!(matches!(
            items(json!({"success": true})),
            Err(CallError::Unavailable(_))
        ));
    }
}
