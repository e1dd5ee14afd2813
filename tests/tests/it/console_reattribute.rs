//! Re-attribution from the console as a marketer does it: Telegram chats came in, the Jivo
//! integration's Telegram mapping changed, a run started with the page's form moves them, its
//! page (refreshing itself while it runs) names what moved where, and each moved appeal's card
//! keeps its previous answer with the reason and the run; a second run moves nothing; wrong
//! input is said beside its field; the journal's link fills in its period and filters. And in
//! headless Chromium, at 1280 and 360 px in both languages.

use chatsource_tests::browser::Browser;
use chatsource_tests::console::{Console, Page};
use chatsource_tests::server::{API_KEY, TestServer, start};
use chrono::{Duration, NaiveDate, Utc};
use fantoccini::Locator;
use serde_json::json;
use shared::app::demo::{JIVO_INTEGRATION_ID, JIVO_TELEGRAM_WIDGET};
use std::path::PathBuf;

use crate::reports::chat_body;

/// Three Telegram chats and one from a Yandex ad, two days ago; then the integration's
/// Telegram mapping changed to the Google campaign (which moves nothing by itself).
async fn chats_then_a_changed_mapping(server: &TestServer) {
    let at = Utc::now() - Duration::days(2);
    for i in 0..3u64 {
        let body = chat_body(
            8000 + i,
            at + Duration::minutes(i as i64),
            None,
            &format!("+7 916 555-20-0{i}"),
            JIVO_TELEGRAM_WIDGET,
        );
        let answer = server.post_raw(&server.jivo_url(), body).await;
        assert_eq!(answer.status, 200, "{}", answer.json);
    }
    let body = chat_body(8100, at, Some("yandex"), "+7 916 555-21-00", "5501234");
    let answer = server.post_raw(&server.jivo_url(), body).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let appeals = server
        .appeals_when(JIVO_INTEGRATION_ID, |items| items.len() >= 4)
        .await;
    assert_eq!(appeals.len(), 4);
    let remap = json!({"messenger_mapping": {"telegram": {"campaign_id": "cmp_demo_google"}}});
    let patched = server
        .demo("PATCH", "/api/integrations/int_demo_jivo", Some(remap))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.json);
}

fn moscow_today() -> NaiveDate {
    (Utc::now() + Duration::hours(3)).date_naive()
}

/// The page's text as a person reads it: tags dropped, spaces collapsed.
fn text_of(page: &Page) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in page.html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">");
    let words: Vec<&str> = out.split_whitespace().collect();
    words
        .join(" ")
        .replace(" :", ":")
        .replace(" .", ".")
        .replace(" ,", ",")
}

fn shows(page: &Page, text: &str) {
    assert_eq!(page.status, 200, "{}", page.html);
    let read = text_of(page);
    assert!(
        page.html.contains(text) || read.contains(text),
        "no {text:?} in {read}"
    );
}

fn lacks(page: &Page, text: &str) {
    assert!(
        !page.html.contains(text) && !text_of(page).contains(text),
        "{text:?} in {}",
        text_of(page)
    );
}

/// Follows a run's page until it no longer runs; its last page.
async fn finished(console: &Console, path: &str) -> Page {
    for _ in 0..400 {
        let page = console.get(path).await;
        assert_eq!(page.status, 200, "{}", page.html);
        if !page.html.contains("badge warn") {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{path} still runs");
}

#[tokio::test]
async fn a_run_started_from_the_console_moves_the_telegram_chats_and_each_card_says_why() {
    let server = start().await;
    chats_then_a_changed_mapping(&server).await;
    let console = Console::sign_in(&server).await;

    // The page says what a run does; the form is filled with the last 30 days in the
    // account's zone, every input labelled.
    let page = console.get("/reattribute?lang=ru").await;
    shows(&page, "<h1>Переатрибуция</h1>");
    shows(&page, "второй запуск за тот же период ничего не перенесёт");
    shows(&page, "хранит прежний ответ в истории атрибуции");
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
    for id in [
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
    ] {
        shows(&page, &format!("<label for=\"{id}\">"));
    }
    shows(
        &page,
        "<option value=\"cmp_demo_google\">Google search</option>",
    );
    shows(&page, "Запусков пока не было.");
    shows(&page, "Переатрибутировать обращения за период");

    // The reports page links here with its period and zone.
    let report = console.get("/reports?lang=en").await;
    shows(
        &report,
        &format!(
            "href=\"/reattribute?from={}&amp;to={today}&amp;tz=Europe%2FMoscow",
            today - Duration::days(29)
        ),
    );
    shows(&report, "Re-attribute this period");

    // The run: started with the form, followed to its page until done; what moved, by name.
    let from = (today - Duration::days(5)).to_string();
    let to = today.to_string();
    let started = console
        .post(
            "/reattribute",
            &[
                ("from", from.as_str()),
                ("to", to.as_str()),
                ("tz", "Europe/Moscow"),
                ("provider", "jivo"),
            ],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.html);
    let location = started.location.expect("to the run");
    assert!(location.starts_with("/reattribute/run_"), "{location}");
    let run_id = location.trim_start_matches("/reattribute/").to_owned();
    let done = finished(&console, &format!("{location}?lang=en")).await;
    shows(&done, "Telegram channel → Google search: 3");
    shows(&done, "Done: 4 appeals examined, 3 moved.");
    shows(&done, "Was: Telegram · Demo shop · Messenger mapping");
    shows(&done, "Now: Google Ads · Demo shop · Messenger mapping");
    shows(&done, "Service Jivo");
    lacks(&done, "cmp_demo_");
    let ru = console.get(&format!("{location}?lang=ru")).await;
    shows(&ru, "Telegram channel → Google search: 3");
    shows(&ru, "Готово: просмотрено обращений — 4, перенесено — 3.");
    shows(&ru, "<h1>Запуск переатрибуции</h1>");

    // The list of runs links to it.
    let list = console.get("/reattribute?lang=en").await;
    shows(&list, &format!("href=\"/reattribute/{run_id}\""));
    shows(&list, "Re-attribution");

    // A moved appeal's card keeps its previous answer, the reason and the run; an appeal
    // that never moved shows no history.
    let telegram = server
        .demo("GET", "/api/appeals?channel=telegram&limit=10", None)
        .await;
    let moved = telegram.json["items"][0]["id"].as_str().unwrap().to_owned();
    let card = console.get(&format!("/appeals/{moved}?lang=en")).await;
    shows(&card, "Attribution history");
    shows(
        &card,
        "Attributed again by a re-attribution run with the settings of that day.",
    );
    shows(&card, "Re-attributed with the settings of the day");
    shows(&card, "Campaign: Telegram channel");
    shows(&card, "Source: Telegram");
    shows(&card, "Site: Demo shop");
    shows(&card, "Attributed by: Messenger mapping");
    shows(
        &card,
        &format!("<a href=\"/reattribute/{run_id}\">Open the run</a>"),
    );
    let card_ru = console.get(&format!("/appeals/{moved}?lang=ru")).await;
    shows(&card_ru, "История атрибуции");
    shows(&card_ru, "Кампания: Telegram channel");
    let site = server
        .demo("GET", "/api/appeals?channel=site&limit=10", None)
        .await;
    let unmoved = site.json["items"][0]["id"].as_str().unwrap().to_owned();
    let card = console.get(&format!("/appeals/{unmoved}?lang=en")).await;
    lacks(&card, "Attribution history");

    // A second run over the same days moves nothing.
    let again = console
        .post(
            "/reattribute",
            &[
                ("from", from.as_str()),
                ("to", to.as_str()),
                ("tz", "Europe/Moscow"),
            ],
        )
        .await;
    assert_eq!(again.status, 303, "{}", again.html);
    let again = finished(&console, &format!("{}?lang=en", again.location.unwrap())).await;
    shows(
        &again,
        "Nothing moved: every appeal already has the answer today's settings give.",
    );
    shows(&again, "Done: 4 appeals examined, 0 moved.");
}

#[tokio::test]
async fn wrong_input_is_said_beside_its_field_and_the_journal_fills_in_its_period() {
    let server = start().await;
    let console = Console::sign_in(&server).await;
    console.get("/reattribute?lang=ru").await;

    for (fields, field, said) in [
        (
            vec![("from", "2026-11-30"), ("to", "2026-11-01")],
            "to",
            "Конец периода раньше его начала.",
        ),
        (vec![("from", "2026-11-01")], "to", "Заполните поле."),
        (
            vec![("from", "вчера"), ("to", "2026-11-01")],
            "from",
            "Укажите дату, например 31.12.2024.",
        ),
        (
            vec![
                ("from", "2026-11-01"),
                ("to", "2026-11-30"),
                ("tz", "Mars/Base"),
            ],
            "tz",
            "Неизвестный часовой пояс",
        ),
        // Refused by the API, still beside its field.
        (
            vec![
                ("from", "2026-11-01"),
                ("to", "2026-11-30"),
                ("via", "guess"),
            ],
            "via",
            "Проверьте значение.",
        ),
    ] {
        let page = console.post("/reattribute", &fields).await;
        assert_eq!(page.status, 200, "{fields:?}: {}", page.html);
        shows(
            &page,
            &format!("<p class=\"error\" id=\"{field}-error\">{said}"),
        );
        shows(&page, &format!("id=\"{field}\" name=\"{field}\""));
        shows(&page, "aria-invalid=\"true\"");
        // What was typed stays.
        shows(&page, &format!("value=\"{}\"", fields[0].1));
    }
    let runs = server.demo("GET", "/api/reattribute", None).await;
    assert_eq!(runs.json["items"], json!([]), "nothing started");

    // The journal's link carries its period (UTC days) and filters; the page takes them.
    let journal = console
        .get("/appeals?from=2026-11-01&to=2026-11-30&channel=telegram&lang=en")
        .await;
    let href = "/reattribute?from=2026-11-01&amp;to=2026-11-30&amp;channel=telegram&amp;tz=UTC";
    shows(
        &journal,
        &format!("<a href=\"{href}\">Re-attribute this period</a>"),
    );
    let prefilled = console.get(&href.replace("&amp;", "&")).await;
    shows(&prefilled, "value=\"2026-11-01\"");
    shows(&prefilled, "value=\"2026-11-30\"");
    shows(&prefilled, "value=\"UTC\"");
    shows(
        &prefilled,
        "<option value=\"telegram\" selected>Telegram</option>",
    );

    // An unknown run, or a path that is no id, is not found (a page, not a 500).
    let unknown = console
        .get("/reattribute/run_0000000000000000000000000000000")
        .await;
    assert_eq!(unknown.status, 404);
    let odd = console.get("/reattribute/..%2Fkeys").await;
    assert_eq!(odd.status, 404);
    // A post without the session's token is refused.
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
async fn a_marketer_re_attributes_the_period_from_the_journal_in_chromium() {
    let server = start().await;
    chats_then_a_changed_mapping(&server).await;
    let b = Browser::open().await;
    b.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": "window.__csp = []; document.addEventListener('securitypolicyviolation', function (e) { window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });"}),
    )
    .await;
    b.viewport(1280, 900).await;
    let base = &server.base;
    go(&b, &format!("{base}/login?next=%2Fappeals%3Flang%3Den")).await;
    let key = b
        .client
        .find(Locator::Css("#key"))
        .await
        .expect("key field");
    key.send_keys(API_KEY).await.unwrap();
    key.send_keys("\u{E007}").await.unwrap();
    b.wait_for("location.pathname === '/appeals'", WAIT).await;

    // From the journal's link to the form, its period and filters filled in; started with
    // its button, the run's page refreshes itself until it is done.
    b.client
        .find(Locator::LinkText("Re-attribute this period"))
        .await
        .expect("the journal's link")
        .click()
        .await
        .unwrap();
    b.wait_for("location.pathname === '/reattribute'", WAIT)
        .await;
    let to = moscow_today();
    let from = to - Duration::days(5);
    b.eval(&format!(
        "document.querySelector('#from').value = '{from}'; document.querySelector('#to').value = '{to}'; return true;"
    ))
    .await;
    b.client
        .find(Locator::Css(
            "form[action='/reattribute'] button[type=submit]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for("location.pathname.startsWith('/reattribute/run_')", WAIT)
        .await;
    b.wait_for(
        "document.querySelector('main').innerText.includes('Telegram channel → Google search: 3')",
        WAIT,
    )
    .await;
    let run_path = b.eval("return location.pathname;").await;
    let run_path = run_path.as_str().unwrap().to_owned();
    let telegram = server
        .demo("GET", "/api/appeals?channel=telegram&limit=10", None)
        .await;
    let moved = telegram.json["items"][0]["id"].as_str().unwrap().to_owned();
    // A wrong period, said beside the field.
    let error_path = "/reattribute?from=2026-11-30&to=2026-11-01";

    let pages = [
        ("reattribute", "/reattribute?".to_owned()),
        ("reattribute-run", format!("{run_path}?")),
        ("appeal-history", format!("/appeals/{moved}?")),
        (
            "journal-period-link",
            "/appeals?channel=telegram&".to_owned(),
        ),
    ];
    for lang in ["ru", "en"] {
        for width in [1280, 360] {
            b.viewport(width, 800).await;
            for (name, path) in &pages {
                go(&b, &format!("{base}{path}lang={lang}")).await;
                audit(&b, &format!("{name} ({lang}, {width} px)")).await;
                b.screenshot_page(
                    width,
                    &screenshots().join(format!("{name}-{lang}-{width}.png")),
                )
                .await;
            }
        }
    }
    // The form's error, after a post with the browser.
    b.viewport(360, 800).await;
    go(&b, &format!("{base}{error_path}&lang=ru")).await;
    b.client
        .find(Locator::Css(
            "form[action='/reattribute'] button[type=submit]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for("document.querySelector('#to-error')", WAIT)
        .await;
    audit(&b, "reattribute with an error").await;
    b.screenshot_page(360, &screenshots().join("reattribute-error-ru-360.png"))
        .await;
    b.close().await;
}
