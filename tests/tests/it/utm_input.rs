//! Tags as they really come (issue 13): left encoded or padded, in any case, in the page URL's
//! query or fragment; and sources' rules beyond UTM (click ids, referrer domains) over the API.

use chatsource_tests::server::{TestServer, jivo_body_with, start};
use serde_json::{Value, json};

/// A finished Jivo chat that is not of our sessions, with the session's two tag fields and
/// the chat page's URL as given.
fn chat(chat_id: u64, pipe: &str, utm_json: Value, page_url: &str) -> Vec<u8> {
    jivo_body_with(
        "chat_finished",
        &[
            ("/chat_id", json!(chat_id)),
            ("/user_token", json!(format!("not-ours-{chat_id}"))),
            ("/visitor/number", json!(format!("v{chat_id}"))),
            ("/session/utm", json!(pipe)),
            ("/session/utm_json", utm_json),
            ("/page/url", json!(page_url)),
        ],
    )
}

/// The appeal the chat made, once posted.
async fn appeal_of(server: &TestServer, body: Vec<u8>) -> Value {
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let provider_ref = format!("{}:{}", doc["widget_id"].as_str().unwrap(), doc["chat_id"]);
    let answer = server.post_raw(&server.jivo_url(), body).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let list = server.demo("GET", "/api/appeals?limit=100", None).await;
    assert_eq!(list.status, 200, "{}", list.json);
    let items = list.json["items"].as_array().unwrap();
    items
        .iter()
        .find(|a| a["provider_ref"] == provider_ref.as_str())
        .unwrap_or_else(|| panic!("no appeal {provider_ref} in {items:?}"))
        .clone()
}

fn attributed(a: &Value) -> (&str, &str, &str) {
    let at = &a["attribution"];
    (
        at["via"].as_str().unwrap_or_default(),
        at["campaign_id"].as_str().unwrap_or_default(),
        at["source_id"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn padded_encoded_tags_only_in_the_page_url_land_on_their_campaign() {
    let server = start().await;
    let a = appeal_of(
        &server,
        chat(
            1,
            "",
            json!({}),
            "https://shop.example.ru/catalog?utm_source=%20YANDEX%20&utm_medium=cpc&utm_campaign=spring_sale",
        ),
    )
    .await;
    assert_eq!(a["session"]["utm"]["source"], "YANDEX", "{a}");
    assert_eq!(
        attributed(&a),
        ("utm", "cmp_demo_spring", "src_demo_yandex"),
        "{}",
        a["attribution"]
    );
}

#[tokio::test]
async fn tags_only_in_the_fragment_land_on_their_campaign() {
    let server = start().await;
    let a = appeal_of(
        &server,
        chat(
            2,
            "",
            json!({}),
            "https://shop.example.ru/#utm_source=google&utm_medium=cpc&_openstat=x;y;z",
        ),
    )
    .await;
    assert_eq!(
        attributed(&a),
        ("utm", "cmp_demo_google", "src_demo_google"),
        "{}",
        a["attribution"]
    );
}

#[tokio::test]
async fn cyrillic_tags_in_another_case_and_left_encoded_match_the_campaign() {
    let server = start().await;
    let made = server
        .demo(
            "POST",
            "/api/campaigns",
            Some(
                json!({"name": "Ретаргетинг весной", "source_id": "src_demo_social",
                        "utm": {"source": "VK", "campaign": "Ретаргетинг Весна"}}),
            ),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.json);
    // Jivo's pipe string as the landing URL had it: lower case, `+` for the space.
    let a = appeal_of(
        &server,
        chat(
            3,
            "source=vk|medium=social|campaign=ретаргетинг+весна",
            json!({}),
            "https://shop.example.ru/catalog",
        ),
    )
    .await;
    assert_eq!(a["session"]["utm"]["campaign"], "ретаргетинг весна");
    assert_eq!(
        attributed(&a),
        ("utm", made.json["id"].as_str().unwrap(), "src_demo_social"),
        "{}",
        a["attribution"]
    );
    // And utm_json values left percent-encoded, in capitals.
    let a = appeal_of(
        &server,
        chat(
            4,
            "",
            json!({"source": "%20vk%20", "campaign": "%D0%A0%D0%95%D0%A2%D0%90%D0%A0%D0%93%D0%95%D0%A2%D0%98%D0%9D%D0%93+%D0%92%D0%95%D0%A1%D0%9D%D0%90"}),
            "https://shop.example.ru/catalog",
        ),
    )
    .await;
    assert_eq!(a["session"]["utm"]["campaign"], "РЕТАРГЕТИНГ ВЕСНА");
    assert_eq!(
        attributed(&a).1,
        made.json["id"].as_str().unwrap(),
        "{}",
        a["attribution"]
    );
}

#[tokio::test]
async fn a_sources_click_ids_and_referrer_domains_are_kept_normalised_and_bad_ones_refused() {
    let server = start().await;
    let demo = server
        .demo("GET", "/api/sources/src_demo_google", None)
        .await;
    assert_eq!(
        demo.json["click_ids"],
        json!(["gclid", "gbraid", "wbraid"]),
        "the demo's Google Ads"
    );
    let made = server
        .demo(
            "POST",
            "/api/sources",
            Some(json!({"name": "Bing", "utm_sources": ["bing"],
                        "click_ids": [" MSCLKID ", "msclkid", ""],
                        "referrer_domains": ["https://www.Bing.com/search?q=x", "bing.com", " cc.bingj.com "]})),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.json);
    assert_eq!(made.json["click_ids"], json!(["msclkid"]));
    assert_eq!(
        made.json["referrer_domains"],
        json!(["bing.com", "cc.bingj.com"])
    );
    let path = format!("/api/sources/{}", made.json["id"].as_str().unwrap());

    // A patch of one list leaves the other as it was.
    let patched = server
        .demo(
            "PATCH",
            &path,
            Some(json!({"referrer_domains": ["https://duckduckgo.com/"]})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.json);
    assert_eq!(patched.json["referrer_domains"], json!(["duckduckgo.com"]));
    assert_eq!(patched.json["click_ids"], json!(["msclkid"]));

    let too_many: Vec<String> = (0..51).map(|i| format!("id_{i}")).collect();
    for (body, field) in [
        (json!({"click_ids": ["g clid"]}), "click_ids"),
        (json!({"click_ids": ["gclid="]}), "click_ids"),
        (json!({"click_ids": too_many}), "click_ids"),
        (
            json!({"referrer_domains": ["not a domain"]}),
            "referrer_domains",
        ),
        (json!({"referrer_domains": ["vk"]}), "referrer_domains"),
        (
            json!({"referrer_domains": ["https://10.0.0.1/"]}),
            "referrer_domains",
        ),
    ] {
        let refused = server.demo("PATCH", &path, Some(body.clone())).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.json);
        assert_eq!(refused.json["field"], field, "{body}: {}", refused.json);
        let mut created = body.clone();
        created["name"] = json!("Refused");
        let refused = server.demo("POST", "/api/sources", Some(created)).await;
        assert_eq!(
            (refused.status, refused.json["field"].as_str()),
            (400, Some(field)),
            "{body}: {}",
            refused.json
        );
    }
    let kept = server.demo("GET", &path, None).await;
    assert_eq!(kept.json["referrer_domains"], json!(["duckduckgo.com"]));
}
