//! Verbox over HTTP, as a user sets it up: an integration with its REST token and offline
//! toggle, dialogs and offline questions posted to the URLs it hands out, a dialog without
//! messages completed by the worker from the (stand-in) REST API.

use chatsource_tests::server::{TestServer, start};
use chatsource_tests::verbox::{Mode, TOKEN, Verbox};
use serde_json::{Value, json};
use std::time::Duration;

fn body(name: &str) -> Vec<u8> {
    std::fs::read(chatsource_tests::server::events_dir().join(format!("verbox/bodies/{name}")))
        .unwrap()
}

async fn create(server: &TestServer, verbox: Value) -> Value {
    let created = server
        .demo(
            "POST",
            "/api/integrations",
            Some(json!({"provider": "verbox", "name": "Verbox", "default_campaign_id": "cmp_demo_default",
                        "messenger_mapping": {"telegram": {"campaign_id": "cmp_demo_telegram"}},
                        "verbox": verbox})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    created.json
}

async fn appeal_of(server: &TestServer, integration: &Value) -> Value {
    let id = integration["id"].as_str().unwrap();
    server
        .demo("GET", &format!("/api/appeals?integration_id={id}"), None)
        .await
        .json["items"][0]
        .clone()
}

#[tokio::test]
async fn a_dialog_without_messages_is_completed_by_the_worker_from_the_rest_api() {
    let server = start().await;
    let rest = Verbox::start(Mode::Answer).await;
    let integration = create(
        &server,
        json!({"rest_token": TOKEN, "rest_url": rest.rest_url}),
    )
    .await;
    assert_eq!(
        integration["verbox"]["rest_token"], "set",
        "the token is write-only"
    );
    let chats = integration["webhook_urls"]["chats"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        integration["webhook_urls"].get("offline").is_none(),
        "no offline URL while the toggle is off"
    );

    let posted = server.post_raw(&chats, body("no_transcript.json")).await;
    assert_eq!(posted.status, 200, "{}", posted.json);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let appeal = loop {
        let appeal = appeal_of(&server, &integration).await;
        if appeal["status"] == "complete" || std::time::Instant::now() > deadline {
            break appeal;
        }
        assert_eq!(appeal["status"], "pending_enrichment", "{appeal:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(appeal["status"], "complete", "{appeal:#}");
    assert_eq!(appeal["messages"].as_array().unwrap().len(), 3);
    assert_eq!(appeal["contact"]["phones"], json!(["+79260001122"]));
    assert_eq!(rest.calls(), 1);
}

#[tokio::test]
async fn the_offline_url_exists_while_the_toggle_is_on_and_offline_questions_become_requests() {
    let server = start().await;
    let integration = create(&server, json!({"offline_requests": true})).await;
    let offline = integration["webhook_urls"]["offline"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = server.post_raw(&offline, body("offline.json")).await;
    assert_eq!(answer.status, 200);
    let appeal = appeal_of(&server, &integration).await;
    assert_eq!(appeal["kind"], "offline_request");
    assert_eq!(appeal["status"], "complete");

    let id = integration["id"].as_str().unwrap();
    let off = server
        .demo(
            "PATCH",
            &format!("/api/integrations/{id}"),
            Some(json!({"verbox": {"offline_requests": false}})),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.json);
    assert!(off.json["webhook_urls"].get("offline").is_none());
    let refused = server.post_raw(&offline, body("offline.json")).await;
    assert_eq!(refused.status, 404);
}

#[tokio::test]
async fn the_rest_token_is_kept_across_patches_and_plain_http_to_a_remote_host_is_refused() {
    let server = chatsource_tests::server::start_strict().await;
    let integration = create(&server, json!({"rest_token": "secret-1"})).await;
    let id = integration["id"].as_str().unwrap();
    let renamed = server
        .demo(
            "PATCH",
            &format!("/api/integrations/{id}"),
            Some(json!({"name": "Verbox 2", "verbox": {"rest_token": "set"}})),
        )
        .await;
    assert_eq!(renamed.json["verbox"]["rest_token"], "set");
    let cleared = server
        .demo(
            "PATCH",
            &format!("/api/integrations/{id}"),
            Some(json!({"verbox": {"rest_token": null}})),
        )
        .await;
    assert_eq!(cleared.json["verbox"]["rest_token"], "unset");
    let insecure = server
        .demo(
            "PATCH",
            &format!("/api/integrations/{id}"),
            Some(json!({"verbox": {"rest_url": "http://admin.verbox.ru/json/v1.0"}})),
        )
        .await;
    assert_eq!(insecure.status, 400);
    assert!(insecure.json["message"].as_str().unwrap().contains("https"));
    let jivo_block = server
        .demo(
            "PATCH",
            &format!("/api/integrations/{id}"),
            Some(json!({"jivo": {"channels": {}}})),
        )
        .await;
    assert_eq!(
        jivo_block.status, 400,
        "a Verbox integration takes no jivo block"
    );
}

#[tokio::test]
async fn a_dialog_whose_custom_data_carries_our_session_is_attributed_to_the_visit() {
    let server = start().await;
    // The visit, as the site script records it.
    let visit = server
        .client
        .post(format!("{}/t/site_demo_shop/sessions", server.base))
        .header("origin", "https://shop.example.ru")
        .body(r#"{"url": "https://shop.example.ru/?utm_source=yandex&utm_medium=cpc&utm_campaign=spring_sale&yclid=42"}"#)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let session_id = visit["session_id"].as_str().unwrap().to_owned();

    // The dialog Verbox sends, with the id our script put in the client's custom data.
    let mut dialog: Value = serde_json::from_slice(&body("chat_finished.json")).unwrap();
    dialog["data"]["client"]["customData"]["chatsource_session"] = json!(session_id);
    let url = format!(
        "{}/hooks/verbox/{}/{}/chats",
        server.base,
        shared::app::demo::VERBOX_INTEGRATION_ID,
        shared::app::demo::VERBOX_SECRET
    );
    assert_eq!(
        server
            .post_raw(&url, serde_json::to_vec(&dialog).unwrap())
            .await
            .status,
        200
    );
    let appeal = &server
        .demo("GET", "/api/appeals?provider=verbox", None)
        .await
        .json["items"][0];
    assert_eq!(appeal["attribution"]["via"], "session", "{appeal:#}");
    assert_eq!(appeal["attribution"]["campaign_id"], "cmp_demo_spring");
    assert_eq!(appeal["attribution"]["session_lookup"]["source"], "payload");
    assert_eq!(appeal["session"]["click_ids"], json!({"yclid": "42"}));
}
