//! HTTP clients of provider APIs: requests, answers, and failures sorted by what the caller
//! should do about them.

pub mod amocrm;
pub mod bitrix24;
pub mod forward;
pub mod guard;
pub mod metrika;
pub mod tls;
pub mod verbox;

/// A provider call that did not succeed, by what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// HTTP 401: the token was refused (refresh once, then the connection needs the user).
    #[error("{0}")]
    Unauthorized(String),
    /// HTTP 429: over the provider's rate limit; slow down and retry.
    #[error("{0}")]
    RateLimited(String),
    /// A refused connection, HTTP 5xx: retry later.
    #[error("{0}")]
    Unavailable(String),
    /// No answer within the request's timeout: retry later (or, when the caller's deadline
    /// cut the timeout short, in a later invocation).
    #[error("{0}")]
    TimedOut(String),
    /// HTTP 404: what was asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Any other refusal (HTTP 400, 402 unpaid account, 403): retrying will not help.
    #[error("{0}")]
    Refused(String),
}

impl CallError {
    pub fn from_status(provider: &str, status: u16, detail: &str) -> CallError {
        // What a provider answered may be anything (an address aimed inside answers with
        // whatever lives there): only a short piece of it is repeated.
        let detail = crate::domain::limits::cut(detail, 200);
        let message = if detail.is_empty() {
            format!("{provider} answered HTTP {status}")
        } else {
            format!("{provider} answered HTTP {status}: {detail}")
        };
        match status {
            401 => CallError::Unauthorized(message),
            429 => CallError::RateLimited(message),
            404 => CallError::NotFound(message),
            s if s >= 500 => CallError::Unavailable(message),
            _ => CallError::Refused(message),
        }
    }

    /// A request that got no answer, told without its URL (a token endpoint's carries the
    /// client secret, a portal's path the tenant's address).
    pub fn from_reqwest(provider: &str, e: &reqwest::Error) -> CallError {
        if e.is_timeout() {
            CallError::TimedOut(format!("{provider} did not answer in time"))
        } else if e.is_connect() {
            CallError::Unavailable(format!("{provider} could not be reached"))
        } else {
            CallError::Unavailable(format!("{provider} broke off the answer"))
        }
    }
}
