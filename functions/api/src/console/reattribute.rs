//! The Re-attribution page: what a run does, in plain words; the form that starts one over a
//! period (days in a chosen zone) and the journal's filters, through `POST /api/reattribute`;
//! a run's own page (refreshing itself while it runs) with what moved where, by name; the
//! latest runs and backfills. Also an appeal card's attribution history.

use super::appeals::{self, Names};
use super::widgets::{self, Text};
use super::{Ctx, Failure, Form, Lang, api, failed_page, i18n, layout, not_found, redirect};
use chrono::{DateTime, NaiveDate, Utc};
use http::{HeaderValue, Method};
use maud::{Markup, html};
use serde_json::{Map, Value, json};
use shared::domain::account::TimeZone;
use shared::domain::appeal::Provider;
use shared::edge::web::{self, HttpResponse};

/// English -> Russian for this page, sorted by the English text.
#[rustfmt::skip]
pub static RU: &[(&str, &str)] = &[
    ("A backfill counts and indexes appeals made before reports existed; it moves nothing.", "Дозаполнение учитывает в отчётах и индексе людей обращения, сделанные до появления отчётов; оно ничего не переносит."),
    ("A kept webhook body was replayed with the settings of that day.", "Сохранённое тело вебхука обработано заново с настройками того дня."),
    ("A later event of the chat brought new tags, pages or channel.", "Более позднее событие чата принесло новые метки, страницы или канал."),
    ("About this run", "О запуске"),
    ("All runs", "Все запуски"),
    ("Appeals examined", "Просмотрено обращений"),
    ("Appeals moved", "Перенесено обращений"),
    ("Attributed again by a re-attribution run with the settings of that day.", "Атрибутировано заново при переатрибуции с настройками того дня."),
    ("Attribution history", "История атрибуции"),
    ("Backfill", "Дозаполнение"),
    ("Dates are whole days in this time zone, both included.", "Даты — целые дни в этом часовом поясе, включая оба конца периода."),
    ("Done", "Готово"),
    ("Done: {examined} appeals examined, {moved} moved.", "Готово: просмотрено обращений — {examined}, перенесено — {moved}."),
    ("Each moved appeal keeps its previous answer in its attribution history, with the reason and a link to the run.", "Каждое перенесённое обращение хранит прежний ответ в истории атрибуции — с причиной и ссылкой на запуск."),
    ("Earlier answers of this appeal's attribution, newest first.", "Прежние ответы атрибуции этого обращения, сначала последние."),
    ("Examined", "Просмотрено"),
    ("Finished", "Завершён"),
    ("Latest runs", "Последние запуски"),
    ("Moved", "Перенесено"),
    ("New run", "Новый запуск"),
    ("No campaign or source", "Без кампании и источника"),
    ("No runs yet.", "Запусков пока не было."),
    ("Nothing has moved yet.", "Пока ничего не перенесено."),
    ("Nothing moved: every appeal already has the answer today's settings give.", "Ничего не перенесено: у всех обращений уже тот ответ, который дают текущие настройки."),
    ("Now", "Стало"),
    ("Only appeals that match (optional)", "Только подходящие обращения (необязательно)"),
    ("Only the answers change: chats, contacts and messages stay as they are.", "Меняется только ответ на вопрос «откуда пришёл человек»: чаты, контакты и сообщения остаются как есть."),
    ("Open the run", "Открыть запуск"),
    ("Period", "Период"),
    ("Re-attribute the appeals of this period", "Переатрибутировать обращения за период"),
    ("Re-attribute this period", "Переатрибутировать этот период"),
    ("Re-attribution", "Переатрибуция"),
    ("Re-attribution run", "Запуск переатрибуции"),
    ("Running", "Идёт"),
    ("Running: {examined} appeals examined so far. This page refreshes itself every 2 seconds.", "Идёт: просмотрено обращений — {examined}. Страница обновляется сама каждые 2 секунды."),
    ("Safe to run again: a second run over the same period moves nothing.", "Запускать повторно безопасно: второй запуск за тот же период ничего не перенесёт."),
    ("Started", "Запущен"),
    ("The chat named another visit.", "В чате указан другой визит."),
    ("The run failed: {error}", "Запуск не удался: {error}"),
    ("The visit was found after the chat began.", "Визит нашёлся уже после начала чата."),
    ("Unknown time zone: pick one from the list or type an IANA name, like Europe/Moscow.", "Неизвестный часовой пояс: выберите из списка или введите имя IANA, например Europe/Moscow."),
    ("Use it after you change an integration's messenger mapping or default, or a campaign's UTM rules, so that older appeals count where new ones do.", "Запускайте после того, как изменили настройку мессенджеров или значение по умолчанию в интеграции либо UTM-правила кампании, — тогда старые обращения будут учтены там же, где новые."),
    ("Was", "Было"),
    ("What a run does", "Что делает запуск"),
    ("What moved", "Что перенесено"),
    ("What moved stays moved; start a new run to take the period again.", "Перенесённое остаётся перенесённым; запустите новый запуск, чтобы пройти период заново."),
    ("{from} to {to}", "с {from} по {to}"),
];

/// The journal's filters a run takes besides its period, as the form and the API name them.
const FILTERS: [&str; 9] = [
    "integration_id",
    "provider",
    "channel",
    "campaign_id",
    "source_id",
    "via",
    "status",
    "repeat",
    "q",
];
/// Every input of the form (errors of others are said above it).
const INPUTS: [&str; 12] = [
    "from",
    "to",
    "tz",
    "integration_id",
    "provider",
    "channel",
    "campaign_id",
    "source_id",
    "via",
    "status",
    "repeat",
    "q",
];

/// `GET /reattribute...`: `rest` is the path after `/reattribute`.
pub async fn get(ctx: &Ctx<'_>, rest: &[&str]) -> HttpResponse {
    match rest {
        [] => {
            let values = Values::from_query(ctx);
            page(ctx, &values, None).await
        }
        [id] => run_page(ctx, id).await,
        _ => not_found(ctx.lang),
    }
}

/// `POST /reattribute`: starts a run and shows it; a refused field is said beside it.
pub async fn post(ctx: &Ctx<'_>, form: &Form) -> HttpResponse {
    let values = Values::from_form(form);
    let body = match values.body(ctx.lang) {
        Ok(body) => body,
        Err(f) => return page(ctx, &values, Some(&f)).await,
    };
    match api::call(ctx, Method::POST, "/api/reattribute", Some(&body)).await {
        Ok(run) => match run["id"].as_str() {
            Some(id) => redirect(&format!("/reattribute/{id}")),
            None => redirect("/reattribute"),
        },
        Err(f) if f.status == 400 => page(ctx, &values, Some(&f)).await,
        Err(f) => failed_page(ctx.lang, &f),
    }
}

/// The address of this page with a period and filters filled in (`pairs`: the journal's or
/// the report's fields; those a run does not take are left out).
pub(super) fn href(pairs: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        if INPUTS.contains(name) && !value.trim().is_empty() {
            query.append_pair(name, value);
        }
    }
    let query = query.finish();
    if query.is_empty() {
        "/reattribute".to_owned()
    } else {
        format!("/reattribute?{query}")
    }
}

// ---- the form ----

/// The form's fields as given (blank ones left out), in the order of `INPUTS`.
struct Values(Vec<(&'static str, String)>);

impl Values {
    /// From the address (a link from the journal or the reports), defaults filled in: the
    /// last 30 days in the account's zone.
    fn from_query(ctx: &Ctx<'_>) -> Values {
        let given = |name: &str| {
            web::query_param(ctx.query, name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let account_tz = ctx.signed_in.account.time_zone;
        let tz = given("tz").unwrap_or_else(|| account_tz.name().to_owned());
        let zone = TimeZone::parse(&tz).unwrap_or(account_tz);
        let today = Utc::now().with_timezone(&zone.tz()).date_naive();
        let to = given("to").unwrap_or_else(|| today.to_string());
        let from = given("from").unwrap_or_else(|| {
            let end = widgets::parse_date(&to).unwrap_or(today);
            (end - chrono::Duration::days(29)).to_string()
        });
        Values(
            INPUTS
                .iter()
                .filter_map(|name| {
                    let value = match *name {
                        "from" => Some(from.clone()),
                        "to" => Some(to.clone()),
                        "tz" => Some(tz.clone()),
                        other => given(other),
                    };
                    value.map(|v| (*name, v))
                })
                .collect(),
        )
    }

    fn from_form(form: &Form) -> Values {
        Values(
            INPUTS
                .iter()
                .filter_map(|name| {
                    let value = form.get(name)?.trim();
                    (!value.is_empty()).then(|| (*name, value.to_owned()))
                })
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The API's body, or the first field that is wrong, said in `lang` (the API checks the
    /// filters, and says which one it refuses).
    fn body(&self, lang: Lang) -> Result<Value, Failure> {
        let date = |name: &str| -> Result<NaiveDate, Failure> {
            let Some(given) = self.get(name) else {
                return Err(refused(name, "required", lang.t("Fill this in.")));
            };
            widgets::parse_date(given).ok_or_else(|| {
                refused(
                    name,
                    "invalid_date",
                    lang.t("Give a date, like 31.12.2024."),
                )
            })
        };
        let from = date("from");
        let to = date("to");
        let (from, to) = (from?, to?);
        if from > to {
            return Err(refused(
                "to",
                "invalid_date",
                lang.t("The end of the period is before its start."),
            ));
        }
        let tz = TimeZone::parse(self.get("tz").unwrap_or("UTC")).map_err(|_| {
            refused(
                "tz",
                "unknown_time_zone",
                lang.t(
                    "Unknown time zone: pick one from the list or type an IANA name, like Europe/Moscow.",
                ),
            )
        })?;
        let mut body = Map::new();
        body.insert("from".into(), json!(from.to_string()));
        body.insert("to".into(), json!(to.to_string()));
        body.insert("tz".into(), json!(tz.name()));
        for name in FILTERS {
            if let Some(value) = self.get(name) {
                body.insert(name.into(), json!(value));
            }
        }
        Ok(Value::Object(body))
    }
}

fn refused(field: &str, code: &str, message: &str) -> Failure {
    Failure {
        status: 400,
        code: code.into(),
        message: message.to_owned(),
        field: Some(field.to_owned()),
    }
}

/// The directories a run's scope and moves name.
struct Directories {
    campaigns: Names,
    sources: Names,
    sites: Names,
    integrations: Names,
}

impl Directories {
    async fn load(ctx: &Ctx<'_>) -> Result<Directories, Failure> {
        Ok(Directories {
            campaigns: Names::load(ctx, "campaigns").await?,
            sources: Names::load(ctx, "sources").await?,
            sites: Names::load(ctx, "sites").await?,
            integrations: Names::load(ctx, "integrations").await?,
        })
    }
}

async fn page(ctx: &Ctx<'_>, values: &Values, failure: Option<&Failure>) -> HttpResponse {
    let lang = ctx.lang;
    let dirs = match Directories::load(ctx).await {
        Ok(d) => d,
        Err(e) => return failed_page(lang, &e),
    };
    let runs = match api::call(ctx, Method::GET, "/api/reattribute", None).await {
        Ok(list) => list["items"].as_array().cloned().unwrap_or_default(),
        Err(e) => return failed_page(lang, &e),
    };
    let tz = ctx.signed_in.account.time_zone;
    let content = html! {
        section.card aria-labelledby="what-h" {
            h2 id="what-h" { (lang.t("What a run does")) }
            p { (lang.t("Use it after you change an integration's messenger mapping or default, or a campaign's UTM rules, so that older appeals count where new ones do.")) }
            ul {
                li { (lang.t("Each moved appeal keeps its previous answer in its attribution history, with the reason and a link to the run.")) }
                li { (lang.t("Only the answers change: chats, contacts and messages stay as they are.")) }
                li { (lang.t("Safe to run again: a second run over the same period moves nothing.")) }
            }
        }
        (form(ctx, values, &dirs, failure))
        section aria-labelledby="runs-h" {
            h2 id="runs-h" { (lang.t("Latest runs")) }
            @if runs.is_empty() {
                p.muted { (lang.t("No runs yet.")) }
            } @else {
                table.stack {
                    thead { tr {
                        th { (lang.t("Started")) } th { (lang.t("Kind")) } th { (lang.t("Period")) }
                        th { (lang.t("Status")) } th.num { (lang.t("Examined")) } th.num { (lang.t("Moved")) }
                    } }
                    tbody {
                        @for run in &runs {
                            tr {
                                td data-label=(lang.t("Started")) {
                                    a href={ "/reattribute/" (run["id"].as_str().unwrap_or_default()) } { (local_time(lang, tz, &run["created_at"])) }
                                }
                                td data-label=(lang.t("Kind")) { (kind_name(lang, &run["kind"])) }
                                td data-label=(lang.t("Period")) { (period(lang, tz, &run["scope"])) }
                                td data-label=(lang.t("Status")) { (status_badge(lang, &run["status"])) }
                                td.num data-label=(lang.t("Examined")) { (run["examined"].as_u64().unwrap_or(0)) }
                                td.num data-label=(lang.t("Moved")) { (moved_total(run)) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page(
        ctx,
        layout::Section::Reports,
        lang.t("Re-attribution"),
        content,
    )
}

fn form(ctx: &Ctx<'_>, values: &Values, dirs: &Directories, failure: Option<&Failure>) -> Markup {
    let lang = ctx.lang;
    let providers = widgets::provider_options();
    let channels = widgets::channel_options(lang, values.get("channel"));
    let vias: Vec<(String, String)> = crate::appeals::vias()
        .into_iter()
        .map(|v| (v.to_owned(), appeals::via_name(lang, v).to_owned()))
        .collect();
    let statuses: Vec<(String, String)> = crate::appeals::statuses()
        .into_iter()
        .map(|s| (s.to_owned(), appeals::status_name(lang, s).to_owned()))
        .collect();
    let repeats: Vec<(String, String)> = ["false", "true"]
        .into_iter()
        .map(|v| (v.to_owned(), appeals::first_or_repeat(lang, v).to_owned()))
        .collect();
    let select = |name: &str, label: &str, options: &[(String, String)], none: &str| {
        widgets::select(
            lang,
            name,
            label,
            options,
            values.get(name),
            Some(none),
            failure,
        )
    };
    let q = Text {
        kind: "search",
        ..Text::new(
            lang.t("Phone, e-mail or name"),
            values.get("q").unwrap_or_default(),
        )
    };
    let set = FILTERS.iter().filter(|n| values.get(n).is_some()).count();
    let unfold = set > 0 || failure.is_some_and(|f| FILTERS.iter().any(|n| f.is_about(n)));
    html! {
        form.card method="post" action="/reattribute" aria-labelledby="new-h" novalidate {
            h2 id="new-h" { (lang.t("New run")) }
            (widgets::csrf(ctx))
            div.filters {
                (widgets::period_date(lang, "from", lang.t("From"), values.get("from").unwrap_or_default(), true, failure))
                (widgets::period_date(lang, "to", lang.t("To"), values.get("to").unwrap_or_default(), true, failure))
                (widgets::period_zone(lang, values.get("tz").unwrap_or_default(), failure))
            }
            p.hint id="period-hint" { (lang.t("Dates are whole days in this time zone, both included.")) }
            // On a phone the filters fold away (the script folds them) unless one is set or
            // refused; without the script, or on a wide screen, they stay open.
            details.more-filters open data-fold-narrow=[(!unfold).then_some("")] {
                summary {
                    (lang.t("Filters"))
                    @if set > 0 { " (" (set) ")" }
                }
                h3 { (lang.t("Only appeals that match (optional)")) }
                div.filters {
                (select("integration_id", lang.t("Integration"), dirs.integrations.options(), lang.t("All integrations")))
                (select("provider", lang.t("Service"), &providers, lang.t("All services")))
                (select("channel", lang.t("Channel"), &channels, lang.t("All channels")))
                (select("campaign_id", lang.t("Campaign"), dirs.campaigns.options(), lang.t("All campaigns")))
                (select("source_id", lang.t("Source"), dirs.sources.options(), lang.t("All sources")))
                (select("via", lang.t("Attributed by"), &vias, lang.t("All")))
                (select("status", lang.t("Status"), &statuses, lang.t("All statuses")))
                (select("repeat", lang.t("First or repeat"), &repeats, lang.t("All")))
                (widgets::text(lang, "q", q, failure))
                }
            }
            (widgets::form_error(lang, failure, &INPUTS))
            div.actions {
                button type="submit" { (lang.t("Re-attribute the appeals of this period")) }
            }
        }
    }
}

// ---- a run ----

async fn run_page(ctx: &Ctx<'_>, id: &str) -> HttpResponse {
    let lang = ctx.lang;
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return not_found(lang);
    }
    let run = match api::call(ctx, Method::GET, &format!("/api/reattribute/{id}"), None).await {
        Ok(run) => run,
        Err(e) if e.status == 404 => return not_found(lang),
        Err(e) => return failed_page(lang, &e),
    };
    let dirs = match Directories::load(ctx).await {
        Ok(d) => d,
        Err(e) => return failed_page(lang, &e),
    };
    let tz = ctx.signed_in.account.time_zone;
    let status = run["status"].as_str().unwrap_or_default();
    let backfill = run["kind"] == "backfill";
    let examined = run["examined"].as_u64().unwrap_or(0).to_string();
    let moved = moved_total(&run).to_string();
    let moves = run["moved"].as_array().cloned().unwrap_or_default();
    let title = if backfill {
        lang.t("Backfill")
    } else {
        lang.t("Re-attribution run")
    };
    let content = html! {
        p { a href="/reattribute" { "← " (lang.t("All runs")) } }
        @match status {
            "running" => p.notice role="status" {
                (lang.t("Running: {examined} appeals examined so far. This page refreshes itself every 2 seconds.").replace("{examined}", &examined))
            },
            "failed" => p.notice.bad role="alert" {
                (lang.t("The run failed: {error}").replace("{error}", run["error"].as_str().unwrap_or_default()))
                " " (lang.t("What moved stays moved; start a new run to take the period again."))
            },
            _ => p.notice.good role="status" {
                (lang.t("Done: {examined} appeals examined, {moved} moved.").replace("{examined}", &examined).replace("{moved}", &moved))
            },
        }
        section.card aria-labelledby="moved-h" {
            h2 id="moved-h" { (lang.t("What moved")) }
            @if backfill {
                p.muted { (lang.t("A backfill counts and indexes appeals made before reports existed; it moves nothing.")) }
            } @else if moves.is_empty() && status == "running" {
                p.muted { (lang.t("Nothing has moved yet.")) }
            } @else if moves.is_empty() {
                p { (lang.t("Nothing moved: every appeal already has the answer today's settings give.")) }
            } @else {
                ul.moves {
                    @for m in &moves {
                        li {
                            p {
                                strong { (answer_name(lang, &m["from"], &dirs)) }
                                " → "
                                strong { (answer_name(lang, &m["to"], &dirs)) }
                                ": " (m["count"].as_u64().unwrap_or(0))
                            }
                            p.hint {
                                (lang.t("Was")) ": " (answer_detail(lang, &m["from"], &dirs)) br;
                                (lang.t("Now")) ": " (answer_detail(lang, &m["to"], &dirs))
                            }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="run-h" {
            h2 id="run-h" { (lang.t("About this run")) }
            dl.facts {
                dt { (lang.t("Kind")) } dd { (kind_name(lang, &run["kind"])) }
                dt { (lang.t("Status")) } dd { (status_badge(lang, &run["status"])) }
                dt { (lang.t("Period")) } dd { (period(lang, tz, &run["scope"])) }
                (scope_facts(lang, &run["scope"], &dirs))
                dt { (lang.t("Started")) } dd { (local_time(lang, tz, &run["created_at"])) }
                @if !run["finished_at"].is_null() {
                    dt { (lang.t("Finished")) } dd { (local_time(lang, tz, &run["finished_at"])) }
                }
                dt { (lang.t("Appeals examined")) } dd { (examined) }
                @if !backfill { dt { (lang.t("Appeals moved")) } dd { (moved) } }
            }
        }
    };
    let mut response = layout::page(ctx, layout::Section::Reports, title, content);
    if status == "running" {
        // A meta refresh by its header: the page looks again in 2 s, no script needed.
        response
            .headers_mut()
            .insert("refresh", HeaderValue::from_static("2"));
    }
    response
}

/// The journal's filters a run took, by name.
fn scope_facts(lang: Lang, scope: &Value, dirs: &Directories) -> Markup {
    let text = |name: &str| scope[name].as_str().filter(|s| !s.is_empty());
    html! {
        @if text("integration_id").is_some() {
            dt { (lang.t("Integration")) } dd { (dirs.integrations.show(lang, &scope["integration_id"])) }
        }
        @if let Some(p) = text("provider") {
            dt { (lang.t("Service")) } dd { (Provider::parse(p).map_or(p, |p| p.title())) }
        }
        @if let Some(c) = text("channel") {
            dt { (lang.t("Channel")) } dd { (i18n::channel_name(lang, c)) }
        }
        @if text("campaign_id").is_some() {
            dt { (lang.t("Campaign")) } dd { (dirs.campaigns.show(lang, &scope["campaign_id"])) }
        }
        @if text("source_id").is_some() {
            dt { (lang.t("Source")) } dd { (dirs.sources.show(lang, &scope["source_id"])) }
        }
        @if let Some(v) = text("via") {
            dt { (lang.t("Attributed by")) } dd { (appeals::via_name(lang, v)) }
        }
        @if let Some(s) = text("status") {
            dt { (lang.t("Status")) } dd { (appeals::status_name(lang, s)) }
        }
        @if let Some(r) = scope["repeat"].as_bool() {
            dt { (lang.t("First or repeat")) } dd { (appeals::first_or_repeat(lang, &r.to_string())) }
        }
        @if let Some(q) = text("q") {
            dt { (lang.t("Phone, e-mail or name")) } dd { (q) }
        }
    }
}

/// An answer by its campaign's name, else its source's.
fn answer_name(lang: Lang, decided: &Value, dirs: &Directories) -> Markup {
    if decided["campaign_id"].is_string() {
        dirs.campaigns.show(lang, &decided["campaign_id"])
    } else if decided["source_id"].is_string() {
        dirs.sources.show(lang, &decided["source_id"])
    } else {
        html! { (lang.t("No campaign or source")) }
    }
}

/// The rest of an answer: its source and site (by name) and how it was decided.
fn answer_detail(lang: Lang, decided: &Value, dirs: &Directories) -> Markup {
    let via = decided["via"].as_str().unwrap_or_default();
    html! {
        @if decided["campaign_id"].is_string() && decided["source_id"].is_string() {
            (dirs.sources.show(lang, &decided["source_id"])) " · "
        }
        @if decided["site_id"].is_string() {
            (dirs.sites.show(lang, &decided["site_id"])) " · "
        }
        (appeals::via_name(lang, via))
    }
}

fn kind_name(lang: Lang, kind: &Value) -> &'static str {
    match kind.as_str() {
        Some("backfill") => lang.t("Backfill"),
        _ => lang.t("Re-attribution"),
    }
}

fn status_badge(lang: Lang, status: &Value) -> Markup {
    match status.as_str().unwrap_or_default() {
        "running" => html! { span.badge.warn { (lang.t("Running")) } },
        "failed" => html! { span.badge.bad { (lang.t("Failed")) } },
        _ => html! { span.badge.ok { (lang.t("Done")) } },
    }
}

fn moved_total(run: &Value) -> u64 {
    run["moved"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["count"].as_u64())
        .sum()
}

// ---- times in the account's zone ----

/// A time from the API (RFC 3339), in `tz`, to the minute, with the zone's abbreviation.
pub(super) fn local_time(lang: Lang, tz: TimeZone, value: &Value) -> String {
    let Some(t) = value.as_str().and_then(|s| s.parse::<DateTime<Utc>>().ok()) else {
        return String::new();
    };
    let t = t.with_timezone(&tz.tz());
    match lang {
        Lang::Ru => t.format("%d.%m.%Y %H:%M %Z").to_string(),
        Lang::En => t.format("%Y-%m-%d %H:%M %Z").to_string(),
    }
}

/// A run's period in `tz`: whole days when it begins and ends at midnights there (as runs
/// started here do), else the times; "All" for a backfill's (no bounds).
fn period(lang: Lang, tz: TimeZone, scope: &Value) -> String {
    let at = |name: &str| scope[name].as_str()?.parse::<DateTime<Utc>>().ok();
    let (Some(from), Some(to)) = (at("from"), at("to")) else {
        return lang.t("All").to_owned();
    };
    let (from, to) = (from.with_timezone(&tz.tz()), to.with_timezone(&tz.tz()));
    let midnight = |t: chrono::NaiveTime| t == chrono::NaiveTime::MIN;
    let date_format = match lang {
        Lang::Ru => "%d.%m.%Y",
        Lang::En => "%Y-%m-%d",
    };
    let (from, to) = if midnight(from.time()) && midnight(to.time()) {
        let last = to.date_naive().pred_opt().unwrap_or(to.date_naive());
        (
            from.format(date_format).to_string(),
            last.format(date_format).to_string(),
        )
    } else {
        let format = format!("{date_format} %H:%M %Z");
        (
            from.format(&format).to_string(),
            to.format(&format).to_string(),
        )
    };
    lang.t("{from} to {to}")
        .replace("{from}", &from)
        .replace("{to}", &to)
}

// ---- an appeal's attribution history (on its card) ----

/// "Attribution history" of an appeal (`attribution_history`, oldest first in the API),
/// newest first; nothing when the attribution never changed.
pub(super) fn history(
    ctx: &Ctx<'_>,
    appeal: &Value,
    campaigns: &Names,
    sources: &Names,
    sites: &Names,
) -> Markup {
    let lang = ctx.lang;
    let tz = ctx.signed_in.account.time_zone;
    let changes: Vec<&Value> = appeal["attribution_history"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .collect();
    if changes.is_empty() {
        return html! {};
    }
    html! {
        section.card aria-labelledby="history-h" {
            h2 id="history-h" { (lang.t("Attribution history")) }
            p.hint { (lang.t("Earlier answers of this appeal's attribution, newest first.")) }
            ol.history {
                @for change in changes {
                    @let previous = &change["previous"];
                    @let reason = change["reason"].as_str().unwrap_or_default();
                    li {
                        h3 { time datetime=(change["at"].as_str().unwrap_or_default()) { (local_time(lang, tz, &change["at"])) } }
                        dl.facts {
                            dt { (lang.t("Reason")) }
                            dd {
                                @if let Some(said) = reason_said(lang, change) { (said) br; }
                                span.muted lang="en" { (reason) }
                                @if let Some(run) = change["run_id"].as_str().filter(|r| !r.is_empty()) {
                                    br; a href={ "/reattribute/" (run) } { (lang.t("Open the run")) }
                                }
                            }
                            dt { (lang.t("Was")) }
                            dd {
                                (lang.t("Campaign")) ": " (campaigns.show(lang, &previous["campaign_id"])) br;
                                (lang.t("Source")) ": " (sources.show(lang, &previous["source_id"])) br;
                                (lang.t("Site")) ": " (sites.show(lang, &previous["site_id"])) br;
                                (lang.t("Attributed by")) ": " (appeals::via_name(lang, previous["via"].as_str().unwrap_or_default()))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Why a change happened, in the user's words, for the reasons the product writes.
fn reason_said(lang: Lang, change: &Value) -> Option<&'static str> {
    let reason = change["reason"].as_str().unwrap_or_default();
    if change["run_id"].is_string() || reason.starts_with("Re-attributed with the settings") {
        Some(lang.t("Attributed again by a re-attribution run with the settings of that day."))
    } else if reason.starts_with("A kept webhook body was replayed") {
        Some(lang.t("A kept webhook body was replayed with the settings of that day."))
    } else if reason.starts_with("the visit ") && reason.ends_with("after the chat began") {
        Some(lang.t("The visit was found after the chat began."))
    } else if reason.starts_with("the chat named another visit") {
        Some(lang.t("The chat named another visit."))
    } else if reason.starts_with("a later event of the chat") {
        Some(lang.t("A later event of the chat brought new tags, pages or channel."))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> TimeZone {
        TimeZone::parse(name).unwrap()
    }

    #[test]
    fn a_period_of_whole_local_days_reads_as_its_dates() {
        let scope = json!({"from": "2026-10-31T21:00:00Z", "to": "2026-11-30T21:00:00Z"});
        assert_eq!(
            period(Lang::Ru, zone("Europe/Moscow"), &scope),
            "с 01.11.2026 по 30.11.2026"
        );
        // Days of another zone are shown as the times they are here.
        assert_eq!(
            period(Lang::En, zone("UTC"), &scope),
            "2026-10-31 21:00 UTC to 2026-11-30 21:00 UTC"
        );
        assert_eq!(period(Lang::En, zone("UTC"), &json!({})), "All");
    }

    #[test]
    fn the_form_needs_both_dates_in_order_and_a_known_zone() {
        let values = |pairs: &[(&'static str, &str)]| {
            Values(pairs.iter().map(|(n, v)| (*n, (*v).to_owned())).collect())
        };
        let ok = values(&[
            ("from", "01.11.2026"),
            ("to", "2026-11-30"),
            ("tz", "Europe/Moscow"),
            ("channel", "telegram"),
        ])
        .body(Lang::En)
        .expect("valid");
        assert_eq!(
            ok,
            json!({"from": "2026-11-01", "to": "2026-11-30", "tz": "Europe/Moscow", "channel": "telegram"})
        );
        for (pairs, field) in [
            (vec![("from", "2026-11-01")], "to"),
            (vec![("from", "2026-11-30"), ("to", "2026-11-01")], "to"),
            (vec![("from", "soon"), ("to", "2026-11-01")], "from"),
            (
                vec![("from", "2026-11-01"), ("to", "2026-11-30"), ("tz", "Mars")],
                "tz",
            ),
        ] {
            let refused = values(&pairs).body(Lang::Ru).expect_err("refused");
            assert_eq!(refused.field.as_deref(), Some(field), "{pairs:?}");
        }
    }

    #[test]
    fn links_carry_only_what_a_run_takes() {
        assert_eq!(
            href(&[
                ("from", "2026-11-01"),
                ("by", "source"),
                ("site_id", "s"),
                ("q", " ")
            ]),
            "/reattribute?from=2026-11-01"
        );
        assert_eq!(href(&[]), "/reattribute");
    }
}
