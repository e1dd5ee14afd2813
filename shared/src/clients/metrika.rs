//! The Yandex Metrika management API's offline-conversions upload
//! (`POST /management/v1/counter/{counterId}/offline_conversions/upload`, `Authorization:
//! OAuth <token>`, the CSV as the multipart field `file`; answers `{"uploading": {"id", ...}}`,
//! errors `{"errors": [{"error_type", "message"}], "code", "message"}`).

use super::CallError;
use crate::domain::secret::{Secret, random_token};
use serde_json::Value;
use std::time::Duration;

/// Where the API lives; `App::metrika_url` may point elsewhere (a local stand-in).
pub const API_URL: &str = "https://api-metrika.yandex.net";

pub struct Metrika<'a> {
    pub http: &'a reqwest::Client,
    /// `https://api-metrika.yandex.net`, or a stand-in's address.
    pub base_url: &'a str,
    /// How long the request may take (the caller's deadline decides).
    pub timeout: Duration,
}

/// What Metrika said of an accepted upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploading {
    pub id: Option<u64>,
    pub status: Option<String>,
}

impl Metrika<'_> {
    /// Uploads one CSV of conversions to the counter.
    pub async fn upload(
        &self,
        counter: u64,
        token: &Secret,
        csv: &str,
    ) -> Result<Uploading, CallError> {
        // The documented request: the file as the multipart field `file`. Written by hand (a
        // fixed, tiny form) rather than with another HTTP feature; the boundary is random so no
        // CSV can contain it.
        let boundary = format!("chatsource{}", random_token(18));
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"conversions.csv\"\r\nContent-Type: text/csv\r\n\r\n"
        );
        body.push_str(csv);
        body.push_str(&format!("\r\n--{boundary}--\r\n"));
        let url = format!(
            "{}/management/v1/counter/{counter}/offline_conversions/upload?comment=chatsource",
            self.base_url.trim_end_matches('/')
        );
        let response = self
            .http
            .post(&url)
            .timeout(self.timeout)
            .header(
                reqwest::header::AUTHORIZATION,
                format!("OAuth {}", token.expose()),
            )
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| CallError::from_reqwest("Metrika", &e))?;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            return Err(refusal(status, &answer));
        }
        let uploading = answer.get("uploading").ok_or_else(|| {
            CallError::Unavailable("Metrika's answer has no `uploading` object".into())
        })?;
        Ok(Uploading {
            id: uploading.get("id").and_then(Value::as_u64),
            status: uploading
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// A refusal told by its error type and message (never the token). Metrika answers a bad
/// token with 403 `invalid_token`, a missing one with 401 `unauthorized`: both mean the user
/// must give another token.
fn refusal(status: u16, answer: &Value) -> CallError {
    let first = answer.pointer("/errors/0");
    let kind = first
        .and_then(|e| e.get("error_type"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let message = first
        .and_then(|e| e.get("message"))
        .or_else(|| answer.get("message"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let detail = match (kind, message) {
        ("", m) => m.to_owned(),
        (k, "") => k.to_owned(),
        (k, m) => format!("{k}: {m}"),
    };
    if status == 403 && kind == "invalid_token" {
        let detail = crate::domain::limits::cut(&detail, 200);
        return CallError::Unauthorized(format!(
            "Metrika refused the OAuth token (HTTP 403: {detail})"
        ));
    }
    CallError::from_status("Metrika", status, &detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refusals_are_sorted_by_what_to_do_and_say_metrikas_reason() {
        let error = |kind: &str, message: &str, code: u16| json!({"errors": [{"error_type": kind, "message": message}], "code": code, "message": message});
        assert!(matches!(
            refusal(403, &error("invalid_token", "Invalid oauth_token", 403)),
            CallError::Unauthorized(m) if m.contains("invalid_token")
        ));
        assert!(matches!(
            refusal(401, &error("unauthorized", "Unauthorized", 401)),
            CallError::Unauthorized(_)
        ));
        assert!(matches!(
            refusal(429, &error("quota_requests_by_uid", "Too many", 429)),
            CallError::RateLimited(_)
        ));
        assert!(matches!(
            refusal(503, &Value::Null),
            CallError::Unavailable(m) if m == "Metrika answered HTTP 503"
        ));
        assert!(matches!(
            refusal(400, &error("invalid_parameter", "Wrong DateTime in line 2", 400)),
            CallError::Refused(m) if m.contains("Wrong DateTime in line 2")
        ));
        assert!(matches!(
            refusal(403, &error("access_denied", "No access to counter", 403)),
            CallError::Refused(_)
        ));
    }
}
