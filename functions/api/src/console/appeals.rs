//! The appeals journal (filters kept in the URL, names instead of ids, pages by the API's
//! cursor) and an appeal's card: contact, transcript, session, and how its attribution was
//! decided, said in the user's language from the structured fields (the API's `detail`
//! sentence stays English).

use super::{Ctx, Failure, Form, Lang, failed_page, i18n, layout, not_found, when, widgets};
use http::Method;
use maud::{Markup, html};
use serde_json::Value;
use shared::domain::appeal::Provider;
use shared::edge::web::{self, HttpResponse};

/// English -> Russian for this page, sorted by the English text.
#[rustfmt::skip]
pub static RU: &[(&str, &str)] = &[
    ("(deleted)", "(удалено)"),
    ("A click id in the chat page's address belongs to the source {source}.", "Идентификатор клика в адресе страницы чата относится к источнику {source}."),
    ("All", "Все"),
    ("All appeals of this person", "Все обращения этого человека"),
    ("All campaigns", "Все кампании"),
    ("All channels", "Все каналы"),
    ("All services", "Все сервисы"),
    ("All sources", "Все источники"),
    ("All statuses", "Все статусы"),
    ("Appeal", "Обращение"),
    ("Attributed by", "Как определено"),
    ("Attribution", "Атрибуция"),
    ("Back to appeals", "Назад к обращениям"),
    ("Bot", "Бот"),
    ("Callback request", "Заказ обратного звонка"),
    ("Chat", "Чат"),
    ("Chat page", "Страница чата"),
    ("Click id", "Идентификатор клика"),
    ("Complete", "Завершено"),
    ("Contact", "Контакт"),
    ("Date", "Дата"),
    ("E-mails", "E-mail"),
    ("Failed", "Ошибка"),
    ("Filters", "Фильтры"),
    ("First appeal", "Первое обращение"),
    ("First only", "Первичные"),
    ("First or repeat", "Первое или повторное"),
    ("First page", "Первая страница"),
    ("From", "С"),
    ("Give a date, like 31.12.2024.", "Укажите дату, например 31.12.2024."),
    ("ID at the service", "ID в сервисе"),
    ("In progress", "Идёт"),
    ("Integration", "Интеграция"),
    ("Integration default", "По умолчанию"),
    ("Kind", "Тип"),
    ("Landing page", "Страница входа"),
    ("Left out to keep the appeal within its size, messages: {n}. The raw webhook body keeps them all.", "Не вошло в обращение из-за ограничения размера, сообщений: {n}. В сырых данных вебхука они сохранены полностью."),
    ("Messenger mapping", "Настройка мессенджеров"),
    ("Next page", "Следующая страница"),
    ("No appeals match these filters.", "Нет обращений по этим фильтрам."),
    ("No appeals yet. They appear here as soon as an integration sends its first chat.", "Обращений пока нет. Они появятся здесь, как только интеграция пришлёт первый чат."),
    ("No messages.", "Сообщений нет."),
    ("No name", "Без имени"),
    ("No session data came with this appeal.", "Данные о визите с этим обращением не пришли."),
    ("No session id came with the chat.", "Идентификатор сессии с чатом не пришёл."),
    ("None of the appeals looked through so far match; earlier ones are left to look through.", "Среди просмотренных обращений подходящих нет; можно искать дальше среди более ранних."),
    ("Nothing decided, and the integration names no default, so the appeal has no campaign or source.", "Ничто не указало на рекламу, а в интеграции не задано значение по умолчанию, поэтому у обращения нет ни кампании, ни источника."),
    ("Nothing else decided, so the appeal went to the integration's default campaign {campaign}.", "Больше ничто не указало на рекламу, поэтому обращение отнесено к кампании по умолчанию из настроек интеграции: {campaign}."),
    ("Nothing else decided, so the appeal went to the integration's default source {source}.", "Больше ничто не указало на рекламу, поэтому обращение отнесено к источнику по умолчанию из настроек интеграции: {source}."),
    ("Offline request", "Заявка из офлайн-формы"),
    ("Pages", "Страницы"),
    ("Phone, e-mail or name", "Телефон, e-mail или имя"),
    ("Phones", "Телефоны"),
    ("Reason", "Причина"),
    ("Received", "Получено"),
    ("Referrer", "Реферер"),
    ("Repeat appeal", "Повторное обращение"),
    ("Repeat only", "Повторные"),
    ("Reset", "Сбросить"),
    ("Search earlier appeals", "Искать среди более ранних"),
    ("Session", "Сессия"),
    ("Session id", "ID сессии"),
    ("Session {id} was named in the chat, and it was found.", "В чате указан идентификатор сессии {id}, и сессия найдена."),
    ("Session {id} was named in the chat, but no such session was found.", "В чате указан идентификатор сессии {id}, но такой сессии не найдено."),
    ("Show", "Показать"),
    ("Site session", "Сессия на сайте"),
    ("System", "Система"),
    ("Technical note (English)", "Техническая запись (на английском)"),
    ("The chat carried session {id}, and it was found.", "Вместе с чатом пришёл идентификатор сессии {id}, и сессия найдена."),
    ("The chat carried session {id}, but no such session was found.", "Вместе с чатом пришёл идентификатор сессии {id}, но такой сессии не найдено."),
    ("The chat's UTM tags matched no campaign or source.", "UTM-метки чата не подошли ни к одной кампании или источнику."),
    ("The chat's own UTM tags matched the campaign {campaign}.", "UTM-метки из самого чата подошли под правила кампании {campaign}."),
    ("The chat's own utm_source belongs to the source {source}.", "utm_source из самого чата относится к источнику {source}."),
    ("The end of the period is before its start.", "Конец периода раньше его начала."),
    ("The integration maps no campaign or source for {channel} chats.", "В интеграции не задано, куда относить чаты из {channel}."),
    ("The messenger chat began with the link code {id}, and its session was found.", "Чат в мессенджере начался с кода ссылки {id}, и сессия по нему найдена."),
    ("The messenger chat began with the link code {id}, but no session has it.", "Чат в мессенджере начался с кода ссылки {id}, но сессии с таким кодом нет."),
    ("The period is in UTC: from 00:00 of the first day to the end of the last.", "Период указывается в UTC: с 00:00 первого дня до конца последнего."),
    ("The same person appealed within the repeat window before.", "Тот же человек уже обращался в пределах окна повторных обращений."),
    ("The session came from a site of the source {source}.", "Сессия пришла с сайта, который относится к источнику {source}."),
    ("The session's UTM tags matched the campaign {campaign}.", "UTM-метки сессии подошли под правила кампании {campaign}."),
    ("The session's click id belongs to the source {source}.", "Идентификатор клика в сессии относится к источнику {source}."),
    ("The session's utm_source belongs to the source {source}.", "utm_source сессии относится к источнику {source}."),
    ("This is a {channel} chat: the integration's messenger mapping sends such chats to the campaign {campaign}.", "Это чат из {channel}: по настройке мессенджеров в интеграции такие чаты относятся к кампании {campaign}."),
    ("This is a {channel} chat: the integration's messenger mapping sends such chats to the source {source}.", "Это чат из {channel}: по настройке мессенджеров в интеграции такие чаты относятся к источнику {source}."),
    ("To", "По"),
    ("Transcript", "Переписка"),
    ("UTM tags", "UTM-метки"),
    ("Updated", "Обновлено"),
    ("Visit started", "Начало визита"),
    ("Visitor", "Посетитель"),
    ("Visitor id", "ID посетителя"),
    ("Waiting for CRM data", "Ждёт данных из CRM"),
    ("by e-mail", "по e-mail"),
    ("by their ID at the service", "по ID в сервисе"),
    ("repeat", "повторное"),
    ("the integration's default employee", "сотрудник по умолчанию из интеграции"),
    ("{via} decided.", "Определено так: {via}."),
];

/// `GET /appeals...`: `rest` is the path after `/appeals`.
pub async fn get(ctx: &Ctx<'_>, rest: &[&str]) -> HttpResponse {
    match rest {
        [] => journal(ctx).await,
        [id] => card(ctx, id).await,
        _ => not_found(ctx.lang),
    }
}

/// `POST /appeals/...`, the form's CSRF token already checked: nothing here posts.
pub async fn post(ctx: &Ctx<'_>, rest: &[&str], form: &Form) -> HttpResponse {
    let _ = (rest, form);
    not_found(ctx.lang)
}

// ---- names instead of ids ----

/// One of the account's directories as (id, name), sorted by name: names shown for ids, and
/// the choices of a filter.
pub(super) struct Names(Vec<(String, String)>);

impl Names {
    /// `GET /api/{plural}` (sites, sources, campaigns, employees, integrations).
    pub(super) async fn load(ctx: &Ctx<'_>, plural: &str) -> Result<Names, Failure> {
        let path = format!("/api/{plural}");
        let list = super::api::call(ctx, Method::GET, &path, None).await?;
        let mut items: Vec<(String, String)> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let id = item["id"].as_str()?;
                let name = [&item["name"], &item["domain"]]
                    .into_iter()
                    .find_map(|v| v.as_str().filter(|s| !s.trim().is_empty()))
                    .unwrap_or(id);
                Some((id.to_owned(), name.to_owned()))
            })
            .collect();
        items.sort_by_cached_key(|(_, name)| name.to_lowercase());
        Ok(Names(items))
    }

    pub(super) fn of(&self, id: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, name)| name.as_str())
    }

    pub(super) fn options(&self) -> &[(String, String)] {
        &self.0
    }

    /// The name of the id in `value`; an id no longer in the directory as itself, marked.
    pub(super) fn show(&self, lang: Lang, value: &Value) -> Markup {
        match value.as_str() {
            None | Some("") => html! { span.muted { "—" } },
            Some(id) => match self.of(id) {
                Some(name) => html! { (name) },
                None => html! { code { (id) } " " span.muted { (lang.t("(deleted)")) } },
            },
        }
    }

    /// As `show`, as plain text (for sentences).
    fn text(&self, lang: Lang, id: &str) -> String {
        match self.of(id) {
            Some(name) => name.to_owned(),
            None => format!("{id} {}", lang.t("(deleted)")),
        }
    }
}

/// The directories an appeal names.
struct Directories {
    campaigns: Names,
    sources: Names,
    sites: Names,
    employees: Names,
    integrations: Names,
}

impl Directories {
    async fn load(ctx: &Ctx<'_>, with_sites: bool) -> Result<Directories, Failure> {
        Ok(Directories {
            campaigns: Names::load(ctx, "campaigns").await?,
            sources: Names::load(ctx, "sources").await?,
            sites: if with_sites {
                Names::load(ctx, "sites").await?
            } else {
                Names(Vec::new())
            },
            employees: Names::load(ctx, "employees").await?,
            integrations: Names::load(ctx, "integrations").await?,
        })
    }

    fn employee(&self, appeal: &Value) -> Markup {
        let employee = &appeal["employee"];
        let id = employee["id"].as_str().unwrap_or_default();
        match self.employees.of(id).or(employee["name"].as_str()) {
            Some(name) => html! { (name) },
            None => html! { span.muted { "—" } },
        }
    }

    fn integration(&self, appeal: &Value) -> Markup {
        let id = appeal["integration_id"].as_str().unwrap_or_default();
        let provider = provider_title(&appeal["provider"]);
        match self.integrations.of(id) {
            Some(name) => html! { (name) br; span.muted { (provider) } },
            None => html! { (provider) },
        }
    }
}

// ---- words for the API's tokens ----

fn provider_title(value: &Value) -> &str {
    let token = value.as_str().unwrap_or_default();
    match Provider::parse(token) {
        Some(p) => p.title(),
        None => token,
    }
}

pub(super) fn via_name(lang: Lang, token: &str) -> &str {
    match token {
        "session" => lang.t("Site session"),
        "utm" => lang.t("UTM tags"),
        "click_id" => lang.t("Click id"),
        "messenger_mapping" => lang.t("Messenger mapping"),
        "default" => lang.t("Integration default"),
        other => other,
    }
}

pub(super) fn status_name(lang: Lang, token: &str) -> &str {
    match token {
        "in_progress" => lang.t("In progress"),
        "pending_enrichment" => lang.t("Waiting for CRM data"),
        "complete" => lang.t("Complete"),
        "failed" => lang.t("Failed"),
        other => other,
    }
}

fn status_badge(lang: Lang, token: &str) -> Markup {
    let class = match token {
        "complete" => "badge ok",
        "failed" => "badge bad",
        _ => "badge warn",
    };
    html! { span class=(class) { (status_name(lang, token)) } }
}

/// `repeat=` in words: the filter's choices.
pub(super) fn first_or_repeat(lang: Lang, value: &str) -> &'static str {
    match value {
        "true" => lang.t("Repeat only"),
        _ => lang.t("First only"),
    }
}

fn kind_name(lang: Lang, token: &str) -> &str {
    match token {
        "chat" => lang.t("Chat"),
        "offline_request" => lang.t("Offline request"),
        "callback_request" => lang.t("Callback request"),
        other => other,
    }
}

fn author_name(lang: Lang, token: &str) -> &str {
    match token {
        "visitor" => lang.t("Visitor"),
        "employee" => lang.t("Employee"),
        "bot" => lang.t("Bot"),
        "system" => lang.t("System"),
        other => other,
    }
}

// ---- the journal ----

/// The journal's filters, as the URL carries them (the form is a GET form).
const FILTERS: [&str; 11] = [
    "from",
    "to",
    "provider",
    "channel",
    "channel_group",
    "campaign_id",
    "source_id",
    "via",
    "status",
    "repeat",
    "q",
];
const PAGE: usize = 50;

/// The filters given (blank ones left out), in the order of `FILTERS`.
struct Filters(Vec<(&'static str, String)>);

impl Filters {
    fn read(query: Option<&str>) -> Filters {
        Filters(
            FILTERS
                .iter()
                .filter_map(|name| {
                    let value = web::query_param(query, name)?.trim().to_owned();
                    (!value.is_empty()).then_some((*name, value))
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

    /// The journal's query with these filters, and `cursor` if given.
    fn query(&self, cursor: Option<&str>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.0 {
            query.append_pair(name, value);
        }
        if let Some(cursor) = cursor {
            query.append_pair("cursor", cursor);
        }
        query.finish()
    }

    /// The journal's address with these filters.
    fn href(&self, cursor: Option<&str>) -> String {
        let query = self.query(cursor);
        if query.is_empty() {
            "/appeals".to_owned()
        } else {
            format!("/appeals?{query}")
        }
    }

    /// The API's query: the period's dates become UTC times (`to` is the end of its day).
    fn api_query(&self, lang: Lang, cursor: Option<&str>) -> Result<String, Failure> {
        let from = self.date(lang, "from")?;
        let to = self.date(lang, "to")?;
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            return Err(local_failure(
                "to",
                lang.t("The end of the period is before its start."),
            ));
        }
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.0 {
            match *name {
                "from" | "to" => {}
                _ => {
                    query.append_pair(name, value);
                }
            }
        }
        if let Some(from) = from {
            query.append_pair("from", &format!("{from}T00:00:00Z"));
        }
        if let Some(to) = to.and_then(|d| d.succ_opt()) {
            query.append_pair("to", &format!("{to}T00:00:00Z"));
        }
        query.append_pair("limit", &PAGE.to_string());
        if let Some(cursor) = cursor {
            query.append_pair("cursor", cursor);
        }
        Ok(query.finish())
    }

    fn date(&self, lang: Lang, name: &str) -> Result<Option<chrono::NaiveDate>, Failure> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        widgets::parse_date(value)
            .map(Some)
            .ok_or_else(|| local_failure(name, lang.t("Give a date, like 31.12.2024.")))
    }
}

/// A field's error found by the page before asking the API.
fn local_failure(field: &str, message: &str) -> Failure {
    Failure {
        status: 400,
        code: "invalid_date".into(),
        message: message.to_owned(),
        field: Some(field.to_owned()),
    }
}

async fn journal(ctx: &Ctx<'_>) -> HttpResponse {
    let lang = ctx.lang;
    let filters = Filters::read(ctx.query);
    let cursor = web::query_param(ctx.query, "cursor").filter(|c| !c.is_empty());
    let dirs = match Directories::load(ctx, false).await {
        Ok(d) => d,
        Err(e) => return failed_page(lang, &e),
    };
    let listing = match filters.api_query(lang, cursor.as_deref()) {
        Ok(query) => {
            super::api::call(ctx, Method::GET, &format!("/api/appeals?{query}"), None).await
        }
        Err(f) => Err(f),
    };
    // A refused filter shows on the form (beside its field when the API names it), so the
    // user can change it; any other failure is the page's.
    let (items, next, failure) = match listing {
        Ok(page) => (
            page["items"].as_array().cloned().unwrap_or_default(),
            page["next_cursor"].as_str().map(str::to_owned),
            None,
        ),
        Err(f) if f.status == 400 => (Vec::new(), None, Some(f)),
        Err(f) => return failed_page(lang, &f),
    };
    let back = filters.query(cursor.as_deref());
    let content = html! {
        (filter_form(ctx, &filters, &dirs, failure.as_ref()))
        @if items.is_empty() {
            @if next.is_some() {
                p.notice role="status" { (lang.t("None of the appeals looked through so far match; earlier ones are left to look through.")) }
            } @else if failure.is_none() {
                p.notice role="status" {
                    @if filters.0.is_empty() && cursor.is_none() {
                        (lang.t("No appeals yet. They appear here as soon as an integration sends its first chat."))
                    } @else {
                        (lang.t("No appeals match these filters."))
                    }
                }
            }
        } @else {
            table.stack {
                thead { tr {
                    th { (lang.t("Date")) } th { (lang.t("Contact")) } th { (lang.t("Integration")) }
                    th { (lang.t("Channel")) } th { (lang.t("Campaign")) } th { (lang.t("Source")) }
                    th { (lang.t("Attributed by")) } th { (lang.t("Employee")) } th { (lang.t("Status")) }
                } }
                tbody {
                    @for appeal in &items { (row(lang, appeal, &dirs, &back)) }
                }
            }
        }
        @if cursor.is_some() || next.is_some() {
            nav.pager aria-label=(lang.t("Pages")) {
                @if cursor.is_some() {
                    a href=(filters.href(None)) { (lang.t("First page")) }
                }
                @if let Some(next) = &next {
                    a href=(filters.href(Some(next))) rel="next" {
                        @if items.is_empty() { (lang.t("Search earlier appeals")) }
                        @else { (lang.t("Next page")) }
                    }
                }
            }
        }
    };
    layout::page(ctx, layout::Section::Appeals, lang.t("Appeals"), content)
}

fn filter_form(
    ctx: &Ctx<'_>,
    filters: &Filters,
    dirs: &Directories,
    failure: Option<&Failure>,
) -> Markup {
    let lang = ctx.lang;
    let providers = widgets::provider_options();
    let channels = widgets::channel_options(lang, filters.get("channel"));
    let vias: Vec<(String, String)> = crate::appeals::vias()
        .into_iter()
        .map(|v| (v.to_owned(), via_name(lang, v).to_owned()))
        .collect();
    let statuses: Vec<(String, String)> = crate::appeals::statuses()
        .into_iter()
        .map(|s| (s.to_owned(), status_name(lang, s).to_owned()))
        .collect();
    let groups: Vec<(String, String)> = shared::domain::appeal::ChannelGroup::ALL
        .iter()
        .map(|g| {
            let token = g.as_str();
            (
                token.to_owned(),
                super::reports::channel_group_name(lang, token).to_owned(),
            )
        })
        .collect();
    let repeats: Vec<(String, String)> = ["false", "true"]
        .into_iter()
        .map(|value| (value.to_owned(), first_or_repeat(lang, value).to_owned()))
        .collect();
    let select = |name: &str, label: &str, options: &[(String, String)], none: &str| {
        widgets::select(
            lang,
            name,
            label,
            options,
            filters.get(name),
            Some(none),
            failure,
        )
    };
    let q = widgets::Text {
        kind: "search",
        ..widgets::Text::new(
            lang.t("Phone, e-mail or name"),
            filters.get("q").unwrap_or_default(),
        )
    };
    let set = FILTERS
        .iter()
        .filter(|name| **name != "q" && filters.get(name).is_some_and(|v| !v.is_empty()))
        .count();
    let unfold = set > 0 || failure.is_some();
    html! {
        form.card method="get" action="/appeals" role="search" aria-label=(lang.t("Filters")) {
            div.filters {
                (widgets::text(lang, "q", q, failure))
            }
            // On a phone the other filters fold away (the script folds them) unless one is set
            // or refused; without the script, or on a wide screen, they stay open.
            details.more-filters open data-fold-narrow=[(!unfold).then_some("")] {
                summary {
                    (lang.t("Filters"))
                    @if set > 0 { " (" (set) ")" }
                }
                div.filters {
                (widgets::period_date(lang, "from", lang.t("From"), filters.get("from").unwrap_or_default(), false, failure))
                (widgets::period_date(lang, "to", lang.t("To"), filters.get("to").unwrap_or_default(), false, failure))
                (select("provider", lang.t("Service"), &providers, lang.t("All services")))
                (select("channel", lang.t("Channel"), &channels, lang.t("All channels")))
                (select("channel_group", lang.t("Traffic group"), &groups, lang.t("All")))
                (select("campaign_id", lang.t("Campaign"), dirs.campaigns.options(), lang.t("All campaigns")))
                (select("source_id", lang.t("Source"), dirs.sources.options(), lang.t("All sources")))
                (select("via", lang.t("Attributed by"), &vias, lang.t("All")))
                (select("status", lang.t("Status"), &statuses, lang.t("All statuses")))
                (select("repeat", lang.t("First or repeat"), &repeats, lang.t("All")))
                }
            }
            p.hint id="period-hint" { (lang.t("The period is in UTC: from 00:00 of the first day to the end of the last.")) }
            (widgets::form_error(lang, failure, &FILTERS))
            div.actions {
                button type="submit" { (lang.t("Show")) }
                a.button.secondary href="/appeals" { (lang.t("Reset")) }
                a href=(reattribute_link(filters)) { (lang.t("Re-attribute this period")) }
            }
        }
    }
}

/// The re-attribution page with the journal's filters, its period in the journal's UTC days.
fn reattribute_link(filters: &Filters) -> String {
    let mut pairs: Vec<(&str, &str)> = filters.0.iter().map(|(n, v)| (*n, v.as_str())).collect();
    if filters.get("from").is_some() || filters.get("to").is_some() {
        pairs.push(("tz", "UTC"));
    }
    super::reattribute::href(&pairs)
}

fn row(lang: Lang, appeal: &Value, dirs: &Directories, back: &str) -> Markup {
    let id = appeal["id"].as_str().unwrap_or_default();
    let href = if back.is_empty() {
        format!("/appeals/{id}")
    } else {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("back", back)
            .finish();
        format!("/appeals/{id}?{query}")
    };
    let contact = &appeal["contact"];
    let reachable: Vec<&str> = ["phones", "emails"]
        .iter()
        .flat_map(|k| contact[*k].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    let attribution = &appeal["attribution"];
    let via = attribution["via"].as_str().unwrap_or_default();
    let channel = appeal["channel"].as_str().unwrap_or_default();
    html! {
        tr {
            td data-label=(lang.t("Date")) { (when(lang, &appeal["created_at"])) }
            td data-label=(lang.t("Contact")) {
                a href=(href) {
                    @match contact["name"].as_str() {
                        Some(name) => (name),
                        None => (lang.t("No name")),
                    }
                }
                @if appeal["repeat"].as_bool() == Some(true) {
                    " " span.badge title=(lang.t("The same person appealed within the repeat window before.")) { (lang.t("repeat")) }
                }
                @if !reachable.is_empty() { br; span.muted { (reachable.join(", ")) } }
            }
            td data-label=(lang.t("Integration")) { (dirs.integration(appeal)) }
            td data-label=(lang.t("Channel")) {
                (i18n::channel_name(lang, channel))
                @if let Some(group) = appeal["channel_group"].as_str() {
                    br; span.muted { (super::reports::channel_group_name(lang, group)) }
                }
            }
            td data-label=(lang.t("Campaign")) { (dirs.campaigns.show(lang, &attribution["campaign_id"])) }
            td data-label=(lang.t("Source")) { (dirs.sources.show(lang, &attribution["source_id"])) }
            td data-label=(lang.t("Attributed by")) { span.badge { (via_name(lang, via)) } }
            td data-label=(lang.t("Employee")) { (dirs.employee(appeal)) }
            td data-label=(lang.t("Status")) { (status_badge(lang, appeal["status"].as_str().unwrap_or_default())) }
        }
    }
}

// ---- the card ----

async fn card(ctx: &Ctx<'_>, id: &str) -> HttpResponse {
    let lang = ctx.lang;
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return not_found(lang);
    }
    let appeal = match super::api::call(ctx, Method::GET, &format!("/api/appeals/{id}"), None).await
    {
        Ok(a) => a,
        Err(e) if e.status == 404 => return not_found(lang),
        Err(e) => return failed_page(lang, &e),
    };
    let dirs = match Directories::load(ctx, true).await {
        Ok(d) => d,
        Err(e) => return failed_page(lang, &e),
    };
    // Back to the journal as it was: only its own filters are taken from `back`.
    let back = web::query_param(ctx.query, "back").map(|b| Filters::read(Some(&b)));
    let cursor =
        web::query_param(ctx.query, "back").and_then(|b| web::query_param(Some(&b), "cursor"));
    let back_href = back.map_or_else(|| "/appeals".to_owned(), |f| f.href(cursor.as_deref()));
    let contact = &appeal["contact"];
    let title = contact["name"]
        .as_str()
        .or_else(|| contact["phones"][0].as_str())
        .or_else(|| contact["emails"][0].as_str())
        .unwrap_or(lang.t("Appeal"));
    let channel = appeal["channel"].as_str().unwrap_or_default();
    let content = html! {
        p { a href=(back_href) { "← " (lang.t("Back to appeals")) } }
        p.muted {
            (when(lang, &appeal["created_at"])) " · " (provider_title(&appeal["provider"]))
            " · " (i18n::channel_name(lang, channel)) " · " (kind_name(lang, appeal["kind"].as_str().unwrap_or_default()))
        }
        (person_line(lang, &appeal))
        (attribution_card(lang, &appeal, &dirs))
        (super::reattribute::history(ctx, &appeal, &dirs.campaigns, &dirs.sources, &dirs.sites))
        section.card aria-labelledby="contact-h" {
            h2 id="contact-h" { (lang.t("Contact")) }
            (contact_facts(lang, contact))
        }
        section.card aria-labelledby="appeal-h" {
            h2 id="appeal-h" { (lang.t("Appeal")) }
            (appeal_facts(lang, &appeal, &dirs))
        }
        section.card aria-labelledby="session-h" {
            h2 id="session-h" { (lang.t("Session")) }
            (session_facts(lang, &appeal["session"], &dirs))
        }
        section.card aria-labelledby="transcript-h" {
            h2 id="transcript-h" { (lang.t("Transcript")) }
            (transcript(lang, &appeal))
        }
    };
    layout::page(ctx, layout::Section::Appeals, title, content)
}

/// First or repeat, and the journal searched for the person (by their first phone, else
/// e-mail: the keys a repeat is told by).
fn person_line(lang: Lang, appeal: &Value) -> Markup {
    let repeat = appeal["repeat"].as_bool() == Some(true);
    let contact = &appeal["contact"];
    let key = contact["phones"][0]
        .as_str()
        .or_else(|| contact["emails"][0].as_str())
        .filter(|k| !k.trim().is_empty());
    let search = key.map(|k| Filters(vec![("q", k.to_owned())]).href(None));
    html! {
        p.person {
            @if repeat {
                span.badge title=(lang.t("The same person appealed within the repeat window before.")) {
                    (lang.t("Repeat appeal"))
                }
            } @else {
                span.badge.ok { (lang.t("First appeal")) }
            }
            @if let Some(href) = search {
                " " a href=(href) { (lang.t("All appeals of this person")) }
            }
        }
    }
}

fn attribution_card(lang: Lang, appeal: &Value, dirs: &Directories) -> Markup {
    let a = &appeal["attribution"];
    let via = a["via"].as_str().unwrap_or_default();
    html! {
        section.card aria-labelledby="attribution-h" {
            h2 id="attribution-h" { (lang.t("Attribution")) " " span.badge { (via_name(lang, via)) } }
            p.decided { (decided(lang, appeal, dirs)) }
            dl.facts {
                dt { (lang.t("Campaign")) } dd { (dirs.campaigns.show(lang, &a["campaign_id"])) }
                dt { (lang.t("Source")) } dd { (dirs.sources.show(lang, &a["source_id"])) }
                dt { (lang.t("Site")) } dd { (dirs.sites.show(lang, &a["site_id"])) }
                @if let Some(group) = appeal["channel_group"].as_str() {
                    dt { (lang.t("Traffic group")) } dd { (super::reports::channel_group_name(lang, group)) }
                }
            }
            @if let Some(detail) = a["detail"].as_str().filter(|d| !d.is_empty() && lang != Lang::En) {
                details {
                    summary { (lang.t("Technical note (English)")) }
                    p lang="en" { (detail) }
                }
            }
        }
    }
}

/// How the attribution was decided, in the user's words: whether a session id came and was
/// found, then the step that decided and what it matched.
fn decided(lang: Lang, appeal: &Value, dirs: &Directories) -> Markup {
    let a = &appeal["attribution"];
    let via = a["via"].as_str().unwrap_or_default();
    let campaign = a["campaign_id"]
        .as_str()
        .map(|id| dirs.campaigns.text(lang, id));
    let source = a["source_id"]
        .as_str()
        .map(|id| dirs.sources.text(lang, id));
    let channel = i18n::channel_name(lang, appeal["channel"].as_str().unwrap_or_default());
    let lookup = &a["session_lookup"];
    let looked = match (lookup["source"].as_str(), lookup["found"].as_bool()) {
        (Some("payload"), Some(true)) => {
            Some(lang.t("The chat carried session {id}, and it was found."))
        }
        (Some("payload"), _) => {
            Some(lang.t("The chat carried session {id}, but no such session was found."))
        }
        (Some("deep_link"), Some(true)) => Some(
            lang.t("The messenger chat began with the link code {id}, and its session was found."),
        ),
        (Some("deep_link"), _) => {
            Some(lang.t("The messenger chat began with the link code {id}, but no session has it."))
        }
        (Some("message"), Some(true)) => {
            Some(lang.t("Session {id} was named in the chat, and it was found."))
        }
        (Some("message"), _) => {
            Some(lang.t("Session {id} was named in the chat, but no such session was found."))
        }
        _ if via != "session" => Some(lang.t("No session id came with the chat.")),
        _ => None,
    };
    let lookup_id = lookup["id"].as_str().unwrap_or_default();
    let had_tags = appeal["session"]["utm"].as_object().is_some_and(|tags| {
        tags.values()
            .any(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    });
    let evidence = a["evidence"].as_str().unwrap_or_default();
    let mut why: Vec<&str> = Vec::new();
    if matches!(via, "messenger_mapping" | "default") && had_tags {
        why.push(lang.t("The chat's UTM tags matched no campaign or source."));
    }
    if via == "default" && channel_is_messenger(appeal) {
        why.push(lang.t("The integration maps no campaign or source for {channel} chats."));
    }
    let decision = match (via, &campaign, &source) {
        ("session", Some(_), _) => lang.t("The session's UTM tags matched the campaign {campaign}."),
        ("session", None, Some(_)) => match evidence {
            "click_id" => lang.t("The session's click id belongs to the source {source}."),
            "referrer" => lang.t("The session came from a site of the source {source}."),
            _ => lang.t("The session's utm_source belongs to the source {source}."),
        },
        ("utm", Some(_), _) => lang.t("The chat's own UTM tags matched the campaign {campaign}."),
        ("utm", None, Some(_)) => lang.t("The chat's own utm_source belongs to the source {source}."),
        ("click_id", _, Some(_)) => lang.t("A click id in the chat page's address belongs to the source {source}."),
        ("messenger_mapping", Some(_), _) => lang.t("This is a {channel} chat: the integration's messenger mapping sends such chats to the campaign {campaign}."),
        ("messenger_mapping", None, Some(_)) => lang.t("This is a {channel} chat: the integration's messenger mapping sends such chats to the source {source}."),
        ("default", Some(_), _) => lang.t("Nothing else decided, so the appeal went to the integration's default campaign {campaign}."),
        ("default", None, Some(_)) => lang.t("Nothing else decided, so the appeal went to the integration's default source {source}."),
        ("default", None, None) => lang.t("Nothing decided, and the integration names no default, so the appeal has no campaign or source."),
        _ => lang.t("{via} decided."),
    };
    let values = [
        ("id", lookup_id),
        ("campaign", campaign.as_deref().unwrap_or_default()),
        ("source", source.as_deref().unwrap_or_default()),
        ("channel", channel.as_str()),
        ("via", via_name(lang, via)),
    ];
    html! {
        @for sentence in looked.into_iter().chain(why).chain([decision]) {
            (fill(sentence, &values)) " "
        }
    }
}

fn channel_is_messenger(appeal: &Value) -> bool {
    appeal["channel"].as_str().is_some_and(|c| c != "site")
}

/// A sentence with `{name}` holes filled from `values`, each in bold (and escaped, as all
/// text is).
fn fill(template: &str, values: &[(&str, &str)]) -> Markup {
    let mut parts: Vec<(&str, Option<&str>)> = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + len];
        let value = values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        parts.push((&rest[..open], Some(value.unwrap_or(name))));
        rest = &rest[open + len + 1..];
    }
    parts.push((rest, None));
    html! {
        @for (text, value) in parts {
            (text)
            @if let Some(value) = value { strong { (value) } }
        }
    }
}

fn contact_facts(lang: Lang, contact: &Value) -> Markup {
    let list = |key: &str| -> Vec<String> {
        contact[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let phones = list("phones");
    let emails = list("emails");
    html! {
        dl.facts {
            dt { (lang.t("Full name")) }
            dd { @match contact["name"].as_str() { Some(n) => (n), None => span.muted { (lang.t("No name")) } } }
            dt { (lang.t("Phones")) }
            dd {
                @if phones.is_empty() { span.muted { "—" } }
                @for (i, phone) in phones.iter().enumerate() {
                    @if i > 0 { br; }
                    a href={ "tel:" (phone) } { (phone) }
                }
            }
            dt { (lang.t("E-mails")) }
            dd {
                @if emails.is_empty() { span.muted { "—" } }
                @for (i, email) in emails.iter().enumerate() {
                    @if i > 0 { br; }
                    a href={ "mailto:" (email) } { (email) }
                }
            }
        }
    }
}

fn appeal_facts(lang: Lang, appeal: &Value, dirs: &Directories) -> Markup {
    let status = appeal["status"].as_str().unwrap_or_default();
    let matched = match appeal["employee"]["matched_by"].as_str() {
        Some("external_id") => Some(lang.t("by their ID at the service")),
        Some("email") => Some(lang.t("by e-mail")),
        Some("default") => Some(lang.t("the integration's default employee")),
        _ => None,
    };
    html! {
        dl.facts {
            dt { (lang.t("Received")) } dd { (when(lang, &appeal["created_at"])) }
            dt { (lang.t("Updated")) } dd { (when(lang, &appeal["updated_at"])) }
            dt { (lang.t("Integration")) } dd { (dirs.integration(appeal)) }
            dt { (lang.t("Kind")) } dd { (kind_name(lang, appeal["kind"].as_str().unwrap_or_default())) }
            dt { (lang.t("ID at the service")) } dd { code { (appeal["provider_ref"].as_str().unwrap_or_default()) } }
            dt { (lang.t("Employee")) }
            dd {
                (dirs.employee(appeal))
                @if let Some(m) = matched { br; span.muted { (m) } }
            }
            dt { (lang.t("Status")) }
            dd {
                (status_badge(lang, status))
                @if let Some(reason) = appeal["status_reason"].as_str() {
                    br; span.muted { (lang.t("Reason")) ": " } span lang="en" { (reason) }
                }
            }
        }
    }
}

fn session_facts(lang: Lang, session: &Value, dirs: &Directories) -> Markup {
    let text = |key: &str| session[key].as_str().filter(|s| !s.is_empty());
    let link = |url: &str| -> Markup {
        // Only web addresses become links; anything else a payload said is shown as text.
        if url.starts_with("https://") || url.starts_with("http://") {
            html! { a href=(url) rel="noreferrer noopener" { (url) } }
        } else {
            html! { (url) }
        }
    };
    let tags: Vec<(&str, &str)> = ["source", "medium", "campaign", "content", "term"]
        .into_iter()
        .filter_map(|k| Some((k, session["utm"][k].as_str().filter(|s| !s.is_empty())?)))
        .collect();
    let clicks: Vec<(&String, &str)> = session["click_ids"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k, v.as_str()?)))
        .collect();
    let known = [
        "id",
        "site_id",
        "landing_page",
        "page_url",
        "referrer",
        "visitor_id",
        "started_at",
    ]
    .iter()
    .any(|k| text(k).is_some())
        || !tags.is_empty()
        || !clicks.is_empty();
    html! {
        @if !known {
            p.muted { (lang.t("No session data came with this appeal.")) }
        } @else {
            dl.facts {
                @if let Some(id) = text("id") { dt { (lang.t("Session id")) } dd { code { (id) } } }
                @if text("site_id").is_some() { dt { (lang.t("Site")) } dd { (dirs.sites.show(lang, &session["site_id"])) } }
                @if let Some(url) = text("landing_page") { dt { (lang.t("Landing page")) } dd { (link(url)) } }
                @if let Some(url) = text("page_url") { dt { (lang.t("Chat page")) } dd { (link(url)) } }
                @if let Some(url) = text("referrer") { dt { (lang.t("Referrer")) } dd { (link(url)) } }
                @if !tags.is_empty() {
                    dt { (lang.t("UTM tags")) }
                    dd { @for (k, v) in &tags { code { "utm_" (k) } " = " (v) br; } }
                }
                @if !clicks.is_empty() {
                    dt { (lang.t("Click ids")) }
                    dd { @for (k, v) in &clicks { code { (k) } " = " code { (v) } br; } }
                }
                @if let Some(id) = text("visitor_id") { dt { (lang.t("Visitor id")) } dd { code { (id) } } }
                @if text("started_at").is_some() { dt { (lang.t("Visit started")) } dd { (when(lang, &session["started_at"])) } }
            }
        }
    }
}

fn transcript(lang: Lang, appeal: &Value) -> Markup {
    let messages = appeal["messages"].as_array().cloned().unwrap_or_default();
    let omitted = appeal["messages_omitted"].as_u64().unwrap_or(0);
    let omitted_note = lang
        .t("Left out to keep the appeal within its size, messages: {n}. The raw webhook body keeps them all.")
        .replace("{n}", &omitted.to_string());
    html! {
        @if omitted > 0 { p.notice { (omitted_note) } }
        @if messages.is_empty() {
            p.muted { (lang.t("No messages.")) }
        } @else {
            ol.transcript {
                @for m in &messages {
                    @let author = m["author"].as_str().unwrap_or_default();
                    li class=(author) {
                        p.who {
                            (author_name(lang, author))
                            @if let Some(name) = m["author_name"].as_str().filter(|n| !n.is_empty()) { " · " (name) }
                            " · " time datetime=(m["at"].as_str().unwrap_or_default()) { (when(lang, &m["at"])) }
                        }
                        p {
                            @for (i, line) in m["text"].as_str().unwrap_or_default().lines().enumerate() {
                                @if i > 0 { br; }
                                (line)
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_of_dates_becomes_utc_times_with_the_last_day_whole() {
        let filters = Filters::read(Some(
            "from=2024-06-01&to=03.06.2024&q=%2B7%20916&via=utm&x=1",
        ));
        let query = filters.api_query(Lang::En, Some("c1")).expect("valid");
        assert_eq!(
            query,
            "via=utm&q=%2B7+916&from=2024-06-01T00%3A00%3A00Z&to=2024-06-04T00%3A00%3A00Z&limit=50&cursor=c1"
        );
        let bad = Filters::read(Some("from=yesterday")).api_query(Lang::En, None);
        assert_eq!(bad.expect_err("refused").field.as_deref(), Some("from"));
        let reversed =
            Filters::read(Some("from=2024-06-03&to=2024-06-01")).api_query(Lang::En, None);
        assert_eq!(reversed.expect_err("refused").field.as_deref(), Some("to"));
    }

    #[test]
    fn sentences_fill_their_holes_and_escape_the_values() {
        let html = fill(
            "Matched {campaign} at {x}.",
            &[("campaign", "<b>Spring</b>")],
        )
        .into_string();
        assert_eq!(
            html,
            "Matched <strong>&lt;b&gt;Spring&lt;/b&gt;</strong> at <strong>x</strong>."
        );
    }
}
