//! The Reports page: where the appeals of a period came from, as `GET /api/reports/appeals`
//! counts them (run in process): a chart over time stacked by one breakdown, how attribution
//! was decided, the table; `/reports.csv` is that same table as a file. The form is a GET
//! form, so a report is a link.

use super::charts::{self as chart, Series};
use super::{Ctx, Failure, Lang, failed_page, i18n, layout, widgets};
use chrono::{Datelike, Duration, NaiveDate};
use http::{Method, Response, StatusCode, header};
use maud::{Markup, html};
use serde_json::Value;
use shared::domain::account::TimeZone;
use shared::domain::appeal::{Provider, Via};
use shared::domain::csv::Dialect;
use shared::domain::rollup::Dim;
use shared::edge::web::{self, HttpResponse};
use std::collections::HashMap;

/// English -> Russian for this page, sorted by the English text.
#[rustfmt::skip]
pub static RU: &[(&str, &str)] = &[
    ("A messenger chat, sent where the integration's settings say.", "Чат из мессенджера отнесён туда, куда указано в интеграции."),
    ("A paid click's id in the chat page's address named the ad platform's source.", "Идентификатор рекламного клика в адресе страницы чата указал источник рекламной системы."),
    ("A report covers at most {n} days.", "Отчёт охватывает не больше {n} дней."),
    ("Ad click id", "Клик из рекламы"),
    ("All sites", "Все сайты"),
    ("Appeals by day", "Обращения по дням"),
    ("Appeals by month", "Обращения по месяцам"),
    ("Appeals by week", "Обращения по неделям"),
    ("Appeals: {count} (first: {first}, repeat: {repeat}) from {from} to {to}, time zone {tz}.", "Обращений: {count} (первичных: {first}, повторных: {repeat}) с {from} по {to}, часовой пояс {tz}."),
    ("Break down by", "Разбить по"),
    ("By a guess", "Наугад"),
    ("By time", "По времени"),
    ("CSV for Excel", "CSV для Excel"),
    ("Count", "Всего"),
    ("Days", "Дни"),
    ("Days begin and end in this time zone.", "Дни начинаются и заканчиваются в этом часовом поясе."),
    ("Direct", "Прямые заходы"),
    ("Download CSV", "Скачать CSV"),
    ("E-mail newsletters", "Рассылки"),
    ("First appeals", "Первичные"),
    ("How attribution was decided", "Как определялся источник"),
    ("Legend", "Легенда"),
    ("Messenger", "Мессенджеры"),
    ("Month", "Месяц"),
    ("Months", "Месяцы"),
    ("No appeals in this period.", "За этот период обращений нет."),
    ("No breakdown", "Без разбивки"),
    ("Nothing pointed to an ad, so the appeal went to the integration's default.", "Ничто не указало на рекламу, и обращение отнесено к значению по умолчанию из интеграции."),
    ("Organic search", "Поиск"),
    ("Other", "Другие"),
    ("Our site script linked the chat to the visit and its ad.", "Наш скрипт на сайте связал чат с визитом и его рекламой."),
    ("Paid", "Реклама"),
    ("Referral", "Переходы с сайтов"),
    ("Repeat appeals", "Повторные"),
    ("Shares of appeals by how their source was decided", "Доли обращений по способу определения источника"),
    ("Social networks", "Соцсети"),
    ("Table", "Таблица"),
    ("The chat's own UTM tags matched a campaign or source.", "UTM-метки из самого чата подошли к кампании или источнику."),
    ("The columns show the appeals of each day, week or month; each colour is one group of the breakdown (the {n} largest; the rest together as “Other”). The table below has the numbers.", "Столбцы показывают обращения за каждый день, неделю или месяц; цвет — группа разбивки ({n} крупнейших, остальные вместе — «Другие»). Точные числа — в таблице ниже."),
    ("Time zone unknown: give an IANA name, like Europe/Moscow.", "Неизвестный часовой пояс: укажите название IANA, например Europe/Moscow."),
    ("Total", "Итого"),
    ("Traffic group", "Группа трафика"),
    ("Week of", "Неделя с"),
    ("Weeks", "Недели"),
    ("{share}% of these appeals were decided by a guess.", "{share}% этих обращений отнесены наугад."),
    ("— not set", "— не задано"),
];

/// What a report can be broken down by, as the form offers it.
const BREAKDOWNS: [Dim; 8] = [
    Dim::Source,
    Dim::Campaign,
    Dim::Site,
    Dim::Channel,
    Dim::ChannelGroup,
    Dim::Provider,
    Dim::Employee,
    Dim::Kind,
];
/// The groups the chart colours; the rest are one "other".
const TOP: usize = chart::PALETTE.len();
/// The fields of the form, as the URL carries them.
const FIELDS: [&str; 9] = [
    "from",
    "to",
    "tz",
    "time",
    "by",
    "integration_id",
    "site_id",
    "provider",
    "channel",
];

// ---- the form ----

/// The form as given, defaults filled in (the period: the last 30 days in the account's zone).
struct Fields(Vec<(&'static str, String)>);

/// A report asked for, read and checked.
struct Asked {
    from: NaiveDate,
    to: NaiveDate,
    tz: TimeZone,
    time: Dim,
    by: Option<Dim>,
}

impl Fields {
    fn read(ctx: &Ctx<'_>) -> Fields {
        let given = |name: &str| {
            web::query_param(ctx.query, name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let account_tz = ctx.signed_in.account.time_zone;
        let tz = given("tz").unwrap_or_else(|| account_tz.name().to_owned());
        let zone = TimeZone::parse(&tz).unwrap_or(account_tz);
        let today = chrono::Utc::now().with_timezone(&zone.tz()).date_naive();
        let to = given("to").unwrap_or_else(|| today.to_string());
        let from = given("from").unwrap_or_else(|| {
            let end = widgets::parse_date(&to).unwrap_or(today);
            (end - Duration::days(29)).to_string()
        });
        let mut fields = Vec::new();
        for name in FIELDS {
            let value = match name {
                "from" => Some(from.clone()),
                "to" => Some(to.clone()),
                "tz" => Some(tz.clone()),
                "time" => Some(given("time").unwrap_or_else(|| "day".into())),
                "by" => Some(given("by").unwrap_or_else(|| "source".into())),
                other => given(other),
            };
            if let Some(value) = value {
                fields.push((name, value));
            }
        }
        Fields(fields)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.0.iter().map(|(n, v)| (*n, v.as_str())))
            .finish()
    }

    /// The report asked for, or the first field that is wrong, said in `lang`.
    fn check(&self, lang: Lang) -> Result<Asked, Failure> {
        let date = |name: &str| {
            widgets::parse_date(self.get(name).unwrap_or_default())
                .ok_or_else(|| refused(name, lang.t("Give a date, like 31.12.2024.")))
        };
        let from = date("from")?;
        let to = date("to")?;
        if from > to {
            return Err(refused(
                "to",
                lang.t("The end of the period is before its start."),
            ));
        }
        if (to - from).num_days() >= crate::reports::MAX_DAYS {
            let said = lang
                .t("A report covers at most {n} days.")
                .replace("{n}", &crate::reports::MAX_DAYS.to_string());
            return Err(refused("from", &said));
        }
        let tz = TimeZone::parse(self.get("tz").unwrap_or_default()).map_err(|_| {
            refused(
                "tz",
                lang.t("Time zone unknown: give an IANA name, like Europe/Moscow."),
            )
        })?;
        let time = Dim::parse(self.get("time").unwrap_or_default())
            .filter(|d| d.is_time())
            .ok_or_else(|| refused("time", lang.t("Check this value.")))?;
        let by = match self.get("by").unwrap_or_default() {
            "none" => None,
            other => Some(
                Dim::parse(other)
                    .filter(|d| BREAKDOWNS.contains(d))
                    .ok_or_else(|| refused("by", lang.t("Check this value.")))?,
            ),
        };
        if let Some(p) = self.get("provider")
            && Provider::parse(p).is_none()
        {
            return Err(refused("provider", lang.t("Check this value.")));
        }
        Ok(Asked {
            from,
            to,
            tz,
            time,
            by,
        })
    }

    /// The API's query for the report.
    fn api_query(&self, asked: &Asked) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("from", &asked.from.to_string());
        query.append_pair("to", &asked.to.to_string());
        query.append_pair("tz", asked.tz.name());
        let group_by = match asked.by {
            Some(by) => format!("{},{}", asked.time.as_str(), by.as_str()),
            None => asked.time.as_str().to_owned(),
        };
        query.append_pair("group_by", &group_by);
        for name in ["integration_id", "site_id", "provider", "channel"] {
            if let Some(value) = self.get(name) {
                query.append_pair(name, value);
            }
        }
        query.finish()
    }
}

fn refused(field: &str, message: &str) -> Failure {
    Failure {
        status: 400,
        code: "invalid_report".into(),
        message: message.to_owned(),
        field: Some(field.to_owned()),
    }
}

// ---- the report, read from the API's answer ----

/// Counts of a row or of the totals; `via` in the order of `Via::ALL`.
#[derive(Default, Clone)]
struct Counts {
    count: i64,
    first: i64,
    repeat: i64,
    via: [i64; Via::ALL.len()],
}

impl Counts {
    fn read(v: &Value) -> Counts {
        let mut via = [0; Via::ALL.len()];
        for (slot, step) in via.iter_mut().zip(Via::ALL) {
            *slot = v["via"][step.as_str()].as_i64().unwrap_or(0);
        }
        Counts {
            count: v["count"].as_i64().unwrap_or(0),
            first: v["first"].as_i64().unwrap_or(0),
            repeat: v["repeat"].as_i64().unwrap_or(0),
            via,
        }
    }
}

/// One row: its time (as the API writes it), its group, its counts.
struct Line {
    time: String,
    /// The group's id or token (`None`: not set) and its name as shown.
    group: Option<(Option<String>, String)>,
    counts: Counts,
}

struct Report {
    asked: Asked,
    lines: Vec<Line>,
    totals: Counts,
}

impl Report {
    fn read(lang: Lang, asked: Asked, answer: &Value) -> Report {
        let lines = answer["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|row| Line {
                time: row[asked.time.as_str()]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                group: asked.by.map(|by| group(lang, by, &row[by.as_str()])),
                counts: Counts::read(row),
            })
            .collect();
        Report {
            totals: Counts::read(&answer["totals"]),
            asked,
            lines,
        }
    }

    /// Every day, week or month of the period, as the API keys them.
    fn buckets(&self) -> Vec<String> {
        let Asked { from, to, time, .. } = self.asked;
        let mut out = Vec::new();
        match time {
            Dim::Week => {
                let mut d = from - Duration::days(i64::from(from.weekday().num_days_from_monday()));
                while d <= to {
                    out.push(d.to_string());
                    d += Duration::days(7);
                }
            }
            Dim::Month => {
                let (mut y, mut m) = (from.year(), from.month());
                while (y, m) <= (to.year(), to.month()) {
                    out.push(format!("{y:04}-{m:02}"));
                    (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                }
            }
            _ => {
                let mut d = from;
                while d <= to {
                    out.push(d.to_string());
                    d += Duration::days(1);
                }
            }
        }
        out
    }

    /// The chart's series (the largest groups, then "other") and, per bucket, their counts.
    fn series(&self, lang: Lang) -> (Vec<Series>, Vec<Vec<i64>>) {
        let buckets: HashMap<String, usize> = self
            .buckets()
            .into_iter()
            .enumerate()
            .map(|(i, key)| (key, i))
            .collect();
        let mut sums: HashMap<Option<&str>, (&str, i64)> = HashMap::new();
        for line in &self.lines {
            let (key, name) = match &line.group {
                Some((key, name)) => (key.as_deref(), name.as_str()),
                None => (None, ""),
            };
            sums.entry(key).or_insert((name, 0)).1 += line.counts.count;
        }
        let mut groups: Vec<(Option<&str>, &str, i64)> = sums
            .into_iter()
            .map(|(k, (name, n))| (k, name, n))
            .collect();
        groups.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(b.1)));
        // An "other" of one group would hide a name for nothing.
        let shown = if groups.len() > TOP + 1 {
            TOP
        } else {
            groups.len()
        };
        let mut series: Vec<Series> = groups[..shown]
            .iter()
            .enumerate()
            .map(|(i, (_, name, _))| Series {
                label: if self.asked.by.is_some() {
                    (*name).to_owned()
                } else {
                    lang.t("Appeals").to_owned()
                },
                color: chart::PALETTE[i % TOP],
            })
            .collect();
        if groups.len() > shown {
            series.push(Series {
                label: lang.t("Other").to_owned(),
                color: chart::OTHER,
            });
        }
        let place: HashMap<Option<&str>, usize> = groups[..shown]
            .iter()
            .enumerate()
            .map(|(i, g)| (g.0, i))
            .collect();
        let mut values = vec![vec![0; series.len()]; buckets.len()];
        for line in &self.lines {
            let Some(&b) = buckets.get(&line.time) else {
                continue;
            };
            let key = line.group.as_ref().and_then(|g| g.0.as_deref());
            let s = place.get(&key).copied().unwrap_or(shown);
            if let Some(slot) = values[b].get_mut(s) {
                *slot += line.counts.count;
            }
        }
        (series, values)
    }
}

/// A group's value as people read it: a record's name, a channel or service in words.
fn group(lang: Lang, dim: Dim, value: &Value) -> (Option<String>, String) {
    let not_set = || (None, lang.t("— not set").to_owned());
    if value.is_null() {
        return not_set();
    }
    if dim.is_record() {
        let Some(id) = value["id"].as_str() else {
            return not_set();
        };
        let name = match value["name"].as_str() {
            Some(name) => name.to_owned(),
            None => format!("{id} {}", lang.t("(deleted)")),
        };
        return (Some(id.to_owned()), name);
    }
    let Some(token) = value.as_str() else {
        return not_set();
    };
    let name = match dim {
        Dim::Channel => i18n::channel_name(lang, token),
        Dim::Provider => Provider::parse(token)
            .map(Provider::title)
            .unwrap_or(token)
            .to_owned(),
        Dim::ChannelGroup => channel_group_name(lang, token).to_owned(),
        Dim::Kind => match token {
            "chat" => lang.t("Chat").to_owned(),
            "offline_request" => lang.t("Offline request").to_owned(),
            "callback_request" => lang.t("Callback request").to_owned(),
            other => other.to_owned(),
        },
        _ => token.to_owned(),
    };
    (Some(token.to_owned()), name)
}

/// A channel group (`paid`, `organic`...) in words; the journal and the card say it too.
pub(super) fn channel_group_name(lang: Lang, token: &str) -> &str {
    match token {
        "paid" => lang.t("Paid"),
        "organic" => lang.t("Organic search"),
        "social" => lang.t("Social networks"),
        "referral" => lang.t("Referral"),
        "direct" => lang.t("Direct"),
        "messenger" => lang.t("Messenger"),
        "email" => lang.t("E-mail newsletters"),
        other => other,
    }
}

fn dim_name(lang: Lang, dim: Dim) -> &'static str {
    match dim {
        Dim::Day => lang.t("Date"),
        Dim::Week => lang.t("Week of"),
        Dim::Month => lang.t("Month"),
        Dim::Campaign => lang.t("Campaign"),
        Dim::Source => lang.t("Source"),
        Dim::Site => lang.t("Site"),
        Dim::Channel => lang.t("Channel"),
        Dim::Provider => lang.t("Service"),
        Dim::Employee => lang.t("Employee"),
        Dim::Kind => lang.t("Kind"),
        Dim::ChannelGroup => lang.t("Traffic group"),
    }
}

fn via_name(lang: Lang, via: Via) -> &'static str {
    match via {
        Via::Session => lang.t("Site session"),
        Via::Utm => lang.t("UTM tags"),
        Via::ClickId => lang.t("Ad click id"),
        Via::MessengerMapping => lang.t("Messenger mapping"),
        Via::Default => lang.t("By a guess"),
    }
}

/// What deciding by `via` means, for the reader of the attribution bar.
fn via_explained(lang: Lang, via: Via) -> &'static str {
    match via {
        Via::Session => lang.t("Our site script linked the chat to the visit and its ad."),
        Via::Utm => lang.t("The chat's own UTM tags matched a campaign or source."),
        Via::ClickId => {
            lang.t("A paid click's id in the chat page's address named the ad platform's source.")
        }
        Via::MessengerMapping => {
            lang.t("A messenger chat, sent where the integration's settings say.")
        }
        Via::Default => {
            lang.t("Nothing pointed to an ad, so the appeal went to the integration's default.")
        }
    }
}

fn via_color(via: Via) -> &'static str {
    match via {
        Via::Session => "#1f7a4d",
        Via::Utm => "#2456c9",
        Via::ClickId => "#0e7c86",
        Via::MessengerMapping => "#7a5cd6",
        Via::Default => "#b86e00",
    }
}

/// A time key as people read it: the whole date in the table, a short one on the axis.
fn time_label(lang: Lang, dim: Dim, key: &str, short: bool) -> String {
    if dim == Dim::Month {
        let Some(d) = NaiveDate::parse_from_str(&format!("{key}-01"), "%Y-%m-%d").ok() else {
            return key.to_owned();
        };
        return match lang {
            Lang::Ru => d.format("%m.%Y").to_string(),
            Lang::En => d.format("%b %Y").to_string(),
        };
    }
    let Some(d) = widgets::parse_date(key) else {
        return key.to_owned();
    };
    match (lang, short) {
        (Lang::Ru, true) => d.format("%d.%m").to_string(),
        (Lang::Ru, false) => d.format("%d.%m.%Y").to_string(),
        (Lang::En, true) => d.format("%b %-d").to_string(),
        (Lang::En, false) => d.format("%Y-%m-%d").to_string(),
    }
}

fn date_text(lang: Lang, d: NaiveDate) -> String {
    time_label(lang, Dim::Day, &d.to_string(), false).replace('-', "\u{2011}")
}

// ---- the table, on the page and in the file ----

/// The table's header: time, the breakdown, the counts, one share per step (in the file,
/// whose shares are bare numbers, the step's name says `%`).
fn head_row(lang: Lang, asked: &Asked, file: bool) -> Vec<String> {
    let mut out = vec![dim_name(lang, asked.time).to_owned()];
    if let Some(by) = asked.by {
        out.push(dim_name(lang, by).to_owned());
    }
    out.extend(
        [
            lang.t("Count"),
            lang.t("First appeals"),
            lang.t("Repeat appeals"),
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    out.extend(Via::ALL.iter().map(|v| {
        let name = via_name(lang, *v);
        if file {
            format!("{name} %")
        } else {
            name.to_owned()
        }
    }));
    out
}

/// A row's cells; `file` writes times as the API does (dates a spreadsheet reads).
fn cells(
    lang: Lang,
    asked: &Asked,
    time: &str,
    group: Option<&str>,
    c: &Counts,
    file: bool,
) -> Vec<String> {
    // On the page a date does not break at its hyphens (2026-11-03 stays on one line).
    let mut out = vec![if file || time.is_empty() {
        time.to_owned()
    } else {
        time_label(lang, asked.time, time, false).replace('-', "\u{2011}")
    }];
    if asked.by.is_some() {
        out.push(group.unwrap_or_default().to_owned());
    }
    out.extend([c.count, c.first, c.repeat].iter().map(i64::to_string));
    out.extend(
        chart::shares(&c.via)
            .iter()
            .map(|s| if file { s.to_string() } else { format!("{s}%") }),
    );
    out
}

fn rows(lang: Lang, report: &Report, file: bool) -> Vec<Vec<String>> {
    let asked = &report.asked;
    let mut out: Vec<Vec<String>> = report
        .lines
        .iter()
        .map(|l| {
            let name = l.group.as_ref().map(|g| g.1.as_str());
            cells(lang, asked, &l.time, name, &l.counts, file)
        })
        .collect();
    let mut total = cells(lang, asked, "", None, &report.totals, file);
    total[0] = lang.t("Total").to_owned();
    out.push(total);
    out
}

fn table(lang: Lang, report: &Report) -> Markup {
    let header = head_row(lang, &report.asked, false);
    let rows = rows(lang, report, false);
    let numbers = if report.asked.by.is_some() { 2 } else { 1 };
    let last = rows.len() - 1;
    html! {
        table.stack {
            thead { tr { @for h in &header { th scope="col" { (h) } } } }
            tbody {
                @for (r, row) in rows.iter().enumerate() {
                    tr {
                        @for (i, cell) in row.iter().enumerate() {
                            @let class = (i >= numbers).then_some("num");
                            td data-label=[(!cell.is_empty()).then_some(&header[i])] class=[class] {
                                @if r == last { strong { (cell) } } @else { (cell) }
                            }
                        }
                    }
                }
            }
        }
    }
}

// ---- the page ----

/// `GET /reports`.
pub async fn page(ctx: &Ctx<'_>) -> HttpResponse {
    let lang = ctx.lang;
    let fields = Fields::read(ctx);
    let integrations = match super::appeals::Names::load(ctx, "integrations").await {
        Ok(n) => n,
        Err(e) => return failed_page(lang, &e),
    };
    let sites = match super::appeals::Names::load(ctx, "sites").await {
        Ok(n) => n,
        Err(e) => return failed_page(lang, &e),
    };
    let (report, failure) = match load(ctx, &fields).await {
        Ok(report) => (Some(report), None),
        Err(f) if f.status == 400 => (None, Some(f)),
        Err(f) => return failed_page(lang, &f),
    };
    let form = form(ctx, &fields, &integrations, &sites, failure.as_ref());
    let content = html! {
        (form)
        @if let Some(report) = &report {
            (shown(lang, &fields, report))
        }
    };
    layout::page(ctx, layout::Section::Reports, lang.t("Reports"), content)
}

async fn load(ctx: &Ctx<'_>, fields: &Fields) -> Result<Report, Failure> {
    let asked = fields.check(ctx.lang)?;
    let path = format!("/api/reports/appeals?{}", fields.api_query(&asked));
    let answer = super::api::call(ctx, Method::GET, &path, None).await?;
    Ok(Report::read(ctx.lang, asked, &answer))
}

fn shown(lang: Lang, fields: &Fields, report: &Report) -> Markup {
    let asked = &report.asked;
    let totals = &report.totals;
    let summary = lang
        .t("Appeals: {count} (first: {first}, repeat: {repeat}) from {from} to {to}, time zone {tz}.")
        .replace("{count}", &totals.count.to_string())
        .replace("{first}", &totals.first.to_string())
        .replace("{repeat}", &totals.repeat.to_string())
        .replace("{from}", &date_text(lang, asked.from))
        .replace("{to}", &date_text(lang, asked.to))
        .replace("{tz}", asked.tz.name());
    if totals.count == 0 {
        return html! {
            p.notice role="status" { (lang.t("No appeals in this period.")) }
        };
    }
    let chart_title = match asked.time {
        Dim::Week => lang.t("Appeals by week"),
        Dim::Month => lang.t("Appeals by month"),
        _ => lang.t("Appeals by day"),
    };
    let (series, values) = report.series(lang);
    let buckets = report
        .buckets()
        .iter()
        .map(|k| {
            (
                time_label(lang, asked.time, k, true),
                time_label(lang, asked.time, k, false),
            )
        })
        .collect();
    let desc = lang
        .t("The columns show the appeals of each day, week or month; each colour is one group of the breakdown (the {n} largest; the rest together as “Other”). The table below has the numbers.")
        .replace("{n}", &TOP.to_string());
    let totals_of = |s: usize| values.iter().map(|v| v[s]).sum::<i64>().to_string();
    let key: Vec<(&Series, String)> = series
        .iter()
        .enumerate()
        .map(|(i, s)| (s, totals_of(i)))
        .collect();
    let vias: Vec<Series> = Via::ALL
        .iter()
        .map(|v| Series {
            label: via_name(lang, *v).to_owned(),
            color: via_color(*v),
        })
        .collect();
    let parts: Vec<(&Series, i64)> = vias.iter().zip(totals.via).collect();
    let shares = chart::shares(&totals.via);
    let guess = Via::ALL.iter().position(|v| *v == Via::Default);
    let guessed = lang
        .t("{share}% of these appeals were decided by a guess.")
        .replace("{share}", &guess.map_or(0, |i| shares[i]).to_string());
    let query = fields.query();
    html! {
        p { (summary) }
        section.card aria-labelledby="chart-h" {
            h2 id="chart-h" { (chart_title) }
            (chart::columns(&chart::Columns {
                id: "chart",
                title: chart_title,
                desc: &desc,
                buckets,
                series: &series,
                values,
            }))
            (chart::legend(lang.t("Legend"), &key))
        }
        section.card aria-labelledby="via-h" {
            h2 id="via-h" { (lang.t("How attribution was decided")) }
            (chart::bar("via-bar", lang.t("Shares of appeals by how their source was decided"), &parts))
            p { strong { (guessed) } }
            dl.facts {
                @for (i, v) in vias.iter().enumerate() {
                    dt { (chart::swatch(v.color)) " " (v.label) }
                    dd { strong { (shares[i]) "%" } " (" (totals.via[i]) ") — " (via_explained(lang, Via::ALL[i])) }
                }
            }
        }
        section aria-labelledby="table-h" {
            h2 id="table-h" { (lang.t("Table")) }
            (table(lang, report))
            div.actions {
                a.button.secondary href={ "/reports.csv?" (query) } download { (lang.t("Download CSV")) }
                a.button.secondary href={ "/reports.csv?" (query) "&excel=1" } download { (lang.t("CSV for Excel")) }
                a href={ "/reattribute?" (query) } { (lang.t("Re-attribute this period")) }
            }
        }
    }
}

fn form(
    ctx: &Ctx<'_>,
    fields: &Fields,
    integrations: &super::appeals::Names,
    sites: &super::appeals::Names,
    failure: Option<&Failure>,
) -> Markup {
    let lang = ctx.lang;
    let times: Vec<(String, String)> = [
        ("day", lang.t("Days")),
        ("week", lang.t("Weeks")),
        ("month", lang.t("Months")),
    ]
    .iter()
    .map(|(v, t)| ((*v).to_owned(), (*t).to_owned()))
    .collect();
    let mut breakdowns: Vec<(String, String)> =
        vec![("none".into(), lang.t("No breakdown").into())];
    breakdowns.extend(
        BREAKDOWNS
            .iter()
            .map(|d| (d.as_str().to_owned(), dim_name(lang, *d).to_owned())),
    );
    let providers = widgets::provider_options();
    let channels = widgets::channel_options(lang, fields.get("channel"));
    let select = |name: &str, label: &str, options: &[(String, String)], none: Option<&str>| {
        widgets::select(lang, name, label, options, fields.get(name), none, failure)
    };
    let filters = ["integration_id", "site_id", "provider", "channel"];
    let set = filters
        .iter()
        .filter(|name| fields.get(name).is_some())
        .count();
    let unfold = set > 0 || failure.is_some_and(|f| filters.iter().any(|name| f.is_about(name)));
    html! {
        form.card method="get" action="/reports" aria-label=(lang.t("Filters")) {
            div.filters {
                (widgets::period_date(lang, "from", lang.t("From"), fields.get("from").unwrap_or_default(), true, failure))
                (widgets::period_date(lang, "to", lang.t("To"), fields.get("to").unwrap_or_default(), true, failure))
                (widgets::period_zone(lang, fields.get("tz").unwrap_or_default(), failure))
                (select("time", lang.t("By time"), &times, None))
                (select("by", lang.t("Break down by"), &breakdowns, None))
            }
            // On a phone the filters fold away (the script folds them) unless one is set or
            // refused; without the script, or on a wide screen, they stay open.
            details.more-filters open data-fold-narrow=[(!unfold).then_some("")] {
                summary {
                    (lang.t("Filters"))
                    @if set > 0 { " (" (set) ")" }
                }
                div.filters {
                    (select("integration_id", lang.t("Integration"), integrations.options(), Some(lang.t("All integrations"))))
                    (select("site_id", lang.t("Site"), sites.options(), Some(lang.t("All sites"))))
                    (select("provider", lang.t("Service"), &providers, Some(lang.t("All services"))))
                    (select("channel", lang.t("Channel"), &channels, Some(lang.t("All channels"))))
                }
            }
            p.hint id="period-hint" { (lang.t("Days begin and end in this time zone.")) }
            (widgets::form_error(lang, failure, &FIELDS))
            div.actions {
                button type="submit" { (lang.t("Show")) }
                a.button.secondary href="/reports" { (lang.t("Reset")) }
            }
        }
    }
}

// ---- the file ----

/// `GET /reports.csv[?...&excel=1]`: the page's table, row for row.
pub async fn csv(ctx: &Ctx<'_>) -> HttpResponse {
    let lang = ctx.lang;
    let fields = Fields::read(ctx);
    let report = match load(ctx, &fields).await {
        Ok(report) => report,
        Err(f) => return failed_page(lang, &f),
    };
    let excel = web::query_param(ctx.query, "excel").is_some_and(|v| v == "1");
    let dialect = Dialect { excel };
    let mut out = String::from(if excel { "\u{feff}" } else { "" });
    for row in std::iter::once(head_row(lang, &report.asked, true)).chain(rows(lang, &report, true))
    {
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                out.push(dialect.separator());
            }
            dialect.write_field(&mut out, cell);
        }
        out.push_str("\r\n");
    }
    let name = format!("report-{}-{}.csv", report.asked.from, report.asked.to);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(out)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(time: Dim, from: &str, to: &str) -> Asked {
        Asked {
            from: widgets::parse_date(from).unwrap(),
            to: widgets::parse_date(to).unwrap(),
            tz: TimeZone::parse("UTC").unwrap(),
            time,
            by: Some(Dim::Source),
        }
    }

    fn report(time: Dim, from: &str, to: &str, rows: Value) -> Report {
        let answer = serde_json::json!({"rows": rows, "totals": {"count": 0}});
        Report::read(Lang::Ru, asked(time, from, to), &answer)
    }

    #[test]
    fn every_day_week_and_month_of_the_period_is_a_column() {
        let days = report(Dim::Day, "2026-02-27", "2026-03-02", Value::Null).buckets();
        assert_eq!(
            days,
            ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]
        );
        let weeks = report(Dim::Week, "2026-11-04", "2026-11-16", Value::Null).buckets();
        assert_eq!(weeks, ["2026-11-02", "2026-11-09", "2026-11-16"]);
        let months = report(Dim::Month, "2025-11-30", "2026-01-01", Value::Null).buckets();
        assert_eq!(months, ["2025-11", "2025-12", "2026-01"]);
    }

    #[test]
    fn the_largest_groups_get_colours_and_the_rest_are_one_other() {
        let rows: Vec<Value> = (0..9)
            .map(|i| {
                serde_json::json!({"day": "2026-11-03",
                    "source": if i == 0 { Value::Null } else { serde_json::json!({"id": format!("src_{i}"), "name": format!("S{i}")}) },
                    "count": 10 - i})
            })
            .collect();
        let r = report(Dim::Day, "2026-11-02", "2026-11-03", Value::Array(rows));
        let (series, values) = r.series(Lang::Ru);
        let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            ["— не задано", "S1", "S2", "S3", "S4", "S5", "Другие"]
        );
        assert_eq!(values[0], [0; 7]);
        assert_eq!(values[1], [10, 9, 8, 7, 6, 5, 4 + 3 + 2]);
    }

    #[test]
    fn a_group_reads_as_its_name_and_a_missing_one_as_not_set() {
        let named = group(
            Lang::En,
            Dim::Source,
            &serde_json::json!({"id": "src_a", "name": "Ads"}),
        );
        assert_eq!(named, (Some("src_a".into()), "Ads".into()));
        let gone = group(
            Lang::En,
            Dim::Campaign,
            &serde_json::json!({"id": "cmp_x", "name": null}),
        );
        assert_eq!(gone.1, "cmp_x (deleted)");
        assert_eq!(group(Lang::Ru, Dim::Site, &Value::Null).1, "— не задано");
        assert_eq!(
            group(Lang::Ru, Dim::Channel, &serde_json::json!("vk")).1,
            "ВКонтакте"
        );
        assert_eq!(
            group(Lang::En, Dim::Provider, &serde_json::json!("jivo")).1,
            "Jivo"
        );
    }
}
