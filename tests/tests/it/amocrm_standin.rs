//! The amoCRM stand-in itself, so the product's tests can trust it: OAuth with single-use
//! refresh tokens and amoCRM's error bodies, the HAL shapes of the v4 reads, pagination, the
//! 7 requests/s limit and the injected faults.

use chatsource_tests::amocrm::{Amocrm, Config, OAUTH_PROBLEM};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A limit high enough that only the rate-limit tests meet it.
fn relaxed() -> Config {
    Config {
        rate_limit_per_second: 1000,
        ..Config::default()
    }
}

struct Answer {
    status: u16,
    content_type: String,
    json: Value,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.bytes().await.unwrap();
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap()
    };
    Answer {
        status,
        content_type,
        json,
    }
}

async fn post_token(amo: &Amocrm, body: Value) -> Answer {
    let url = format!("{}/oauth2/access_token", amo.base_url());
    answer(
        reqwest::Client::new()
            .post(url)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn grant(amo: &Amocrm, grant_type: &str, key: &str, value: &str) -> Value {
    let c = amo.config();
    json!({"client_id": c.client_id, "client_secret": c.client_secret, "grant_type": grant_type,
           key: value, "redirect_uri": c.redirect_uri})
}

async fn exchange(amo: &Amocrm, code: &str) -> Answer {
    post_token(amo, grant(amo, "authorization_code", "code", code)).await
}

async fn refresh(amo: &Amocrm, token: &Value) -> Answer {
    let token = token.as_str().unwrap();
    post_token(amo, grant(amo, "refresh_token", "refresh_token", token)).await
}

async fn api(amo: &Amocrm, path: &str, token: Option<&Value>) -> Answer {
    let mut request = reqwest::Client::new().get(format!("{}{path}", amo.base_url()));
    if let Some(token) = token {
        request = request.bearer_auth(token.as_str().unwrap());
    }
    answer(request.send().await.unwrap()).await
}

/// A pair obtained with a fresh authorization code.
async fn authorized(amo: &Amocrm) -> Value {
    let pair = exchange(amo, &amo.authorization_code()).await;
    assert_eq!(pair.status, 200, "{}", pair.json);
    pair.json
}

fn assert_oauth_problem(answer: &Answer, status: u16, hint: &str) {
    assert_eq!(answer.status, status, "{}", answer.json);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(
        answer.json,
        json!({"hint": hint, "title": "Некорректный запрос", "type": OAUTH_PROBLEM,
               "status": status,
               "detail": "В запросе отсутствует ряд параметров или параметры невалидны"})
    );
}

fn assert_unauthorized(answer: &Answer) {
    assert_eq!(answer.status, 401, "{}", answer.json);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(
        answer.json,
        json!({"title": "Unauthorized", "type": "https://httpstatus.es/401", "status": 401,
               "detail": "Invalid user name or password"})
    );
}

#[tokio::test]
async fn an_authorization_code_buys_one_bearer_pair_and_only_once() {
    let amo = Amocrm::start(relaxed()).await;
    let code = amo.authorization_code();
    let pair = exchange(&amo, &code).await;
    assert_eq!(pair.status, 200, "{}", pair.json);
    assert_eq!(pair.content_type, "application/json");
    assert_eq!(pair.json["token_type"], "Bearer");
    assert_eq!(pair.json["expires_in"], 86_400);
    assert!(pair.json["server_time"].as_u64().unwrap() > 1_700_000_000);
    assert!(pair.json["access_token"].as_str().unwrap().len() > 32);
    assert!(pair.json["refresh_token"].as_str().unwrap().len() > 32);
    let account = api(&amo, "/api/v4/account", Some(&pair.json["access_token"])).await;
    assert_eq!(account.status, 200, "{}", account.json);

    let again = exchange(&amo, &code).await;
    assert_oauth_problem(&again, 400, "Authorization code has been revoked");
    let unknown = exchange(&amo, "def50200not-a-code").await;
    assert_oauth_problem(&unknown, 400, "Cannot decrypt the authorization code");
    let late = amo.authorization_code();
    amo.expire_authorization_codes();
    assert_oauth_problem(
        &exchange(&amo, &late).await,
        400,
        "Authorization code has expired",
    );
    assert_eq!(amo.calls("POST /oauth2/access_token"), 4);
    assert_eq!(amo.refreshes(), 0);
}

#[tokio::test]
async fn wrong_client_credentials_or_redirect_uri_are_refused_as_amocrm_refuses_them() {
    let amo = Amocrm::start(relaxed()).await;
    let mut body = grant(
        &amo,
        "authorization_code",
        "code",
        &amo.authorization_code(),
    );

    body["client_id"] = json!("someone-else");
    assert_oauth_problem(
        &post_token(&amo, body.clone()).await,
        400,
        "Check the `client_id` parameter",
    );
    body["client_id"] = json!(amo.config().client_id);

    body["client_secret"] = json!("guessed");
    let wrong_secret = post_token(&amo, body.clone()).await;
    assert_eq!(wrong_secret.status, 401);
    assert_eq!(
        wrong_secret.json,
        json!({"title": "Некорректный клиент", "type": OAUTH_PROBLEM, "status": 401,
               "detail": "Авторизация клиента не прошла"})
    );
    body["client_secret"] = json!(amo.config().client_secret);

    body["redirect_uri"] = json!("https://elsewhere.example/callback");
    assert_oauth_problem(
        &post_token(&amo, body.clone()).await,
        400,
        "Redirect URI is not associated with client",
    );
    body["redirect_uri"] = json!(amo.config().redirect_uri);

    body["grant_type"] = json!("password");
    assert_oauth_problem(
        &post_token(&amo, body.clone()).await,
        400,
        "Check the `grant_type` parameter",
    );
    body["grant_type"] = json!("authorization_code");

    // None of the refusals spent the code.
    assert_eq!(post_token(&amo, body).await.status, 200);
}

#[tokio::test]
async fn a_form_encoded_token_request_is_understood_too() {
    let amo = Amocrm::start(relaxed()).await;
    let c = amo.config();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &c.client_id)
        .append_pair("client_secret", &c.client_secret)
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &amo.authorization_code())
        .append_pair("redirect_uri", &c.redirect_uri)
        .finish();
    let response = reqwest::Client::new()
        .post(format!("{}/oauth2/access_token", amo.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer(response).await.status, 200);
}

#[tokio::test]
async fn each_refresh_token_works_exactly_once_and_kills_its_access_token() {
    let amo = Amocrm::start(relaxed()).await;
    let first = authorized(&amo).await;

    let second = refresh(&amo, &first["refresh_token"]).await;
    assert_eq!(second.status, 200, "{}", second.json);
    assert_eq!(second.json["token_type"], "Bearer");
    assert_ne!(second.json["access_token"], first["access_token"]);
    assert_ne!(second.json["refresh_token"], first["refresh_token"]);
    assert_unauthorized(&api(&amo, "/api/v4/account", Some(&first["access_token"])).await);
    let account = api(&amo, "/api/v4/account", Some(&second.json["access_token"])).await;
    assert_eq!(account.status, 200);

    let reused = refresh(&amo, &first["refresh_token"]).await;
    assert_oauth_problem(&reused, 401, "Token has been revoked");
    let unknown = refresh(&amo, &json!("def50200never-issued")).await;
    assert_oauth_problem(&unknown, 401, "Cannot decrypt the refresh token");

    // The reuse did not take the successor down.
    let account = api(&amo, "/api/v4/account", Some(&second.json["access_token"])).await;
    assert_eq!(account.status, 200);
    let third = refresh(&amo, &second.json["refresh_token"]).await;
    assert_eq!(third.status, 200, "{}", third.json);
    assert_eq!(amo.refreshes(), 2);
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_let_exactly_one_win() {
    let amo = Amocrm::start(relaxed()).await;
    let pair = authorized(&amo).await;
    let attempts = (0..6).map(|_| refresh(&amo, &pair["refresh_token"]));
    let answers = futures::future::join_all(attempts).await;
    let won: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(won.len(), 1);
    for lost in answers.iter().filter(|a| a.status != 200) {
        assert_oauth_problem(lost, 401, "Token has been revoked");
    }
    let account = api(&amo, "/api/v4/account", Some(&won[0].json["access_token"])).await;
    assert_eq!(account.status, 200);
    assert_eq!(amo.refreshes(), 1);
}

#[tokio::test]
async fn revoking_the_integration_stops_every_token_until_a_new_code() {
    let amo = Amocrm::start(relaxed()).await;
    let pair = authorized(&amo).await;
    let long_lived = json!(amo.long_lived_token());
    let pending = amo.authorization_code();
    amo.revoke_all();

    assert_unauthorized(&api(&amo, "/api/v4/account", Some(&pair["access_token"])).await);
    assert_unauthorized(&api(&amo, "/api/v4/account", Some(&long_lived)).await);
    let refused = refresh(&amo, &pair["refresh_token"]).await;
    assert_oauth_problem(&refused, 401, "Token has been revoked");
    assert_oauth_problem(
        &exchange(&amo, &pending).await,
        400,
        "Authorization code has been revoked",
    );

    let again = authorized(&amo).await;
    let account = api(&amo, "/api/v4/account", Some(&again["access_token"])).await;
    assert_eq!(account.status, 200);
    assert_eq!(amo.refreshes(), 0);
}

#[tokio::test]
async fn an_expired_access_token_is_refused_while_its_refresh_token_still_works() {
    let amo = Amocrm::start(relaxed()).await;
    let pair = authorized(&amo).await;
    let long_lived = json!(amo.long_lived_token());
    amo.expire_access_tokens();
    assert_unauthorized(&api(&amo, "/api/v4/account", Some(&pair["access_token"])).await);
    let account = api(&amo, "/api/v4/account", Some(&long_lived)).await;
    assert_eq!(
        account.status, 200,
        "long-lived tokens do not expire in a day"
    );
    let renewed = refresh(&amo, &pair["refresh_token"]).await;
    assert_eq!(renewed.status, 200, "{}", renewed.json);
    let account = api(&amo, "/api/v4/account", Some(&renewed.json["access_token"])).await;
    assert_eq!(account.status, 200);
}

#[tokio::test]
async fn an_access_token_lives_as_long_as_expires_in_says() {
    let amo = Amocrm::start(Config {
        access_lifetime: Duration::from_secs(1),
        ..relaxed()
    })
    .await;
    let pair = authorized(&amo).await;
    assert_eq!(pair["expires_in"], 1);
    let account = api(&amo, "/api/v4/account", Some(&pair["access_token"])).await;
    assert_eq!(account.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_unauthorized(&api(&amo, "/api/v4/account", Some(&pair["access_token"])).await);
}

#[tokio::test]
async fn the_api_wants_a_bearer_token_and_takes_a_long_lived_one() {
    let amo = Amocrm::start(relaxed()).await;
    amo.add_talk(8841, 5512093, 2209871, "telegram", true);
    assert_unauthorized(&api(&amo, "/api/v4/talks/8841", None).await);
    assert_unauthorized(&api(&amo, "/api/v4/talks/8841", Some(&json!("eyJ.forged.token"))).await);
    let refresh_as_access = authorized(&amo).await["refresh_token"].clone();
    assert_unauthorized(&api(&amo, "/api/v4/talks/8841", Some(&refresh_as_access)).await);
    let long_lived = json!(amo.long_lived_token());
    assert_eq!(
        api(&amo, "/api/v4/talks/8841", Some(&long_lived))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_account_and_a_user_read_as_documented() {
    let amo = Amocrm::start(relaxed()).await;
    amo.add_user(900100, "Олег Петров", "oleg@acme-shop.example");
    let token = json!(amo.long_lived_token());

    let account = api(&amo, "/api/v4/account", Some(&token)).await;
    assert_eq!(account.content_type, "application/hal+json");
    assert_eq!(account.json["id"], 30123456);
    assert_eq!(account.json["subdomain"], "acme-shop");
    assert_eq!(account.json["name"], "acme-shop");
    assert_eq!(account.json["current_user_id"], 900100);
    assert_eq!(
        account.json["_links"]["self"]["href"],
        format!("{}/api/v4/account", amo.base_url())
    );

    let user = api(&amo, "/api/v4/users/900100", Some(&token)).await;
    assert_eq!(user.status, 200);
    assert_eq!(user.content_type, "application/hal+json");
    assert_eq!(user.json["id"], 900100);
    assert_eq!(user.json["name"], "Олег Петров");
    assert_eq!(user.json["email"], "oleg@acme-shop.example");
    assert_eq!(user.json["rights"]["is_active"], true);
    let nobody = api(&amo, "/api/v4/users/1", Some(&token)).await;
    assert_eq!(nobody.status, 404);
    assert_eq!(nobody.json["type"], "https://httpstatus.es/404");
}

#[tokio::test]
async fn a_talk_reads_as_the_documented_model() {
    let amo = Amocrm::start(relaxed()).await;
    amo.add_talk(8841, 5512093, 2209871, "telegram", true);
    amo.add_talk(8842, 5512094, 0, "instagram_business", false);
    let token = json!(amo.long_lived_token());

    let talk = api(&amo, "/api/v4/talks/8841", Some(&token)).await;
    assert_eq!(talk.status, 200);
    assert_eq!(talk.content_type, "application/hal+json");
    let t = &talk.json;
    assert_eq!(t["talk_id"], 8841);
    assert_eq!(t["contact_id"], 5512093);
    assert_eq!(t["entity_id"], 2209871);
    assert_eq!(t["entity_type"], "lead");
    assert_eq!(t["is_in_work"], true);
    assert_eq!(t["origin"], "telegram");
    assert_eq!(t["account_id"], 30123456);
    assert_eq!(t["rate"], 0);
    assert_eq!(t["missed_at"], Value::Null);
    assert!(t["is_read"].is_boolean());
    assert!(t["created_at"].as_u64().unwrap() > 1_700_000_000);
    assert!(t["updated_at"].as_u64().unwrap() >= t["created_at"].as_u64().unwrap());
    assert_eq!(t["chat_id"].as_str().unwrap().len(), 36);
    assert_eq!(t["_embedded"]["contacts"], json!([{"id": 5512093}]));
    assert_eq!(t["_embedded"]["leads"], json!([{"id": 2209871}]));
    assert_eq!(
        t["_links"]["self"]["href"],
        format!("{}/api/v4/talks/8841", amo.base_url())
    );

    let unattached = api(&amo, "/api/v4/talks/8842", Some(&token)).await.json;
    assert_eq!(unattached["is_in_work"], false);
    assert_eq!(unattached["entity_id"], Value::Null);
    assert_eq!(unattached["entity_type"], Value::Null);
    assert_eq!(unattached["_embedded"]["leads"], json!([]));

    amo.set_talk_in_work(8841, false);
    let closed = api(&amo, "/api/v4/talks/8841", Some(&token)).await.json;
    assert_eq!(closed["is_in_work"], false);

    let missing = api(&amo, "/api/v4/talks/1", Some(&token)).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.content_type, "application/problem+json");
    assert_eq!(missing.json["title"], "Not Found");
    assert_eq!(amo.calls("GET /api/v4/talks/{id}"), 4);
}

#[tokio::test]
async fn a_lead_carries_its_utm_and_session_fields_and_its_contact_on_request() {
    let amo = Amocrm::start(relaxed()).await;
    amo.add_custom_field("leads", 700001, "chatsource session", None, "text");
    amo.add_lead(
        2209871,
        "Сделка #2209871",
        900100,
        5512093,
        &[("UTM_SOURCE", "yandex"), ("UTM_CAMPAIGN", "sofas-spring")],
        &[(700001, "cs_5f1c"), (700002, "ещё поле")],
    );
    amo.add_lead(2209872, "Без полей", 900100, 0, &[], &[]);
    let token = json!(amo.long_lived_token());

    let lead = api(&amo, "/api/v4/leads/2209871", Some(&token)).await;
    assert_eq!(lead.status, 200);
    assert_eq!(lead.content_type, "application/hal+json");
    let l = &lead.json;
    assert_eq!(l["id"], 2209871);
    assert_eq!(l["name"], "Сделка #2209871");
    assert_eq!(l["responsible_user_id"], 900100);
    assert_eq!(l["account_id"], 30123456);
    assert!(l["created_at"].as_u64().unwrap() > 1_700_000_000);
    let values = l["custom_fields_values"].as_array().unwrap();
    assert_eq!(values.len(), 4);
    let by_code = |code: &str| {
        values
            .iter()
            .find(|v| v["field_code"] == code)
            .unwrap()
            .clone()
    };
    let source = by_code("UTM_SOURCE");
    assert_eq!(source["field_name"], "utm_source");
    assert_eq!(source["field_type"], "tracking_data");
    assert!(source["field_id"].is_u64());
    assert_eq!(source["values"], json!([{"value": "yandex"}]));
    assert_eq!(
        by_code("UTM_CAMPAIGN")["values"][0]["value"],
        "sofas-spring"
    );
    let session = values.iter().find(|v| v["field_id"] == 700001).unwrap();
    assert_eq!(
        *session,
        json!({"field_id": 700001, "field_name": "chatsource session", "field_code": null,
               "field_type": "text", "values": [{"value": "cs_5f1c"}], "is_computed": false})
    );
    let other = values.iter().find(|v| v["field_id"] == 700002).unwrap();
    assert_eq!(other["field_code"], Value::Null);
    assert!(
        l["_embedded"].get("contacts").is_none(),
        "only with=contacts"
    );
    assert_eq!(
        l["_links"]["self"]["href"],
        format!("{}/api/v4/leads/2209871", amo.base_url())
    );

    let with = api(&amo, "/api/v4/leads/2209871?with=contacts", Some(&token)).await;
    let contacts = &with.json["_embedded"]["contacts"];
    assert_eq!(contacts[0]["id"], 5512093);
    assert_eq!(contacts[0]["is_main"], true);

    let bare = api(&amo, "/api/v4/leads/2209872?with=contacts", Some(&token)).await;
    assert_eq!(bare.json["custom_fields_values"], Value::Null);
    assert_eq!(bare.json["_embedded"]["contacts"], json!([]));

    let missing = api(&amo, "/api/v4/leads/1", Some(&token)).await;
    assert_eq!((missing.status, missing.json), (204, Value::Null));
}

#[tokio::test]
async fn a_contact_carries_phones_and_emails_as_multitext_fields() {
    let amo = Amocrm::start(relaxed()).await;
    amo.add_contact(
        5512093,
        "Павел Смирнов",
        &["+79260001122", "+79035554433"],
        &["pavel@example.ru"],
        &[(700010, "VIP")],
    );
    let token = json!(amo.long_lived_token());

    let contact = api(&amo, "/api/v4/contacts/5512093", Some(&token)).await;
    assert_eq!(contact.status, 200);
    assert_eq!(contact.content_type, "application/hal+json");
    let c = &contact.json;
    assert_eq!(c["id"], 5512093);
    assert_eq!(c["name"], "Павел Смирнов");
    assert_eq!(c["first_name"], "Павел");
    assert_eq!(c["last_name"], "Смирнов");
    let values = c["custom_fields_values"].as_array().unwrap();
    let phone = values.iter().find(|v| v["field_code"] == "PHONE").unwrap();
    assert_eq!(phone["field_type"], "multitext");
    let phones = phone["values"].as_array().unwrap();
    assert_eq!(phones[0]["value"], "+79260001122");
    assert_eq!(phones[0]["enum_code"], "WORK");
    assert!(phones[0]["enum_id"].is_u64());
    assert_eq!(phones[1]["value"], "+79035554433");
    assert_eq!(phones[1]["enum_code"], "MOB");
    let email = values.iter().find(|v| v["field_code"] == "EMAIL").unwrap();
    assert_eq!(email["field_type"], "multitext");
    assert_eq!(email["values"][0]["value"], "pavel@example.ru");
    assert_eq!(email["values"][0]["enum_code"], "WORK");
    let custom = values.iter().find(|v| v["field_id"] == 700010).unwrap();
    assert_eq!(custom["values"], json!([{"value": "VIP"}]));

    let missing = api(&amo, "/api/v4/contacts/1", Some(&token)).await;
    assert_eq!((missing.status, missing.json), (204, Value::Null));
}

#[tokio::test]
async fn custom_field_lists_come_in_pages_linked_by_next() {
    let amo = Amocrm::start(relaxed()).await;
    for i in 0..60 {
        let code = (i == 0).then_some("UTM_SOURCE");
        amo.add_custom_field("leads", 800_000 + i, &format!("Поле {i}"), code, "text");
    }
    amo.add_lead(1, "Сделка", 0, 0, &[("UTM_SOURCE", "google")], &[]);
    let token = json!(amo.long_lived_token());

    let first = api(&amo, "/api/v4/leads/custom_fields", Some(&token)).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.content_type, "application/hal+json");
    let fields = first.json["_embedded"]["custom_fields"].as_array().unwrap();
    assert_eq!(fields.len(), 50, "50 a page by default");
    assert_eq!(first.json["_page"], 1);
    assert_eq!(first.json["_total_items"], 60);
    assert_eq!(fields[0]["id"], 800_000);
    assert_eq!(fields[0]["code"], "UTM_SOURCE");
    assert_eq!(fields[0]["entity_type"], "leads");
    assert_eq!(fields[1]["code"], Value::Null);
    assert_eq!(fields[1]["name"], "Поле 1");
    assert_eq!(fields[1]["type"], "text");
    let next = first.json["_links"]["next"]["href"].as_str().unwrap();
    let next = next.strip_prefix(amo.base_url()).unwrap();
    assert_eq!(next, "/api/v4/leads/custom_fields?page=2&limit=50");

    let second = api(&amo, next, Some(&token)).await;
    assert_eq!(second.json["_page"], 2);
    assert_eq!(
        second.json["_embedded"]["custom_fields"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    assert!(second.json["_links"].get("next").is_none());

    let whole = api(&amo, "/api/v4/leads/custom_fields?limit=1000", Some(&token)).await;
    let whole = whole.json["_embedded"]["custom_fields"].as_array().unwrap();
    assert_eq!(whole.len(), 60, "limit is cut to 250, not refused");
    let past = api(&amo, "/api/v4/leads/custom_fields?page=3", Some(&token)).await;
    assert_eq!((past.status, past.json), (204, Value::Null));

    let none = api(&amo, "/api/v4/contacts/custom_fields", Some(&token)).await;
    assert_eq!(none.status, 204, "no contact fields used yet");
    amo.add_contact(7, "Ира", &["+79990000000"], &[], &[]);
    let contacts = api(&amo, "/api/v4/contacts/custom_fields", Some(&token)).await;
    let phone = &contacts.json["_embedded"]["custom_fields"][0];
    assert_eq!(phone["code"], "PHONE");
    assert_eq!(phone["type"], "multitext");
    assert_eq!(phone["is_predefined"], true);
    assert_eq!(phone["enums"][0]["value"], "WORK");
    assert_unauthorized(&api(&amo, "/api/v4/leads/custom_fields", None).await);
}

#[tokio::test]
async fn more_than_seven_requests_within_a_second_are_answered_429() {
    let amo = Amocrm::start(Config::default()).await;
    let token = json!(amo.long_lived_token());
    let started = Instant::now();
    let burst = (0..8).map(|_| api(&amo, "/api/v4/account", Some(&token)));
    let answers = futures::future::join_all(burst).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(1),
        "the burst took {elapsed:?}"
    );
    let limited: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!(limited.len(), 1);
    assert_eq!(answers.iter().filter(|a| a.status == 200).count(), 7);
    assert_eq!(limited[0].content_type, "application/problem+json");
    assert_eq!(limited[0].json["title"], "Too Many Requests");
    assert_eq!(limited[0].json["type"], "https://httpstatus.es/429");
    assert_eq!(limited[0].json["status"], 429);
    assert_eq!(amo.rate_limited(), 1);
    assert_eq!(amo.calls("GET /api/v4/account"), 8, "429s are calls too");

    // The token endpoint shares the limit.
    let oauth = exchange(&amo, &amo.authorization_code()).await;
    if started.elapsed() < Duration::from_secs(1) {
        assert_eq!(oauth.status, 429);
        assert_eq!(amo.rate_limited(), 2);
    }

    // A client that waits out the second is served again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let account = api(&amo, "/api/v4/account", Some(&token)).await;
    assert_eq!(account.status, 200);
}

#[tokio::test]
async fn a_client_that_keeps_to_the_limit_is_never_refused() {
    let amo = Amocrm::start(Config {
        rate_limit_per_second: 3,
        ..Config::default()
    })
    .await;
    let token = json!(amo.long_lived_token());
    // Three a second, then a pause past the second: the window never holds a fourth.
    for _ in 0..2 {
        for _ in 0..3 {
            assert_eq!(api(&amo, "/api/v4/account", Some(&token)).await.status, 200);
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert_eq!(amo.rate_limited(), 0);
}

#[tokio::test]
async fn fail_next_answers_that_many_api_calls_with_500() {
    let amo = Amocrm::start(relaxed()).await;
    amo.add_talk(8841, 5512093, 2209871, "telegram", true);
    let pair = authorized(&amo).await;
    amo.fail_next(2);
    for _ in 0..2 {
        let failed = api(&amo, "/api/v4/talks/8841", Some(&pair["access_token"])).await;
        assert_eq!(failed.status, 500);
        assert_eq!(failed.content_type, "application/problem+json");
        assert_eq!(failed.json["title"], "ErrInternalServer");
    }
    let served = api(&amo, "/api/v4/talks/8841", Some(&pair["access_token"])).await;
    assert_eq!(served.status, 200);
    // OAuth is not an API call: a refresh goes through meanwhile.
    amo.fail_next(1);
    assert_eq!(refresh(&amo, &pair["refresh_token"]).await.status, 200);
    assert_eq!(amo.calls("GET /api/v4/talks/{id}"), 3);
}

#[tokio::test]
async fn unknown_routes_answer_404_and_other_methods_405() {
    let amo = Amocrm::start(relaxed()).await;
    let token = json!(amo.long_lived_token());
    let unknown = api(&amo, "/api/v4/companies/5", Some(&token)).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.content_type, "application/problem+json");
    assert_eq!(
        unknown.json["detail"],
        format!("Cannot GET {}/api/v4/companies/5", amo.base_url())
    );
    let wrong_method = reqwest::Client::new()
        .delete(format!("{}/api/v4/talks/8841", amo.base_url()))
        .bearer_auth(token.as_str().unwrap())
        .send()
        .await
        .unwrap();
    let wrong_method = answer(wrong_method).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.json["type"], "https://httpstatus.es/405");
    assert_eq!(amo.calls("GET /api/v4/companies/{id}"), 1);
    assert_eq!(amo.calls("DELETE /api/v4/talks/{id}"), 1);
    assert_eq!(amo.calls("GET /api/v4/talks/{id}"), 0);
}

#[tokio::test]
async fn the_consent_page_sends_the_user_back_with_a_code_and_the_state() {
    let amo: Arc<Amocrm> = Amocrm::start(relaxed()).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!(
        "{}/oauth?client_id={}&state=st_42&mode=popup",
        amo.base_url(),
        amo.config().client_id
    );
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let location = url::Url::parse(&location).unwrap();
    assert!(
        location
            .as_str()
            .starts_with(&format!("{}?", amo.config().redirect_uri))
    );
    let query: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "st_42");
    assert_eq!(
        format!("http://{}", query["referer"]),
        amo.base_url(),
        "referer names the account's host"
    );
    assert_eq!(query["client_id"], amo.config().client_id);
    assert_eq!(exchange(&amo, &query["code"]).await.status, 200);

    let stranger = client
        .get(format!("{}/oauth?client_id=nobody&state=x", amo.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status().as_u16(), 400);
}
