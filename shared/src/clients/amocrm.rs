//! The amoCRM (Kommo) API: the OAuth token endpoint (code exchange, refresh) and v4 reads.
//! Calls go to the account's own address (providers.md 3.7); answers are HAL JSON, errors
//! problem+json with a `hint` or `detail`.

use super::CallError;
use crate::domain::integration::AmocrmSettings;
use crate::domain::oauth::{Grant, RefreshError};
use crate::domain::secret::Secret;
use serde_json::{Value, json};
use std::time::Duration;

/// The page the account's administrator allows the integration on; `None` when the settings
/// lack a client id or a usable address.
pub fn authorize_url(settings: &AmocrmSettings, state: &str) -> Option<String> {
    let client_id = settings.client_id.as_deref()?;
    let base = settings.base_url.trim_end_matches('/');
    let mut url = url::Url::parse(&format!("{base}/oauth")).ok()?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("state", state)
        .append_pair("mode", "post_message");
    Some(url.into())
}

pub struct Amocrm<'a> {
    pub http: &'a reqwest::Client,
    pub settings: &'a AmocrmSettings,
    /// How long one request may take (the caller's deadline decides).
    pub timeout: Duration,
}

impl Amocrm<'_> {
    pub async fn exchange_code(&self, code: &str) -> Result<Grant, CallError> {
        self.token(json!({"grant_type": "authorization_code", "code": code}))
            .await
    }

    /// `GET {base}/api/v4/{path}` with a bearer token; a 204 is `null`.
    pub async fn get(&self, token: &Secret, path: &str) -> Result<Value, CallError> {
        let url = format!("{}/api/v4/{}", self.base(), path.trim_start_matches('/'));
        let response = self
            .http
            .get(&url)
            .timeout(self.timeout)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|e| CallError::from_reqwest("amoCRM", &e))?;
        let status = response.status().as_u16();
        if status == 204 {
            return Ok(Value::Null);
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(CallError::from_status("amoCRM", status, &problem(&body)))
    }

    async fn token(&self, grant: Value) -> Result<Grant, CallError> {
        let (Some(client_id), Some(client_secret)) =
            (&self.settings.client_id, &self.settings.client_secret)
        else {
            return Err(CallError::Refused(
                "the integration has no amoCRM client id and secret".into(),
            ));
        };
        let mut body = json!({
            "client_id": client_id,
            "client_secret": client_secret.expose(),
            "redirect_uri": self.settings.redirect_uri.clone().unwrap_or_default(),
        });
        if let (Some(b), Some(g)) = (body.as_object_mut(), grant.as_object()) {
            b.extend(g.clone());
        }
        let response = self
            .http
            .post(format!("{}/oauth2/access_token", self.base()))
            .timeout(self.timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| CallError::from_reqwest("amoCRM", &e))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            return Err(CallError::from_status("amoCRM", status, &problem(&body)));
        }
        let access_token = body["access_token"]
            .as_str()
            .ok_or_else(|| CallError::Unavailable("amoCRM granted no access_token".into()))?;
        Ok(Grant {
            access_token: Secret::new(access_token),
            refresh_token: body["refresh_token"].as_str().map(Secret::new),
            expires_in: body["expires_in"].as_u64().map(Duration::from_secs),
        })
    }

    fn base(&self) -> &str {
        self.settings.base_url.trim_end_matches('/')
    }
}

/// The readable part of a problem+json answer.
fn problem(body: &Value) -> String {
    ["hint", "detail", "title"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned()
}

impl Amocrm<'_> {
    /// Spends the refresh token for a new pair. A refused refresh (400, 401 "Token has been
    /// revoked") ends the connection; anything else is passing.
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<Grant, RefreshError> {
        match self
            .token(json!({"grant_type": "refresh_token", "refresh_token": refresh_token.expose()}))
            .await
        {
            Ok(grant) => Ok(grant),
            Err(CallError::Unauthorized(m) | CallError::Refused(m)) => {
                Err(RefreshError::Revoked(m))
            }
            Err(e) => Err(RefreshError::Unavailable(e.to_string())),
        }
    }
}
