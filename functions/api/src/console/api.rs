//! The console's way to the management API: a route of the API's own table, run in process
//! for the signed-in account, its JSON answer read back. What a form does, the API does.

use super::{Ctx, Lang};
use crate::call::Call;
use crate::routes::{self, Found};
use http::Method;
use serde_json::Value;
use shared::edge::web;

/// An API call that did not succeed, as its JSON said: `code` is the reason a field was
/// refused (`too_long`) when the answer gives one, else the error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

/// Runs `method path` (query included) with `body` as the signed-in account.
pub async fn call(
    ctx: &Ctx<'_>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, Failure> {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let segments = web::segments(path);
    let Found::Route(route, params) = routes::find(&method, &segments) else {
        return Err(Failure {
            status: 404,
            code: "not_found".into(),
            message: format!("No API route {method} {path}."),
            field: None,
        });
    };
    let bytes = body.map(Value::to_string).unwrap_or_default();
    let call = Call {
        app: ctx.app,
        account: ctx.signed_in.account.clone(),
        base_url: web::base_url(ctx.headers, ctx.app.public_url.as_deref()),
        query,
        body: bytes.as_bytes(),
        now: chrono::Utc::now(),
        deadline: ctx.deadline,
        route,
    };
    let response = crate::run(&call, route, &params).await;
    let status = response.status().as_u16();
    let json: Value = serde_json::from_str(response.body()).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(json);
    }
    // A refused field's reason is the more telling code.
    let code = json["reason"].as_str().or(json["error"].as_str());
    Err(Failure {
        status,
        code: code.unwrap_or("error").to_owned(),
        message: json["message"].as_str().unwrap_or_default().to_owned(),
        field: json["field"].as_str().map(str::to_owned),
    })
}

impl Failure {
    /// What to tell the user, in their language: validation codes have their own sentence;
    /// anything else is the API's (English) message.
    pub fn say(&self, lang: Lang) -> String {
        let known = match self.code.as_str() {
            "required" => Some(lang.t("Fill this in.")),
            "too_long" => Some(lang.t("This is too long.")),
            "unknown_reference" => {
                Some(lang.t("Pick one from the list: the one given no longer exists."))
            }
            "invalid_url" => Some(lang.t("Give a full https address, like https://example.ru.")),
            "internal_address" => Some(lang.t(
                "This address points inside a private network; give the provider's public address.",
            )),
            "invalid_value" => Some(lang.t("Check this value.")),
            "last_key" => {
                Some(lang.t("This is the last live key: create another one before revoking it."))
            }
            "not_connected" | "needs_reauth" => Some(lang.t("Connect the integration first.")),
            "not_found" => Some(lang.t("There is no such record: it may have been deleted.")),
            _ => None,
        };
        known.map_or_else(|| self.message.clone(), str::to_owned)
    }

    /// Whether this failure is about the input field `name`.
    pub fn is_about(&self, name: &str) -> bool {
        self.field.as_deref() == Some(name)
    }
}
