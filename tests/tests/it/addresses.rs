//! Tenant-set provider addresses never aim our requests inside: plain http, private, loopback
//! and link-local targets are refused when settings are saved (names after their lookup) and
//! again at each request, unless the server allows private targets for development.

use chatsource_tests::amocrm::{Amocrm, Config};
use chatsource_tests::server::{start, start_strict};
use serde_json::{Value, json};

fn amocrm(base_url: &str) -> Value {
    json!({"provider": "amocrm", "name": "amoCRM", "default_campaign_id": "cmp_demo_default",
           "amocrm": {"base_url": base_url, "client_id": "c", "client_secret": "s"}})
}

fn bitrix24(portal: &str, oauth: &str) -> Value {
    json!({"provider": "bitrix24", "name": "b24",
           "default_source_id": "src_demo_organic", "default_site_id": "site_demo_shop",
           "bitrix24": {"portal_url": portal, "oauth_url": oauth, "client_id": "c",
                        "client_secret": "s", "application_token": "t"}})
}

fn verbox(rest_url: &str) -> Value {
    json!({"provider": "verbox", "name": "Verbox", "default_campaign_id": "cmp_demo_default",
           "verbox": {"rest_url": rest_url, "rest_token": "x"}})
}

#[tokio::test]
async fn internal_provider_addresses_are_refused_when_saved() {
    let server = start_strict().await;
    for (body, field) in [
        (amocrm("https://169.254.169.254"), "amocrm.base_url"),
        (amocrm("https://10.0.0.5"), "amocrm.base_url"),
        (amocrm("http://acme.amocrm.ru"), "amocrm.base_url"),
        (amocrm("https://[::1]:8443"), "amocrm.base_url"),
        // A name that slips past the name rules, and resolves to loopback.
        (amocrm("https://localhost.:8443"), "amocrm.base_url"),
        (
            bitrix24("https://b24.example.ru", "https://127.0.0.1"),
            "bitrix24.oauth_url",
        ),
        (
            bitrix24("https://192.168.0.10", "https://oauth.bitrix.info"),
            "bitrix24.portal_url",
        ),
        (verbox("https://172.16.0.1/json/v1.0"), "verbox.rest_url"),
    ] {
        let answer = server.demo("POST", "/api/integrations", Some(body)).await;
        assert_eq!(answer.status, 400, "{}", answer.json);
        let message = answer.json["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{message}");
    }
    assert_eq!(
        server.demo("GET", "/api/integrations", None).await.json["items"]
            .as_array()
            .unwrap()
            .len(),
        shared::app::demo::INTEGRATION_IDS.len(),
        "none was kept: only the demo's"
    );
}

#[tokio::test]
async fn a_development_server_allows_local_stand_ins() {
    let server = start().await;
    let answer = server
        .demo(
            "POST",
            "/api/integrations",
            Some(amocrm("http://127.0.0.1:4000")),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.json);
}

#[tokio::test]
async fn an_internal_address_stored_before_the_rule_is_never_called() {
    // Settings written when the rule did not exist (or by hand) point at a service inside.
    let inside = Amocrm::start(Config::default()).await;
    let server = start_strict().await;
    let mut integration: shared::domain::integration::Integration = server
        .store
        .entity(shared::app::demo::AMOCRM_INTEGRATION_ID)
        .await
        .unwrap()
        .unwrap();
    integration.amocrm.as_mut().unwrap().base_url = inside.base_url().to_owned();
    integration.amocrm.as_mut().unwrap().client_id = Some("c".into());
    server.store.put_entity(&integration).await.unwrap();
    // Connected, as if before the rule: a call with its token must still not go inside.
    let tokens = shared::domain::oauth::Tokens::connected(
        integration.id.clone(),
        integration.account_id.clone(),
        shared::domain::oauth::Grant {
            access_token: shared::domain::secret::Secret::new("a"),
            refresh_token: Some(shared::domain::secret::Secret::new("r")),
            expires_in: None,
        },
        chrono::Utc::now(),
    );
    server.store.connect(&tokens).await.unwrap();
    let fields = server
        .demo(
            "GET",
            &format!("/api/integrations/{}/amocrm/fields", integration.id),
            None,
        )
        .await;
    assert_eq!(fields.status, 400, "{}", fields.json);
    let message = fields.json["message"].as_str().unwrap();
    assert!(message.contains("must be an https URL"), "{message}");
    assert_eq!(
        inside.calls("GET /api/v4/leads/custom_fields") + inside.calls("POST /oauth2/access_token"),
        0,
        "no request went inside"
    );
}
