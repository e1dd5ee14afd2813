//! The Bitrix24 stand-in itself, so the product's tests can trust it: the OAuth server's code
//! and refresh grants and their errors, REST auth errors, the leaky bucket, batch, the CRM
//! reads and lists, the open-line reads, and the outbound-webhook body.

use chatsource_tests::bitrix24::{Bitrix24, ChatMessage, Config, OpenLineChat};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// No rate limit: only the limit tests meet one.
fn relaxed() -> Config {
    Config {
        burst: 0,
        ..Config::default()
    }
}

struct Answer {
    status: u16,
    json: Value,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Answer { status, json }
}

/// `GET /oauth/token/?…`, as documented.
async fn oauth(b24: &Bitrix24, params: &[(&str, &str)]) -> Answer {
    let url = format!("{}/oauth/token/", b24.oauth_url());
    let url = reqwest::Url::parse_with_params(&url, params).unwrap();
    answer(reqwest::get(url).await.unwrap()).await
}

async fn exchange(b24: &Bitrix24, code: &str) -> Answer {
    let c = b24.config();
    oauth(
        b24,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("code", code),
        ],
    )
    .await
}

async fn refresh(b24: &Bitrix24, token: &Value) -> Answer {
    let c = b24.config();
    oauth(
        b24,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("refresh_token", token.as_str().unwrap()),
        ],
    )
    .await
}

/// A pair bought with a fresh code.
async fn connected(b24: &Bitrix24) -> Value {
    let pair = exchange(b24, &b24.authorization_code()).await;
    assert_eq!(pair.status, 200, "{}", pair.json);
    pair.json
}

/// `POST /rest/{method}` with a JSON body; `auth` joins the body.
async fn rest(b24: &Bitrix24, method: &str, mut params: Value, auth: Option<&Value>) -> Answer {
    if let Some(auth) = auth {
        params["auth"] = auth.clone();
    }
    let response = reqwest::Client::new()
        .post(format!("{}/rest/{method}", b24.portal_url()))
        .json(&params)
        .send()
        .await
        .unwrap();
    answer(response).await
}

/// `POST /rest/{method}` with a form body in PHP's bracket syntax.
async fn rest_form(b24: &Bitrix24, method: &str, pairs: &[(&str, &str)]) -> Answer {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let response = reqwest::Client::new()
        .post(format!("{}/rest/{method}", b24.portal_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    answer(response).await
}

fn assert_error(answer: &Answer, status: u16, error: &str) {
    assert_eq!(answer.status, status, "{}", answer.json);
    assert_eq!(answer.json["error"], error, "{}", answer.json);
    assert!(answer.json["error_description"].is_string());
}

fn telegram_chat(lead: u64) -> OpenLineChat {
    let at = |minute: u32| format!("2024-06-03T12:{minute:02}:00+03:00");
    OpenLineChat {
        entity_type: "lead".into(),
        entity_id: lead,
        connector: "telegrambot".into(),
        line_id: 2,
        chat_id: 77,
        session_id: 469,
        client: (450, "Павел Смирнов".into()),
        messages: vec![
            ChatMessage {
                sender: 0,
                text: "Начат новый диалог".into(),
                at: at(40),
            },
            ChatMessage {
                sender: 450,
                text: "Здравствуйте, диван в наличии?".into(),
                at: at(41),
            },
            ChatMessage {
                sender: 15,
                text: "Да, есть".into(),
                at: at(42),
            },
        ],
    }
}

#[tokio::test]
async fn a_code_buys_a_token_pair_that_opens_the_rest_api() {
    let b24 = Bitrix24::start(relaxed()).await;
    let lead = b24.add_lead(json!({"TITLE": "Открытая линия: Telegram — Павел"}));
    assert_eq!(lead, 48211);
    let pair = connected(&b24).await;
    let c = b24.config();
    assert_eq!(pair["expires_in"], 3600);
    assert_eq!(
        pair["client_endpoint"],
        format!("{}/rest/", b24.portal_url())
    );
    assert_eq!(
        pair["server_endpoint"],
        format!("{}/rest/", b24.oauth_url())
    );
    let oauth_host = b24.oauth_url().strip_prefix("http://").unwrap().to_owned();
    assert_eq!(pair["domain"], oauth_host, "the OAuth server's domain");
    assert_eq!(pair["member_id"], c.member_id);
    assert_eq!(pair["scope"], "crm,imopenlines,im,contact_center");
    assert_eq!(pair["status"], "L");
    assert!(pair["access_token"].as_str().unwrap().len() >= 32);
    assert_ne!(pair["access_token"], pair["refresh_token"]);

    let got = rest(
        &b24,
        "crm.lead.get",
        json!({"id": lead}),
        Some(&pair["access_token"]),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.json);
    assert_eq!(got.json["result"]["ID"], "48211");
    assert_eq!(
        got.json["result"]["TITLE"],
        "Открытая линия: Telegram — Павел"
    );
    for field in ["start", "finish", "duration"] {
        assert!(got.json["time"][field].is_f64(), "time.{field}");
    }
    assert!(got.json.get("total").is_none());

    // The `.json` suffix, a form body and the token in the query string work as well.
    let url = format!(
        "{}/rest/crm.lead.get.json?auth={}",
        b24.portal_url(),
        pair["access_token"].as_str().unwrap()
    );
    let form = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("ID=48211")
        .send()
        .await
        .unwrap();
    let form = answer(form).await;
    assert_eq!(form.status, 200, "{}", form.json);
    assert_eq!(form.json["result"]["ID"], "48211");
    assert_eq!(b24.calls("crm.lead.get"), 2);
    assert_eq!(b24.hits(), 2, "OAuth calls are not REST hits");
}

#[tokio::test]
async fn codes_are_single_use_and_live_thirty_seconds() {
    let b24 = Bitrix24::start(relaxed()).await;
    let c = b24.config();
    let code = b24.authorization_code();

    // Refusals before the code is looked at spend nothing.
    let wrong_secret = oauth(
        &b24,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &c.client_id),
            ("client_secret", "guessed"),
            ("code", &code),
        ],
    )
    .await;
    assert_error(&wrong_secret, 401, "invalid_client");
    let wrong_client = oauth(
        &b24,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "local.someone.else"),
            ("client_secret", &c.client_secret),
            ("code", &code),
        ],
    )
    .await;
    assert_error(&wrong_client, 401, "invalid_client");
    let no_grant = oauth(&b24, &[("client_id", &c.client_id), ("code", &code)]).await;
    assert_error(&no_grant, 400, "invalid_request");
    let no_code = oauth(
        &b24,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
        ],
    )
    .await;
    assert_error(&no_code, 400, "invalid_request");

    assert_eq!(exchange(&b24, &code).await.status, 200);
    assert_error(&exchange(&b24, &code).await, 400, "invalid_grant");
    assert_error(
        &exchange(&b24, "0123456789abcdef").await,
        400,
        "invalid_grant",
    );
    let late = b24.authorization_code();
    b24.expire_authorization_codes();
    let expired = exchange(&b24, &late).await;
    assert_error(&expired, 400, "invalid_grant");
    assert_eq!(
        expired.json["error_description"],
        "The authorization code has expired"
    );

    // A form-encoded POST is understood too.
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("client_id", &c.client_id)
        .append_pair("client_secret", &c.client_secret)
        .append_pair("code", &b24.authorization_code())
        .finish();
    let posted = reqwest::Client::new()
        .post(format!("{}/oauth/token/", b24.oauth_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer(posted).await.status, 200);
    assert_eq!(b24.refreshes(), 0);
}

#[tokio::test]
async fn a_refresh_token_works_once_and_takes_its_access_token_with_it() {
    let b24 = Bitrix24::start(relaxed()).await;
    let lead = b24.add_lead(json!({}));
    let first = connected(&b24).await;
    let second = refresh(&b24, &first["refresh_token"]).await;
    assert_eq!(second.status, 200, "{}", second.json);
    let second = second.json;
    assert_ne!(second["access_token"], first["access_token"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["client_endpoint"], first["client_endpoint"]);

    let old = rest(
        &b24,
        "crm.lead.get",
        json!({"ID": lead}),
        Some(&first["access_token"]),
    )
    .await;
    assert_error(&old, 401, "invalid_token");
    assert_error(
        &refresh(&b24, &first["refresh_token"]).await,
        400,
        "invalid_grant",
    );
    let fresh = rest(
        &b24,
        "crm.lead.get",
        json!({"ID": lead}),
        Some(&second["access_token"]),
    )
    .await;
    assert_eq!(fresh.status, 200, "{}", fresh.json);
    assert_eq!(b24.refreshes(), 1);

    // Racing refreshes with one token: exactly one wins.
    let racers = (0..5).map(|_| refresh(&b24, &second["refresh_token"]));
    let answers = futures::future::join_all(racers).await;
    assert_eq!(answers.iter().filter(|a| a.status == 200).count(), 1);
    for lost in answers.iter().filter(|a| a.status != 200) {
        assert_error(lost, 400, "invalid_grant");
    }
    assert_eq!(b24.refreshes(), 2);
}

#[tokio::test]
async fn an_expired_access_token_answers_expired_token_while_refresh_still_works() {
    let b24 = Bitrix24::start(Config {
        access_lifetime: Duration::from_millis(500),
        ..relaxed()
    })
    .await;
    let lead = b24.add_lead(json!({}));
    let pair = connected(&b24).await;
    let call = |token: Value| {
        let b24 = &b24;
        async move { rest(b24, "crm.lead.get", json!({"ID": lead}), Some(&token)).await }
    };
    assert_eq!(call(pair["access_token"].clone()).await.status, 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_error(
        &call(pair["access_token"].clone()).await,
        401,
        "expired_token",
    );

    let b24 = Bitrix24::start(relaxed()).await;
    let lead = b24.add_lead(json!({}));
    let pair = connected(&b24).await;
    b24.expire_access_tokens();
    let expired = rest(
        &b24,
        "crm.lead.get",
        json!({"ID": lead}),
        Some(&pair["access_token"]),
    )
    .await;
    assert_error(&expired, 401, "expired_token");
    let renewed = refresh(&b24, &pair["refresh_token"]).await;
    assert_eq!(renewed.status, 200, "{}", renewed.json);
    let again = rest(
        &b24,
        "crm.lead.get",
        json!({"ID": lead}),
        Some(&renewed.json["access_token"]),
    )
    .await;
    assert_eq!(again.status, 200);
}

#[tokio::test]
async fn uninstalling_the_app_kills_every_token_and_strangers_get_no_auth_found() {
    let b24 = Bitrix24::start(relaxed()).await;
    let lead = b24.add_lead(json!({}));
    let pair = connected(&b24).await;
    let pending = b24.authorization_code();

    let missing = rest(&b24, "crm.lead.get", json!({"ID": lead}), None).await;
    assert_error(&missing, 401, "NO_AUTH_FOUND");
    let forged = rest(
        &b24,
        "crm.lead.get",
        json!({"ID": lead}),
        Some(&json!("0000forged")),
    )
    .await;
    assert_error(&forged, 401, "NO_AUTH_FOUND");
    let refresh_as_access = rest(
        &b24,
        "crm.lead.get",
        json!({"ID": lead}),
        Some(&pair["refresh_token"]),
    )
    .await;
    assert_error(&refresh_as_access, 401, "NO_AUTH_FOUND");

    b24.revoke_all();
    let revoked = rest(
        &b24,
        "crm.lead.get",
        json!({"ID": lead}),
        Some(&pair["access_token"]),
    )
    .await;
    assert_error(&revoked, 401, "invalid_token");
    assert_error(
        &refresh(&b24, &pair["refresh_token"]).await,
        400,
        "invalid_grant",
    );
    assert_error(&exchange(&b24, &pending).await, 400, "invalid_grant");

    // A reinstall: new codes work.
    let again = connected(&b24).await;
    let served = rest(
        &b24,
        "crm.lead.get",
        json!({"ID": lead}),
        Some(&again["access_token"]),
    )
    .await;
    assert_eq!(served.status, 200);
}

#[tokio::test]
async fn requests_past_the_burst_are_refused_with_503_and_not_counted() {
    let b24 = Bitrix24::start(Config {
        burst: 3,
        drain_per_second: 0,
        ..Config::default()
    })
    .await;
    let lead = b24.add_lead(json!({}));
    let pair = connected(&b24).await;
    let token = &pair["access_token"];
    for _ in 0..3 {
        let ok = rest(&b24, "crm.lead.get", json!({"ID": lead}), Some(token)).await;
        assert_eq!(ok.status, 200, "{}", ok.json);
    }
    let refused = rest(&b24, "crm.lead.get", json!({"ID": lead}), Some(token)).await;
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused.json,
        json!({"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"})
    );
    assert_eq!(b24.hits(), 3);
    assert_eq!(b24.rate_limited(), 1);
    assert_eq!(b24.calls("crm.lead.get"), 4, "refused calls are calls too");
    // The OAuth server is not the portal: its calls are not limited.
    assert_eq!(refresh(&b24, &pair["refresh_token"]).await.status, 200);

    // The bucket drains: 4 a second take a request out every 250 ms.
    let b24 = Bitrix24::start(Config {
        burst: 2,
        drain_per_second: 4,
        ..Config::default()
    })
    .await;
    let lead = b24.add_lead(json!({}));
    let token = connected(&b24).await["access_token"].clone();
    let call = || rest(&b24, "crm.lead.get", json!({"ID": lead}), Some(&token));
    assert_eq!(call().await.status, 200);
    assert_eq!(call().await.status, 200);
    assert_eq!(call().await.status, 503);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(call().await.status, 200);
    assert_eq!((b24.hits(), b24.rate_limited()), (3, 1));
}

#[tokio::test]
async fn a_batch_is_one_hit_and_answers_each_command_in_the_order_sent() {
    let b24 = Bitrix24::start(Config {
        burst: 5,
        drain_per_second: 0,
        ..Config::default()
    })
    .await;
    let lead = b24.add_lead(json!({"TITLE": "Лид"}));
    b24.add_openline_chat(telegram_chat(lead));
    let pair = connected(&b24).await;
    let token = &pair["access_token"];
    // Sent order differs from alphabetical order: `a_history` needs `z_chats` and `m_acts`.
    // (serde_json's maps sort their keys, so the body is written by hand.)
    let cmd = [
        ("z_chats", format!("imopenlines.crm.chat.get?CRM_ENTITY_TYPE=lead&CRM_ENTITY={lead}&ACTIVE_ONLY=N")),
        ("m_acts", format!("crm.activity.list?filter[OWNER_TYPE_ID]=1&filter[OWNER_ID]={lead}&filter[PROVIDER_ID]=IMOPENLINES_SESSION&select[]=ID&select[]=ASSOCIATED_ENTITY_ID")),
        ("a_history", "imopenlines.session.history.get?CHAT_ID=$result[z_chats][0][CHAT_ID]&SESSION_ID=$result[m_acts][0][ASSOCIATED_ENTITY_ID]".into()),
        ("lead", format!("crm.lead.get?id={lead}")),
        ("missing", "crm.lead.get?id=1".into()),
        ("nope", "crm.nothing.get".into()),
    ];
    let cmd: Vec<String> = cmd
        .iter()
        .map(|(name, command)| format!("{}:{}", json!(name), json!(command)))
        .collect();
    let body = format!(
        r#"{{"halt":0,"cmd":{{{}}},"auth":{}}}"#,
        cmd.join(","),
        token
    );
    let batch = reqwest::Client::new()
        .post(format!("{}/rest/batch", b24.portal_url()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let batch = answer(batch).await;
    assert_eq!(batch.status, 200, "{}", batch.json);
    let r = &batch.json["result"];
    assert_eq!(r["result"]["z_chats"][0]["CHAT_ID"], "77");
    assert_eq!(
        r["result"]["m_acts"],
        json!([{"ID": "3101", "ASSOCIATED_ENTITY_ID": "469"}])
    );
    assert_eq!(r["result"]["a_history"]["chatId"], 77, "{r}");
    assert_eq!(r["result"]["lead"]["TITLE"], "Лид");
    assert_eq!(
        r["result_error"]["missing"],
        json!({"error": "", "error_description": "Not found"})
    );
    assert_eq!(r["result_error"]["nope"]["error"], "ERROR_METHOD_NOT_FOUND");
    assert_eq!(r["result_total"], json!({"m_acts": 1}));
    assert_eq!(r["result_next"], json!([]), "PHP's empty array");
    assert!(r["result_time"]["lead"]["duration"].is_f64());
    assert!(batch.json["time"]["start"].is_f64());
    assert_eq!(b24.hits(), 1);
    assert_eq!(b24.calls("batch"), 1);
    assert_eq!(b24.calls("crm.lead.get"), 2);
    assert_eq!(b24.calls("crm.activity.list"), 1);

    // halt=1 (a form body this time) stops at the first error.
    let halted = rest_form(
        &b24,
        "batch",
        &[
            ("auth", token.as_str().unwrap()),
            ("halt", "1"),
            ("cmd[second]", "crm.lead.get?id=1"),
            ("cmd[first]", &format!("crm.lead.get?id={lead}")),
            ("cmd[third]", &format!("crm.lead.get?id={lead}")),
        ],
    )
    .await;
    assert_eq!(halted.status, 200, "{}", halted.json);
    let r = &halted.json["result"];
    assert_eq!(r["result"], json!([]));
    assert_eq!(
        r["result_error"]["second"]["error_description"],
        "Not found"
    );
    assert_eq!(r["result_error"].as_object().unwrap().len(), 1);
    assert_eq!(b24.calls("crm.lead.get"), 3, "nothing ran after the error");

    // An expired token fails the whole batch, as any call.
    b24.expire_access_tokens();
    let expired = rest(
        &b24,
        "batch",
        json!({"cmd": {"lead": "crm.lead.get?id=1"}}),
        Some(token),
    )
    .await;
    assert_error(&expired, 401, "expired_token");
    let too_many: serde_json::Map<String, Value> = (0..51)
        .map(|i| (format!("c{i}"), json!("user.get")))
        .collect();
    let fresh = connected(&b24).await["access_token"].clone();
    let long = rest(&b24, "batch", json!({"cmd": too_many}), Some(&fresh)).await;
    assert_error(&long, 400, "ERROR_BATCH_LENGTH_EXCEEDED");
    assert_eq!(b24.hits(), 4);
}

#[tokio::test]
async fn session_history_wants_the_session_id_and_names_the_client() {
    let b24 = Bitrix24::start(relaxed()).await;
    b24.add_user(15, "Олег", "Петров", "oleg@acme.example");
    let lead = b24.add_lead(json!({}));
    let chat = telegram_chat(lead);
    b24.add_openline_chat(chat.clone());
    let token = connected(&b24).await["access_token"].clone();

    let denied = rest(
        &b24,
        "imopenlines.session.history.get",
        json!({"CHAT_ID": 77}),
        Some(&token),
    )
    .await;
    assert_error(&denied, 403, "ACCESS_DENIED");
    let elsewhere = rest(
        &b24,
        "imopenlines.session.history.get",
        json!({"CHAT_ID": 77, "SESSION_ID": 1}),
        Some(&token),
    )
    .await;
    assert_error(&elsewhere, 403, "ACCESS_DENIED");

    let history = rest(
        &b24,
        "imopenlines.session.history.get",
        json!({"CHAT_ID": "77", "SESSION_ID": "469"}),
        Some(&token),
    )
    .await;
    assert_eq!(history.status, 200, "{}", history.json);
    let h = &history.json["result"];
    assert_eq!(h["chatId"], 77);
    assert_eq!(h["sessionId"], 469);
    let messages = h["message"].as_object().unwrap();
    assert_eq!(messages.len(), 3);
    let system = &messages["19001"];
    assert_eq!(system["senderid"], "0");
    assert_eq!(system["chatid"], "77");
    assert_eq!(system["date"], "2024-06-03T12:40:00+03:00");
    assert_eq!(messages["19002"]["senderid"], "450");
    assert_eq!(messages["19002"]["text"], "Здравствуйте, диван в наличии?");
    assert_eq!(
        h["usersMessage"]["chat77"],
        json!(["19003", "19002", "19001"])
    );
    let client = &h["users"]["450"];
    assert_eq!(client["connector"], true);
    assert_eq!(client["name"], "Павел Смирнов");
    assert_eq!(client["bot"], false);
    let operator = &h["users"]["15"];
    assert_eq!(operator["connector"], false);
    assert_eq!(operator["name"], "Олег Петров");
    assert_eq!(operator["firstName"], "Олег");
    assert_eq!(h["users"].as_object().unwrap().len(), 2);
    let c = &h["chat"]["77"];
    assert_eq!(c["entityType"], "LINES");
    assert_eq!(c["entityId"], chat.entity_id());
    assert!(
        c["entityId"]
            .as_str()
            .unwrap()
            .starts_with("telegrambot|2|")
    );
    assert!(c["entityId"].as_str().unwrap().ends_with("|450"));
}

#[tokio::test]
async fn chats_and_session_activities_are_found_from_the_crm_entity() {
    let b24 = Bitrix24::start(relaxed()).await;
    let lead = b24.add_lead(json!({}));
    let deal = b24.add_deal(json!({}));
    let chat = telegram_chat(lead);
    b24.add_openline_chat(chat.clone());
    b24.add_openline_chat(OpenLineChat {
        entity_type: "deal".into(),
        entity_id: deal,
        connector: "livechat".into(),
        line_id: 1,
        chat_id: 1982,
        session_id: 470,
        client: (451, "Гость".into()),
        messages: Vec::new(),
    });
    let token = connected(&b24).await["access_token"].clone();

    let chats = rest(
        &b24,
        "imopenlines.crm.chat.get",
        json!({"CRM_ENTITY_TYPE": "lead", "CRM_ENTITY": lead, "ACTIVE_ONLY": "N"}),
        Some(&token),
    )
    .await;
    assert_eq!(chats.status, 200, "{}", chats.json);
    assert_eq!(
        chats.json["result"],
        json!([{"CHAT_ID": "77", "CONNECTOR_ID": "telegrambot", "CONNECTOR_TITLE": "Telegram"}])
    );
    let none = rest(
        &b24,
        "imopenlines.crm.chat.get",
        json!({"CRM_ENTITY_TYPE": "contact", "CRM_ENTITY": 5}),
        Some(&token),
    )
    .await;
    assert_eq!(none.json["result"], json!([]));
    let bad = rest(&b24, "imopenlines.crm.chat.get", json!({}), Some(&token)).await;
    assert_error(&bad, 400, "ERROR_ARGUMENT");

    // Filter values as numbers or strings alike.
    for filter in [
        json!({"OWNER_TYPE_ID": 1, "OWNER_ID": lead, "PROVIDER_ID": "IMOPENLINES_SESSION"}),
        json!({"OWNER_TYPE_ID": "1", "OWNER_ID": lead.to_string(), "PROVIDER_ID": "IMOPENLINES_SESSION"}),
    ] {
        let acts = rest(
            &b24,
            "crm.activity.list",
            json!({"filter": filter, "order": {"ID": "ASC"}}),
            Some(&token),
        )
        .await;
        assert_eq!(acts.status, 200, "{}", acts.json);
        assert_eq!(acts.json["total"], 1);
        let act = &acts.json["result"][0];
        assert_eq!(act["OWNER_TYPE_ID"], "1");
        assert_eq!(act["OWNER_ID"], lead.to_string());
        assert_eq!(act["PROVIDER_ID"], "IMOPENLINES_SESSION");
        assert_eq!(act["ASSOCIATED_ENTITY_ID"], "469");
        assert_eq!(act["START_TIME"], "2024-06-03T12:40:00+03:00");
        assert_eq!(act["PROVIDER_PARAMS"]["USER_CODE"], chat.user_code());
    }
    let user_code = chat.user_code();
    let segments: Vec<&str> = user_code.split('|').collect();
    assert_eq!(segments[..3], ["imol", "telegrambot", "2"]);
    assert_eq!(segments[4], "450", "the client's user id comes last");
    let deal_acts = rest(
        &b24,
        "crm.activity.list",
        json!({"filter": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal}, "select": ["ID"]}),
        Some(&token),
    )
    .await;
    assert_eq!(deal_acts.json["result"], json!([{"ID": "3102"}]));
}

#[tokio::test]
async fn dialog_messages_come_newest_first_and_page_by_id() {
    let b24 = Bitrix24::start(relaxed()).await;
    let lead = b24.add_lead(json!({}));
    let mut chat = telegram_chat(lead);
    chat.messages = (0..25)
        .map(|i| ChatMessage {
            sender: if i % 2 == 0 { 450 } else { 15 },
            text: format!("сообщение {i}"),
            at: format!("2024-06-03T13:{i:02}:00+03:00"),
        })
        .collect();
    b24.add_openline_chat(chat);
    let token = connected(&b24).await["access_token"].clone();
    let get = |params: Value| rest(&b24, "im.dialog.messages.get", params, Some(&token));
    let ids = |a: &Answer| -> Vec<u64> {
        let messages = a.json["result"]["messages"].as_array().unwrap();
        messages.iter().map(|m| m["id"].as_u64().unwrap()).collect()
    };

    let newest = get(json!({"DIALOG_ID": "chat77"})).await;
    assert_eq!(newest.status, 200, "{}", newest.json);
    assert_eq!(ids(&newest), (19006..=19025).rev().collect::<Vec<_>>());
    let r = &newest.json["result"];
    assert_eq!(r["chat_id"], 77);
    assert_eq!(r["messages"][0]["author_id"], 450);
    assert_eq!(r["messages"][0]["chat_id"], 77);
    assert_eq!(r["messages"][0]["text"], "сообщение 24");
    assert_eq!(r["messages"][0]["date"], "2024-06-03T13:24:00+03:00");
    let users = r["users"].as_array().unwrap();
    let client = users.iter().find(|u| u["id"] == 450).unwrap();
    assert_eq!(client["connector"], true);
    let operator = users.iter().find(|u| u["id"] == 15).unwrap();
    assert_eq!(operator["connector"], false);

    let older = get(json!({"DIALOG_ID": "chat77", "LAST_ID": 19006})).await;
    assert_eq!(ids(&older), (19001..=19005).rev().collect::<Vec<_>>());
    let newer = get(json!({"DIALOG_ID": "chat77", "FIRST_ID": 19020, "LIMIT": 3})).await;
    assert_eq!(ids(&newer), vec![19023, 19022, 19021]);
    let capped = get(json!({"DIALOG_ID": "chat77", "LIMIT": 100})).await;
    assert_eq!(ids(&capped).len(), 25);
    assert_error(&get(json!({})).await, 400, "DIALOG_ID_EMPTY");
    assert_error(
        &get(json!({"DIALOG_ID": "chat5"})).await,
        403,
        "ACCESS_ERROR",
    );
}

#[tokio::test]
async fn lead_lists_filter_by_instant_order_select_and_page_by_fifty() {
    let b24 = Bitrix24::start(relaxed()).await;
    // 60 leads a minute apart from 11:30 Moscow time; every third one written in UTC.
    for i in 0..60u32 {
        let (h, m) = (11 + (30 + i) / 60, (30 + i) % 60);
        let date = if i % 3 == 0 {
            format!("2024-06-03T{:02}:{m:02}:00+00:00", h - 3)
        } else {
            format!("2024-06-03T{h:02}:{m:02}:00+03:00")
        };
        b24.add_lead(json!({"TITLE": format!("Лид {i}"), "DATE_CREATE": date,
                            "UF_CRM_SESSION": format!("cs_{i}"),
                            "PHONE": [{"VALUE": "+79031234567", "VALUE_TYPE": "MOBILE"}]}));
    }
    let token = connected(&b24).await["access_token"].clone();
    let list = |params: Value| rest(&b24, "crm.lead.list", params, Some(&token));

    // After 12:00+03:00 (= 09:00Z): 12:01 … 12:29, 29 leads.
    let after = list(json!({
        "filter": {">DATE_CREATE": "2024-06-03T09:00:00+00:00"},
        "order": {"DATE_CREATE": "ASC"}, "select": ["ID", "TITLE"],
    }))
    .await;
    assert_eq!(after.status, 200, "{}", after.json);
    assert_eq!(after.json["total"], 29);
    assert!(after.json.get("next").is_none());
    let rows = after.json["result"].as_array().unwrap();
    assert_eq!(rows[0], json!({"ID": "48242", "TITLE": "Лид 31"}));
    assert_eq!(rows[28]["TITLE"], "Лид 59");
    let from = list(json!({"filter": {">=DATE_CREATE": "2024-06-03T12:00:00+03:00"}})).await;
    assert_eq!(from.json["total"], 30);

    // Paging: 50, then 10.
    let first = list(json!({"order": {"ID": "DESC"}})).await;
    assert_eq!(first.json["total"], 60);
    assert_eq!(first.json["next"], 50);
    let rows = first.json["result"].as_array().unwrap();
    assert_eq!(rows.len(), 50);
    assert_eq!(rows[0]["ID"], "48270");
    assert!(
        rows[0].get("UF_CRM_SESSION").is_none(),
        "no UF_* unless asked"
    );
    assert!(
        rows[0].get("PHONE").is_none(),
        "no multifields unless named"
    );
    assert!(rows[0].get("DATE_CREATE").is_some());
    let second = list(json!({"order": {"ID": "DESC"}, "start": 50})).await;
    assert_eq!(second.json["result"].as_array().unwrap().len(), 10);
    assert!(second.json.get("next").is_none());
    assert_eq!(second.json["result"][9]["ID"], "48211");

    let custom = list(json!({"select": ["UF_*", "PHONE"], "filter": {"ID": 48211}})).await;
    let row = &custom.json["result"][0];
    assert_eq!(row["UF_CRM_SESSION"], "cs_0");
    assert_eq!(row["PHONE"][0]["VALUE"], "+79031234567");
    assert!(row.get("TITLE").is_none());

    // The same query as a PHP form body.
    let form = rest_form(
        &b24,
        "crm.lead.list",
        &[
            ("auth", token.as_str().unwrap()),
            ("filter[>DATE_CREATE]", "2024-06-03T12:00:00+03:00"),
            ("order[DATE_CREATE]", "DESC"),
            ("select[]", "ID"),
            ("select[]", "DATE_CREATE"),
        ],
    )
    .await;
    assert_eq!(form.status, 200, "{}", form.json);
    assert_eq!(form.json["total"], 29);
    assert_eq!(form.json["result"][0]["ID"], "48270");
    assert_eq!(form.json["result"][0].as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn crm_entities_read_as_bitrix_stores_them() {
    let b24 = Bitrix24::start(relaxed()).await;
    let chat = telegram_chat(48211);
    let lead = b24.add_lead(json!({
        "TITLE": "Открытая линия: Telegram — Павел", "NAME": "Павел", "ASSIGNED_BY_ID": 15,
        "SOURCE_ID": "2|TELEGRAMBOT", "UTM_SOURCE": "yandex", "UF_CRM_1717411200": "cs_5f1c",
        "PHONE": [{"VALUE_TYPE": "MOBILE", "VALUE": "+79031234567", "TYPE_ID": "PHONE"}],
        "IM": [{"ID": 902, "VALUE_TYPE": "OPENLINE", "VALUE": chat.user_code(), "TYPE_ID": "IM"}],
    }));
    assert_eq!(lead, 48211);
    assert_eq!(b24.add_lead(json!({})), 48212);
    let deal = b24.add_deal(json!({"TITLE": "Диван", "LEAD_ID": lead}));
    let contact = b24.add_contact(json!({"NAME": "Павел"}));
    let token = connected(&b24).await["access_token"].clone();

    let got = rest(&b24, "crm.lead.get", json!({"ID": lead}), Some(&token)).await;
    let l = &got.json["result"];
    assert_eq!(l["ID"], "48211");
    assert_eq!(l["ASSIGNED_BY_ID"], "15", "numbers read back as strings");
    assert_eq!(l["SOURCE_ID"], "2|TELEGRAMBOT");
    assert_eq!(l["UTM_SOURCE"], "yandex");
    assert_eq!(l["UTM_MEDIUM"], Value::Null);
    assert_eq!(l["UF_CRM_1717411200"], "cs_5f1c");
    assert_eq!(l["HAS_PHONE"], "Y");
    assert_eq!(l["HAS_EMAIL"], "N");
    assert_eq!(l["HAS_IMOL"], "Y");
    assert!(l["PHONE"][0]["ID"].is_string());
    assert_eq!(l["IM"][0]["ID"], "902");
    let created = l["DATE_CREATE"].as_str().unwrap();
    let created = chrono::DateTime::parse_from_rfc3339(created).unwrap();
    assert_eq!(created.offset().local_minus_utc(), 3 * 3600);
    assert!((chrono::Utc::now() - created.to_utc()).num_seconds().abs() < 60);

    let d = rest(&b24, "crm.deal.get", json!({"id": deal}), Some(&token)).await;
    assert_eq!(d.json["result"]["TITLE"], "Диван");
    assert_eq!(d.json["result"]["LEAD_ID"], "48211");
    let c = rest(
        &b24,
        "crm.contact.get",
        json!({"id": contact}),
        Some(&token),
    )
    .await;
    assert_eq!(c.json["result"]["NAME"], "Павел");

    let missing = rest(&b24, "crm.lead.get", json!({"ID": 1}), Some(&token)).await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.json,
        json!({"error": "", "error_description": "Not found"})
    );
    let no_id = rest(&b24, "crm.deal.get", json!({}), Some(&token)).await;
    assert_eq!(no_id.status, 400);
    assert_eq!(
        no_id.json["error_description"],
        "ID is not defined or invalid."
    );
    let unknown = rest(&b24, "crm.lead.explode", json!({}), Some(&token)).await;
    assert_error(&unknown, 404, "ERROR_METHOD_NOT_FOUND");
    assert_eq!(b24.calls("crm.lead.explode"), 1);
}

#[tokio::test]
async fn users_and_injected_failures() {
    let b24 = Bitrix24::start(relaxed()).await;
    b24.add_user(15, "Олег", "Петров", "oleg@acme.example");
    b24.add_user(16, "Анна", "Иванова", "anna@acme.example");
    let token = connected(&b24).await["access_token"].clone();
    let user = rest(&b24, "user.get", json!({"ID": 15}), Some(&token)).await;
    assert_eq!(user.status, 200, "{}", user.json);
    assert_eq!(user.json["total"], 1);
    let u = &user.json["result"][0];
    assert_eq!(
        (&u["ID"], &u["NAME"], &u["LAST_NAME"], &u["EMAIL"]),
        (
            &json!("15"),
            &json!("Олег"),
            &json!("Петров"),
            &json!("oleg@acme.example")
        )
    );
    let nobody = rest(&b24, "user.get", json!({"ID": 99}), Some(&token)).await;
    assert_eq!(nobody.json["result"], json!([]));
    let all = rest(&b24, "user.get", json!({}), Some(&token)).await;
    assert_eq!(all.json["total"], 2);

    let body =
        json!({"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"});
    b24.fail_next("user.get", 500, body.clone());
    let failed = rest(&b24, "user.get", json!({"ID": 15}), Some(&token)).await;
    assert_eq!((failed.status, &failed.json), (500, &body));
    assert_eq!(
        rest(&b24, "user.get", json!({"ID": 15}), Some(&token))
            .await
            .status,
        200
    );
    // In a batch the injected error is the command's.
    b24.fail_next(
        "user.get",
        503,
        json!({"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}),
    );
    let batch = rest(
        &b24,
        "batch",
        json!({"cmd": {"u": "user.get?ID=15", "v": "user.get?ID=16"}}),
        Some(&token),
    )
    .await;
    let r = &batch.json["result"];
    assert_eq!(r["result_error"]["u"]["error"], "QUERY_LIMIT_EXCEEDED");
    assert_eq!(r["result"]["v"][0]["NAME"], "Анна");
    assert_eq!(b24.rate_limited(), 1);
}

#[tokio::test]
async fn the_consent_redirect_brings_a_code_the_state_and_the_portal() {
    let b24 = Bitrix24::start(Config {
        redirect_uri: Some("https://chatsource.example/oauth/bitrix24".into()),
        ..relaxed()
    })
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let c = b24.config();
    let authorize = |query: String| {
        let client = &client;
        let url = format!("{}/oauth/authorize/?{query}", b24.portal_url());
        async move { client.get(url).send().await.unwrap() }
    };
    let response = authorize(format!("client_id={}&state=st_42", c.client_id)).await;
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    let location = url::Url::parse(location).unwrap();
    assert_eq!(
        location.as_str().split('?').next().unwrap(),
        "https://chatsource.example/oauth/bitrix24"
    );
    let query: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "st_42");
    assert_eq!(query["domain"], "b24-acme.example.ru");
    assert_eq!(query["member_id"], c.member_id);
    assert_eq!(query["scope"], "crm,imopenlines,im,contact_center");
    assert_eq!(
        format!("http://{}", query["server_domain"]),
        b24.oauth_url()
    );
    assert_eq!(exchange(&b24, &query["code"]).await.status, 200);

    let elsewhere = authorize(format!(
        "client_id={}&state=x&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb%3Fa%3D1",
        c.client_id
    ))
    .await;
    let location = elsewhere.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:9/cb?a=1&code="),
        "{location}"
    );
    let stranger = authorize("client_id=local.nobody&state=x".into()).await;
    assert_eq!(stranger.status().as_u16(), 400);

    let bare = Bitrix24::start(relaxed()).await;
    let url = format!(
        "{}/oauth/authorize/?client_id={}",
        bare.portal_url(),
        bare.config().client_id
    );
    assert_eq!(client.get(url).send().await.unwrap().status().as_u16(), 400);
}

#[tokio::test]
async fn an_event_body_is_the_documented_form() {
    let b24 = Bitrix24::start(relaxed()).await;
    let body = b24.event_body("ONCRMLEADADD", 48211);
    assert!(
        body.starts_with("event=ONCRMLEADADD&data%5BFIELDS%5D%5BID%5D=48211&ts="),
        "{body}"
    );
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "event",
            "data[FIELDS][ID]",
            "ts",
            "auth[domain]",
            "auth[member_id]",
            "auth[application_token]"
        ]
    );
    let fields: HashMap<String, String> = fields.into_iter().collect();
    let c = b24.config();
    assert_eq!(fields["data[FIELDS][ID]"], "48211");
    assert_eq!(fields["auth[domain]"], c.domain);
    assert_eq!(fields["auth[member_id]"], c.member_id);
    assert_eq!(fields["auth[application_token]"], c.application_token);
    let ts: i64 = fields["ts"].parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
}
