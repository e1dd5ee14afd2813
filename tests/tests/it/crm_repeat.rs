//! Repeat chats in the CRMs: a returning visitor who writes into an existing Bitrix24 lead (a new
//! Open Lines session, `ONCRMLEADUPDATE`) makes a new appeal for that conversation, with its
//! own transcript; an update with no new session costs one batch and makes nothing; a lost
//! update is recovered by reconciliation (`DATE_MODIFY`); a replayed one duplicates nothing.
//! amoCRM: each talk is its own appeal (`talk:<id>`), whatever lead it is in.

use chatsource_tests::bitrix24::{Bitrix24, ChatMessage, Config, OpenLineChat};
use chatsource_tests::server::{TestServer, start};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The operator who answers the chats.
const OLGA: u64 = 9;
const CLIENT: u64 = 451;
const CHAT: u64 = 1981;

struct Setup {
    server: TestServer,
    b24: Arc<Bitrix24>,
    integration_id: String,
    hook: String,
}

/// A chatsource with a connected Bitrix24 integration (leads), and a lead its Telegram open
/// line made, whose creation event was received and read.
async fn with_a_lead() -> (Setup, u64) {
    let server = start().await;
    let b24 = Bitrix24::start(Config {
        redirect_uri: Some(format!("{}/oauth/bitrix24/callback", server.base)),
        ..Config::default()
    })
    .await;
    b24.add_user(OLGA, "Ольга", "Смирнова", "olga@shop.example.ru");
    let config = b24.config();
    let created = server
        .demo(
            "POST",
            "/api/integrations",
            Some(json!({
                "provider": "bitrix24", "name": "Открытые линии",
                "default_source_id": "src_demo_organic", "default_site_id": "site_demo_shop",
                "bitrix24": {
                    "portal_url": b24.portal_url(), "oauth_url": b24.oauth_url(),
                    "client_id": config.client_id, "client_secret": config.client_secret,
                    "application_token": config.application_token, "entity": "lead",
                },
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let s = Setup {
        integration_id: created.json["id"].as_str().unwrap().to_owned(),
        hook: created.json["webhook_urls"]["events"]
            .as_str()
            .unwrap()
            .to_owned(),
        server,
        b24,
    };
    let consent = format!("{}/oauth/authorize/?", s.b24.portal_url());
    s.server.connect_oauth(&s.integration_id, &consent).await;
    let lead = s.b24.add_lead(json!({
        "TITLE": "Открытая линия", "NAME": "Павел", "LAST_NAME": "Петров",
        "ASSIGNED_BY_ID": OLGA,
    }));
    s.b24.add_openline_chat(session(
        lead,
        771,
        "2026-11-20T12:40",
        "Здравствуйте, есть доставка?",
    ));
    assert_eq!(event(&s, s.b24.event_body("ONCRMLEADADD", lead)).await, 200);
    let items = appeals_when(&s, count(1)).await;
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["provider_ref"], format!("lead:{lead}"));
    (s, lead)
}

/// One session of the lead's Telegram chat: the client's question and Ольга's answer.
fn session(lead: u64, id: u64, minute: &str, question: &str) -> OpenLineChat {
    OpenLineChat {
        entity_type: "lead".into(),
        entity_id: lead,
        connector: "telegrambot".into(),
        line_id: 2,
        chat_id: CHAT,
        session_id: id,
        client: (CLIENT, "Павел Петров".into()),
        messages: vec![
            ChatMessage {
                sender: CLIENT,
                text: question.into(),
                at: format!("{minute}:05+03:00"),
            },
            ChatMessage {
                sender: OLGA,
                text: format!("Ответ на: {question}"),
                at: format!("{minute}:50+03:00"),
            },
        ],
    }
}

async fn event(s: &Setup, body: String) -> u16 {
    s.server
        .client
        .post(&s.hook)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn appeals_when(s: &Setup, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    s.server.appeals_when(&s.integration_id, done).await
}

fn count(n: usize) -> impl Fn(&[Value]) -> bool {
    move |items| items.len() >= n && items.iter().all(|a| a["status"] == "complete")
}

fn texts(appeal: &Value) -> Vec<&str> {
    appeal["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect()
}

/// Waits until the portal has answered `n` batches in all (the worker runs in the background).
async fn batches(s: &Setup, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.b24.calls("batch") < n {
        assert!(
            Instant::now() < deadline,
            "{} batches",
            s.b24.calls("batch")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Whatever the reading would do after its batch, it has done by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_lead_written_into_again_in_a_new_session_gives_a_second_appeal_with_its_own_transcript()
{
    let (s, lead) = with_a_lead().await;
    // The visitor comes back a week later and writes into the same chat: a new session.
    s.b24
        .add_openline_chat(session(lead, 775, "2026-11-27T09:10", "А самовывоз есть?"));
    let update = s.b24.event_body("ONCRMLEADUPDATE", lead);
    assert_eq!(event(&s, update.clone()).await, 200);
    let items = appeals_when(&s, count(2)).await;
    assert_eq!(items.len(), 2, "{items:#?}");
    let first = items
        .iter()
        .find(|a| a["provider_ref"] == format!("lead:{lead}"))
        .unwrap();
    let again = items
        .iter()
        .find(|a| a["provider_ref"] == format!("lead:{lead}:session:775"))
        .unwrap_or_else(|| panic!("{items:#?}"));
    assert_eq!(
        texts(first),
        [
            "Здравствуйте, есть доставка?",
            "Ответ на: Здравствуйте, есть доставка?"
        ],
        "the first conversation keeps its own transcript"
    );
    assert_eq!(
        texts(again),
        ["А самовывоз есть?", "Ответ на: А самовывоз есть?"],
        "{again:#}"
    );
    assert_eq!(again["channel"], "telegram");
    assert_eq!(again["contact"]["name"], "Павел Петров");
    assert_ne!(first["id"], again["id"]);

    // The same update delivered twice more (a proxy's repeat with its own `ts` too), at once:
    // read again, nothing new.
    let before = s.b24.calls("batch");
    let repeat = update.replace("&ts=", "&ts=1");
    let (a, b) = tokio::join!(event(&s, update), event(&s, repeat));
    assert_eq!((a, b), (200, 200));
    batches(&s, before + 1).await;
    let items = appeals_when(&s, |_| true).await;
    assert_eq!(items.len(), 2, "no duplicate: {items:#?}");
    assert_eq!(s.b24.rate_limited(), 0);
}

#[tokio::test]
async fn an_update_event_with_no_new_session_makes_no_appeal_and_costs_one_batch() {
    let (s, lead) = with_a_lead().await;
    let (hits, batch, history) = (
        s.b24.hits(),
        s.b24.calls("batch"),
        s.b24.calls("imopenlines.session.history.get"),
    );
    // A manager edits the lead: Bitrix24 sends an update, as for every edit.
    s.b24.update_lead(
        lead,
        json!({"TITLE": "Доставка в Химки", "STATUS_ID": "IN_PROCESS"}),
    );
    assert_eq!(
        event(&s, s.b24.event_body("ONCRMLEADUPDATE", lead)).await,
        200
    );
    batches(&s, batch + 1).await;
    assert_eq!(s.b24.calls("batch"), batch + 1);
    assert_eq!(s.b24.hits(), hits + 1, "one request to the portal in all");
    assert_eq!(
        s.b24.calls("imopenlines.session.history.get"),
        history,
        "no history read again"
    );
    assert_eq!(appeals_when(&s, |_| true).await.len(), 1);
    // An update of a deal, for a leads integration, is not even read.
    assert_eq!(
        event(&s, s.b24.event_body("ONCRMDEALUPDATE", 7301)).await,
        200
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.b24.calls("batch"), batch + 1);
}

#[tokio::test]
async fn a_lost_update_event_is_recovered_by_reconciliation_by_date_modify() {
    let (s, lead) = with_a_lead().await;
    let path = format!("/api/integrations/{}/reconcile", s.integration_id);
    // Nothing changed since the lead was read: reconciling reads nothing.
    let batch = s.b24.calls("batch");
    let run = s.server.demo("POST", &path, None).await;
    assert!(run.status < 300, "{}", run.json);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.b24.calls("batch"), batch, "nothing read again");

    // The portal's clock counts seconds: the new session comes in a later one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.b24.add_openline_chat(session(
        lead,
        776,
        "2026-11-28T18:00",
        "Можно оплатить картой?",
    ));
    // Its ONCRMLEADUPDATE never reached us (Bitrix24 does not send twice).
    let run = s.server.demo("POST", &path, None).await;
    assert!(run.status < 300, "{}", run.json);
    let items = appeals_when(&s, count(2)).await;
    let again = items
        .iter()
        .find(|a| a["provider_ref"] == format!("lead:{lead}:session:776"))
        .unwrap_or_else(|| panic!("{items:#?}"));
    assert_eq!(texts(again)[0], "Можно оплатить картой?");

    // Running it again finds the lead read as it is now.
    let batch = s.b24.calls("batch");
    let run = s.server.demo("POST", &path, None).await;
    assert!(run.status < 300, "{}", run.json);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.b24.calls("batch"), batch, "nothing read again");
    assert_eq!(appeals_when(&s, |_| true).await.len(), 2);
}

/// amoCRM already makes one appeal per talk (`talk:<talk_id>`): a second talk in the same lead,
/// a returning visitor's, is a second appeal, not merged into the first.
#[tokio::test]
async fn a_second_amocrm_talk_in_the_same_lead_is_its_own_appeal() {
    use chatsource_tests::amocrm::{Amocrm, Config as AmoConfig};
    let server = start().await;
    let amo = Amocrm::start(AmoConfig {
        redirect_uri: format!("{}/oauth/amocrm/callback", server.base),
        ..AmoConfig::default()
    })
    .await;
    amo.add_user(900100, "Олег", "oleg@shop.example.ru");
    amo.add_contact(5512093, "Павел", &["+7 903 123-45-67"], &[], &[]);
    amo.add_lead(2209871, "Сделка #2209871", 900100, 5512093, &[], &[]);
    amo.add_talk(8841, 5512093, 2209871, "telegram", false);
    amo.add_talk(8850, 5512093, 2209871, "telegram", false);
    let config = amo.config();
    let created = server
        .demo(
            "POST",
            "/api/integrations",
            Some(json!({"provider": "amocrm", "name": "amoCRM",
                        "default_campaign_id": "cmp_demo_default",
                        "amocrm": {"base_url": amo.base_url(), "client_id": config.client_id,
                                   "client_secret": config.client_secret}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let integration_id = created.json["id"].as_str().unwrap().to_owned();
    let hook = created.json["webhook_urls"]["events"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .connect_oauth(&integration_id, &format!("{}/oauth?", amo.base_url()))
        .await;
    let closed = std::fs::read_to_string(
        chatsource_tests::server::events_dir().join("amocrm/bodies/talk_closed.form"),
    )
    .unwrap();
    // The same lead's later talk closes a week later.
    let later = closed
        .replace("%5Btalk_id%5D=8841", "%5Btalk_id%5D=8850")
        .replace("updated_at%5D=1717403700", "updated_at%5D=1718008500");
    assert_ne!(closed, later);
    for body in [closed, later] {
        let status = server
            .client
            .post(&hook)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    let items = server
        .appeals_when(&integration_id, |items| {
            items.len() >= 2 && items.iter().all(|a| a["status"] == "complete")
        })
        .await;
    let mut refs: Vec<&str> = items
        .iter()
        .map(|a| a["provider_ref"].as_str().unwrap())
        .collect();
    refs.sort_unstable();
    assert_eq!(refs, ["talk:8841", "talk:8850"], "{items:#?}");
}
