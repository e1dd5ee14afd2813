//! Raw data: webhook bodies as received, by integration and status (the quarantined ones with
//! their reason), one body to read, and Replay, which handles a body again with the
//! integration's current settings and comes back with the outcome.

use super::appeals::Names;
use super::{Ctx, Failure, Form, Lang, failed_page, layout, not_found, redirect, when, widgets};
use http::Method;
use maud::{Markup, html};
use serde_json::Value;
use shared::domain::appeal::Provider;
use shared::edge::web::{self, HttpResponse};

/// English -> Russian for this page, sorted by the English text.
#[rustfmt::skip]
pub static RU: &[(&str, &str)] = &[
    ("All events of the integration", "Все события интеграции"),
    ("All integrations", "Все интеграции"),
    ("Appeals made", "Созданные обращения"),
    ("Body", "Тело запроса"),
    ("Content type", "Тип содержимого"),
    ("Ignored", "Пропущено"),
    ("KB", "КБ"),
    ("Last handled", "Последняя обработка"),
    ("No events here.", "Здесь событий нет."),
    ("None of the events looked through so far match; earlier ones are left to look through.", "Среди просмотренных событий подходящих нет; можно искать дальше среди более ранних."),
    ("Not handled yet", "Не обработано"),
    ("Open", "Открыть"),
    ("Pick an integration to see all of its events.", "Выберите интеграцию, чтобы увидеть все её события."),
    ("Processed", "Обработано"),
    ("Replay", "Обработать заново"),
    ("Replayed, but the body still cannot be read; the reason is below.", "Повторная обработка не помогла: тело по-прежнему не удаётся разобрать, причина указана ниже."),
    ("Replayed: the body was handled; appeals made or updated: {n}.", "Обработано заново: тело разобрано, обращений создано или обновлено: {n}."),
    ("Replayed: the body was kept, and its handling goes on in the background.", "Обработано заново: тело принято, обработка продолжится в фоне."),
    ("Replayed: the provider's event is one chatsource does not use, so it was ignored.", "Обработано заново: это событие провайдера не используется, поэтому оно пропущено."),
    ("Show events", "Показать события"),
    ("Size", "Размер"),
    ("The body is not text; here it is in base64.", "Тело не текстовое, ниже оно в base64."),
    ("Times handled", "Сколько раз обработано"),
    ("Webhook", "Вебхук"),
    ("Webhook bodies exactly as they came. A body that could not be read is quarantined with the reason: fix the settings, then replay it.", "Тела вебхуков в том виде, в каком они пришли. Тело, которое не удалось разобрать, попадает в карантин с причиной: исправьте настройки и обработайте его заново."),
    ("Webhook body", "Тело вебхука"),
    ("bytes", "байт"),
];

/// `GET /raw/...`: `rest` is the path after `/raw`.
pub async fn get(ctx: &Ctx<'_>, rest: &[&str]) -> HttpResponse {
    match rest {
        [] => list(ctx).await,
        [id] if safe(id) => event(ctx, id).await,
        _ => not_found(ctx.lang),
    }
}

/// `POST /raw/{id}/replay`, the form's CSRF token already checked.
pub async fn post(ctx: &Ctx<'_>, rest: &[&str], form: &Form) -> HttpResponse {
    let _ = form;
    let [id, "replay"] = rest else {
        return not_found(ctx.lang);
    };
    if !safe(id) {
        return not_found(ctx.lang);
    }
    let path = format!("/api/raw-events/{id}/replay");
    match super::api::call(ctx, Method::POST, &path, None).await {
        Ok(receipt) => {
            let outcome = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("replayed", receipt["status"].as_str().unwrap_or_default())
                .append_pair(
                    "appeals",
                    &receipt["appeal_ids"]
                        .as_array()
                        .map_or(0, Vec::len)
                        .to_string(),
                )
                .finish();
            redirect(&format!("/raw/{id}?{outcome}"))
        }
        Err(e) if e.status == 404 => not_found(ctx.lang),
        Err(e) => failed_page(ctx.lang, &e),
    }
}

/// Raw event ids are ours (`raw_` and hex): anything else names none.
fn safe(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn status_name(lang: Lang, token: &str) -> &str {
    match token {
        "received" => lang.t("Not handled yet"),
        "processed" => lang.t("Processed"),
        "ignored" => lang.t("Ignored"),
        "quarantined" => lang.t("Quarantined"),
        other => other,
    }
}

fn status_badge(lang: Lang, token: &str) -> Markup {
    let class = match token {
        "processed" => "badge ok",
        "quarantined" => "badge bad",
        "received" => "badge warn",
        _ => "badge",
    };
    html! { span class=(class) { (status_name(lang, token)) } }
}

fn size(lang: Lang, value: &Value) -> String {
    let bytes = value.as_u64().unwrap_or(0);
    if bytes < 1024 {
        format!("{bytes} {}", lang.t("bytes"))
    } else {
        format!("{:.1} {}", bytes as f64 / 1024.0, lang.t("KB"))
    }
}

fn reason(value: &Value) -> Markup {
    match value.as_str().filter(|r| !r.is_empty()) {
        // Reasons are the API's own sentences, in English.
        Some(r) => html! { span lang="en" { (r) } },
        None => html! { span.muted { "—" } },
    }
}

async fn list(ctx: &Ctx<'_>) -> HttpResponse {
    let lang = ctx.lang;
    let integration = web::query_param(ctx.query, "integration_id").filter(|v| !v.is_empty());
    let status = web::query_param(ctx.query, "status")
        .filter(|s| ["quarantined", "received", "all"].contains(&s.as_str()))
        .unwrap_or_else(|| "quarantined".to_owned());
    let cursor = web::query_param(ctx.query, "cursor").filter(|v| !v.is_empty());
    let integrations = match Names::load(ctx, "integrations").await {
        Ok(n) => n,
        Err(e) => return failed_page(lang, &e),
    };
    // One integration's events are listed whole and shown by status here; across the
    // account, the API lists the quarantined and the unfinished ones itself.
    let query = {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        match &integration {
            Some(id) => query.append_pair("integration_id", id),
            None => query.append_pair("status", &status),
        };
        query.append_pair("limit", "50");
        if let Some(c) = &cursor {
            query.append_pair("cursor", c);
        }
        query.finish()
    };
    let failure = (integration.is_none() && status == "all").then(|| Failure {
        status: 400,
        code: "pick_integration".into(),
        message: lang
            .t("Pick an integration to see all of its events.")
            .to_owned(),
        field: Some("integration_id".into()),
    });
    let listing = match &failure {
        Some(_) => Value::Null,
        None => {
            let path = format!("/api/raw-events?{query}");
            match super::api::call(ctx, Method::GET, &path, None).await {
                Ok(v) => v,
                Err(e) => return failed_page(lang, &e),
            }
        }
    };
    let items: Vec<&Value> = listing["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| status == "all" || e["status"].as_str() == Some(status.as_str()))
        .collect();
    let next = listing["next_cursor"].as_str();
    let href = |cursor: Option<&str>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(i) = &integration {
            q.append_pair("integration_id", i);
        }
        q.append_pair("status", &status);
        if let Some(c) = cursor {
            q.append_pair("cursor", c);
        }
        format!("/raw?{}", q.finish())
    };
    let statuses = [
        ("quarantined", lang.t("Quarantined")),
        ("received", lang.t("Not handled yet")),
        ("all", lang.t("All events of the integration")),
    ]
    .map(|(v, t)| (v.to_owned(), t.to_owned()));
    let content = html! {
        p.hint { (lang.t("Webhook bodies exactly as they came. A body that could not be read is quarantined with the reason: fix the settings, then replay it.")) }
        form.card method="get" action="/raw" aria-label=(lang.t("Filters")) {
            div.filters {
                (widgets::select(lang, "integration_id", lang.t("Integration"), integrations.options(),
                    integration.as_deref(), Some(lang.t("All integrations")), failure.as_ref()))
                (widgets::select(lang, "status", lang.t("Status"), &statuses, Some(status.as_str()), None, None))
            }
            div.actions { button type="submit" { (lang.t("Show events")) } }
        }
        @if failure.is_none() {
            @if items.is_empty() {
                p.notice role="status" {
                    @if next.is_some() { (lang.t("None of the events looked through so far match; earlier ones are left to look through.")) }
                    @else { (lang.t("No events here.")) }
                }
            } @else {
                table.stack {
                    thead { tr {
                        th { (lang.t("Received")) } th { (lang.t("Integration")) } th { (lang.t("Webhook")) }
                        th { (lang.t("Status")) } th { (lang.t("Reason")) } th { (lang.t("Size")) }
                        th { span.skip-label { (lang.t("Actions")) } }
                    } }
                    tbody {
                        @for e in &items { (row(ctx, e, &integrations)) }
                    }
                }
            }
            @if cursor.is_some() || next.is_some() {
                nav.pager aria-label=(lang.t("Pages")) {
                    @if cursor.is_some() { a href=(href(None)) { (lang.t("First page")) } }
                    @if let Some(n) = next { a href=(href(Some(n))) rel="next" { (lang.t("Next page")) } }
                }
            }
        }
    };
    layout::page(ctx, layout::Section::RawData, lang.t("Raw data"), content)
}

fn integration_name(integrations: &Names, event: &Value) -> String {
    let id = event["integration_id"].as_str().unwrap_or_default();
    integrations.of(id).map(str::to_owned).unwrap_or_else(|| {
        let provider = event["provider"].as_str().unwrap_or_default();
        Provider::parse(provider).map_or(id.to_owned(), |p| p.title().to_owned())
    })
}

fn replay_button(ctx: &Ctx<'_>, id: &str) -> Markup {
    html! {
        form method="post" action={ "/raw/" (id) "/replay" } {
            (widgets::csrf(ctx))
            button.secondary type="submit" { (ctx.lang.t("Replay")) }
        }
    }
}

fn row(ctx: &Ctx<'_>, e: &Value, integrations: &Names) -> Markup {
    let lang = ctx.lang;
    let id = e["id"].as_str().unwrap_or_default();
    html! {
        tr {
            td data-label=(lang.t("Received")) { (when(lang, &e["received_at"])) }
            td data-label=(lang.t("Integration")) { (integration_name(integrations, e)) }
            td data-label=(lang.t("Webhook")) { code { (e["hook"].as_str().unwrap_or_default()) } }
            td data-label=(lang.t("Status")) { (status_badge(lang, e["status"].as_str().unwrap_or_default())) }
            td data-label=(lang.t("Reason")) { (reason(&e["reason"])) }
            td data-label=(lang.t("Size")) { (size(lang, &e["size"])) }
            td {
                div.actions {
                    a.button.secondary href={ "/raw/" (id) } { (lang.t("Open")) }
                    (replay_button(ctx, id))
                }
            }
        }
    }
}

async fn event(ctx: &Ctx<'_>, id: &str) -> HttpResponse {
    let lang = ctx.lang;
    let e = match super::api::call(ctx, Method::GET, &format!("/api/raw-events/{id}"), None).await {
        Ok(e) => e,
        Err(f) if f.status == 404 => return not_found(lang),
        Err(f) => return failed_page(lang, &f),
    };
    let integrations = match Names::load(ctx, "integrations").await {
        Ok(n) => n,
        Err(f) => return failed_page(lang, &f),
    };
    let replayed = web::query_param(ctx.query, "replayed");
    let made = web::query_param(ctx.query, "appeals")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let outcome = replayed.as_deref().map(|status| match status {
        "processed" => (
            "notice good",
            lang.t("Replayed: the body was handled; appeals made or updated: {n}.")
                .replace("{n}", &made.to_string()),
        ),
        "ignored" => (
            "notice",
            lang.t(
                "Replayed: the provider's event is one chatsource does not use, so it was ignored.",
            )
            .to_owned(),
        ),
        "quarantined" => (
            "notice bad",
            lang.t("Replayed, but the body still cannot be read; the reason is below.")
                .to_owned(),
        ),
        _ => (
            "notice",
            lang.t("Replayed: the body was kept, and its handling goes on in the background.")
                .to_owned(),
        ),
    });
    let appeals: Vec<&str> = e["appeal_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let content = html! {
        p { a href="/raw" { "← " (lang.t("Raw data")) } }
        @if let Some((class, text)) = &outcome {
            p class=(class) role="status" { (text) }
        }
        section.card {
            dl.facts {
                dt { (lang.t("Received")) } dd { (when(lang, &e["received_at"])) }
                dt { (lang.t("Integration")) } dd { (integration_name(&integrations, &e)) }
                dt { (lang.t("Webhook")) } dd { code { (e["hook"].as_str().unwrap_or_default()) } }
                dt { (lang.t("Content type")) } dd { code { (e["content_type"].as_str().unwrap_or("—")) } }
                dt { (lang.t("Size")) } dd { (size(lang, &e["size"])) }
                dt { (lang.t("Status")) } dd { (status_badge(lang, e["status"].as_str().unwrap_or_default())) }
                dt { (lang.t("Reason")) } dd { (reason(&e["reason"])) }
                dt { (lang.t("Times handled")) } dd { (e["attempts"].as_u64().unwrap_or(0)) }
                @if !e["handled_at"].is_null() {
                    dt { (lang.t("Last handled")) } dd { (when(lang, &e["handled_at"])) }
                }
                @if !appeals.is_empty() {
                    dt { (lang.t("Appeals made")) }
                    dd { @for (i, a) in appeals.iter().enumerate() {
                        @if i > 0 { br; }
                        a href={ "/appeals/" (a) } { code { (a) } }
                    } }
                }
            }
            div.actions { (replay_button(ctx, id)) }
        }
        div.field {
            label for="body" { (lang.t("Body")) }
            @if let Some(text) = e["body"].as_str() {
                textarea id="body" readonly rows="18" spellcheck="false" { (text) }
            } @else {
                p.hint id="body-hint" { (lang.t("The body is not text; here it is in base64.")) }
                textarea id="body" readonly rows="18" spellcheck="false" aria-describedby="body-hint" {
                    (e["body_base64"].as_str().unwrap_or_default())
                }
            }
        }
    };
    layout::page(
        ctx,
        layout::Section::RawData,
        lang.t("Webhook body"),
        content,
    )
}
