//! The Bitrix24 REST API and OAuth server (providers.md 4.6, 4.7): the code exchange and the
//! refresh at the OAuth server (the only place the client secret goes), and REST calls on the
//! portal with the access token as `auth`, one at a time or as a `batch` (one hit of the
//! portal's rate limit for up to 50 calls).

use super::CallError;
use crate::domain::integration::Bitrix24Settings;
use crate::domain::oauth::{Grant, RefreshError};
use crate::domain::secret::Secret;
use serde_json::{Map, Value};
use std::time::Duration;

/// The portal's consent page; it sends the user back to the application's handler URL (our
/// callback). `None` when the settings lack a client id or a usable address.
pub fn authorize_url(settings: &Bitrix24Settings, state: &str) -> Option<String> {
    let client_id = settings.client_id.as_deref()?;
    let portal = settings.portal_url.trim_end_matches('/');
    let mut url = url::Url::parse(&format!("{portal}/oauth/authorize/")).ok()?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("state", state);
    Some(url.into())
}

pub struct Bitrix24<'a> {
    pub http: &'a reqwest::Client,
    pub settings: &'a Bitrix24Settings,
    /// How long one request may take (the caller's deadline decides).
    pub timeout: Duration,
}

/// Calls one `batch` may carry.
pub const MAX_BATCH: usize = 50;

/// A grant from the OAuth server, with the portal it is for.
#[derive(Debug, Clone, PartialEq)]
pub struct Connected {
    pub grant: Grant,
    pub member_id: Option<String>,
    /// The portal's host, from the grant's `client_endpoint` (the grant's own `domain` is the
    /// OAuth server's).
    pub domain: Option<String>,
}

/// The answers of one `batch`, by command name; a command's error is its own.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    results: Map<String, Value>,
    errors: Map<String, Value>,
}

impl Batch {
    pub fn get(&self, name: &str) -> Result<&Value, CallError> {
        if let Some(error) = self.errors.get(name).filter(|e| !e.is_null()) {
            return Err(rest_error(400, error));
        }
        Ok(self.results.get(name).unwrap_or(&Value::Null))
    }
}

/// A `batch` command: the method and its parameters as a query string, in PHP's bracket form
/// (`filter[OWNER_ID]=5`, `select[]=ID`).
pub fn command(method: &str, params: &[(&str, String)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    format!("{method}?{query}")
}

impl Bitrix24<'_> {
    /// The code lives 30 seconds: exchanged as soon as the callback has it.
    pub async fn exchange_code(&self, code: &str) -> Result<Connected, CallError> {
        self.token(&[("grant_type", "authorization_code"), ("code", code)])
            .await
    }

    /// `POST {portal}/rest/{method}.json`: the whole answer (`result`, and `next`/`total` of
    /// lists).
    pub async fn call(
        &self,
        token: &Secret,
        method: &str,
        params: Value,
    ) -> Result<Value, CallError> {
        let mut body = match params {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        body.insert("auth".into(), Value::String(token.expose().to_owned()));
        let response = self
            .http
            .post(format!("{}/rest/{method}.json", self.portal()))
            .timeout(self.timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| CallError::from_reqwest("Bitrix24", &e))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) && body.get("error").is_none() {
            return Ok(body);
        }
        Err(rest_error(status, &body))
    }

    /// Up to [`MAX_BATCH`] calls as one request: `(name, "method?query")`, the query in PHP's
    /// bracket form (`filter[OWNER_ID]=5`).
    pub async fn batch(
        &self,
        token: &Secret,
        commands: &[(&str, String)],
    ) -> Result<Batch, CallError> {
        let cmd: Map<String, Value> = commands
            .iter()
            .take(MAX_BATCH)
            .map(|(name, command)| ((*name).to_owned(), Value::String(command.clone())))
            .collect();
        let body = self
            .call(token, "batch", serde_json::json!({"halt": 0, "cmd": cmd}))
            .await?;
        let object = |k: &str| match body.pointer(&format!("/result/{k}")) {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        Ok(Batch {
            results: object("result"),
            errors: object("result_error"),
        })
    }

    async fn token(&self, grant: &[(&str, &str)]) -> Result<Connected, CallError> {
        let (Some(client_id), Some(client_secret)) =
            (&self.settings.client_id, &self.settings.client_secret)
        else {
            return Err(CallError::Refused(
                "the integration has no Bitrix24 client id and secret".into(),
            ));
        };
        let mut url = url::Url::parse(&format!(
            "{}/oauth/token/",
            self.settings.oauth_url.trim_end_matches('/')
        ))
        .map_err(|_| CallError::Refused("bitrix24.oauth_url is not a URL".into()))?;
        url.query_pairs_mut()
            .extend_pairs(grant)
            .append_pair("client_id", client_id)
            .append_pair("client_secret", client_secret.expose());
        let response = self
            .http
            .get(url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| CallError::from_reqwest("Bitrix24", &e))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !(200..300).contains(&status) || body.get("error").is_some() {
            return Err(rest_error(status, &body));
        }
        let access_token = body["access_token"].as_str().ok_or_else(|| {
            CallError::Unavailable("the Bitrix24 OAuth server granted no access_token".into())
        })?;
        let text = |k: &str| body[k].as_str().map(str::to_owned);
        Ok(Connected {
            grant: Grant {
                access_token: Secret::new(access_token),
                refresh_token: body["refresh_token"].as_str().map(Secret::new),
                expires_in: body["expires_in"].as_u64().map(Duration::from_secs),
            },
            member_id: text("member_id"),
            domain: text("client_endpoint")
                .and_then(|e| url::Url::parse(&e).ok()?.host_str().map(str::to_owned)),
        })
    }

    fn portal(&self) -> &str {
        self.settings.portal_url.trim_end_matches('/')
    }
}

/// A Bitrix24 error (`{"error": CODE, "error_description": text}`) by what to do about it.
pub fn rest_error(status: u16, body: &Value) -> CallError {
    let code = crate::domain::limits::cut(body["error"].as_str().unwrap_or_default(), 64);
    let description =
        crate::domain::limits::cut(body["error_description"].as_str().unwrap_or_default(), 200);
    let (code, description) = (code.as_str(), description.as_str());
    let detail = match (code, description) {
        ("", d) => d.to_owned(),
        (c, "") => c.to_owned(),
        (c, d) => format!("{c}: {d}"),
    };
    let message = |what: &str| format!("Bitrix24 answered HTTP {status}{what}: {detail}");
    match code.to_ascii_uppercase().as_str() {
        // Over the leaky bucket, or a method blocked for running too long (limits.md).
        "QUERY_LIMIT_EXCEEDED" | "OPERATION_TIME_LIMIT" => CallError::RateLimited(message("")),
        "EXPIRED_TOKEN" | "INVALID_TOKEN" | "NO_AUTH_FOUND" => CallError::Unauthorized(message("")),
        "ACCESS_DENIED" | "INSUFFICIENT_SCOPE" | "INVALID_SCOPE" | "PAYMENT_REQUIRED"
        | "INVALID_CLIENT" | "INVALID_GRANT" | "INVALID_REQUEST" => CallError::Refused(message("")),
        _ if description.eq_ignore_ascii_case("not found") => CallError::NotFound(message("")),
        _ => CallError::from_status("Bitrix24", status, &detail),
    }
}

impl Bitrix24<'_> {
    /// Spends the refresh token for a new pair. A refused refresh (`invalid_grant`: used,
    /// expired or revoked; `invalid_client`) ends the connection; anything else is passing.
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<Grant, RefreshError> {
        match self
            .token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ])
            .await
        {
            Ok(connected) => Ok(connected.grant),
            Err(CallError::Unauthorized(m) | CallError::Refused(m) | CallError::NotFound(m)) => {
                Err(RefreshError::Revoked(m))
            }
            Err(e) => Err(RefreshError::Unavailable(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn batch_commands_are_query_strings() {
        assert_eq!(
            command(
                "crm.activity.list",
                &[("filter[OWNER_ID]", "5".into()), ("select[]", "ID".into())]
            ),
            "crm.activity.list?filter%5BOWNER_ID%5D=5&select%5B%5D=ID"
        );
    }

    #[test]
    fn errors_are_sorted_by_what_to_do() {
        let limit =
            json!({"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"});
        assert!(matches!(rest_error(503, &limit), CallError::RateLimited(_)));
        let expired = json!({"error": "expired_token", "error_description": "The access token provided has expired."});
        assert!(matches!(
            rest_error(401, &expired),
            CallError::Unauthorized(_)
        ));
        let missing = json!({"error": "", "error_description": "Not found"});
        assert!(matches!(rest_error(400, &missing), CallError::NotFound(_)));
        let denied = json!({"error": "ACCESS_DENIED", "error_description": "Access denied!"});
        assert!(matches!(rest_error(403, &denied), CallError::Refused(_)));
        assert!(matches!(
            rest_error(500, &Value::Null),
            CallError::Unavailable(_)
        ));
        assert!(matches!(
            rest_error(502, &json!({"error": "INTERNAL_SERVER_ERROR"})),
            CallError::Unavailable(_)
        ));
    }
}
