//! Signing in (one password field: an API key of the account) and out.

use super::{Lang, auth, error_page, layout, redirect};
use http::{HeaderMap, StatusCode, header};
use maud::html;
use shared::app::App;
use shared::edge::web::{self, HttpResponse};

/// The sign-in page; `failed` says why the last try did not work.
pub fn page(lang: Lang, query: Option<&str>, failed: Option<&str>) -> HttpResponse {
    let next = web::query_param(query, "next").filter(|n| safe_next(n));
    // The other language, keeping where the sign-in leads.
    let (other, other_name) = match lang {
        Lang::Ru => ("en", "English"),
        Lang::En => ("ru", "Русский"),
    };
    let mut switch = url::form_urlencoded::Serializer::new(String::new());
    if let Some(next) = &next {
        switch.append_pair("next", next);
    }
    let switch = switch.append_pair("lang", other).finish();
    let content = html! {
        p.lang-switch { a href={ "/login?" (switch) } lang=(other) { (other_name) } }
        h1 { (lang.t("Sign in")) }
        p.hint { (lang.t("Paste one of your account's API keys. chatsource serve prints one when it starts; the keys page makes more.")) }
        @if let Some(why) = failed {
            p.notice.bad role="alert" { (why) }
        }
        form.card method="post" action="/login" {
            @if let Some(next) = &next {
                input type="hidden" name="next" value=(next);
            }
            div.field {
                label for="key" { (lang.t("API key")) }
                input id="key" name="key" type="password" autocomplete="current-password" required autofocus
                    aria-invalid=[failed.map(|_| "true")];
            }
            div.actions { button type="submit" { (lang.t("Sign in")) } }
        }
    };
    let status = if failed.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    layout::bare(lang, status, lang.t("Sign in"), content)
}

pub async fn post(app: &App, lang: Lang, headers: &HeaderMap, body: &[u8]) -> HttpResponse {
    if !auth::same_origin(headers) {
        return super::stale_form(lang);
    }
    let form = super::Form::parse(body);
    let key = form.get("key").unwrap_or_default();
    match auth::sign_in(app, key, chrono::Utc::now()).await {
        Ok(Some(cookie)) => {
            let next = form
                .get("next")
                .filter(|n| safe_next(n))
                .unwrap_or("/appeals");
            let mut response = redirect(next);
            response.headers_mut().insert(
                header::SET_COOKIE,
                auth::session_cookie(Some(&cookie), headers),
            );
            response
        }
        Ok(None) => page(
            lang,
            None,
            Some(lang.t("That key opens no account, or it was revoked.")),
        ),
        Err(e) => error_page(lang, e.into()),
    }
}

/// Ends the session on the server, and the cookie with it.
pub async fn sign_out(app: &App, headers: &HeaderMap) -> HttpResponse {
    let _ = auth::sign_out(app, headers).await;
    let mut response = redirect("/login");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, auth::session_cookie(None, headers));
    response
}

/// Only our own pages are places to come back to (never another site: an open redirect).
fn safe_next(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.contains(['\r', '\n'])
}
