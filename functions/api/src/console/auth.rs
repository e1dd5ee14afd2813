//! Signing in to the console with one of the account's API keys: a server-side session held by
//! an opaque HttpOnly, SameSite=Lax cookie (Lax, so the way back from a CRM's consent page
//! arrives signed in; Secure except on loopback), a CSRF token in every form, and a check that
//! posts come from our own pages. Sign-out ends the session on the server; revoking the key
//! ends every session it opened.

use chrono::{DateTime, Duration, Utc};
use http::{HeaderMap, HeaderValue, header};
use shared::app::App;
use shared::domain::account::{Account, ConsoleSession, key_digest};
use shared::domain::secret::{Secret, random_token};
use shared::store::StoreError;

pub const SESSION_COOKIE: &str = "cs_session";
pub const LANG_COOKIE: &str = "cs_lang";
/// A session idle this long ends: a forgotten browser does not stay signed in for good.
const IDLE: Duration = Duration::hours(12);

/// A signed-in request: whose, and the token its forms carry.
pub struct SignedIn {
    pub account: Account,
    pub csrf: String,
}

/// The value of cookie `name`, if the request has it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The account a request's session cookie opens, if the session and its key are live.
pub async fn signed_in(app: &App, headers: &HeaderMap) -> Result<Option<SignedIn>, StoreError> {
    let Some(value) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = app.store.console_session(&value).await? else {
        return Ok(None);
    };
    if session.expires_at <= Utc::now() {
        return Ok(None);
    }
    Ok(app
        .store
        .account(&session.account_id)
        .await?
        .map(|account| SignedIn {
            account,
            csrf: session.csrf,
        }))
}

/// Opens a session for `key` if it opens an account; the cookie's value to set.
pub async fn sign_in(
    app: &App,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let Some(account) = app.store.account_for_key(key.trim()).await? else {
        return Ok(None);
    };
    let value = random_token(32);
    let session = ConsoleSession {
        digest: key_digest(&value),
        account_id: account.id,
        key_digest: key_digest(key.trim()),
        csrf: random_token(24),
        created_at: now,
        expires_at: now + IDLE,
    };
    app.store.open_console_session(&session).await?;
    Ok(Some(value))
}

pub async fn sign_out(app: &App, headers: &HeaderMap) -> Result<(), StoreError> {
    match cookie(headers, SESSION_COOKIE) {
        Some(value) => app.store.close_console_session(&value).await,
        None => Ok(()),
    }
}

/// Whether a post's CSRF token is the session's (compared in constant time).
pub fn csrf_ok(signed_in: &SignedIn, sent: Option<&str>) -> bool {
    sent.is_some_and(|sent| Secret::new(signed_in.csrf.clone()).verify(sent))
}

/// Whether a post comes from a page of ours: a browser names the page's origin; a post that
/// names another (a form on someone else's site) is refused, whatever cookies came with it.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|o| o.to_str().ok());
    match (host, origin) {
        (Some(host), Some(origin)) => url::Url::parse(origin).is_ok_and(|u| {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}{port}", u.host_str().unwrap_or_default()) == host
        }),
        // No origin named (some clients send none on same-origin posts): the CSRF token decides.
        (_, None) => true,
        (None, Some(_)) => false,
    }
}

/// The `Set-Cookie` of a session (or, with `None`, the one that clears it). Secure wherever the
/// console is not on loopback, where a developer's plain http must keep working.
pub fn session_cookie(value: Option<&str>, headers: &HeaderMap) -> HeaderValue {
    let secure = !is_loopback(headers);
    let cookie = match value {
        Some(v) => format!(
            "{SESSION_COOKIE}={v}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
            IDLE.num_seconds(),
            if secure { "; Secure" } else { "" }
        ),
        None => format!(
            "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
            if secure { "; Secure" } else { "" }
        ),
    };
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The language switch's cookie: a preference, readable by nothing but the server.
pub fn lang_cookie(code: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={code}; Path=/; SameSite=Lax; Max-Age=31536000"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn is_loopback(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}
