//! The product over HTTP, as a user drives it: Jivo webhooks in, appeals out through the
//! management API, on a real `chatsource serve`.

use chatsource_tests::server::{ADMIN_KEY, Answer, TestServer, jivo_body, jivo_body_with, start};
use serde_json::{Value, json};

async fn appeals(server: &TestServer, query: &str) -> Vec<Value> {
    let answer = server
        .demo("GET", &format!("/api/appeals{query}"), None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.json["items"].as_array().unwrap().clone()
}

fn ok(answer: &Answer) {
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json, json!({"result": "ok"}));
}

#[tokio::test]
async fn a_finished_jivo_chat_posted_over_http_is_listed_as_a_complete_attributed_appeal() {
    let server = start().await;
    ok(&server
        .post_raw(&server.jivo_url(), jivo_body("chat_finished"))
        .await);

    let items = appeals(&server, "").await;
    assert_eq!(items.len(), 1);
    let a = &items[0];
    assert_eq!(a["provider"], "jivo");
    assert_eq!(a["kind"], "chat");
    assert_eq!(a["channel"], "site");
    assert_eq!(a["status"], "complete");
    assert_eq!(a["created_at"], "2024-06-03T10:20:00Z");
    assert_eq!(a["contact"]["name"], "Мария Ковалёва");
    assert_eq!(a["contact"]["phones"], json!(["+79161234567"]));
    assert_eq!(a["contact"]["emails"], json!(["m.kovaleva@example.org"]));
    let texts: Vec<_> = a["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["author"].clone())
        .collect();
    assert_eq!(
        texts,
        [json!("visitor"), json!("employee"), json!("visitor")]
    );
    assert_eq!(a["employee"]["id"], "emp_demo_oleg");
    assert_eq!(a["employee"]["name"], "Олег");
    assert_eq!(a["session"]["utm"]["campaign"], "spring_sale");
    assert_eq!(a["attribution"]["via"], "utm");
    assert_eq!(a["attribution"]["campaign_id"], "cmp_demo_spring");
    assert_eq!(a["attribution"]["source_id"], "src_demo_yandex");
    assert_eq!(a["attribution"]["site_id"], "site_demo_shop");

    let one = server
        .demo(
            "GET",
            &format!("/api/appeals/{}", a["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(&one.json, a);
}

#[tokio::test]
async fn every_event_of_many_chats_and_their_repeats_posted_at_once_make_one_merged_appeal_each() {
    let server = start().await;
    let url = server.jivo_url();
    let mut bodies = Vec::new();
    for chat in 0..8u64 {
        let id = json!(700_000 + chat);
        let phone = json!(format!("8 (903) 444-{:02}-{:02}", chat, chat));
        let accepted = jivo_body_with("chat_accepted", &[("/chat_id", id.clone())]);
        let updated = jivo_body_with(
            "chat_updated",
            &[("/chat_id", id.clone()), ("/visitor/phone", phone)],
        );
        let finished = jivo_body_with("chat_finished", &[("/chat_id", id)]);
        // Each event, and a repeat of two of them, all in flight at once.
        bodies.extend([
            finished.clone(),
            updated.clone(),
            accepted,
            finished,
            updated,
        ]);
    }
    let posts = bodies.into_iter().map(|b| server.post_raw(&url, b));
    for answer in futures::future::join_all(posts).await {
        ok(&answer);
    }
    let items = appeals(&server, "").await;
    assert_eq!(items.len(), 8, "one appeal per chat");
    for a in &items {
        assert_eq!(a["status"], "complete", "{a:#}");
        assert_eq!(a["messages"].as_array().unwrap().len(), 3, "{a:#}");
        assert_eq!(
            a["contact"]["phones"].as_array().unwrap().len(),
            2,
            "both phones kept: {a:#}"
        );
    }
}

#[tokio::test]
async fn accepted_then_updated_then_finished_leave_one_complete_appeal_with_the_merged_contact() {
    let server = start().await;
    for event in ["chat_accepted", "chat_updated", "chat_finished"] {
        ok(&server.post_raw(&server.jivo_url(), jivo_body(event)).await);
        let items = appeals(&server, "").await;
        assert_eq!(items.len(), 1, "after {event}");
        let expected = if event == "chat_finished" {
            "complete"
        } else {
            "in_progress"
        };
        assert_eq!(items[0]["status"], expected, "after {event}");
    }
    let a = &appeals(&server, "").await[0];
    assert_eq!(a["contact"]["name"], "Мария Ковалёва");
    assert_eq!(a["contact"]["phones"], json!(["+79161234567"]));
    assert_eq!(a["contact"]["emails"], json!(["m.kovaleva@example.org"]));
}

#[tokio::test]
async fn appeals_filter_by_provider_channel_campaign_and_time_and_page_with_a_cursor() {
    let server = start().await;
    for chat_id in 1..=5 {
        let body = jivo_body_with(
            "chat_finished",
            &[
                ("/chat_id", json!(chat_id)),
                (
                    "/chat/messages/1/timestamp",
                    json!(1717400000 + chat_id * 100),
                ),
            ],
        );
        ok(&server.post_raw(&server.jivo_url(), body).await);
    }
    ok(&server
        .post_raw(&server.jivo_url(), jivo_body("telegram_chat_finished"))
        .await);
    ok(&server
        .post_raw(&server.jivo_url(), jivo_body("call_event"))
        .await);

    assert_eq!(appeals(&server, "").await.len(), 7);
    assert_eq!(appeals(&server, "?channel=telegram").await.len(), 1);
    assert_eq!(
        appeals(&server, "?campaign_id=cmp_demo_spring").await.len(),
        5
    );
    assert_eq!(
        appeals(&server, "?source_id=src_demo_google").await.len(),
        1
    );
    assert_eq!(appeals(&server, "?provider=verbox").await.len(), 0);
    // Chats 1..=5 start at 1717400100..1717400500 (their earliest message).
    let window = appeals(
        &server,
        "?from=2024-06-03T07:36:40Z&to=2024-06-03T07:41:40Z",
    )
    .await;
    assert_eq!(window.len(), 3, "{window:#?}");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?campaign_id=cmp_demo_spring&limit=2&cursor={c}"),
            None => "?campaign_id=cmp_demo_spring&limit=2".into(),
        };
        let page = server
            .demo("GET", &format!("/api/appeals{query}"), None)
            .await
            .json;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|a| {
            (
                a["created_at"].as_str().unwrap().to_owned(),
                a["id"].clone(),
            )
        }));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "every appeal exactly once");
    assert!(
        seen.windows(2).all(|w| w[0].0 >= w[1].0),
        "newest first: {seen:?}"
    );
}

#[tokio::test]
async fn bad_listing_parameters_get_a_400_that_says_why() {
    let server = start().await;
    for (query, says) in [
        ("?from=yesterday", "RFC 3339"),
        ("?limit=0", "limit"),
        ("?provider=icq", "provider"),
        ("?channel=tele%20gram", "channel"),
        ("?cursor=abc", "cursor"),
        (
            "?from=2024-06-04T00:00:00Z&to=2024-06-03T00:00:00Z",
            "before",
        ),
    ] {
        let answer = server
            .demo("GET", &format!("/api/appeals{query}"), None)
            .await;
        assert_eq!(answer.status, 400, "{query}");
        assert_eq!(answer.json["error"], "invalid_request");
        assert!(
            answer.json["message"].as_str().unwrap().contains(says),
            "{query}: {}",
            answer.json
        );
    }
}

#[tokio::test]
async fn directories_and_integrations_are_created_read_changed_and_deleted() {
    let server = start().await;
    let site = server
        .demo(
            "POST",
            "/api/sites",
            Some(json!({"name": "Blog", "domain": "https://Blog.Example.ru/"})),
        )
        .await;
    assert_eq!(site.status, 201, "{}", site.json);
    assert_eq!(site.json["domain"], "blog.example.ru");
    let site_id = site.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        site.json["script"],
        json!(format!(
            r#"<script async src="{}/t/{site_id}/script.js"></script>"#,
            server.base
        )),
        "a new site shows the script to paste"
    );
    let source = server
        .demo(
            "POST",
            "/api/sources",
            Some(json!({"name": "VK Ads", "utm_sources": ["vk"]})),
        )
        .await;
    let source_id = source.json["id"].as_str().unwrap().to_owned();
    let campaign = server
        .demo(
            "POST",
            "/api/campaigns",
            Some(
                json!({"name": "VK retargeting", "source_id": source_id, "site_id": site_id,
                        "utm": {"source": "vk", "medium": "social"}}),
            ),
        )
        .await;
    assert_eq!(campaign.status, 201, "{}", campaign.json);
    let campaign_id = campaign.json["id"].as_str().unwrap().to_owned();
    let employee = server
        .demo(
            "POST",
            "/api/employees",
            Some(json!({"name": "Анна", "email": "Anna@Shop.Example.ru"})),
        )
        .await;
    assert_eq!(employee.json["email"], "anna@shop.example.ru");

    let integration = server
        .demo(
            "POST",
            "/api/integrations",
            Some(json!({"provider": "jivo", "name": "Jivo blog", "traffic_type": "campaign",
                        "default_campaign_id": campaign_id,
                        "default_employee_id": employee.json["id"],
                        "messenger_mapping": {"whatsapp": {"source_id": source_id, "site_id": site_id}},
                        "jivo": {"channels": {"900": "whatsapp"}}})),
        )
        .await;
    assert_eq!(integration.status, 201, "{}", integration.json);
    assert!(
        integration.json.get("secret").is_none(),
        "the secret is never a field"
    );
    // Two sites and no default site: every site's script, none singled out.
    assert_eq!(
        integration.json["site_scripts"].as_array().unwrap().len(),
        2
    );
    assert_eq!(integration.json["site_script"], json!(null));
    let hook = integration.json["webhook_urls"]["chats"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        hook.starts_with(&format!("{}/hooks/jivo/int_", server.base)),
        "{hook}"
    );

    // The new URL works at once, and its chats take the new integration's settings.
    // No agents in the chat: the integration's default employee answers for it.
    let body = jivo_body_with(
        "telegram_chat_finished",
        &[("/widget_id", json!("900")), ("/agents", json!([]))],
    );
    ok(&server.post_raw(&hook, body).await);
    let integration_id = integration.json["id"].as_str().unwrap();
    let items = appeals(&server, &format!("?integration_id={integration_id}")).await;
    assert_eq!(items[0]["channel"], "whatsapp");
    assert_eq!(items[0]["attribution"]["via"], "messenger_mapping");
    assert_eq!(items[0]["attribution"]["source_id"], json!(source_id));
    assert_eq!(items[0]["employee"]["name"], "Анна");
    assert_eq!(items[0]["employee"]["matched_by"], "default");

    let listed = server.demo("GET", "/api/campaigns", None).await;
    assert!(
        listed.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == json!(campaign_id))
    );
    let renamed = server
        .demo(
            "PATCH",
            &format!("/api/campaigns/{campaign_id}"),
            Some(json!({"name": "VK autumn", "utm": {"medium": null}})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.json);
    assert_eq!(renamed.json["name"], "VK autumn");
    assert_eq!(renamed.json["utm"], json!({"source": "vk"}));
    assert_eq!(
        renamed.json["source_id"],
        json!(source_id),
        "PATCH keeps what it does not name"
    );

    assert_eq!(
        server
            .demo("DELETE", &format!("/api/sites/{site_id}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        server
            .demo("GET", &format!("/api/sites/{site_id}"), None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn invalid_settings_are_refused_with_the_reason() {
    let server = start().await;
    for (path, body, says) in [
        (
            "/api/sites",
            json!({"name": "x", "domain": "nowhere"}),
            "not a domain",
        ),
        (
            "/api/sites",
            json!({"name": "x", "domain": "a.ru", "color": "red"}),
            "unknown field",
        ),
        (
            "/api/campaigns",
            json!({"name": "x", "source_id": "src_missing"}),
            "no source src_missing",
        ),
        (
            "/api/campaigns",
            json!({"name": "x", "utm": {"sourse": "vk"}}),
            "unknown field",
        ),
        (
            "/api/employees",
            json!({"name": "x", "email": "not-an-email"}),
            "not an e-mail",
        ),
        (
            "/api/integrations",
            json!({"provider": "jivo", "name": "j", "default_campaign_id": "cmp_nope"}),
            "no campaign",
        ),
        (
            "/api/integrations",
            json!({"provider": "icq", "name": "j"}),
            "unknown variant",
        ),
        (
            "/api/integrations",
            json!({"provider": "jivo", "name": "j", "messenger_mapping": {"telegram": {}}}),
            "names a campaign_id",
        ),
        (
            "/api/integrations",
            json!({"provider": "jivo", "name": "   "}),
            "needs a name",
        ),
    ] {
        let answer = server.demo("POST", path, Some(body.clone())).await;
        assert_eq!(answer.status, 400, "{path} {body}: {}", answer.json);
        assert_eq!(answer.json["error"], "invalid_request");
        assert!(
            answer.json["message"].as_str().unwrap().contains(says),
            "{path} {body}: {}",
            answer.json
        );
    }
    let not_json = server
        .client
        .post(format!("{}/api/sites", server.base))
        .bearer_auth(chatsource_tests::server::API_KEY)
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
}

#[tokio::test]
async fn one_accounts_key_never_reaches_another_accounts_data() {
    let server = start().await;
    ok(&server
        .post_raw(&server.jivo_url(), jivo_body("chat_finished"))
        .await);
    let demo_appeal = appeals(&server, "").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let created = server
        .api(
            ADMIN_KEY,
            "POST",
            "/api/accounts",
            Some(json!({"name": "Other shop"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let other = created.json["api_key"].as_str().unwrap().to_owned();

    let theirs = server.api(&other, "GET", "/api/appeals", None).await;
    assert_eq!(theirs.json["items"], json!([]));
    assert_eq!(
        server
            .api(&other, "GET", &format!("/api/appeals/{demo_appeal}"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        server.api(&other, "GET", "/api/sites", None).await.json["items"],
        json!([])
    );
    for path in [
        "/api/sites/site_demo_shop",
        "/api/integrations/int_demo_jivo",
        "/api/campaigns/cmp_demo_spring",
    ] {
        assert_eq!(
            server.api(&other, "GET", path, None).await.status,
            404,
            "{path}"
        );
        assert_eq!(
            server
                .api(&other, "PATCH", path, Some(json!({"name": "mine"})))
                .await
                .status,
            404,
            "{path}"
        );
        assert_eq!(
            server.api(&other, "DELETE", path, None).await.status,
            404,
            "{path}"
        );
    }
    // Nor can they point their settings at the demo account's records.
    let borrowed = server
        .api(
            &other,
            "POST",
            "/api/campaigns",
            Some(json!({"name": "x", "source_id": "src_demo_yandex"})),
        )
        .await;
    assert_eq!(borrowed.status, 400);
    let raw = server
        .api(
            &other,
            "GET",
            "/api/raw-events?integration_id=int_demo_jivo",
            None,
        )
        .await;
    assert_eq!(raw.status, 404);
}

#[tokio::test]
async fn the_api_wants_a_valid_key_and_account_creation_wants_the_admin_key() {
    let server = start().await;
    let no_key = server
        .client
        .get(format!("{}/api/appeals", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    let wrong = server
        .api("cs_not_a_key", "GET", "/api/appeals", None)
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json["error"], "unauthorized");
    let not_admin = server
        .demo("POST", "/api/accounts", Some(json!({"name": "x"})))
        .await;
    assert_eq!(not_admin.status, 401);
}

#[tokio::test]
async fn a_switched_off_integration_refuses_webhooks_and_stores_nothing() {
    let server = start().await;
    let off = server
        .demo(
            "PATCH",
            "/api/integrations/int_demo_jivo",
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.json);
    let refused = server
        .post_raw(&server.jivo_url(), jivo_body("chat_finished"))
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json["error"], "integration_inactive");
    assert_eq!(appeals(&server, "").await.len(), 0);
    let raw = server
        .demo("GET", "/api/raw-events?integration_id=int_demo_jivo", None)
        .await;
    assert_eq!(raw.json["items"], json!([]));
}

#[tokio::test]
async fn webhook_urls_do_not_tell_unknown_integrations_from_wrong_secrets() {
    let server = start().await;
    let wrong = server
        .post_raw(
            &format!("{}/hooks/jivo/int_demo_jivo/guess", server.base),
            jivo_body("chat_finished"),
        )
        .await;
    let unknown = server
        .post_raw(
            &format!("{}/hooks/jivo/int_other/demo_jivo_secret", server.base),
            jivo_body("chat_finished"),
        )
        .await;
    assert_eq!((wrong.status, unknown.status), (404, 404));
    assert_eq!(wrong.json, unknown.json);
    let huge = server
        .post_raw(&server.jivo_url(), vec![b' '; 1024 * 1024 + 1])
        .await;
    assert_eq!(huge.status, 413);
    assert_eq!(huge.json["error"], "payload_too_large");
}

#[tokio::test]
async fn an_unreadable_body_is_quarantined_and_a_replay_applies_current_settings() {
    let server = start().await;
    let bad = server
        .post_raw(&server.jivo_url(), jivo_body("malformed"))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json["error"], "invalid_payload");
    let quarantine = server.demo("GET", "/api/raw-events", None).await.json;
    let kept = &quarantine["items"][0];
    assert_eq!(kept["status"], "quarantined");
    assert!(kept["reason"].as_str().unwrap().contains("not JSON"));
    let one = server
        .demo(
            "GET",
            &format!("/api/raw-events/{}", kept["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        one.json["body"].as_str().unwrap().as_bytes(),
        jivo_body("malformed")
    );

    // A kept event is replayed against the settings of now: remap Telegram, replay, and the
    // appeal moves to the new campaign.
    ok(&server
        .post_raw(&server.jivo_url(), jivo_body("telegram_chat_finished"))
        .await);
    let before = &appeals(&server, "?channel=telegram").await[0];
    assert_eq!(before["attribution"]["campaign_id"], "cmp_demo_telegram");
    let remap = json!({"messenger_mapping": {"telegram": {"campaign_id": "cmp_demo_google"}}});
    assert_eq!(
        server
            .demo("PATCH", "/api/integrations/int_demo_jivo", Some(remap))
            .await
            .status,
        200
    );
    let events = server
        .demo("GET", "/api/raw-events?integration_id=int_demo_jivo", None)
        .await
        .json;
    let processed = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["status"] == "processed")
        .unwrap();
    let replay = server
        .demo(
            "POST",
            &format!(
                "/api/raw-events/{}/replay",
                processed["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(replay.status, 200, "{}", replay.json);
    assert_eq!(replay.json["appeal_ids"][0], before["id"]);
    let after = &appeals(&server, "?channel=telegram").await[0];
    assert_eq!(after["attribution"]["campaign_id"], "cmp_demo_google");
    assert_eq!(after["id"], before["id"]);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_json() {
    let server = start().await;
    let api = server.demo("GET", "/api/nowhere", None).await;
    assert_eq!(api.status, 404);
    assert_eq!(api.json["error"], "not_found");
    assert_eq!(server.demo("PUT", "/api/appeals", None).await.status, 405);
    assert_eq!(server.demo("GET", "/api/sites/a/b", None).await.status, 404);
    let get_hook = server.client.get(server.jivo_url()).send().await.unwrap();
    assert_eq!(get_hook.status(), 405);
}

#[tokio::test]
async fn a_webhook_kept_but_never_handled_is_listed_and_finished_by_the_hourly_run() {
    use shared::domain::raw_event::{RawEvent, RawStatus};
    let server = start().await;
    // Kept ten minutes ago by a process that was killed before handling it.
    let body = jivo_body_with("chat_finished", &[("/chat_id", json!(424242))]);
    let integration = shared::domain::ids::IntegrationId::parse("int_demo_jivo").unwrap();
    let raw = RawEvent {
        id: RawEvent::id_for(&integration, "chats", &body),
        account_id: shared::domain::ids::AccountId::parse("acc_demo").unwrap(),
        integration_id: integration,
        provider: shared::domain::appeal::Provider::Jivo,
        hook: "chats".into(),
        content_type: Some("application/json".into()),
        received_at: chrono::Utc::now() - chrono::Duration::minutes(10),
        size: body.len(),
        status: RawStatus::Received,
        reason: None,
        appeal_ids: Vec::new(),
        attempts: 0,
        handled_at: None,
    };
    server.store.keep_raw_event(&raw, &body).await.unwrap();
    let listed = server
        .demo("GET", "/api/raw-events?status=received", None)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.json);
    assert_eq!(
        listed.json["items"][0]["id"],
        json!(raw.id),
        "{}",
        listed.json
    );
    assert!(appeals(&server, "").await.is_empty());

    let app = chatsource_tests::server::local_app(server.store.clone())
        .with_queue(chatsource::embedded_queue(&server.store));
    let report =
        maintenance::run(&app, shared::crm::Deadline::after(maintenance::INVOCATION)).await;
    assert_eq!(report.finished, 1, "{report:?}");
    let items = appeals(&server, "").await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"], "complete");
    let now_listed = server
        .demo("GET", "/api/raw-events?status=received", None)
        .await;
    assert_eq!(now_listed.json["items"], json!([]));
    let event = server
        .demo("GET", &format!("/api/raw-events/{}", raw.id), None)
        .await;
    assert_eq!(event.json["status"], "processed");
}

#[tokio::test]
async fn after_a_refused_11_mb_body_the_clients_next_request_still_gets_through() {
    let server = start().await;
    // One connection: the next request goes where the refused one went, unless told not to.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let big = vec![b'x'; 11 * 1024 * 1024];
    let refused = client
        .post(server.jivo_url())
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 413);
    assert_eq!(
        refused.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
    let next = client
        .post(server.jivo_url())
        .header("content-type", "application/json")
        .body(jivo_body("chat_finished"))
        .send()
        .await
        .expect("the next request on this client is answered");
    assert_eq!(next.status(), 200);
}
