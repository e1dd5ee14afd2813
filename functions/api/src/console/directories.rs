//! The Directories section: sites (with their script tag), sources, campaigns with their UTM
//! rules and employees with their provider ids, listed, created, edited and deleted through the
//! management API's own routes; a campaign's source and site are picked by name.

use super::widgets::{self, Text};
use super::{Ctx, Failure, Form, Lang, api, failed_page, layout, not_found, redirect};
use http::Method;
use maud::{Markup, html};
use serde_json::{Map, Value, json};
use shared::edge::web::HttpResponse;
use std::collections::BTreeMap;

/// English -> Russian for this page, sorted by the English text.
pub static RU: &[(&str, &str)] = &[
    (
        "A chat counts as a repeat when the same person wrote within this many days before it. Empty: the account's setting ({n} days).",
        "Обращение считается повторным, если тот же человек писал в течение этого числа дней до него. Пусто — как в настройках аккаунта ({n} дн.).",
    ),
    (
        "A chat counts as a repeat when the same person wrote within this many days before it. Empty: the account's setting.",
        "Обращение считается повторным, если тот же человек писал в течение этого числа дней до него. Пусто — как в настройках аккаунта.",
    ),
    (
        "A click id is a URL parameter name of Latin letters, digits and _, like gclid or yclid.",
        "Идентификатор клика — это имя параметра URL из латинских букв, цифр и _, например gclid или yclid.",
    ),
    (
        "A visit belongs to this campaign when each tag filled in here equals its own (case does not matter); of several such campaigns, the one naming most tags wins. Leave all empty for a campaign used only as a default or in a mapping.",
        "Визит относится к этой кампании, если каждая заполненная здесь метка совпадает с его меткой (регистр не важен); из нескольких подходящих кампаний выигрывает та, где заполнено больше меток. Оставьте все поля пустыми, если кампания нужна только по умолчанию или для сопоставления.",
    ),
    ("Add a campaign", "Добавить кампанию"),
    ("Add a site", "Добавить сайт"),
    ("Add a source", "Добавить источник"),
    ("Add an employee", "Добавить сотрудника"),
    ("At most 50 values.", "Не больше 50 значений."),
    ("Campaigns", "Кампании"),
    ("Cancel", "Отмена"),
    ("Create", "Создать"),
    ("Delete", "Удалить"),
    (
        "Delete this campaign? Integrations that use it will be left without one.",
        "Удалить кампанию? Интеграции, которые её используют, останутся без кампании.",
    ),
    (
        "Delete this employee? Chats they answer are no longer tied to them.",
        "Удалить сотрудника? Чаты, в которых он отвечает, больше не будут к нему привязаны.",
    ),
    (
        "Delete this site? Its script tag stops recording visits.",
        "Удалить сайт? Его код перестанет записывать визиты.",
    ),
    (
        "Delete this source? Campaigns and integrations that use it will be left without one.",
        "Удалить источник? Кампании и интеграции, которые его используют, останутся без источника.",
    ),
    ("Domain", "Домен"),
    ("E-mail", "E-mail"),
    ("Edit", "Изменить"),
    ("Edit campaign", "Редактирование кампании"),
    ("Edit employee", "Редактирование сотрудника"),
    ("Edit site", "Редактирование сайта"),
    ("Edit source", "Редактирование источника"),
    ("Employees", "Сотрудники"),
    (
        "For services that name the employee by their own id rather than by e-mail; several ids are comma-separated.",
        "Для сервисов, которые указывают сотрудника своим ID, а не e-mail; несколько ID — через запятую.",
    ),
    (
        "Give a whole number of days from 1 to 365, or leave it empty.",
        "Укажите целое число дней от 1 до 365 или оставьте поле пустым.",
    ),
    (
        "Give the sites' hosts, like vk.com or yandex.ru.",
        "Укажите домены сайтов, например vk.com или yandex.ru.",
    ),
    ("Ids at providers", "ID в сервисах"),
    ("New campaign", "Новая кампания"),
    ("New employee", "Новый сотрудник"),
    ("New site", "Новый сайт"),
    ("New source", "Новый источник"),
    ("No campaigns yet.", "Кампаний пока нет."),
    ("No employees yet.", "Сотрудников пока нет."),
    ("No sites yet.", "Сайтов пока нет."),
    ("No sources yet.", "Источников пока нет."),
    (
        "None: used only as a default or in a mapping",
        "Нет: только по умолчанию или для сопоставления",
    ),
    ("Not set", "Не указан"),
    (
        "Paste on every page of the site",
        "Вставьте на все страницы сайта",
    ),
    ("Referrer domains", "Домены-рефереры"),
    ("Repeat window", "Окно повторных"),
    ("Script tag", "Код для сайта"),
    (
        "Script tag: paste it on every page of the site",
        "Код для сайта: вставьте его на все страницы",
    ),
    ("Sites", "Сайты"),
    (
        "Sites whose visits without tags come from this source (their subdomains too), comma-separated.",
        "Сайты, переходы с которых без меток относятся к этому источнику (и их поддомены), через запятую.",
    ),
    ("Sources", "Источники"),
    (
        "The site's host; a full address works too.",
        "Домен сайта; можно вставить и полный адрес.",
    ),
    (
        "The utm_source tags of this source's links, comma-separated.",
        "Значения utm_source в ссылках этого источника, через запятую.",
    ),
    (
        "This is not a site address: give its host, like shop.example.ru.",
        "Это не адрес сайта: укажите домен, например shop.example.ru.",
    ),
    (
        "This is not an e-mail address.",
        "Это не адрес электронной почты.",
    ),
    (
        "URL parameters that mark a paid click of this source, comma-separated.",
        "Параметры URL, которые отмечают платный клик этого источника, через запятую.",
    ),
    ("UTM rules", "UTM-метки"),
    (
        "Used to recognise them in chats and CRM records; optional.",
        "По нему сотрудник узнаётся в чатах и в CRM; необязательно.",
    ),
    (
        "What appeals are attributed to and who answered them. Integrations, the journal and reports show these names.",
        "К чему относятся обращения и кто на них отвечал. Интеграции, журнал и отчёты показывают эти названия.",
    ),
    ("as the account's", "как в аккаунте"),
    ("day", "дн."),
    ("days", "дн."),
    ("deleted", "удалён"),
    ("utm_source values", "Значения utm_source"),
];

/// `GET /directories/...`: `rest` is the path after `/directories`.
pub async fn get(ctx: &Ctx<'_>, rest: &[&str]) -> HttpResponse {
    match rest {
        [] => list_page(ctx).await,
        [kind, "new"] => match Kind::parse(kind) {
            Some(kind) => form_page(ctx, kind, None, &Values::default(), None).await,
            None => not_found(ctx.lang),
        },
        [kind, id] => match Kind::parse(kind) {
            Some(kind) => match api::call(ctx, Method::GET, &kind.api_one(id), None).await {
                Ok(record) => {
                    form_page(ctx, kind, Some(id), &Values::of_record(kind, &record), None).await
                }
                Err(e) => failed_page(ctx.lang, &e),
            },
            None => not_found(ctx.lang),
        },
        _ => not_found(ctx.lang),
    }
}

/// `POST /directories/...`, the form's CSRF token already checked.
pub async fn post(ctx: &Ctx<'_>, rest: &[&str], form: &Form) -> HttpResponse {
    let (kind, id, delete) = match rest {
        [kind] => (Kind::parse(kind), None, false),
        [kind, id] => (Kind::parse(kind), Some(*id), false),
        [kind, id, "delete"] => (Kind::parse(kind), Some(*id), true),
        _ => (None, None, false),
    };
    let Some(kind) = kind else {
        return not_found(ctx.lang);
    };
    let back = format!("/directories#{}", kind.plural());
    if let (Some(id), true) = (id, delete) {
        return match api::call(ctx, Method::DELETE, &kind.api_one(id), None).await {
            Ok(_) => redirect(&back),
            Err(e) => failed_page(ctx.lang, &e),
        };
    }
    let values = Values::of_form(kind, form);
    let answer = match id {
        None => api::call(ctx, Method::POST, &kind.api(), Some(&values.body(false))).await,
        Some(id) => {
            let body = values.body(true);
            api::call(ctx, Method::PATCH, &kind.api_one(id), Some(&body)).await
        }
    };
    match answer {
        Ok(_) => redirect(&back),
        Err(e) => form_page(ctx, kind, id, &values, Some(precise(ctx.lang, e))).await,
    }
}

/// The four kinds of record, by their path segment (the API's plural).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Site,
    Source,
    Campaign,
    Employee,
}

const PROVIDERS: [(&str, &str); 4] = [
    ("jivo", "Jivo"),
    ("verbox", "Verbox"),
    ("amocrm", "amoCRM"),
    ("bitrix24", "Bitrix24"),
];

const UTM_KEYS: [&str; 5] = ["source", "medium", "campaign", "content", "term"];

impl Kind {
    const ALL: [Kind; 4] = [Kind::Site, Kind::Source, Kind::Campaign, Kind::Employee];

    fn parse(segment: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.plural() == segment)
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Site => "sites",
            Kind::Source => "sources",
            Kind::Campaign => "campaigns",
            Kind::Employee => "employees",
        }
    }

    fn api(self) -> String {
        format!("/api/{}", self.plural())
    }

    fn api_one(self, id: &str) -> String {
        format!("/api/{}/{id}", self.plural())
    }

    fn heading(self, lang: Lang) -> &'static str {
        match self {
            Kind::Site => lang.t("Sites"),
            Kind::Source => lang.t("Sources"),
            Kind::Campaign => lang.t("Campaigns"),
            Kind::Employee => lang.t("Employees"),
        }
    }

    fn add(self, lang: Lang) -> &'static str {
        match self {
            Kind::Site => lang.t("Add a site"),
            Kind::Source => lang.t("Add a source"),
            Kind::Campaign => lang.t("Add a campaign"),
            Kind::Employee => lang.t("Add an employee"),
        }
    }

    fn none_yet(self, lang: Lang) -> &'static str {
        match self {
            Kind::Site => lang.t("No sites yet."),
            Kind::Source => lang.t("No sources yet."),
            Kind::Campaign => lang.t("No campaigns yet."),
            Kind::Employee => lang.t("No employees yet."),
        }
    }

    fn title(self, lang: Lang, new: bool) -> &'static str {
        match (self, new) {
            (Kind::Site, true) => lang.t("New site"),
            (Kind::Site, false) => lang.t("Edit site"),
            (Kind::Source, true) => lang.t("New source"),
            (Kind::Source, false) => lang.t("Edit source"),
            (Kind::Campaign, true) => lang.t("New campaign"),
            (Kind::Campaign, false) => lang.t("Edit campaign"),
            (Kind::Employee, true) => lang.t("New employee"),
            (Kind::Employee, false) => lang.t("Edit employee"),
        }
    }

    fn delete_question(self, lang: Lang) -> &'static str {
        match self {
            Kind::Site => lang.t("Delete this site? Its script tag stops recording visits."),
            Kind::Source => lang.t("Delete this source? Campaigns and integrations that use it will be left without one."),
            Kind::Campaign => lang.t("Delete this campaign? Integrations that use it will be left without one."),
            Kind::Employee => lang.t("Delete this employee? Chats they answer are no longer tied to them."),
        }
    }

    /// The names of its form's inputs: also the fields an API failure may be about.
    fn inputs(self) -> Vec<String> {
        let own = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        match self {
            Kind::Site => own(&["name", "domain", "repeat_window_days"]),
            Kind::Source => {
                let mut names = own(&["name"]);
                names.extend(source_lists().into_iter().map(str::to_owned));
                names
            }
            Kind::Campaign => {
                let mut names = own(&["name", "source_id", "site_id"]);
                names.extend(UTM_KEYS.iter().map(|k| format!("utm.{k}")));
                names
            }
            Kind::Employee => {
                let mut names = own(&["name", "email"]);
                names.extend(PROVIDERS.iter().map(|(p, _)| format!("external_ids.{p}")));
                names
            }
        }
    }
}

/// A source's lists of signals. DESIGN.md's source shape has click ids and referrer domains
/// besides utm_source values; a list the API's own input refuses is not offered, so the form
/// never sends what the API would reject, and shows the lists as soon as the API takes them.
fn source_lists() -> Vec<&'static str> {
    let takes = |field: &str| {
        serde_json::from_value::<crate::directory::SourceInput>(json!({"name": "-", field: []}))
            .is_ok()
    };
    ["utm_sources", "click_ids", "referrer_domains"]
        .into_iter()
        .filter(|field| takes(field))
        .collect()
}

/// Inputs holding several values, written comma-separated.
fn is_list(name: &str) -> bool {
    matches!(name, "utm_sources" | "click_ids" | "referrer_domains")
        || name.starts_with("external_ids.")
}

fn split_list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A form's values by input name (`utm.source`, `external_ids.jivo`), as typed or as the API
/// holds them.
#[derive(Default)]
struct Values(BTreeMap<String, String>);

impl Values {
    fn of_record(kind: Kind, record: &Value) -> Values {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Array(items) => {
                let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                items.join(", ")
            }
            _ => String::new(),
        };
        let values = kind.inputs().into_iter().map(|name| {
            let value = match name.split_once('.') {
                Some((outer, inner)) => text(&record[outer][inner]),
                None => text(&record[name.as_str()]),
            };
            (name, value)
        });
        Values(values.collect())
    }

    fn of_form(kind: Kind, form: &Form) -> Values {
        let values = kind.inputs().into_iter().map(|name| {
            let value = form.get(&name).unwrap_or_default().to_owned();
            (name, value)
        });
        Values(values.collect())
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    /// The API's JSON for these values. Blank optional values are `null`: on a PATCH (a JSON
    /// merge patch) that clears them. An empty provider's ids are left out of a create, whose
    /// map takes no `null`.
    fn body(&self, patch: bool) -> Value {
        let mut body = Map::new();
        for (name, typed) in &self.0 {
            let value = if is_list(name) {
                let items = split_list(typed);
                match (items.is_empty(), name.contains('.'), patch) {
                    (true, true, true) => Value::Null,
                    (true, true, false) => continue,
                    _ => json!(items),
                }
            } else if matches!(name.as_str(), "name" | "domain") {
                json!(typed)
            } else if typed.trim().is_empty() {
                Value::Null
            } else {
                json!(typed.trim())
            };
            match name.split_once('.') {
                Some((outer, inner)) => {
                    let nested = body.entry(outer).or_insert_with(|| json!({}));
                    nested[inner] = value;
                }
                None => {
                    body.insert(name.clone(), value);
                }
            }
        }
        Value::Object(body)
    }
}

/// A failure said more precisely for this page's fields than the console's general sentence
/// (`invalid_value` on `domain` means "not a host"). `Failure::say` gives the message of a
/// code it does not know, so the sentence travels as that message to the widgets.
fn precise(lang: Lang, failure: Failure) -> Failure {
    let said = match (failure.field.as_deref(), failure.code.as_str()) {
        (Some("domain"), "invalid_value") => {
            lang.t("This is not a site address: give its host, like shop.example.ru.")
        }
        (Some("email"), "invalid_value") => lang.t("This is not an e-mail address."),
        (Some("repeat_window_days"), "invalid_value") => {
            lang.t("Give a whole number of days from 1 to 365, or leave it empty.")
        }
        (Some("click_ids"), "invalid_value") => lang.t(
            "A click id is a URL parameter name of Latin letters, digits and _, like gclid or yclid.",
        ),
        (Some("referrer_domains"), "invalid_value") => {
            lang.t("Give the sites' hosts, like vk.com or yandex.ru.")
        }
        (Some("click_ids" | "referrer_domains"), "too_long") => lang.t("At most 50 values."),
        _ => return failure,
    };
    Failure {
        code: "said".into(),
        message: said.into(),
        ..failure
    }
}

/// `(id, name)` of a list answer's items, by name.
fn named(list: &Value) -> Vec<(String, String)> {
    let mut items: Vec<(String, String)> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            let text = |k: &str| item[k].as_str().unwrap_or_default().to_owned();
            (text("id"), text("name"))
        })
        .collect();
    items.sort_by_key(|(_, name)| name.to_lowercase());
    items
}

fn by_name(list: &Value) -> Vec<&Value> {
    let mut items: Vec<&Value> = list["items"].as_array().into_iter().flatten().collect();
    items.sort_by_key(|item| item["name"].as_str().unwrap_or_default().to_lowercase());
    items
}

fn str_of<'v>(value: &'v Value, key: &str) -> &'v str {
    value[key].as_str().unwrap_or_default()
}

fn joined(value: &Value) -> String {
    let items: Vec<&str> = value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    items.join(", ")
}

/// A list's values as code, or a dash for none.
fn codes(list: &Value) -> Markup {
    let text = joined(list);
    html! { @if text.is_empty() { span.muted { "—" } } @else { code { (text) } } }
}

fn or_dash(text: &str) -> Markup {
    html! { @if text.is_empty() { span.muted { "—" } } @else { (text) } }
}

async fn list_page(ctx: &Ctx<'_>) -> HttpResponse {
    let lang = ctx.lang;
    let mut lists = Vec::new();
    for kind in Kind::ALL {
        match api::call(ctx, Method::GET, &kind.api(), None).await {
            Ok(list) => lists.push(list),
            Err(e) => return failed_page(lang, &e),
        }
    }
    let [sites, sources, campaigns, employees] = &lists[..] else {
        return not_found(lang);
    };
    let window = account_window(ctx).await;
    let content = html! {
        p.hint { (lang.t("What appeals are attributed to and who answered them. Integrations, the journal and reports show these names.")) }
        (section(ctx, Kind::Site, sites, sites_table(ctx, sites, window)))
        (section(ctx, Kind::Source, sources, sources_table(ctx, sources)))
        (section(ctx, Kind::Campaign, campaigns, campaigns_table(ctx, campaigns, sources, sites)))
        (section(ctx, Kind::Employee, employees, employees_table(ctx, employees)))
    };
    layout::page(
        ctx,
        layout::Section::Directories,
        lang.t("Directories"),
        content,
    )
}

fn section(ctx: &Ctx<'_>, kind: Kind, list: &Value, table: Markup) -> Markup {
    let lang = ctx.lang;
    let empty = list["items"].as_array().is_none_or(Vec::is_empty);
    html! {
        section id=(kind.plural()) aria-labelledby={ (kind.plural()) "-heading" } {
            h2 id={ (kind.plural()) "-heading" } { (kind.heading(lang)) }
            @if empty { p.muted { (kind.none_yet(lang)) } } @else { (table) }
            div.actions {
                a.button.secondary href={ "/directories/" (kind.plural()) "/new" } { (kind.add(lang)) }
            }
        }
    }
}

/// The row's last cell: its Edit link, named for screen readers.
fn edit_cell(ctx: &Ctx<'_>, kind: Kind, item: &Value) -> Markup {
    let lang = ctx.lang;
    let label = format!("{}: {}", lang.t("Edit"), str_of(item, "name"));
    html! {
        td {
            a href={ "/directories/" (kind.plural()) "/" (str_of(item, "id")) } aria-label=(label) {
                (lang.t("Edit"))
            }
        }
    }
}

fn sites_table(ctx: &Ctx<'_>, sites: &Value, account_window: Option<u64>) -> Markup {
    let lang = ctx.lang;
    let days = |n: u64| {
        let unit = if n == 1 {
            lang.t("day")
        } else {
            lang.t("days")
        };
        format!("{n} {unit}")
    };
    let window = |site: &Value| match site["repeat_window_days"].as_u64() {
        Some(n) => html! { (days(n)) },
        None => html! {
            span.muted {
                (lang.t("as the account's"))
                @if let Some(n) = account_window { ": " (days(n)) }
            }
        },
    };
    html! {
        table.stack {
            thead { tr {
                th { (lang.t("Name")) } th { (lang.t("Domain")) } th { (lang.t("Repeat window")) }
                th { (lang.t("Script tag")) } th { (lang.t("Actions")) }
            } }
            tbody {
                @for site in by_name(sites) {
                    tr {
                        td data-label=(lang.t("Name")) { (str_of(site, "name")) }
                        td data-label=(lang.t("Domain")) { (str_of(site, "domain")) }
                        td data-label=(lang.t("Repeat window")) { (window(site)) }
                        td {
                            (widgets::copyable(lang, &format!("script-{}", str_of(site, "id")),
                                lang.t("Paste on every page of the site"), str_of(site, "script")))
                        }
                        (edit_cell(ctx, Kind::Site, site))
                    }
                }
            }
        }
    }
}

fn sources_table(ctx: &Ctx<'_>, sources: &Value) -> Markup {
    let lang = ctx.lang;
    let lists = source_lists();
    html! {
        table.stack {
            thead { tr {
                th { (lang.t("Name")) }
                @for list in &lists { th { (list_heading(lang, list)) } }
                th { (lang.t("Actions")) }
            } }
            tbody {
                @for source in by_name(sources) {
                    tr {
                        td data-label=(lang.t("Name")) { (str_of(source, "name")) }
                        @for list in &lists {
                            td data-label=(list_heading(lang, list)) { (codes(&source[*list])) }
                        }
                        (edit_cell(ctx, Kind::Source, source))
                    }
                }
            }
        }
    }
}

fn list_heading(lang: Lang, list: &str) -> &'static str {
    match list {
        "click_ids" => lang.t("Click ids"),
        "referrer_domains" => lang.t("Referrer domains"),
        _ => "utm_source",
    }
}

fn campaigns_table(ctx: &Ctx<'_>, campaigns: &Value, sources: &Value, sites: &Value) -> Markup {
    let lang = ctx.lang;
    let (sources, sites): (BTreeMap<_, _>, BTreeMap<_, _>) = (
        named(sources).into_iter().collect(),
        named(sites).into_iter().collect(),
    );
    let name_of = |names: &BTreeMap<String, String>, id: &Value| -> Markup {
        match id.as_str() {
            None | Some("") => html! { span.muted { "—" } },
            Some(id) => match names.get(id) {
                Some(name) => html! { (name) },
                None => html! { span.muted { (lang.t("deleted")) } },
            },
        }
    };
    html! {
        table.stack {
            thead { tr {
                th { (lang.t("Name")) } th { (lang.t("Source")) } th { (lang.t("Site")) }
                th { (lang.t("UTM rules")) } th { (lang.t("Actions")) }
            } }
            tbody {
                @for campaign in by_name(campaigns) {
                    tr {
                        td data-label=(lang.t("Name")) { (str_of(campaign, "name")) }
                        td data-label=(lang.t("Source")) { (name_of(&sources, &campaign["source_id"])) }
                        td data-label=(lang.t("Site")) { (name_of(&sites, &campaign["site_id"])) }
                        td data-label=(lang.t("UTM rules")) { (utm_rules(lang, &campaign["utm"])) }
                        (edit_cell(ctx, Kind::Campaign, campaign))
                    }
                }
            }
        }
    }
}

fn utm_rules(lang: Lang, utm: &Value) -> Markup {
    let rules: Vec<(&str, &str)> = UTM_KEYS
        .iter()
        .filter_map(|k| utm[*k].as_str().filter(|v| !v.is_empty()).map(|v| (*k, v)))
        .collect();
    html! {
        @if rules.is_empty() {
            span.muted { (lang.t("None: used only as a default or in a mapping")) }
        } @else {
            @for (key, value) in rules { code { "utm_" (key) "=" (value) } " " }
        }
    }
}

fn employees_table(ctx: &Ctx<'_>, employees: &Value) -> Markup {
    let lang = ctx.lang;
    html! {
        table.stack {
            thead { tr {
                th { (lang.t("Employee")) } th { (lang.t("E-mail")) }
                th { (lang.t("Ids at providers")) } th { (lang.t("Actions")) }
            } }
            tbody {
                @for employee in by_name(employees) {
                    tr {
                        td data-label=(lang.t("Employee")) { (str_of(employee, "name")) }
                        td data-label=(lang.t("E-mail")) { (or_dash(str_of(employee, "email"))) }
                        td data-label=(lang.t("Ids at providers")) {
                            @let ids: Vec<(&str, String)> = PROVIDERS.iter()
                                .map(|(key, provider)| (*provider, joined(&employee["external_ids"][*key])))
                                .filter(|(_, ids)| !ids.is_empty())
                                .collect();
                            @if ids.is_empty() { span.muted { "—" } }
                            @for (provider, ids) in ids { div { (provider) ": " code { (ids) } } }
                        }
                        (edit_cell(ctx, Kind::Employee, employee))
                    }
                }
            }
        }
    }
}

async fn form_page(
    ctx: &Ctx<'_>,
    kind: Kind,
    id: Option<&str>,
    values: &Values,
    failure: Option<Failure>,
) -> HttpResponse {
    let lang = ctx.lang;
    let failure = failure.as_ref();
    let fields = match kind {
        Kind::Site => site_fields(ctx, id, values, failure).await,
        Kind::Source => source_fields(lang, values, failure),
        Kind::Campaign => match campaign_fields(ctx, values, failure).await {
            Ok(fields) => fields,
            Err(e) => return failed_page(lang, &e),
        },
        Kind::Employee => employee_fields(lang, values, failure),
    };
    let inputs = kind.inputs();
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let action = match id {
        Some(id) => format!("/directories/{}/{id}", kind.plural()),
        None => format!("/directories/{}", kind.plural()),
    };
    let content = html! {
        p { a href={ "/directories#" (kind.plural()) } { "← " (lang.t("Directories")) } }
        (widgets::form_error(lang, failure, &inputs))
        form.card method="post" action=(action) {
            (widgets::csrf(ctx))
            (fields)
            div.actions {
                button type="submit" { @if id.is_some() { (lang.t("Save")) } @else { (lang.t("Create")) } }
                a.button.secondary href={ "/directories#" (kind.plural()) } { (lang.t("Cancel")) }
            }
        }
        @if let Some(id) = id {
            form method="post" action={ "/directories/" (kind.plural()) "/" (id) "/delete" }
                data-confirm=(kind.delete_question(lang)) {
                (widgets::csrf(ctx))
                button.danger type="submit" { (lang.t("Delete")) }
            }
        }
    };
    layout::page(
        ctx,
        layout::Section::Directories,
        kind.title(lang, id.is_none()),
        content,
    )
}

fn name_field(lang: Lang, label: &str, values: &Values, failure: Option<&Failure>) -> Markup {
    let field = Text {
        required: true,
        ..Text::new(label, values.get("name"))
    };
    widgets::text(lang, "name", field, failure)
}

async fn site_fields(
    ctx: &Ctx<'_>,
    id: Option<&str>,
    values: &Values,
    failure: Option<&Failure>,
) -> Markup {
    let lang = ctx.lang;
    // The script tag of a saved site, to copy from its form as from the list.
    let script = match id {
        Some(id) => api::call(ctx, Method::GET, &Kind::Site.api_one(id), None)
            .await
            .ok()
            .map(|site| str_of(&site, "script").to_owned()),
        None => None,
    };
    let domain = Text {
        required: true,
        placeholder: Some("shop.example.ru"),
        hint: Some(lang.t("The site's host; a full address works too.")),
        ..Text::new(lang.t("Domain"), values.get("domain"))
    };
    let window_hint = match account_window(ctx).await {
        Some(days) => lang
            .t("A chat counts as a repeat when the same person wrote within this many days before it. Empty: the account's setting ({n} days).")
            .replace("{n}", &days.to_string()),
        None => lang
            .t("A chat counts as a repeat when the same person wrote within this many days before it. Empty: the account's setting.")
            .to_owned(),
    };
    let window = Text {
        kind: "number",
        hint: Some(&window_hint),
        ..Text::new(
            lang.t("Repeat window, days"),
            values.get("repeat_window_days"),
        )
    };
    html! {
        (name_field(lang, lang.t("Name"), values, failure))
        (widgets::text(lang, "domain", domain, failure))
        (widgets::text(lang, "repeat_window_days", window, failure))
        @if let Some(script) = script.filter(|s| !s.is_empty()) {
            (widgets::copyable(lang, "script", lang.t("Script tag: paste it on every page of the site"), &script))
        }
    }
}

/// The account's repeat window: what a site without its own follows.
async fn account_window(ctx: &Ctx<'_>) -> Option<u64> {
    let account = api::call(ctx, Method::GET, "/api/account", None)
        .await
        .ok()?;
    account["repeat_window_days"].as_u64()
}

fn source_fields(lang: Lang, values: &Values, failure: Option<&Failure>) -> Markup {
    html! {
        (name_field(lang, lang.t("Name"), values, failure))
        @for list in source_lists() {
            @let (label, hint, example) = match list {
                "click_ids" => (lang.t("Click ids"),
                    lang.t("URL parameters that mark a paid click of this source, comma-separated."),
                    "yclid"),
                "referrer_domains" => (lang.t("Referrer domains"),
                    lang.t("Sites whose visits without tags come from this source (their subdomains too), comma-separated."),
                    "yandex.ru, ya.ru"),
                _ => (lang.t("utm_source values"),
                    lang.t("The utm_source tags of this source's links, comma-separated."),
                    "yandex, ya-direct"),
            };
            @let field = Text { hint: Some(hint), placeholder: Some(example), ..Text::new(label, values.get(list)) };
            (widgets::text(lang, list, field, failure))
        }
    }
}

async fn campaign_fields(
    ctx: &Ctx<'_>,
    values: &Values,
    failure: Option<&Failure>,
) -> Result<Markup, Failure> {
    let lang = ctx.lang;
    let sources = named(&api::call(ctx, Method::GET, &Kind::Source.api(), None).await?);
    let sites = named(&api::call(ctx, Method::GET, &Kind::Site.api(), None).await?);
    let choice = |name: &str| Some(values.get(name)).filter(|v| !v.is_empty());
    Ok(html! {
        (name_field(lang, lang.t("Name"), values, failure))
        div.grid {
            (widgets::select(lang, "source_id", lang.t("Source"), &sources, choice("source_id"),
                Some(lang.t("Not set")), failure))
            (widgets::select(lang, "site_id", lang.t("Site"), &sites, choice("site_id"),
                Some(lang.t("Not set")), failure))
        }
        fieldset.card {
            legend { (lang.t("UTM rules")) }
            p.hint { (lang.t("A visit belongs to this campaign when each tag filled in here equals its own (case does not matter); of several such campaigns, the one naming most tags wins. Leave all empty for a campaign used only as a default or in a mapping.")) }
            div.grid {
                @for key in UTM_KEYS {
                    @let name = format!("utm.{key}");
                    @let label = format!("utm_{key}");
                    (widgets::text(lang, &name, Text::new(&label, values.get(&name)), failure))
                }
            }
        }
    })
}

fn employee_fields(lang: Lang, values: &Values, failure: Option<&Failure>) -> Markup {
    let email = Text {
        kind: "email",
        hint: Some(lang.t("Used to recognise them in chats and CRM records; optional.")),
        ..Text::new(lang.t("E-mail"), values.get("email"))
    };
    html! {
        (name_field(lang, lang.t("Full name"), values, failure))
        (widgets::text(lang, "email", email, failure))
        fieldset.card {
            legend { (lang.t("Ids at providers")) }
            p.hint { (lang.t("For services that name the employee by their own id rather than by e-mail; several ids are comma-separated.")) }
            div.grid {
                @for (key, provider) in PROVIDERS {
                    @let name = format!("external_ids.{key}");
                    (widgets::text(lang, &name, Text::new(provider, values.get(&name)), failure))
                }
            }
        }
    }
}
