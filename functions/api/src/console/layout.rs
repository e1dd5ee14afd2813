//! The page every console screen sits in: the header with the navigation (its names fixed by
//! DESIGN.md), the language switch and sign-out; one stylesheet and one script of our own, under
//! a Content-Security-Policy that allows nothing else.

use super::Ctx;
use super::i18n::Lang;
use http::{Response, StatusCode, header};
use maud::{DOCTYPE, Markup, html};
use shared::edge::web::HttpResponse;

/// The console's sections, in the order of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Appeals,
    Integrations,
    Reports,
    Directories,
    RawData,
    Settings,
    Keys,
}

impl Section {
    const ALL: [Section; 7] = [
        Section::Appeals,
        Section::Integrations,
        Section::Reports,
        Section::Directories,
        Section::RawData,
        Section::Settings,
        Section::Keys,
    ];

    fn path(self) -> &'static str {
        match self {
            Section::Appeals => "/appeals",
            Section::Integrations => "/integrations",
            Section::Reports => "/reports",
            Section::Directories => "/directories",
            Section::RawData => "/raw",
            Section::Settings => "/settings",
            Section::Keys => "/keys",
        }
    }

    fn title(self, lang: Lang) -> &'static str {
        match self {
            Section::Appeals => lang.t("Appeals"),
            Section::Integrations => lang.t("Integrations"),
            Section::Reports => lang.t("Reports"),
            Section::Directories => lang.t("Directories"),
            Section::RawData => lang.t("Raw data"),
            Section::Settings => lang.t("Settings"),
            Section::Keys => lang.t("API keys"),
        }
    }
}

/// A whole page of a signed-in user.
pub fn page(ctx: &Ctx, section: Section, title: &str, content: Markup) -> HttpResponse {
    let lang = ctx.lang;
    let body = html! {
        header.top {
            a.brand href="/appeals" { "chatsource" }
            nav aria-label=(lang.t("Sections")) {
                ul {
                    @for s in Section::ALL {
                        li {
                            a href=(s.path()) aria-current=[(s == section).then_some("page")] {
                                (s.title(lang))
                            }
                        }
                    }
                }
            }
            div.tools {
                (lang_switch(ctx))
                form method="post" action="/logout" {
                    input type="hidden" name="_csrf" value=(ctx.csrf);
                    button.link type="submit" { (lang.t("Sign out")) }
                }
            }
        }
        main id="main" {
            h1 { (title) }
            (content)
        }
    };
    respond(StatusCode::OK, lang, title, body, &ctx.extra_form_actions)
}

/// A page of someone not signed in (the sign-in page).
pub fn bare(lang: Lang, status: StatusCode, title: &str, content: Markup) -> HttpResponse {
    let body = html! {
        main.narrow id="main" {
            p.brand { "chatsource" }
            (content)
        }
    };
    respond(status, lang, title, body, &[])
}

/// The other language, as a link that keeps the page and its filters.
fn lang_switch(ctx: &Ctx) -> Markup {
    let (other, label) = match ctx.lang {
        Lang::Ru => ("en", "English"),
        Lang::En => ("ru", "Русский"),
    };
    let mut params: Vec<(String, String)> =
        url::form_urlencoded::parse(ctx.query.unwrap_or("").as_bytes())
            .filter(|(k, _)| k != "lang")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    params.push(("lang".into(), other.into()));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    html! { a.lang href={ (ctx.path) "?" (query) } lang=(other) hreflang=(other) { (label) } }
}

fn respond(
    status: StatusCode,
    lang: Lang,
    title: &str,
    body: Markup,
    form_actions: &[String],
) -> HttpResponse {
    let document = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · chatsource" }
                link rel="stylesheet" href=(*super::assets::CSS_PATH);
                script src=(*super::assets::JS_PATH) defer {}
            }
            body {
                a.skip href="#main" { (lang.t("Skip to content")) }
                (body)
            }
        }
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, csp(form_actions))
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "same-origin")
        .header(header::X_FRAME_OPTIONS, "DENY")
        // Pages hold an account's data: no cache keeps them.
        .header(header::CACHE_CONTROL, "no-store")
        .body(document.into_string())
        .unwrap_or_default()
}

/// Nothing but our own script and stylesheet, no framing, forms posting only to us (and, on a
/// page with a Connect button, to the CRM's consent page the post is sent on to).
pub fn csp(form_actions: &[String]) -> String {
    let mut actions = String::from("'self'");
    for origin in form_actions {
        actions.push(' ');
        actions.push_str(origin);
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action {actions}; frame-ancestors 'none'; base-uri 'none'"
    )
}
