//! One management API request, read once: who is calling, the body, the query, the clock.

use crate::routes::Route;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;
use shared::app::App;
use shared::domain::account::Account;
use shared::edge::web::{self, ApiError, Invalid};
use shared::store::{Position, cursor};

pub struct Call<'a> {
    pub app: &'a App,
    pub account: Account,
    /// Scheme and host for URLs we hand back.
    pub base_url: String,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
    pub now: DateTime<Utc>,
    /// When the request's work must be done (CRM calls made for it wait no longer).
    pub deadline: shared::crm::Deadline,
    /// The route it matched (what query it takes).
    pub route: &'static Route,
}

/// Fields the server owns; clients may echo them back (GET, edit, PATCH) and they are ignored.
const SERVER_FIELDS: [&str; 5] = [
    "id",
    "account_id",
    "created_at",
    "updated_at",
    "webhook_urls",
];

impl Call<'_> {
    /// Query parameter `name`, which the route must declare (so the OpenAPI document names it).
    pub fn param(&self, name: &str) -> Option<String> {
        debug_assert!(
            self.route.takes(name),
            "{} {} reads the undeclared query parameter `{name}`",
            self.route.method,
            self.route.path
        );
        web::query_param(self.query, name).filter(|v| !v.is_empty())
    }

    /// A query parameter the route does not take, if the request has one: a misspelt filter
    /// refused rather than ignored (which would answer with everything).
    pub fn unknown_param(&self) -> Option<ApiError> {
        let query = self.query?;
        let (name, _) = url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| !self.route.takes(name))?;
        let takes: Vec<&str> = self.route.query.iter().map(|p| p.name).collect();
        let message = if takes.is_empty() {
            format!(
                "{} takes no query parameters (`{name}` was given).",
                self.route.path
            )
        } else {
            format!(
                "Unknown query parameter `{name}`; {} takes {}.",
                self.route.path,
                takes.join(", ")
            )
        };
        Some(ApiError::invalid(
            name.into_owned(),
            Invalid::Unknown,
            message,
        ))
    }

    /// The `limit` parameter: 1 to 200, `default` when not given.
    pub fn limit(&self, default: usize) -> Result<usize, ApiError> {
        match self.param("limit") {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=200).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "limit",
                        Invalid::InvalidValue,
                        "limit is a whole number from 1 to 200.",
                    )
                }),
        }
    }

    /// The `cursor` parameter as a store position. A cursor only ever continues a listing of
    /// `partition` (the caller's own): one crafted to reach another is refused.
    pub fn cursor(&self, partition: &str) -> Result<Option<Position>, ApiError> {
        let Some(c) = self.param("cursor") else {
            return Ok(None);
        };
        cursor::decode(&c)
            .filter(|p| p.index_key.as_ref().is_some_and(|k| k.pk == partition))
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("The cursor is not one this API gave out."))
    }

    /// The body as a JSON object, without the fields the server owns.
    pub fn object(&self) -> Result<serde_json::Map<String, Value>, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::bad_request("Send a JSON object as the body."));
        }
        match serde_json::from_slice(self.body) {
            Ok(Value::Object(mut map)) => {
                for field in SERVER_FIELDS {
                    map.remove(field);
                }
                Ok(map)
            }
            Ok(_) => Err(ApiError::bad_request("The body must be a JSON object.")),
            Err(e) => Err(ApiError::bad_request(format!(
                "The body is not valid JSON: {e}."
            ))),
        }
    }
}

/// `T` from JSON, or a 400 that names the field at fault.
pub fn parse<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("{e}.")))
}

/// RFC 7396 JSON merge patch: objects merge, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    merge_patch(t.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p,
    }
}

/// The account whose API key the request carries.
pub async fn authenticate(app: &App, headers: &HeaderMap) -> Result<Account, ApiError> {
    let key = bearer(headers).ok_or_else(ApiError::unauthorized)?;
    app.store
        .account_for_key(key)
        .await?
        .ok_or_else(ApiError::unauthorized)
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patches_merge_objects_and_null_deletes() {
        let mut doc = json!({"a": 1, "m": {"x": 1, "y": 2}, "gone": true});
        merge_patch(
            &mut doc,
            json!({"a": 2, "m": {"y": null, "z": 3}, "gone": null}),
        );
        assert_eq!(doc, json!({"a": 2, "m": {"x": 1, "z": 3}}));
    }
}
