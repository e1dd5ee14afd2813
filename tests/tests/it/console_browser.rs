//! The console in headless Chromium, clicked through as a marketer uses it: signed in with the
//! key, a source and a campaign made, a Jivo integration made with a Telegram mapping (rows
//! added and removed with the page's buttons), its URL copied; a Telegram chat posted to that
//! URL is in the journal under the campaign's name and its card shows the transcript and how it
//! was attributed; amoCRM connected with the Connect button (through the stand-in's consent
//! page and back) and its session field picked from amoCRM's list; a malformed body quarantined
//! and replayed from the raw data page; signed out, the pages are closed.
//!
//! Then every page, in Russian and in English, at 1280 and 360 pixels: every field labelled,
//! nothing wider than a phone's screen, no Content-Security-Policy violation, the skip link
//! first in keyboard order; screenshots in `target/screenshots/console/`, and each page's weight
//! and first paint in `target/screenshots/console/pages.json`.

use chatsource_tests::amocrm::{Amocrm, Config};
use chatsource_tests::browser::Browser;
use chatsource_tests::server::{API_KEY, TestServer, jivo_body, start};
use fantoccini::Locator;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn css(selector: &str) -> Locator<'_> {
    Locator::Css(selector)
}

async fn go(b: &Browser, url: &str) {
    b.client
        .goto(url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
}

async fn path_and_query(b: &Browser) -> String {
    let url = b.client.current_url().await.expect("url");
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Waits until the browser is on a page whose path starts with `prefix`.
async fn arrive(b: &Browser, prefix: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let here = path_and_query(b).await;
        if here.starts_with(prefix) {
            return here;
        }
        assert!(started.elapsed() < WAIT, "still on {here}, not {prefix}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The element, or a failure that says where the browser was and what it showed.
async fn find(b: &Browser, selector: &str) -> fantoccini::elements::Element {
    match b.client.find(css(selector)).await {
        Ok(found) => found,
        Err(e) => {
            let here = path_and_query(b).await;
            let shown = b.eval("return document.body.innerText;").await;
            panic!("no {selector} on {here} ({e}): {shown}")
        }
    }
}

/// Waits until the browser is on exactly `path` (any query).
async fn arrive_at(b: &Browser, path: &str) {
    let started = std::time::Instant::now();
    loop {
        let url = b.client.current_url().await.expect("url");
        if url.path() == path {
            return;
        }
        assert!(started.elapsed() < WAIT, "still on {url}, not {path}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fill(b: &Browser, selector: &str, text: &str) {
    let field = find(b, selector).await;
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

async fn click(b: &Browser, selector: &str) {
    find(b, selector)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {selector}: {e}"));
}

async fn pick(b: &Browser, selector: &str, label: &str) {
    find(b, selector)
        .await
        .select_by_label(label)
        .await
        .unwrap_or_else(|e| panic!("{label} in {selector}: {e}"));
}

async fn text(b: &Browser, selector: &str) -> String {
    b.eval(&format!(
        "const e = document.querySelector({}); return e ? e.innerText : null;",
        json!(selector)
    ))
    .await
    .as_str()
    .unwrap_or_else(|| panic!("no {selector}"))
    .to_owned()
}

async fn count(b: &Browser, selector: &str) -> u64 {
    b.eval(&format!(
        "return document.querySelectorAll({}).length;",
        json!(selector)
    ))
    .await
    .as_u64()
    .unwrap()
}

/// What a page must be, whatever it shows: its fields labelled, its controls named, no wider
/// than the window, no CSP violation, a title and one heading.
async fn audit(b: &Browser, name: &str) {
    let report = b
        .eval(
            r#"
const unlabelled = [];
document.querySelectorAll('input, select, textarea').forEach(function (f) {
  if (f.type === 'hidden' || f.closest('template')) return;
  const byFor = f.id && document.querySelector('label[for="' + CSS.escape(f.id) + '"]');
  if (!(byFor || f.closest('label') || f.getAttribute('aria-label') || f.getAttribute('aria-labelledby'))) {
    unlabelled.push(f.outerHTML.slice(0, 120));
  }
});
const buttons = [];
document.querySelectorAll('button, a').forEach(function (e) {
  if (e.closest('template')) return;
  if (!(e.innerText.trim() || e.getAttribute('aria-label'))) buttons.push(e.outerHTML.slice(0, 120));
});
return {
  unlabelled: unlabelled,
  nameless: buttons,
  wider: document.documentElement.scrollWidth - window.innerWidth,
  csp: window.__csp || [],
  lang: document.documentElement.lang,
  title: document.title,
  h1: document.querySelectorAll('h1').length,
};"#,
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
        "{name}: {} px wider than the window",
        report["wider"]
    );
    assert_eq!(report["csp"], json!([]), "{name}: CSP violations");
    assert!(
        !report["title"].as_str().unwrap().is_empty(),
        "{name}: a title"
    );
    assert_eq!(report["h1"], 1, "{name}: one heading");
}

/// Keyboard: on a page just loaded, the first Tab lands on the skip link.
async fn first_tab(b: &Browser, name: &str) {
    b.client
        .find(css("body"))
        .await
        .expect("body")
        .send_keys("\u{E004}")
        .await
        .expect("tab");
    let focused = b.eval("return document.activeElement.className;").await;
    assert_eq!(
        focused, "skip",
        "{name}: the first Tab goes to the skip link"
    );
}

/// Records CSP violations of every page from its first script on.
async fn watch_csp(b: &Browser) {
    b.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": "window.__csp = []; document.addEventListener('securitypolicyviolation', function (e) { window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });"}),
    )
    .await;
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/console")
}

#[tokio::test]
async fn a_marketer_sets_up_jivo_and_amocrm_reads_the_appeal_and_replays_a_bad_body_in_chromium() {
    let server = start().await;
    let amo = Amocrm::start(Config {
        redirect_uri: format!("{}/oauth/amocrm/callback", server.base),
        ..Config::default()
    })
    .await;
    amo.add_custom_field("leads", 777_001, "chatsource session", None, "text");
    let b = Browser::open().await;
    watch_csp(&b).await;
    b.viewport(1280, 900).await;
    let base = &server.base;

    // Signed out, a page sends you to sign in, and back.
    go(&b, &format!("{base}/appeals?lang=en")).await;
    arrive(&b, "/login").await;
    fill(&b, "input[name=key]", "not a key").await;
    click(&b, "form button[type=submit]").await;
    b.wait_for(
        "document.querySelector('main').innerText.includes('opens no account')",
        WAIT,
    )
    .await;
    assert_eq!(b.client.current_url().await.unwrap().path(), "/login");
    fill(&b, "input[name=key]", API_KEY).await;
    click(&b, "form button[type=submit]").await;
    arrive(&b, "/appeals").await;

    // A source and a campaign that picks it by name.
    go(&b, &format!("{base}/directories/sources/new")).await;
    fill(&b, "#name", "Telegram Ads").await;
    click(&b, "main form button[type=submit]").await;
    arrive_at(&b, "/directories").await;
    go(&b, &format!("{base}/directories/campaigns/new")).await;
    fill(&b, "#name", "Весна в Telegram").await;
    pick(&b, "#source_id", "Telegram Ads").await;
    fill(&b, "#utm-source", "telegram").await;
    fill(&b, "#utm-campaign", "spring_tg").await;
    click(&b, "main form button[type=submit]").await;
    arrive_at(&b, "/directories").await;
    assert!(text(&b, "main").await.contains("Весна в Telegram"));
    let campaigns = server.demo("GET", "/api/campaigns", None).await.json;
    let campaign = campaigns["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Весна в Telegram")
        .expect("the campaign")
        .clone();
    assert_eq!(
        campaign["utm"],
        json!({"source": "telegram", "campaign": "spring_tg"}),
        "{campaign}"
    );

    // A Jivo integration whose Telegram channel goes to that campaign.
    go(&b, &format!("{base}/integrations/new")).await;
    click(&b, "a[href='/integrations/new/jivo']").await;
    arrive(&b, "/integrations/new/jivo").await;
    fill(&b, "#name", "Jivo на сайте").await;
    pick(&b, "#traffic_type", "A campaign").await;
    b.client
        .find(css("#default_campaign_id"))
        .await
        .unwrap()
        .select_by_value("cmp_demo_default")
        .await
        .unwrap();
    fill(
        &b,
        "#jivo-widgets tbody tr:last-child input[name=jw_widget]",
        "7700001",
    )
    .await;
    b.client
        .find(css(
            "#jivo-widgets tbody tr:last-child select[name=jw_channel]",
        ))
        .await
        .unwrap()
        .select_by_value("telegram")
        .await
        .unwrap();
    // Rows come and go with the page's buttons.
    assert_eq!(count(&b, "#mapping tbody tr").await, 1);
    click(&b, "button[data-add-row='#mapping']").await;
    assert_eq!(count(&b, "#mapping tbody tr").await, 2);
    click(&b, "#mapping tbody tr:last-child button[data-remove-row]").await;
    assert_eq!(count(&b, "#mapping tbody tr").await, 1);
    b.client
        .find(css("#mapping tbody tr select[name=mm_channel]"))
        .await
        .unwrap()
        .select_by_value("telegram")
        .await
        .unwrap();
    pick(
        &b,
        "#mapping tbody tr select[name=mm_campaign]",
        "Весна в Telegram",
    )
    .await;
    click(&b, "main form button[type=submit]").await;
    let here = arrive(&b, "/integrations/int_").await;
    assert!(here.ends_with("?done=created"), "{here}");
    let jivo_id = here
        .trim_start_matches("/integrations/")
        .trim_end_matches("?done=created")
        .to_owned();
    // The copy button puts the URL on the clipboard (loopback is a secure context, so the
    // clipboard API is there); what Jivo gets is what was copied.
    let origin = base.clone();
    b.cdp(
        "Browser.grantPermissions",
        json!({"origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
    )
    .await;
    click(&b, "button[data-copy='#hook-chats']").await;
    b.wait_for(
        "document.querySelector(\"button[data-copy='#hook-chats']\").innerText !== 'Copy'",
        WAIT,
    )
    .await;
    let hook = b
        .eval("return navigator.clipboard.readText();")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        hook.starts_with(&format!("{base}/hooks/jivo/{jivo_id}/")),
        "{hook}"
    );

    // Jivo delivers a Telegram chat to that URL.
    let sent = server
        .post_raw(&hook, jivo_body("telegram_chat_finished"))
        .await;
    assert_eq!(sent.status, 200, "{}", sent.json);
    server
        .appeals_when(&jivo_id, |items| !items.is_empty())
        .await;

    // The journal shows it under the campaign's name; its card tells the chat and the why.
    go(&b, &format!("{base}/appeals?lang=en")).await;
    let row = "main table tbody tr:first-child";
    assert!(
        text(&b, row).await.contains("Весна в Telegram"),
        "{}",
        text(&b, row).await
    );
    assert!(text(&b, row).await.contains("Павел"));
    click(&b, &format!("{row} a[href^='/appeals/']")).await;
    let card = arrive(&b, "/appeals/").await;
    let transcript = text(&b, ".transcript").await;
    assert!(
        transcript.contains("Сколько стоит доставка в Тверь?"),
        "{transcript}"
    );
    assert!(transcript.contains("990 ₽, 2 дня."), "{transcript}");
    let main = text(&b, "main").await;
    assert!(
        main.contains("Telegram") && main.contains("Весна в Telegram"),
        "{main}"
    );
    let card_id = card
        .trim_start_matches("/appeals/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();

    // amoCRM: made on the form, connected with the button, its session field picked.
    go(&b, &format!("{base}/integrations/new/amocrm")).await;
    let config = amo.config();
    fill(&b, "#name", "amoCRM").await;
    pick(&b, "#traffic_type", "A campaign").await;
    b.client
        .find(css("#default_campaign_id"))
        .await
        .unwrap()
        .select_by_value("cmp_demo_default")
        .await
        .unwrap();
    fill(&b, "#amocrm-base_url", amo.base_url()).await;
    fill(&b, "#amocrm-client_id", &config.client_id).await;
    fill(&b, "#amocrm-client_secret", &config.client_secret).await;
    click(&b, "main form button[type=submit]").await;
    let here = arrive(&b, "/integrations/int_").await;
    let amo_id = here
        .trim_start_matches("/integrations/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    click(
        &b,
        &format!("form[action='/integrations/{amo_id}/connect'] button"),
    )
    .await;
    arrive(&b, &format!("/integrations/{amo_id}?done=connected")).await;
    assert!(text(&b, "main").await.contains("Connected"));
    pick(&b, "#amocrm-session_field_id", "chatsource session").await;
    click(
        &b,
        &format!("form[action='/integrations/{amo_id}'] button[type=submit]"),
    )
    .await;
    arrive(&b, &format!("/integrations/{amo_id}?done=saved")).await;
    let saved = server.integration(&amo_id).await;
    assert_eq!(saved["amocrm"]["session_field_id"], 777_001, "{saved}");
    assert_eq!(saved["connection"]["status"], "connected");

    // A body Jivo could never have meant is quarantined, seen and replayed.
    let bad = server.post_raw(&hook, b"{\"event_name\": ".to_vec()).await;
    assert_eq!(bad.status, 400);
    go(&b, &format!("{base}/raw")).await;
    assert!(text(&b, "main").await.contains("Jivo на сайте"));
    click(&b, "main table tbody tr:first-child a[href^='/raw/']").await;
    let raw = arrive(&b, "/raw/").await;
    let raw_id = raw
        .trim_start_matches("/raw/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let body = b
        .eval("return document.querySelector('textarea').value;")
        .await;
    assert_eq!(body, "{\"event_name\": ");
    click(&b, "form[action$='/replay'] button").await;
    // Replay asks first.
    b.client.accept_alert().await.ok();
    arrive(&b, &format!("/raw/{raw_id}?replayed=")).await;

    settings_and_repeat_appeals(&b, &server).await;

    // Every page, both languages, both widths.
    let pages = [
        ("appeals", "/appeals".to_owned()),
        ("appeal", format!("/appeals/{card_id}")),
        ("integrations", "/integrations".to_owned()),
        ("integration-new", "/integrations/new".to_owned()),
        ("integration-jivo", format!("/integrations/{jivo_id}")),
        ("integration-amocrm", format!("/integrations/{amo_id}")),
        (
            "integration-verbox",
            "/integrations/int_demo_verbox".to_owned(),
        ),
        (
            "integration-bitrix24",
            "/integrations/int_demo_bitrix24".to_owned(),
        ),
        (
            "integration-new-bitrix24",
            "/integrations/new/bitrix24".to_owned(),
        ),
        ("directories", "/directories".to_owned()),
        (
            "campaign",
            "/directories/campaigns/cmp_demo_spring".to_owned(),
        ),
        ("source-new", "/directories/sources/new".to_owned()),
        ("raw", "/raw".to_owned()),
        ("raw-event", format!("/raw/{raw_id}")),
        ("keys", "/keys".to_owned()),
        ("not-found", "/nowhere".to_owned()),
    ];
    let mut weights = Vec::new();
    for lang in ["ru", "en"] {
        for (name, path) in &pages {
            // Loaded at each width, as a phone or a desktop loads it.
            for width in [1280, 360] {
                b.viewport(width, 800).await;
                go(&b, &format!("{base}{path}?lang={lang}")).await;
                if width == 1280 {
                    weights.push(weigh(&b, name, lang).await);
                }
                first_tab(&b, name).await;
                // The pictures show the page as it is seen before anyone presses a key.
                b.eval("document.activeElement.blur();").await;
                audit(&b, &format!("{name} ({lang}, {width} px)")).await;
                b.screenshot_page(
                    width,
                    &screenshots().join(format!("{name}-{lang}-{width}.png")),
                )
                .await;
            }
        }
    }
    b.viewport(1280, 900).await;
    std::fs::write(
        screenshots().join("pages.json"),
        serde_json::to_string_pretty(&weights).unwrap(),
    )
    .unwrap();

    // Signed out, the console is closed again, and so is the old session.
    go(&b, &format!("{base}/appeals?lang=en")).await;
    click(&b, "form[action='/logout'] button").await;
    arrive(&b, "/login").await;
    go(&b, &format!("{base}/integrations")).await;
    arrive(&b, "/login").await;
    for lang in ["ru", "en"] {
        for width in [1280, 360] {
            b.viewport(width, 800).await;
            go(&b, &format!("{base}/login?lang={lang}")).await;
            // The page is one field, which has the focus at once.
            assert_eq!(b.eval("return document.activeElement.id;").await, "key");
            b.eval("document.activeElement.blur();").await;
            audit(&b, &format!("login ({lang}, {width} px)")).await;
            b.screenshot_page(
                width,
                &screenshots().join(format!("login-{lang}-{width}.png")),
            )
            .await;
        }
    }
    b.close().await;
    check_appeal_still_there(&server, &card_id).await;
}

/// A page's weight (HTML, and everything it loaded) and when it was first painted.
async fn weigh(b: &Browser, name: &str, lang: &str) -> Value {
    // The paint entry comes a frame after the load event.
    let started = std::time::Instant::now();
    while b
        .eval("return performance.getEntriesByType('paint').length;")
        .await
        .as_u64()
        == Some(0)
        && started.elapsed() < Duration::from_secs(3)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let timing = b
        .eval(
            r#"
const nav = performance.getEntriesByType('navigation')[0];
const paint = performance.getEntriesByType('paint').find(function (p) { return p.name === 'first-contentful-paint'; });
const assets = performance.getEntriesByType('resource').reduce(function (n, r) { return n + r.decodedBodySize; }, 0);
return {
  html_bytes: nav.transferSize,
  html_decoded_bytes: nav.decodedBodySize,
  asset_bytes: assets,
  response_ms: Math.round(nav.responseEnd - nav.requestStart),
  first_paint_ms: paint ? Math.round(paint.startTime) : null,
};"#,
        )
        .await;
    json!({"page": name, "lang": lang, "timing": timing})
}

async fn check_appeal_still_there(server: &TestServer, id: &str) {
    let appeal = server
        .demo("GET", &format!("/api/appeals/{id}"), None)
        .await;
    assert_eq!(appeal.status, 200, "{}", appeal.json);
}

/// The account's settings changed and kept; a site given its own repeat window (a value out of
/// bounds refused beside its field); a repeat appeal found with the journal's filter, marked in
/// its row and on its card, whose link lists the person's appeals. Each page pictured in ru and
/// en at 1280 and 360 px.
async fn settings_and_repeat_appeals(b: &Browser, server: &TestServer) {
    let base = &server.base;
    b.viewport(1280, 900).await;

    // Settings: a time zone typed over the old one, the window changed, both kept.
    go(b, &format!("{base}/settings?lang=en")).await;
    fill(b, "#time_zone", "Asia/Yekaterinburg").await;
    fill(b, "#repeat_window_days", "14").await;
    click(b, "main form button[type=submit]").await;
    arrive(b, "/settings?saved=1").await;
    let value = |id: &str| format!("return document.querySelector('#{id}').value;");
    assert_eq!(b.eval(&value("time_zone")).await, "Asia/Yekaterinburg");
    assert_eq!(b.eval(&value("repeat_window_days")).await, "14");
    // Out of bounds: said beside the field, nothing changed.
    fill(b, "#repeat_window_days", "0").await;
    click(b, "main form button[type=submit]").await;
    b.wait_for(
        "document.querySelector('#repeat_window_days-error') !== null",
        WAIT,
    )
    .await;
    let account = server.demo("GET", "/api/account", None).await.json;
    assert_eq!(account["time_zone"], "Asia/Yekaterinburg", "{account}");
    assert_eq!(account["repeat_window_days"], 14, "{account}");

    // A site's own window: refused out of bounds, then kept; empty says the account's.
    go(
        b,
        &format!("{base}/directories/sites/site_demo_shop?lang=en"),
    )
    .await;
    let hint = text(b, "#repeat_window_days-hint").await;
    assert!(hint.contains("(14 days)"), "{hint}");
    fill(b, "#repeat_window_days", "400").await;
    click(b, "main form button[type=submit]").await;
    b.wait_for(
        "document.querySelector('#repeat_window_days-error') !== null",
        WAIT,
    )
    .await;
    let said = text(b, "#repeat_window_days-error").await;
    assert!(said.contains("from 1 to 365"), "{said}");
    fill(b, "#repeat_window_days", "7").await;
    click(b, "main form button[type=submit]").await;
    arrive_at(b, "/directories").await;
    let shop = server
        .demo("GET", "/api/sites/site_demo_shop", None)
        .await
        .json;
    assert_eq!(shop["repeat_window_days"], 7, "{shop}");

    // Анна wrote twice; the second chat is a repeat.
    crate::repeat::put_appeal(server, 0, "Анна Репина", "+79160000001", false).await;
    crate::repeat::put_appeal(server, 3, "Анна Репина", "+79160000001", true).await;
    go(b, &format!("{base}/appeals?lang=en")).await;
    pick(b, "#repeat", "Repeat only").await;
    click(b, "form[role=search] button[type=submit]").await;
    // The page it left is an /appeals? address too: wait for the filtered one.
    let started = std::time::Instant::now();
    loop {
        let here = arrive(b, "/appeals?").await;
        if here.contains("repeat=true") {
            break;
        }
        assert!(started.elapsed() < WAIT, "still on {here}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count(b, "main table tbody tr").await, 1);
    let row = text(b, "main table tbody tr").await;
    assert!(
        row.contains("Анна Репина") && row.contains("repeat"),
        "{row}"
    );
    click(b, "main table tbody tr a[href^='/appeals/']").await;
    let card = arrive(b, "/appeals/").await;
    let card_path = card.split('?').next().unwrap().to_owned();
    assert!(text(b, ".person").await.contains("Repeat appeal"));
    click(b, ".person a").await;
    let person = arrive(b, "/appeals?").await;
    assert!(person.contains("q="), "{person}");
    assert_eq!(count(b, "main table tbody tr").await, 2);

    let pages = [
        ("settings", "/settings".to_owned()),
        ("site", "/directories/sites/site_demo_shop".to_owned()),
        ("appeals-repeat", "/appeals?repeat=true".to_owned()),
        ("appeal-repeat", card_path),
    ];
    for lang in ["ru", "en"] {
        for (name, path) in &pages {
            for width in [1280, 360] {
                b.viewport(width, 800).await;
                let join = if path.contains('?') { '&' } else { '?' };
                go(b, &format!("{base}{path}{join}lang={lang}")).await;
                first_tab(b, name).await;
                b.eval("document.activeElement.blur();").await;
                audit(b, &format!("{name} ({lang}, {width} px)")).await;
                b.screenshot_page(
                    width,
                    &screenshots().join(format!("{name}-{lang}-{width}.png")),
                )
                .await;
            }
        }
    }
    b.viewport(1280, 900).await;
}
