//! The site script in headless Chromium: a visit on the site's real domain records a session
//! on chatsource (a real cross-origin call), every widget on the page receives the session
//! id through its own API, messenger links carry the code, and a chat that later arrives with
//! that id (or that code) is attributed to the visit.

use chatsource_tests::browser::{Browser, serve_pages};
use chatsource_tests::server::{TestServer, jivo_body_with, start};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

const LANDING: &str = "/?utm_source=yandex&utm_medium=cpc&utm_campaign=spring_sale&yclid=123";

/// Stand-ins of the four widgets, as their embed codes and loaders behave: Verbox's loader
/// defines a command queue at once, the amoCRM button its config object; Jivo calls
/// `jivo_onLoadCallback` when its API is up; Bitrix24 announces itself with an event. Each
/// records the calls it gets, and the page records any error thrown.
fn widgets_page(script_src: &str) -> String {
    format!(
        r#"<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Диваны</title>
<script>
window.__calls = []; window.__errors = [];
window.addEventListener('error', function (e) {{ window.__errors.push(String(e.message)); }});
window.supportAPIMethod = 'Verbox';
window.Verbox = function () {{ window.__calls.push(['verbox'].concat([].slice.call(arguments))); }};
window.amo_social_button = {{ id: '1', hash: 'h', setMeta: function (p) {{ window.__calls.push(['amocrm', p]); }} }};
</script>
<script async src="{script_src}"></script>
<script>
setTimeout(function () {{
  window.jivo_api = {{ setUserToken: function (t) {{ window.__calls.push(['jivo', t]); }} }};
  if (window.jivo_onLoadCallback) window.jivo_onLoadCallback();
}}, 700);
setTimeout(function () {{
  var widget = {{ setCustomData: function (d) {{ window.__calls.push(['bitrix24', d]); }} }};
  window.dispatchEvent(new CustomEvent('onBitrixLiveChat', {{ detail: {{ widget: widget }} }}));
}}, 1200);
</script></head>
<body><h1>Диваны</h1>
<a id="tg" href="https://t.me/shop_bot">Telegram</a>
<a id="vk" href="https://vk.me/shop">VK</a>
<a id="wa" href="https://wa.me/79161234567?text=%D0%94%D0%BE%D0%B1%D1%80%D1%8B%D0%B9%20%D0%B4%D0%B5%D0%BD%D1%8C">WhatsApp</a>
<a id="catalog" href="/catalog">Каталог</a>
</body></html>"#
    )
}

/// A page with the script and nothing else: no widget will ever come.
fn bare_page(script_src: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8">
<script>window.__errors = []; window.addEventListener('error', function (e) {{ window.__errors.push(String(e.message)); }});</script>
<script async src="{script_src}"></script></head><body><p id="content">still here</p></body></html>"#
    )
}

async fn site(server: &TestServer) -> chatsource_tests::browser::Pages {
    let src = format!("{}/t/site_demo_shop/script.js", server.base);
    // The same script, configured with an amoCRM session field (amoCRM integrations, which
    // name that field, come with the amoCRM issue).
    let amo_script = tracker::render(&tracker::ScriptConfig {
        site: "site_demo_shop".into(),
        endpoint: format!("{}/t/site_demo_shop/sessions", server.base),
        amo_fields: vec![777001],
    });
    serve_pages(HashMap::from([
        ("/".to_owned(), widgets_page(&src)),
        ("/catalog".to_owned(), widgets_page(&src)),
        ("/bare".to_owned(), bare_page(&src)),
        ("/amo".to_owned(), widgets_page("/assets/chatsource-amo.js")),
        ("/assets/chatsource-amo.js".to_owned(), amo_script),
    ]))
    .await
}

/// A fresh chatsource, the demo site's pages, and a browser on `path` of the site.
async fn visit(path: &str) -> (TestServer, chatsource_tests::browser::Pages, Browser) {
    let server = start().await;
    let pages = site(&server).await;
    let browser = Browser::open().await;
    browser
        .client
        .goto(&format!("{}{path}", pages.origin))
        .await
        .unwrap();
    (server, pages, browser)
}

fn calls_of(calls: &Value, widget: &str) -> Vec<Value> {
    calls
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c[0] == widget)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_visit_gets_a_session_every_widget_gets_its_id_and_messenger_links_carry_its_code() {
    let (server, pages, browser) = visit(LANDING).await;
    let wait = Duration::from_secs(15);
    let calls = browser
        .wait_for("window.__calls.some(c => c[0] === 'jivo') && window.__calls.some(c => c[0] === 'bitrix24') && window.__calls", wait)
        .await;
    let sid = browser.eval("return window.chatsource.session();").await;
    let sid = sid.as_str().expect("a session id").to_owned();
    let code = browser
        .eval("return window.chatsource.code();")
        .await
        .as_str()
        .unwrap()
        .to_owned();

    // The session on chatsource: landing page, tags and click id of the ad.
    let session = server
        .store
        .session(&sid)
        .await
        .unwrap()
        .expect("the session is stored");
    assert_eq!(session.utm.source.as_deref(), Some("yandex"));
    assert_eq!(session.utm.campaign.as_deref(), Some("spring_sale"));
    assert_eq!(session.click_ids["yclid"], "123");
    assert_eq!(
        session.landing_page.as_deref(),
        Some(format!("{}{LANDING}", pages.origin).as_str())
    );
    assert_eq!(
        session.code.as_ref().map(|c| c.as_str()),
        Some(code.as_str())
    );

    // Each widget through its own API, once.
    assert_eq!(calls_of(&calls, "jivo"), [json!(["jivo", sid])]);
    assert_eq!(
        calls_of(&calls, "verbox"),
        [json!(["verbox", "setClientInfo", {"customData": {"chatsource_session": sid}}])]
    );
    let bitrix = calls_of(&calls, "bitrix24");
    assert_eq!(bitrix.len(), 1);
    assert!(bitrix[0][1].as_str().unwrap().contains(&sid));
    assert!(
        calls_of(&calls, "amocrm").is_empty(),
        "no amoCRM field is configured for this site"
    );

    // Messenger links carry the code; other links are left alone.
    let href = |id: &'static str| {
        let client = browser.client.clone();
        async move {
            let el = client.find(fantoccini::Locator::Id(id)).await.unwrap();
            el.attr("href").await.unwrap().unwrap()
        }
    };
    assert_eq!(
        href("tg").await,
        format!("https://t.me/shop_bot?start={code}")
    );
    // VK hands ?ref= to no chat we read: the link is left as it was.
    assert_eq!(href("vk").await, "https://vk.me/shop");
    let wa = href("wa").await;
    let text: String = url::form_urlencoded::parse(wa.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "text")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert_eq!(text, format!("Добрый день [{code}]"));
    assert_eq!(href("catalog").await, "/catalog");

    // A second page view without tags keeps the session (and its first touch).
    browser
        .client
        .goto(&format!("{}/catalog", pages.origin))
        .await
        .unwrap();
    browser
        .wait_for(
            "window.__calls.some(c => c[0] === 'jivo') && window.__calls",
            wait,
        )
        .await;
    let again = browser.eval("return window.chatsource.session();").await;
    assert_eq!(again, json!(sid));
    let errors = browser.eval("return window.__errors;").await;
    assert_eq!(errors, json!([]));
    browser.close().await;
}

#[tokio::test]
async fn a_jivo_chat_carrying_the_visits_session_is_attributed_to_it_without_any_utm_of_its_own() {
    let (server, pages, browser) = visit(LANDING).await;
    let token = browser
        .wait_for(
            "window.__calls.filter(c => c[0] === 'jivo').map(c => c[1])[0]",
            Duration::from_secs(15),
        )
        .await;
    browser.close().await;

    // The chat Jivo then sends: the token the page set, no UTM, a page without tags.
    let body = jivo_body_with(
        "chat_finished",
        &[
            ("/user_token", token.clone()),
            ("/session/utm", json!("")),
            ("/session/utm_json", json!({})),
            ("/page/url", json!("https://shop.example.ru/catalog/sofas")),
        ],
    );
    let answer = server.post_raw(&server.jivo_url(), body).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let appeal = &server.demo("GET", "/api/appeals", None).await.json["items"][0];
    assert_eq!(appeal["attribution"]["via"], "session", "{appeal:#}");
    assert_eq!(appeal["attribution"]["campaign_id"], "cmp_demo_spring");
    assert_eq!(appeal["attribution"]["site_id"], "site_demo_shop");
    assert_eq!(
        appeal["attribution"]["session_lookup"],
        json!({"id": token, "source": "payload", "found": true})
    );
    assert_eq!(
        appeal["session"]["landing_page"],
        json!(format!("{}{LANDING}", pages.origin))
    );
    assert_eq!(appeal["session"]["click_ids"], json!({"yclid": "123"}));
}

#[tokio::test]
async fn a_telegram_chat_started_from_a_rewritten_link_is_attributed_to_the_visit() {
    let (server, _pages, browser) = visit("/?utm_source=google&utm_medium=cpc&gclid=g-77").await;
    let href = browser
        .wait_for("document.getElementById('tg').href.indexOf('start=') > 0 && document.getElementById('tg').href", Duration::from_secs(15))
        .await;
    browser.close().await;
    let code = href
        .as_str()
        .unwrap()
        .rsplit("start=")
        .next()
        .unwrap()
        .to_owned();

    // Jivo's Telegram channel: the bot's first message is `/start <code>`; no token, no tags.
    let body = jivo_body_with(
        "telegram_chat_finished",
        &[("/chat/messages/0/message", json!(format!("/start {code}")))],
    );
    let answer = server.post_raw(&server.jivo_url(), body).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let appeal = &server
        .demo("GET", "/api/appeals?channel=telegram", None)
        .await
        .json["items"][0];
    assert_eq!(appeal["channel"], "telegram");
    assert_eq!(appeal["attribution"]["via"], "session", "{appeal:#}");
    assert_eq!(appeal["attribution"]["campaign_id"], "cmp_demo_google");
    assert_eq!(
        appeal["attribution"]["session_lookup"],
        json!({"id": code, "source": "deep_link", "found": true})
    );
    assert_eq!(appeal["session"]["click_ids"], json!({"gclid": "g-77"}));
}

#[tokio::test]
async fn a_page_without_any_widget_still_records_the_visit_and_throws_nothing() {
    let (server, _pages, browser) = visit("/bare").await;
    let sid = browser
        .wait_for(
            "window.chatsource && window.chatsource.session()",
            Duration::from_secs(15),
        )
        .await;
    assert!(
        server
            .store
            .session(sid.as_str().unwrap())
            .await
            .unwrap()
            .is_some()
    );
    // Give the widget search a few rounds, then look for damage.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(browser.eval("return window.__errors;").await, json!([]));
    assert_eq!(
        browser
            .eval("return document.getElementById('content').textContent;")
            .await,
        json!("still here")
    );
    browser.close().await;
}

#[tokio::test]
async fn the_amocrm_button_gets_the_session_in_the_configured_lead_field() {
    let (_server, _pages, browser) = visit("/amo").await;
    let meta = browser
        .wait_for(
            "window.__calls.filter(c => c[0] === 'amocrm').map(c => c[1])[0]",
            Duration::from_secs(15),
        )
        .await;
    let sid = browser.eval("return window.chatsource.session();").await;
    assert_eq!(
        meta,
        json!({"lead": {"custom_fields": [{"id": 777001, "values": [{"value": sid}]}]}})
    );
    browser.close().await;
}
