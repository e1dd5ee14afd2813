//! HTTP glue every handler shares: the one place errors become responses
//! (`{"error": code, "message": sentence}`), JSON answers, and request helpers.

use crate::app::ingest::IngestError;
use crate::clients::CallError;
use crate::crm::bitrix24::ReconcileError;
use crate::crm::{ConnectError, SessionError};
use crate::domain::appeal::Provider;
use crate::domain::oauth::TokenError;
use crate::store::StoreError;
use http::{HeaderMap, Response, StatusCode, header};
use serde::Serialize;
use tracing::Instrument;

pub type HttpResponse = Response<String>;

/// An answer that is not a success: `{"error": code, "message": sentence}`, and for a refused
/// input field also `"field": name, "reason": why`. Codes, fields and reasons are stable, so a
/// client such as the console can say them in its user's language; the message is English,
/// for people reading the API. Every refused input is `invalid_request`, whatever the reason,
/// so clients that only know the code keep working as reasons are refined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The input field at fault (`name`, `amocrm.base_url`), when one is.
    pub field: Option<String>,
    /// Why that field was refused (an [`Invalid`] code).
    pub reason: Option<&'static str>,
}

/// Why a field of the input was refused: the codes a client can translate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Missing or blank.
    Required,
    /// Longer than allowed.
    TooLong,
    /// Names a record of the account that does not exist.
    UnknownReference,
    /// Not a URL, or not https.
    InvalidUrl,
    /// Points at a private, loopback or link-local address.
    InternalAddress,
    /// Any other value out of its form (a domain, a field code, a channel).
    InvalidValue,
    /// A field (or query parameter) the input may not have.
    Unknown,
}

impl Invalid {
    pub fn code(self) -> &'static str {
        match self {
            Invalid::Required => "required",
            Invalid::TooLong => "too_long",
            Invalid::UnknownReference => "unknown_reference",
            Invalid::InvalidUrl => "invalid_url",
            Invalid::InternalAddress => "internal_address",
            Invalid::InvalidValue => "invalid_value",
            Invalid::Unknown => "unknown_field",
        }
    }
}

impl ApiError {
    /// Private: every status and code is chosen here, by a named constructor or a `From`.
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            reason: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// A field of the input refused, and why: 400 with the field's name and a stable code.
    pub fn invalid(field: impl Into<String>, why: Invalid, message: impl Into<String>) -> ApiError {
        let mut e = ApiError::bad_request(message);
        e.field = Some(field.into());
        e.reason = Some(why.code());
        e
    }

    /// A provider address of the input refused.
    pub fn address(field: &str, e: crate::domain::net::AddressError) -> ApiError {
        use crate::domain::net::AddressError;
        let why = match e {
            AddressError::Internal(_) => Invalid::InternalAddress,
            AddressError::NotAUrl(_) | AddressError::NotHttps(_) => Invalid::InvalidUrl,
        };
        ApiError::invalid(field, why, format!("{field}: {e}."))
    }

    /// The account's only live key cannot be revoked: nobody could reach the account after.
    pub fn last_key() -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            "last_key",
            "This is the account's last live key; create another one before revoking it.",
        )
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Send Authorization: Bearer <API key> with a key of this account.",
        )
    }

    pub fn payload_too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// A browser page of another site may not send us this (the tracker's CORS check).
    pub fn origin_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "origin_not_allowed", message)
    }

    /// A call made to a CRM on the caller's behalf that did not succeed, `doing` what.
    pub fn crm(provider: Provider, doing: &str, e: SessionError) -> ApiError {
        let name = provider.title();
        match e {
            SessionError::Token(e @ (TokenError::NotConnected | TokenError::NeedsReauth(_))) => {
                let code = match e {
                    TokenError::NotConnected => "not_connected",
                    _ => "needs_reauth",
                };
                ApiError::new(
                    StatusCode::CONFLICT,
                    code,
                    format!("{e}; connect the integration (POST .../oauth/start)."),
                )
            }
            SessionError::Token(TokenError::Unavailable(m)) | SessionError::Unavailable(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
            }
            SessionError::OutOfTime(m) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("{m}; retry shortly."),
            ),
            // A provider's refusal is the request's fault; its absence is a bad gateway.
            SessionError::Call(
                CallError::Unauthorized(m) | CallError::Refused(m) | CallError::NotFound(m),
            ) => ApiError::bad_request(format!("{name} refused {doing}: {m}.")),
            SessionError::Call(
                CallError::RateLimited(m) | CallError::Unavailable(m) | CallError::TimedOut(m),
            ) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "provider_unavailable",
                format!("{name} failed {doing}: {m}."),
            ),
        }
    }

    /// Connecting a CRM did not succeed, `doing` what.
    pub fn connect(provider: Provider, doing: &str, e: ConnectError) -> ApiError {
        match e {
            ConnectError::Crm(e) => ApiError::crm(provider, doing, e),
            ConnectError::Store(e) => e.into(),
        }
    }

    /// Reconciliation did not run.
    pub fn reconcile(provider: Provider, e: ReconcileError) -> ApiError {
        match e {
            ReconcileError::NotReconciled => ApiError::bad_request(
                "Only Bitrix24 integrations are reconciled: the others' providers send again what failed.",
            ),
            ReconcileError::Crm(e) => ApiError::crm(provider, "listing what was created", e),
            ReconcileError::Store(e) => e.into(),
        }
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "This path does not take that method.",
        )
    }

    pub fn into_response(self) -> HttpResponse {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let mut body = serde_json::json!({"error": self.code, "message": self.message});
        if let Some(field) = &self.field {
            body["field"] = serde_json::json!(field);
        }
        if let Some(reason) = self.reason {
            body["reason"] = serde_json::json!(reason);
        }
        let mut response = json(self.status, &body);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, http::HeaderValue::from_static("5"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::ConditionFailed => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "The record changed or exists already; read it again and retry.",
            ),
            StoreError::TooLarge(n) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("The record would take {n} bytes, more than the store holds in one item."),
            ),
            StoreError::Unavailable(m) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("The store is unavailable ({m}); retry shortly."),
            ),
            StoreError::Corrupt(m) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("Stored data could not be read: {m}"),
            ),
        }
    }
}

impl From<crate::app::appeals_csv::QueueError> for ApiError {
    fn from(e: crate::app::appeals_csv::QueueError) -> ApiError {
        use crate::app::appeals_csv::QueueError;
        match e {
            QueueError::NoBucket => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "export_too_large",
                format!("The CSV is larger than one answer holds: {e}."),
            ),
            QueueError::Store(e) => e.into(),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> ApiError {
        let message = e.to_string();
        match e {
            IngestError::TooLarge(_) => ApiError::payload_too_large(message),
            IngestError::NotFound => ApiError::not_found("No such webhook."),
            IngestError::Inactive => {
                ApiError::new(StatusCode::FORBIDDEN, "integration_inactive", message)
            }
            IngestError::Malformed(reason) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_payload",
                format!("{reason}; nothing was kept, as its sender could not be verified"),
            ),
            IngestError::Forbidden(reason) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", reason)
            }
            IngestError::Unreadable {
                reason,
                raw_event_id,
            } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_payload",
                format!("{reason} (kept as {raw_event_id} for replay)"),
            ),
            IngestError::Store(e) => e.into(),
        }
    }
}

pub fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> HttpResponse {
    let body = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap_or_default()
}

pub fn no_content() -> HttpResponse {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(String::new())
        .unwrap_or_default()
}

/// A result of a handler, answered as JSON with the given status, or as its error.
pub fn respond<T: Serialize>(status: StatusCode, result: Result<T, ApiError>) -> HttpResponse {
    match result {
        Ok(body) => json(status, &body),
        Err(e) => e.into_response(),
    }
}

/// Path segments, so handlers route with slice patterns: `["api", "sites", id]`.
pub fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

pub fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::CONTENT_TYPE)?.to_str().ok()
}

/// A Lambda answers within its function's timeout (the API's is 10 s in the template); the
/// local server keeps the same bound, so both behave alike. A second is kept back to answer.
pub const API_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// When a request's work must be done: the invocation's deadline on Lambda, else the API
/// timeout from now; a second sooner, to answer.
pub fn deadline(lambda_deadline_ms: Option<u64>) -> crate::crm::Deadline {
    let margin = std::time::Duration::from_secs(1);
    match lambda_deadline_ms {
        Some(ms) => crate::crm::Deadline::at_unix_millis(ms),
        None => crate::crm::Deadline::after(API_TIMEOUT),
    }
    .sooner_by(margin)
}

/// The scheme and host the client used, for URLs we hand back (`https://abc.execute-api...`).
pub fn base_url(headers: &HeaderMap, configured: Option<&str>) -> String {
    if let Some(url) = configured {
        return url.to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

/// The value of `name` in a query string, percent-decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A webhook request after routing: checks the method, receives the body through the
/// pipeline, and answers as providers expect (`{"result":"ok"}`: Jivo's documented answer,
/// and a 2xx JSON body is all the others ask).
pub async fn webhook<B: AsRef<[u8]>>(
    app: &crate::app::App,
    req: &http::Request<B>,
    provider: crate::domain::appeal::Provider,
    integration_id: &str,
    secret: &str,
    hook: &str,
) -> HttpResponse {
    if req.method() != http::Method::POST {
        return ApiError::method_not_allowed().into_response();
    }
    let delivery = crate::app::ingest::Delivery {
        provider,
        integration_id,
        secret,
        hook,
        body: req.body().as_ref(),
        content_type: content_type(req.headers()),
    };
    // One span per delivery: what is logged inside carries its ids (never the secret; an id
    // that is no id is not repeated).
    let span = tracing::info_span!(
        "webhook",
        provider = %provider,
        hook,
        integration_id = crate::domain::ids::IntegrationId::parse(integration_id)
            .map(|id| id.to_string())
            .unwrap_or_else(|_| "invalid".into()),
    );
    let result = crate::app::ingest::receive(app, delivery, chrono::Utc::now())
        .instrument(span)
        .await;
    respond(
        StatusCode::OK,
        result
            .map(|_| serde_json::json!({"result": "ok"}))
            .map_err(ApiError::from),
    )
}

/// Answers `handler`'s response, or, if it panicked (a bug), a 500 saying so: the client gets
/// an answer instead of a dropped connection (locally) or a gateway's 502 (on Lambda), and the
/// panic is logged where the request's other lines are.
pub async fn even_a_panic<F>(handler: F) -> HttpResponse
where
    F: std::future::Future<Output = HttpResponse>,
{
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(handler).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %what, "a request's handling panicked");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "The request hit a bug of ours and was not handled; it is logged.",
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod panic_tests {
    use super::*;

    #[test]
    fn a_handler_that_panics_is_answered_with_a_500_saying_so() {
        let answer = futures::executor::block_on(even_a_panic(async {
            let empty: Vec<u8> = Vec::new();
            // An index out of bounds, as a console page once made.
            let _ = empty[usize::from(empty.is_empty())];
            ApiError::not_found("unreachable").into_response()
        }));
        assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
