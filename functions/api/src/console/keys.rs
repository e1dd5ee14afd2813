//! The API keys page: the account's keys with their last use, a form for a new one (shown once,
//! with a copy button), and revoking.

use super::{Ctx, Form, failed_page, layout, redirect};
use http::Method;
use maud::{Markup, html};
use serde_json::{Value, json};
use shared::edge::web::HttpResponse;

pub async fn page(ctx: &Ctx<'_>, created: Option<(Value, Option<String>)>) -> HttpResponse {
    let lang = ctx.lang;
    let keys = match super::api::call(ctx, Method::GET, "/api/keys", None).await {
        Ok(keys) => keys,
        Err(e) => return failed_page(lang, &e),
    };
    let content = html! {
        @if let Some((key, failed)) = &created {
            @if let Some(why) = failed {
                p.notice.bad role="alert" { (why) }
            } @else {
                div.notice.good role="status" {
                    p { (lang.t("Here is the new key. Copy it now: it is not shown again.")) }
                    div.copyable {
                        input id="new-key" type="text" readonly value=(key["key"].as_str().unwrap_or_default()) aria-label=(lang.t("New API key"));
                        button.secondary type="button" data-copy="#new-key" data-copied=(lang.t("Copied")) { (lang.t("Copy")) }
                    }
                }
            }
        }
        table.stack {
            thead { tr {
                th { (lang.t("Name")) } th { (lang.t("Key")) } th { (lang.t("Created")) }
                th { (lang.t("Last used")) } th { span.skip-label { (lang.t("Actions")) } }
            } }
            tbody {
                @for key in keys["items"].as_array().into_iter().flatten() {
                    (row(ctx, key))
                }
            }
        }
        h2 { (lang.t("Create a key")) }
        form.card method="post" action="/keys" {
            input type="hidden" name="_csrf" value=(ctx.csrf);
            div.field {
                label for="name" { (lang.t("Name")) }
                input id="name" name="name" type="text" required maxlength="200"
                    placeholder=(lang.t("What it is for, e.g. CRM sync"));
            }
            div.actions { button type="submit" { (lang.t("Create a key")) } }
        }
    };
    layout::page(ctx, layout::Section::Keys, lang.t("API keys"), content)
}

fn row(ctx: &Ctx<'_>, key: &Value) -> Markup {
    let lang = ctx.lang;
    let id = key["id"].as_str().unwrap_or_default();
    let revoked = !key["revoked_at"].is_null();
    html! {
        tr {
            td data-label=(lang.t("Name")) { (key["name"].as_str().unwrap_or_default()) }
            td data-label=(lang.t("Key")) { code { (id) } }
            td data-label=(lang.t("Created")) { (super::when(lang, &key["created_at"])) }
            td data-label=(lang.t("Last used")) {
                @if key["last_used_at"].is_null() { span.muted { (lang.t("Never")) } }
                @else { (super::when(lang, &key["last_used_at"])) }
            }
            td {
                @if revoked {
                    span.badge.bad { (lang.t("Revoked")) }
                } @else {
                    form method="post" action={ "/keys/" (id) "/revoke" }
                        data-confirm=(lang.t("Revoke this key? Whatever uses it, and every console signed in with it, stops at once.")) {
                        input type="hidden" name="_csrf" value=(ctx.csrf);
                        button.danger type="submit" { (lang.t("Revoke")) }
                    }
                }
            }
        }
    }
}

pub async fn create(ctx: &Ctx<'_>, form: &Form) -> HttpResponse {
    let body = json!({"name": form.get("name").unwrap_or_default()});
    match super::api::call(ctx, Method::POST, "/api/keys", Some(&body)).await {
        // Shown on the answer to the post itself: the key is never stored where a reload finds it.
        Ok(key) => page(ctx, Some((key, None))).await,
        Err(e) => page(ctx, Some((Value::Null, Some(e.say(ctx.lang))))).await,
    }
}

pub async fn revoke(ctx: &Ctx<'_>, id: &str) -> HttpResponse {
    let path = format!("/api/keys/{id}");
    match super::api::call(ctx, Method::DELETE, &path, None).await {
        Ok(_) => redirect("/keys"),
        Err(e) => page(ctx, Some((Value::Null, Some(e.say(ctx.lang))))).await,
    }
}
