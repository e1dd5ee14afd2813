//! The Reports page as a marketer reads it: chats Jivo sent in the last days, shown as a chart
//! by day stacked by source (or campaign), the share of appeals each attribution step decided,
//! the table and the same table as CSV (plain, and for Excel); wrong filters said beside their
//! field; and in headless Chromium, used with the form, at 1280 and 360 px in both languages.

use chatsource_tests::browser::Browser;
use chatsource_tests::console::{Console, Page};
use chatsource_tests::server::{API_KEY, TestServer, jivo_body_with, start};
use chrono::{Duration, Utc};
use fantoccini::Locator;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use serde_json::{Value, json};
use std::path::PathBuf;

/// A finished Jivo chat of `sample` from visitor `who`, all its messages written at `at`.
async fn chat(
    server: &TestServer,
    sample: &str,
    chat_id: u64,
    who: u64,
    at: i64,
    more: &[(&str, Value)],
) {
    let messages = if sample == "telegram_chat_finished" {
        2
    } else {
        3
    };
    let mut changes: Vec<(String, Value)> = vec![
        ("/chat_id".into(), json!(chat_id)),
        ("/visitor/number".into(), json!(format!("v{who}"))),
        (
            "/visitor/phone".into(),
            json!(format!("+7 916 000-00-{:02}", who % 100)),
        ),
        (
            "/visitor/email".into(),
            json!(format!("visitor{who}@example.org")),
        ),
    ];
    for i in 0..messages {
        changes.push((format!("/chat/messages/{i}/timestamp"), json!(at)));
    }
    changes.extend(more.iter().map(|(p, v)| ((*p).to_owned(), v.clone())));
    let changes: Vec<(&str, Value)> = changes
        .iter()
        .map(|(p, v)| (p.as_str(), v.clone()))
        .collect();
    let answer = server
        .post_raw(&server.jivo_url(), jivo_body_with(sample, &changes))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
}

/// Four chats of the last days: two through an ad's UTM tags (the second from the same
/// visitor: a repeat), one from Telegram (the integration's messenger mapping), one with
/// nothing to go by (the integration's default).
async fn four_chats(server: &TestServer) {
    let now = Utc::now();
    let at = |hours: i64| (now - Duration::hours(hours)).timestamp();
    chat(server, "chat_finished", 5001, 1, at(50), &[]).await;
    chat(server, "chat_finished", 5002, 1, at(26), &[]).await;
    chat(server, "telegram_chat_finished", 5003, 3, at(25), &[]).await;
    // The integration's default is a source with no campaign: that appeal has no campaign.
    let patched = server
        .demo(
            "PATCH",
            "/api/integrations/int_demo_jivo",
            Some(
                json!({"traffic_type": "source", "default_source_id": "src_demo_organic",
                        "default_campaign_id": null}),
            ),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.json);
    let nothing = [
        ("/session/utm", json!("")),
        ("/session/utm_json", json!({})),
        ("/page/url", json!("https://shop.example.ru/catalog/sofas")),
        ("/user_token", Value::Null),
    ];
    chat(server, "chat_finished", 5004, 4, at(5), &nothing).await;
    let appeals = server
        .appeals_when(shared::app::demo::JIVO_INTEGRATION_ID, |items| {
            items.len() >= 4
        })
        .await;
    assert_eq!(appeals.len(), 4, "{appeals:#?}");
    counted(server, &appeals).await;
}

/// Ingestion counted each appeal into the report counters, in the same write as the appeal.
async fn counted(server: &TestServer, appeals: &[Value]) {
    let report = server
        .demo("GET", "/api/reports/appeals?group_by=day", None)
        .await;
    assert_eq!(report.status, 200, "{}", report.json);
    assert_eq!(
        report.json["totals"]["count"].as_u64(),
        Some(appeals.len() as u64),
        "{}",
        report.json
    );
}

fn shows(page: &Page, text: &str) {
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains(text), "no {text:?} in {}", page.html);
}

fn lacks(page: &Page, text: &str) {
    assert!(!page.html.contains(text), "{text:?} in {}", page.html);
}

/// The page's table rows as text cells (tags dropped), header first.
fn table(page: &Page) -> Vec<Vec<String>> {
    let Some(start) = page.html.find("<table") else {
        return Vec::new();
    };
    let end = page.html[start..].find("</table>").expect("table end") + start;
    page.html[start..end]
        .split("<tr>")
        .skip(1)
        .map(|row| {
            row.split(['<'])
                .filter_map(|part| part.split_once('>'))
                .filter(|(tag, _)| {
                    tag.starts_with("td") || tag.starts_with("th") || tag.starts_with("strong")
                })
                .map(|(_, text)| text.replace("&amp;", "&").trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect()
        })
        .collect()
}

fn moscow_today() -> chrono::NaiveDate {
    (Utc::now() + Duration::hours(3)).date_naive()
}

#[tokio::test]
async fn the_reports_page_shows_the_last_30_days_by_source_with_how_each_appeal_was_attributed() {
    let server = start().await;
    four_chats(&server).await;
    let console = Console::sign_in(&server).await;

    let page = console.get("/reports?lang=ru").await;
    shows(&page, "<h1>Отчёты</h1>");
    shows(
        &page,
        "<a href=\"/reports\" aria-current=\"page\">Отчёты</a>",
    );
    // Nav order: Appeals, Integrations, Reports, Directories.
    let at = |s: &str| page.html.find(s).unwrap_or_else(|| panic!("{s}"));
    assert!(at("href=\"/integrations\"") < at("href=\"/reports\""));
    assert!(at("href=\"/reports\"") < at("href=\"/directories\""));
    // The last 30 days in the account's zone, by day and source.
    let today = moscow_today();
    shows(
        &page,
        &format!("id=\"to\" name=\"to\" type=\"date\" value=\"{today}\""),
    );
    shows(
        &page,
        &format!(
            "id=\"from\" name=\"from\" type=\"date\" value=\"{}\"",
            today - Duration::days(29)
        ),
    );
    shows(&page, "value=\"Europe/Moscow\"");
    shows(&page, "<option value=\"source\" selected>Источник</option>");
    shows(&page, "<label for=\"by\">Разбить по</label>");
    shows(
        &page,
        "<option value=\"int_demo_jivo\">Jivo on the demo shop</option>",
    );
    shows(&page, "Обращений: 4 (первичных: 3, повторных: 1)");
    // The chart: a titled picture of 30 days, its parts named, its key below.
    shows(&page, "<svg id=\"chart\" width=\"100%\"");
    shows(&page, "<title id=\"chart-title\">Обращения по дням</title>");
    shows(&page, "Yandex Direct: 1</title>");
    shows(&page, "Telegram");
    shows(&page, "role=\"listitem\"");
    // How attribution was decided: shares that add up to 100.
    shows(&page, "Как определялся источник");
    shows(&page, "25% этих обращений отнесены наугад.");
    shows(&page, ">50%</text>");
    shows(&page, ">25%</text>");
    // The table: one row per day and source, then the totals.
    let rows = table(&page);
    assert_eq!(
        rows[0],
        [
            "Дата",
            "Источник",
            "Всего",
            "Первичные",
            "Повторные",
            "Сессия на сайте",
            "UTM-метки",
            "Клик из рекламы",
            "Настройка мессенджеров",
            "Наугад"
        ]
    );
    assert_eq!(rows.len(), 1 + 4 + 1, "{rows:#?}");
    let total = rows.last().unwrap();
    assert_eq!(
        total,
        &["Итого", "4", "3", "1", "0%", "50%", "0%", "25%", "25%"]
    );
    for row in &rows[1..rows.len() - 1] {
        let shares: u32 = row[5..]
            .iter()
            .map(|s| s.trim_end_matches('%').parse::<u32>().unwrap())
            .sum();
        assert_eq!(shares, 100, "{row:?}");
    }
    // Days in order.
    let days: Vec<&String> = rows[1..rows.len() - 1].iter().map(|r| &r[0]).collect();
    let mut sorted = days.clone();
    sorted.sort_by_key(|d| chrono::NaiveDate::parse_from_str(d, "%d.%m.%Y").unwrap());
    assert_eq!(days, sorted);

    // By campaign, in English; a breakdown nobody is set for reads "not set".
    let english = console.get("/reports?by=campaign&lang=en").await;
    shows(&english, "<h1>Reports</h1>");
    shows(&english, "Spring sale (Yandex Direct)");
    shows(&english, "Telegram channel");
    shows(&english, "<td data-label=\"Campaign\">— not set</td>");
    shows(&english, "— not set: 1</title>");
    shows(&english, "Appeals: 4 (first: 3, repeat: 1)");
    shows(&english, "25% of these appeals were decided by a guess.");
    let by_month = console.get("/reports?by=none&time=month&lang=en").await;
    let rows = table(&by_month);
    assert_eq!(rows[0][0], "Month");
    assert_eq!(rows[0][1], "Count");
    assert_eq!(rows.last().unwrap()[..2], ["Total", "4"]);
    shows(
        &by_month,
        "<title id=\"chart-title\">Appeals by month</title>",
    );

    // Filters narrow the report: Telegram only.
    let telegram = console.get("/reports?channel=telegram&lang=en").await;
    shows(&telegram, "Appeals: 1 (first: 1, repeat: 0)");
    shows(
        &telegram,
        "<option value=\"telegram\" selected>Telegram</option>",
    );
    let nothing = console.get("/reports?provider=verbox&lang=en").await;
    shows(&nothing, "No appeals in this period.");
    lacks(&nothing, "<table");
}

#[tokio::test]
async fn the_csv_is_the_table_shown_and_excel_gets_a_bom_and_semicolons() {
    let server = start().await;
    four_chats(&server).await;
    let console = Console::sign_in(&server).await;
    let page = console.get("/reports?by=campaign&lang=en").await;
    let link = page
        .html
        .split("href=\"/reports.csv?")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSV link")
        .replace("&amp;", "&");
    assert!(link.contains("by=campaign"), "{link}");
    let shown = table(&page);

    let get = |path: String| {
        let client = reqwest::Client::new();
        let cookie = console.cookie().to_owned();
        let base = console.base.clone();
        async move {
            let answer = client
                .get(format!("{base}{path}"))
                .header("cookie", cookie)
                .send()
                .await
                .expect("csv");
            let status = answer.status().as_u16();
            let kind = answer.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let disposition = answer.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .to_owned();
            (
                status,
                kind,
                disposition,
                answer.bytes().await.unwrap().to_vec(),
            )
        }
    };
    let (status, kind, disposition, body) = get(format!("/reports.csv?{link}&lang=en")).await;
    assert_eq!(status, 200);
    assert_eq!(kind, "text/csv; charset=utf-8");
    assert!(
        disposition.starts_with("attachment; filename=\"report-"),
        "{disposition}"
    );
    let text = String::from_utf8(body).unwrap();
    assert!(!text.starts_with('\u{feff}'));
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(lines.len(), shown.len(), "{text}");
    assert_eq!(
        lines[0],
        [
            "Date",
            "Campaign",
            "Count",
            "First appeals",
            "Repeat appeals",
            "Site session %",
            "UTM tags %",
            "Ad click id %",
            "Messenger mapping %",
            "By a guess %"
        ]
    );
    assert_eq!(
        lines.last().unwrap(),
        &["Total", "", "4", "3", "1", "0", "50", "0", "25", "25"]
    );
    for (line, row) in lines.iter().zip(&shown).skip(1).take(lines.len() - 2) {
        // The same campaign and counts as on the page (dates as ISO dates, shares as numbers).
        assert_eq!(line[1], row[1], "{text}");
        assert_eq!(line[2..5], row[2..5], "{text}");
    }
    assert!(text.contains("Spring sale (Yandex Direct)"));

    // A name a spreadsheet would run as a formula is written as text.
    let renamed = server
        .demo(
            "PATCH",
            "/api/campaigns/cmp_demo_telegram",
            Some(json!({"name": "=HYPERLINK(\"http://x\")"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.json);
    let (_, _, _, body) = get(format!("/reports.csv?{link}&lang=en")).await;
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains(",\"'=HYPERLINK(\"\"http://x\"\")\","),
        "{text}"
    );

    let (status, _, _, body) = get(format!("/reports.csv?{link}&excel=1&lang=ru")).await;
    assert_eq!(status, 200);
    assert_eq!(&body[..3], b"\xef\xbb\xbf", "a byte order mark");
    let text = String::from_utf8(body[3..].to_vec()).unwrap();
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        "Дата;Кампания;Всего;Первичные;Повторные;Сессия на сайте %;UTM-метки %;Клик из рекламы %;Настройка мессенджеров %;Наугад %"
    );
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("Итого;;4;3;1;0;50;0;25;25"),
        "{text}"
    );
}

#[tokio::test]
async fn wrong_filters_are_said_beside_their_field_and_never_fail_the_page() {
    let server = start().await;
    let console = Console::sign_in(&server).await;
    let cases = [
        (
            "from=yesterday",
            "from",
            "Укажите дату, например 31.12.2024.",
        ),
        (
            "from=2026-11-30&to=2026-11-01",
            "to",
            "Конец периода раньше его начала.",
        ),
        (
            "from=2024-01-01&to=2025-06-01",
            "from",
            "Отчёт охватывает не больше 366 дней.",
        ),
        ("tz=Mars%2FOlympus", "tz", "Неизвестный часовой пояс"),
        ("time=hour", "time", "Проверьте значение."),
        ("by=weather", "by", "Проверьте значение."),
        ("provider=telegraph", "provider", "Проверьте значение."),
    ];
    for (query, field, said) in cases {
        let page = console.get(&format!("/reports?{query}&lang=ru")).await;
        shows(&page, said);
        shows(&page, &format!("<p class=\"error\" id=\"{field}-error\">"));
        assert!(
            page.html
                .contains(&format!("id=\"{field}\" name=\"{field}\""))
                && page.html.contains("aria-invalid=\"true\""),
            "{query}: {}",
            page.html
        );
        lacks(&page, "<table");
        // The file is refused as plainly.
        let csv = console.get(&format!("/reports.csv?{query}&lang=en")).await;
        assert_eq!(csv.status, 400, "{query}: {}", csv.html);
    }
    // What the address says is shown as text, never run.
    let hostile = console
        .get("/reports?channel=%3Cscript%3Ealert(1)%3C%2Fscript%3E&lang=en")
        .await;
    shows(&hostile, "&lt;script&gt;alert(1)&lt;/script&gt;");
    lacks(&hostile, "<script>alert(1)");
    shows(&hostile, "No appeals in this period.");
    // 31.12.2024 typed where there is no date picker is a date too.
    let typed = console
        .get("/reports?from=01.12.2024&to=31.12.2024&lang=en")
        .await;
    shows(&typed, "value=\"2024-12-01\"");
    shows(&typed, "No appeals in this period.");
    // Signed out, the file is closed like the page.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/reports.csv", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 303);
    let _ = API_KEY;
}

// ---- in Chromium ----

const WAIT: std::time::Duration = std::time::Duration::from_secs(15);

async fn go(b: &Browser, url: &str) {
    b.client
        .goto(url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
}

/// What every console page must be (as console_browser.rs checks them): fields labelled,
/// controls named, no wider than the window, no CSP violation, one heading.
async fn audit(b: &Browser, name: &str) {
    let report = b
        .eval(
            r#"
const unlabelled = [];
document.querySelectorAll('input, select, textarea').forEach(function (f) {
  if (f.type === 'hidden') return;
  const byFor = f.id && document.querySelector('label[for="' + CSS.escape(f.id) + '"]');
  if (!(byFor || f.closest('label') || f.getAttribute('aria-label'))) unlabelled.push(f.outerHTML.slice(0, 120));
});
const nameless = [];
document.querySelectorAll('button, a').forEach(function (e) {
  if (!(e.innerText.trim() || e.getAttribute('aria-label'))) nameless.push(e.outerHTML.slice(0, 120));
});
return {unlabelled: unlabelled, nameless: nameless,
  wider: document.documentElement.scrollWidth - window.innerWidth,
  csp: window.__csp || [], h1: document.querySelectorAll('h1').length};"#,
        )
        .await;
    assert_eq!(
        report["unlabelled"],
        json!([]),
        "{name}: fields without a label"
    );
    assert_eq!(
        report["nameless"],
        json!([]),
        "{name}: controls without a name"
    );
    assert!(
        report["wider"].as_i64().unwrap() <= 0,
        "{name}: {} px too wide",
        report["wider"]
    );
    assert_eq!(report["csp"], json!([]), "{name}: CSP violations");
    assert_eq!(report["h1"], 1, "{name}: one heading");
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/console")
}

#[tokio::test]
async fn a_marketer_reads_the_report_by_campaign_with_the_keyboard_in_chromium() {
    let server = start().await;
    four_chats(&server).await;
    let b = Browser::open().await;
    b.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": "window.__csp = []; document.addEventListener('securitypolicyviolation', function (e) { window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });"}),
    )
    .await;
    b.viewport(1280, 900).await;
    let base = &server.base;
    go(&b, &format!("{base}/login?next=%2Freports%3Flang%3Den")).await;
    let key = b
        .client
        .find(Locator::Css("#key"))
        .await
        .expect("key field");
    key.send_keys(API_KEY).await.unwrap();
    key.send_keys("\u{E007}").await.unwrap();
    b.wait_for("location.pathname === '/reports'", WAIT).await;

    // Reports is in the navigation; the form is used with the keyboard: the breakdown picked
    // and the form sent with Enter.
    assert_eq!(
        b.eval("return document.querySelector('nav a[aria-current=page]').innerText;")
            .await,
        "Reports"
    );
    let by = b.client.find(Locator::Css("#by")).await.unwrap();
    by.select_by_value("campaign").await.unwrap();
    let tz = b.client.find(Locator::Css("#tz")).await.unwrap();
    tz.send_keys("\u{E007}").await.unwrap();
    b.wait_for("location.search.includes('by=campaign')", WAIT)
        .await;
    let main = b
        .eval("return document.querySelector('main').innerText;")
        .await;
    let main = main.as_str().unwrap();
    assert!(main.contains("Spring sale (Yandex Direct)"), "{main}");
    assert!(main.contains("Appeals: 4"), "{main}");
    let parts = b
        .eval("return document.querySelectorAll('#chart rect').length;")
        .await;
    assert_eq!(parts, 4, "a part per day and campaign");
    // The bar's parts are as wide as their shares.
    let widths = b
        .eval("return Array.from(document.querySelectorAll('#via-bar rect')).map(function (r) { return Math.round(r.getBoundingClientRect().width / r.ownerSVGElement.getBoundingClientRect().width * 100); });")
        .await;
    assert_eq!(widths, json!([50, 25, 25]));
    let query = b.eval("return location.search;").await;
    let query = query.as_str().unwrap().to_owned();
    // Tab goes through the form in reading order.
    b.eval("document.getElementById('from').focus();").await;
    let mut visited: Vec<String> = Vec::new();
    for _ in 0..24 {
        let id = b
            .eval("return document.activeElement.id || document.activeElement.tagName;")
            .await;
        let id = id.as_str().unwrap().to_owned();
        if visited.last() != Some(&id) {
            visited.push(id);
        }
        let tab = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: '\u{E004}' })
            .then(KeyAction::Up { value: '\u{E004}' });
        b.client.perform_actions(tab).await.expect("Tab");
    }
    let order = [
        "from",
        "to",
        "tz",
        "time",
        "by",
        "integration_id",
        "site_id",
        "provider",
        "channel",
        "BUTTON",
    ];
    assert_eq!(visited[..order.len()], order, "{visited:?}");

    for lang in ["ru", "en"] {
        for width in [1280, 360] {
            b.viewport(width, 800).await;
            let path = format!("/reports{query}&lang={lang}");
            go(&b, &format!("{base}{path}")).await;
            audit(&b, &format!("reports ({lang}, {width} px)")).await;
            // The chart fits the screen.
            let chart = b
                .eval("return document.querySelector('#chart').getBoundingClientRect().width;")
                .await;
            assert!(chart.as_f64().unwrap() <= f64::from(width), "{chart}");
            b.screenshot_page(
                width,
                &screenshots().join(format!("reports-{lang}-{width}.png")),
            )
            .await;
        }
    }
    // A wrong value: the form says so.
    b.viewport(360, 800).await;
    go(
        &b,
        &format!("{base}/reports?from=2026-11-30&to=2026-11-01&lang=ru"),
    )
    .await;
    audit(&b, "reports with an error").await;
    b.screenshot_page(360, &screenshots().join("reports-error-ru-360.png"))
        .await;
    // Nothing to show; and a quarter by week.
    go(&b, &format!("{base}/reports?provider=verbox&lang=en")).await;
    audit(&b, "reports with nothing to show").await;
    b.screenshot_page(360, &screenshots().join("reports-empty-en-360.png"))
        .await;
    b.viewport(1280, 800).await;
    let quarter = (Utc::now() - Duration::days(90)).format("%Y-%m-%d");
    go(
        &b,
        &format!("{base}/reports?from={quarter}&time=week&by=channel&lang=ru"),
    )
    .await;
    audit(&b, "reports by week").await;
    b.screenshot_page(1280, &screenshots().join("reports-week-ru-1280.png"))
        .await;
    b.close().await;
}

#[tokio::test]
async fn a_busy_month_shows_the_six_largest_sources_and_the_rest_as_other_in_chromium() {
    let server = start().await;
    let sources = [
        ("VK Ads", "vk"),
        ("MyTarget", "mytarget"),
        ("Avito", "avito"),
        ("Yandex Maps", "maps"),
        ("2GIS", "2gis"),
        ("E-mail newsletter", "email"),
    ];
    for (name, tag) in sources {
        let made = server
            .demo(
                "POST",
                "/api/sources",
                Some(json!({"name": name, "utm_sources": [tag]})),
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.json);
    }
    // Eight sources, most chats from the first ones; a chat every few hours over 30 days.
    let tags = [
        "yandex", "yandex", "yandex", "google", "google", "vk", "vk", "mytarget", "avito", "maps",
        "2gis", "email",
    ];
    let now = Utc::now();
    let mut posted = 0;
    for i in 0..72u64 {
        let at = (now - Duration::hours(3 + i64::try_from(i).unwrap() * 9)).timestamp();
        let tag = tags[(i as usize * 7) % tags.len()];
        let utm = [
            ("/session/utm", json!(format!("source={tag}|medium=cpc"))),
            ("/session/utm_json", json!({"source": tag, "medium": "cpc"})),
            ("/page/url", json!("https://shop.example.ru/")),
            ("/user_token", Value::Null),
        ];
        chat(&server, "chat_finished", 7000 + i, 100 + i, at, &utm).await;
        posted += 1;
    }
    let appeals = server
        .appeals_when(shared::app::demo::JIVO_INTEGRATION_ID, |items| {
            items.len() >= posted
        })
        .await;
    assert_eq!(appeals.len(), posted);

    let console = Console::sign_in(&server).await;
    let page = console.get("/reports?lang=ru").await;
    shows(&page, &format!("Обращений: {posted} "));
    // Six named colours and "other" (the two smallest sources).
    assert_eq!(
        page.html.matches("role=\"listitem\"").count(),
        7,
        "{}",
        page.html
    );
    shows(&page, "Другие · ");
    shows(&page, "Yandex Direct · ");

    let b = Browser::open().await;
    let base = &server.base;
    go(&b, &format!("{base}/login?next=%2Freports")).await;
    let key = b
        .client
        .find(Locator::Css("#key"))
        .await
        .expect("key field");
    key.send_keys(API_KEY).await.unwrap();
    key.send_keys("\u{E007}").await.unwrap();
    b.wait_for("location.pathname === '/reports'", WAIT).await;
    for lang in ["ru", "en"] {
        for width in [1280, 360] {
            b.viewport(width, 800).await;
            go(&b, &format!("{base}/reports?lang={lang}")).await;
            audit(&b, &format!("busy reports ({lang}, {width} px)")).await;
            b.screenshot_page(
                width,
                &screenshots().join(format!("reports-busy-{lang}-{width}.png")),
            )
            .await;
        }
    }
    b.close().await;
}
