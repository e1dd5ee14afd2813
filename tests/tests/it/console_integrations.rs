//! The Integrations section of the console, used as a marketer uses it: a Jivo integration made
//! through the form with a Telegram mapping, its URL read from the page, a chat posted to it and
//! its health saying so; amoCRM connected through the Connect button against the stand-in and
//! its session field picked from amoCRM's own list; the health in the API's view too.

use chatsource_tests::amocrm::{Amocrm, Config};
use chatsource_tests::console::{Console, Page};
use chatsource_tests::server::{TestServer, jivo_body, start};
use serde_json::{Value, json};

/// The value of the read-only input `id` of a page (a URL to copy).
fn copy_value(page: &Page, id: &str) -> String {
    page.html
        .split(&format!("id=\"{id}\" type=\"text\" readonly value=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {id} on the page: {}", page.html))
        .replace("&amp;", "&")
}

/// The integration a `303` after creating one leads to.
fn created_id(page: &Page) -> String {
    assert_eq!(page.status, 303, "{}", page.html);
    let location = page.location.as_deref().expect("a location");
    location
        .strip_prefix("/integrations/")
        .and_then(|rest| rest.strip_suffix("?done=created"))
        .unwrap_or_else(|| panic!("{location}"))
        .to_owned()
}

async fn view(server: &TestServer, id: &str) -> Value {
    server.integration(id).await
}

#[tokio::test]
async fn a_jivo_integration_made_through_the_form_shows_its_first_chat_in_its_health() {
    let server = start().await;
    let console = Console::sign_in(&server).await;
    let pick = console.get("/integrations/new?lang=en").await;
    assert_eq!(pick.status, 200);
    assert!(pick.html.contains("href=\"/integrations/new/jivo\""));
    let blank = console.get("/integrations/new/jivo?lang=en").await;
    assert_eq!(blank.status, 200);
    // Picked by name: the campaigns are listed as the marketer named them.
    assert!(
        blank.html.contains(">Telegram channel</option>"),
        "{}",
        blank.html
    );

    let made = console
        .post(
            "/integrations/new/jivo?lang=en",
            &[
                ("name", "Jivo on the shop"),
                ("active", "on"),
                ("default_employee_id", "emp_demo_oleg"),
                ("traffic_type", "campaign"),
                ("default_campaign_id", "cmp_demo_default"),
                ("jw_widget", "7700001"),
                ("jw_channel", "telegram"),
                ("jw_widget", ""),
                ("jw_channel", ""),
                ("mm_channel", "telegram"),
                ("mm_campaign", "cmp_demo_telegram"),
                ("mm_source", ""),
                ("mm_site", ""),
                ("mm_channel", ""),
                ("mm_campaign", ""),
                ("mm_source", ""),
                ("mm_site", ""),
            ],
        )
        .await;
    let id = created_id(&made);
    let page = console
        .get(&format!("/integrations/{id}?done=created&lang=en"))
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.html.contains("The integration is created."),
        "{}",
        page.html
    );
    assert!(page.html.contains("No events yet."));
    assert!(page.html.contains("Pro plan"));
    let url = copy_value(&page, "hook-chats");
    assert!(
        url.starts_with(&format!("{}/hooks/jivo/{id}/", server.base)),
        "{url}"
    );
    assert!(
        copy_value(&page, "site-script-0").starts_with("&lt;script async src="),
        "the site script to copy"
    );

    let before = view(&server, &id).await;
    assert_eq!(
        before["health"],
        json!({"last_event_at": null, "last_appeal_at": null, "last_error": null, "quarantined": 0})
    );
    assert_eq!(
        before["messenger_mapping"],
        json!({"telegram": {"campaign_id": "cmp_demo_telegram"}})
    );
    assert_eq!(before["jivo"]["channels"], json!({"7700001": "telegram"}));

    // The user pastes the URL into Jivo; a Telegram chat arrives.
    let sent = server
        .post_raw(&url, jivo_body("telegram_chat_finished"))
        .await;
    assert_eq!(sent.status, 200, "{}", sent.json);
    let appeals = server.appeals_when(&id, |items| !items.is_empty()).await;
    assert_eq!(appeals.len(), 1);
    assert_eq!(appeals[0]["channel"], "telegram");
    assert_eq!(appeals[0]["attribution"]["via"], "messenger_mapping");
    assert_eq!(
        appeals[0]["attribution"]["campaign_id"],
        "cmp_demo_telegram"
    );

    let health = view(&server, &id).await["health"].clone();
    assert!(health["last_event_at"].is_string(), "{health}");
    assert!(health["last_appeal_at"].is_string(), "{health}");
    assert_eq!(health["quarantined"], 0);
    let page = console.get(&format!("/integrations/{id}?lang=en")).await;
    assert!(
        page.html
            .contains("Working: events arrive and make appeals."),
        "{}",
        page.html
    );
    let list = console.get("/integrations?lang=ru").await;
    assert!(list.html.contains("Jivo on the shop"));
    assert!(list.html.contains("Последнее событие"));

    // A body that cannot be read: quarantined, and the health says why.
    let bad = server.post_raw(&url, jivo_body("malformed")).await;
    assert_eq!(bad.status, 400);
    let health = view(&server, &id).await["health"].clone();
    assert_eq!(health["quarantined"], 1, "{health}");
    assert!(
        health["last_error"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not JSON")),
        "{health}"
    );
    assert!(health["last_error"]["at"].is_string());
    // The demo Jivo integration's count is its own.
    assert_eq!(
        view(&server, shared::app::demo::JIVO_INTEGRATION_ID).await["health"]["quarantined"],
        0
    );
}

#[tokio::test]
async fn a_mapping_row_without_a_target_is_refused_at_its_row_and_what_was_typed_stays() {
    let server = start().await;
    let console = Console::sign_in(&server).await;
    let count = || async {
        let all = server.demo("GET", "/api/integrations", None).await.json;
        all["items"].as_array().map_or(0, Vec::len)
    };
    let before = count().await;
    let refused = console
        .post(
            "/integrations/new/verbox?lang=en",
            &[
                ("name", "Verbox on the shop"),
                ("traffic_type", "campaign"),
                ("verbox.offline_requests", "on"),
                ("verbox.rest_token", "tok-very-secret-123"),
                ("mm_channel", "whatsapp"),
                ("mm_campaign", ""),
                ("mm_source", ""),
                ("mm_site", ""),
            ],
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused.html.contains("value=\"Verbox on the shop\""));
    assert!(refused.html.contains("Fill this in."), "{}", refused.html);
    assert!(
        refused
            .html
            .contains("<option value=\"whatsapp\" selected>")
    );
    // Secrets are never written back into the page.
    assert!(!refused.html.contains("tok-very-secret-123"));
    assert!(refused.html.contains("type it again"));

    // The same channel twice is said at its row too.
    let twice = console
        .post(
            "/integrations/new/jivo?lang=en",
            &[
                ("name", "Jivo"),
                ("mm_channel", "telegram"),
                ("mm_campaign", "cmp_demo_telegram"),
                ("mm_channel", "telegram"),
                ("mm_campaign", "cmp_demo_default"),
            ],
        )
        .await;
    assert_eq!(twice.status, 400);
    assert!(twice.html.contains("This channel is in the table twice."));
    assert_eq!(count().await, before, "nothing was made");

    // A saved Verbox integration shows its second URL with the toggle, and the token as set.
    let made = console
        .post(
            "/integrations/new/verbox?lang=en",
            &[
                ("name", "Verbox on the shop"),
                ("traffic_type", "campaign"),
                ("default_campaign_id", "cmp_demo_default"),
                ("verbox.offline_requests", "on"),
                ("verbox.rest_token", "tok-very-secret-123"),
                ("verbox.rest_url", "https://admin.verbox.ru/json/v1.0"),
            ],
        )
        .await;
    let id = created_id(&made);
    let page = console.get(&format!("/integrations/{id}?lang=en")).await;
    assert!(copy_value(&page, "hook-offline").ends_with("/offline"));
    assert!(
        page.html
            .contains("data-show-when=\"verbox.offline_requests=on\"")
    );
    assert!(!page.html.contains("tok-very-secret-123"));
    let saved = view(&server, &id).await;
    assert_eq!(saved["verbox"]["rest_token"], "set");
    // Saving again with the token left empty keeps it; switching the toggle off drops the URL.
    let again = console
        .post(
            &format!("/integrations/{id}?lang=en"),
            &[
                ("name", "Verbox on the shop"),
                ("traffic_type", "campaign"),
                ("default_campaign_id", "cmp_demo_default"),
                ("verbox.rest_token", ""),
                ("verbox.rest_url", "https://admin.verbox.ru/json/v1.0"),
            ],
        )
        .await;
    assert_eq!(again.status, 303, "{}", again.html);
    assert_eq!(
        again.location.as_deref(),
        Some(format!("/integrations/{id}?done=saved").as_str())
    );
    let saved = view(&server, &id).await;
    assert_eq!(saved["verbox"]["rest_token"], "set");
    assert_eq!(saved["verbox"]["offline_requests"], false);
    assert!(saved["webhook_urls"]["offline"].is_null());
    assert_eq!(saved["active"], false, "the box was not ticked");
}

#[tokio::test]
async fn amocrm_is_connected_with_the_connect_button_and_its_session_field_picked_from_its_list() {
    let server = start().await;
    let amo = Amocrm::start(Config {
        redirect_uri: format!("{}/oauth/amocrm/callback", server.base),
        ..Config::default()
    })
    .await;
    amo.add_custom_field("leads", 777_001, "chatsource session", None, "text");
    amo.add_custom_field("contacts", 777_002, "Visitor note", None, "text");
    let config = amo.config();
    let console = Console::sign_in(&server).await;
    let made = console
        .post(
            "/integrations/new/amocrm?lang=en",
            &[
                ("name", "amoCRM"),
                ("active", "on"),
                ("traffic_type", "campaign"),
                ("default_campaign_id", "cmp_demo_default"),
                ("amocrm.base_url", amo.base_url()),
                ("amocrm.client_id", &config.client_id),
                ("amocrm.client_secret", &config.client_secret),
            ],
        )
        .await;
    let id = created_id(&made);
    let form = format!("/integrations/{id}?lang=en");
    let page = console.get(&form).await;
    assert!(page.html.contains("Connect first"), "{}", page.html);
    assert!(page.html.contains("Not connected"));
    assert!(
        !page.html.contains(&config.client_secret),
        "secrets stay unseen"
    );
    assert_eq!(
        copy_value(&page, "redirect-uri"),
        format!("{}/oauth/amocrm/callback", server.base)
    );
    // The page with the Connect button lets its form go on to amoCRM's consent page.
    let headers = reqwest::Client::new()
        .get(format!("{}{form}", server.base))
        .header("cookie", console.cookie())
        .send()
        .await
        .unwrap();
    let csp = headers.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains(&format!("form-action 'self' {}", amo.base_url())),
        "{csp}"
    );

    // Connect: off to amoCRM's consent page, which sends the browser back to our callback.
    let connect = console
        .post(&format!("/integrations/{id}/connect"), &[])
        .await;
    assert_eq!(connect.status, 303, "{}", connect.html);
    let authorize = connect.location.expect("the authorize URL");
    assert!(
        authorize.starts_with(&format!("{}/oauth?", amo.base_url())),
        "{authorize}"
    );
    // The browser goes there, is sent to our callback (with its console cookie, a top-level
    // navigation) and from there back to the integration's page, which says it is connected.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let consent = browser.get(&authorize).send().await.unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.starts_with(&server.base), "{callback}");
    let back = browser
        .get(&callback)
        .header("cookie", console.cookie())
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 303, "{}", back.text().await.unwrap());
    assert_eq!(
        back.headers()["location"],
        format!("/integrations/{id}?done=connected").as_str()
    );
    let landed = console
        .get(&format!("/integrations/{id}?done=connected&lang=en"))
        .await;
    assert!(
        landed.html.contains("Connected: chats now get"),
        "{}",
        landed.html
    );

    let page = console.get(&form).await;
    assert!(page.html.contains(">Connected<"), "{}", page.html);
    assert!(page.html.contains("<optgroup label=\"Lead fields\">"));
    assert!(
        page.html
            .contains("<option value=\"777001\">chatsource session</option>")
    );
    assert!(page.html.contains("Visitor note"));

    let saved = console
        .post(
            &form,
            &[
                ("name", "amoCRM"),
                ("active", "on"),
                ("traffic_type", "campaign"),
                ("default_campaign_id", "cmp_demo_default"),
                ("amocrm.base_url", amo.base_url()),
                ("amocrm.client_id", &config.client_id),
                ("amocrm.client_secret", ""),
                ("amocrm.session_field_id", "777001"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let integration = view(&server, &id).await;
    assert_eq!(integration["amocrm"]["session_field_id"], 777_001);
    assert_eq!(integration["amocrm"]["client_secret"], "set");
    assert_eq!(integration["connection"]["status"], "connected");
    assert!(integration["health"].is_object());
    let page = console.get(&form).await;
    assert!(
        page.html
            .contains("<option value=\"777001\" selected>chatsource session</option>"),
        "{}",
        page.html
    );
    let list = console.get("/integrations?lang=en").await;
    assert!(list.html.contains(">Connected<"));
}
