//! Bitrix24 Open Lines end to end, against the portal and OAuth server stand-in: connect over
//! OAuth as a user does, lead (and deal) events in through the integration's hook URL, appeals
//! out through the API; the channel from the open line's connector, the transcript from the
//! session history, attribution by session, tags, messenger mapping or the default source; a
//! wrong application token refused; a dropped event recovered by reconciliation.

use chatsource_tests::bitrix24::{Bitrix24, ChatMessage, Config, OpenLineChat};
use chatsource_tests::server::{TestServer, start};
use serde_json::{Value, json};
use shared::domain::ids::IntegrationId;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SESSION_FIELD: &str = "UF_CRM_CS_SESSION";
/// The operator who answers the chats.
const OLGA: u64 = 9;

struct Setup {
    server: TestServer,
    b24: Arc<Bitrix24>,
    integration_id: String,
    hook: String,
}

async fn setup() -> Setup {
    setup_with(Config::default(), "lead").await
}

/// A chatsource, a portal whose local application sends the user back to our callback, an
/// employee for its operator, and a Bitrix24 integration set up as the settings page does:
/// Source as the traffic type (its default), Telegram mapped to the Telegram campaign.
async fn setup_with(config: Config, entity: &str) -> Setup {
    let server = start().await;
    let b24 = Bitrix24::start(Config {
        redirect_uri: Some(format!("{}/oauth/bitrix24/callback", server.base)),
        ..config
    })
    .await;
    b24.add_user(OLGA, "Ольга", "Смирнова", "olga@shop.example.ru");
    let employee = server
        .demo(
            "POST",
            "/api/employees",
            Some(
                json!({"name": "Ольга Смирнова", "external_ids": {"bitrix24": [OLGA.to_string()]}}),
            ),
        )
        .await;
    assert_eq!(employee.status, 201, "{}", employee.json);
    let config = b24.config();
    let created = server
        .demo(
            "POST",
            "/api/integrations",
            Some(json!({
                "provider": "bitrix24", "name": "Открытые линии",
                "default_source_id": "src_demo_organic", "default_site_id": "site_demo_shop",
                "default_employee_id": "emp_demo_oleg",
                "messenger_mapping": {"telegram": {"campaign_id": "cmp_demo_telegram"}},
                "bitrix24": {
                    "portal_url": b24.portal_url(), "oauth_url": b24.oauth_url(),
                    "client_id": config.client_id, "client_secret": config.client_secret,
                    "application_token": config.application_token,
                    "entity": entity, "session_field": SESSION_FIELD,
                },
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    assert_eq!(
        created.json["traffic_type"], "source",
        "Source is Bitrix24's default"
    );
    assert_eq!(created.json["connection"]["status"], "not_connected");
    assert_eq!(created.json["bitrix24"]["client_secret"], "set");
    assert_eq!(created.json["bitrix24"]["application_token"], "set");
    assert_eq!(
        created.json["oauth_redirect_uri"],
        json!(format!("{}/oauth/bitrix24/callback", server.base))
    );
    Setup {
        integration_id: created.json["id"].as_str().unwrap().to_owned(),
        hook: created.json["webhook_urls"]["events"]
            .as_str()
            .unwrap()
            .to_owned(),
        server,
        b24,
    }
}

/// The user opens the authorize URL on the portal's own address, allows access, and the
/// portal sends the browser back to our callback.
async fn connect(s: &Setup) {
    let consent = format!("{}/oauth/authorize/?", s.b24.portal_url());
    s.server.connect_oauth(&s.integration_id, &consent).await;
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

async fn integration(s: &Setup) -> Value {
    s.server.integration(&s.integration_id).await
}

async fn appeals_when(s: &Setup, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    s.server.appeals_when(&s.integration_id, done).await
}

/// The integration's skipped entities once `done` holds of them (or as they are after 20 s).
/// The worker forgets a recorded failure only after the entity's appeal is made, so a caller
/// that has just seen the appeal must wait for the record to go too.
async fn skipped_when(s: &Setup, done: impl Fn(&[Value]) -> bool) -> Value {
    let path = format!("/api/integrations/{}/skipped", s.integration_id);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = s.server.demo("GET", &path, None).await.json;
        if listed["items"].as_array().is_some_and(|i| done(i)) || Instant::now() > deadline {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const SPRING_SALE: &str =
    "https://shop.example.ru/?utm_source=yandex&utm_medium=cpc&utm_campaign=spring_sale";

fn count(n: usize) -> impl Fn(&[Value]) -> bool {
    move |items| items.len() >= n && items.iter().all(|a| a["status"] == "complete")
}

/// A chat of `connector` that made lead `lead`: a system line, the client's question, Ольга's
/// answer.
fn chat(
    entity_type: &str,
    entity_id: u64,
    connector: &str,
    n: u64,
    question: &str,
) -> OpenLineChat {
    OpenLineChat {
        entity_type: entity_type.into(),
        entity_id,
        connector: connector.into(),
        line_id: 2,
        chat_id: 1980 + n,
        session_id: 770 + n,
        client: (450 + n, "Павел Петров".into()),
        messages: vec![
            ChatMessage {
                sender: 0,
                text: "Клиент написал в открытую линию".into(),
                at: "2026-11-20T12:40:00+03:00".into(),
            },
            ChatMessage {
                sender: 450 + n,
                text: question.into(),
                at: "2026-11-20T12:40:05+03:00".into(),
            },
            ChatMessage {
                sender: OLGA,
                text: "[b]Добрый день![/b][br]Да, доставляем.".into(),
                at: "2026-11-20T12:41:00+03:00".into(),
            },
        ],
    }
}

fn openline_lead(b24: &Bitrix24, connector: &str, extra: Value) -> u64 {
    let mut fields = json!({
        "TITLE": "Открытая линия", "NAME": "Павел", "LAST_NAME": "Петров",
        "ASSIGNED_BY_ID": OLGA,
        "PHONE": [{"ID": "901", "VALUE_TYPE": "MOBILE", "VALUE": "+7 903 123-45-67", "TYPE_ID": "PHONE"}],
        "EMAIL": [{"ID": "902", "VALUE_TYPE": "WORK", "VALUE": "Pavel@Example.com", "TYPE_ID": "EMAIL"}],
    });
    if let (Some(f), Some(e)) = (fields.as_object_mut(), extra.as_object()) {
        f.extend(e.clone());
    }
    let id = b24.add_lead(fields);
    b24.add_openline_chat(chat(
        "lead",
        id,
        connector,
        id % 100,
        "Здравствуйте, есть доставка?",
    ));
    id
}

#[tokio::test]
async fn a_telegram_open_line_lead_becomes_one_appeal_with_contact_transcript_and_session() {
    let s = setup().await;
    // The visit our script recorded; the site put its id in the lead's session field.
    let visit = s.server.visit(SPRING_SALE).await;
    let session_id = visit["session_id"].as_str().unwrap();
    let lead = openline_lead(&s.b24, "telegrambot", json!({SESSION_FIELD: session_id}));
    connect(&s).await;
    assert_eq!(integration(&s).await["connection"]["status"], "connected");

    assert_eq!(event(&s, s.b24.event_body("ONCRMLEADADD", lead)).await, 200);
    let items = appeals_when(&s, count(1)).await;
    assert_eq!(items.len(), 1, "{items:#?}");
    let a = &items[0];
    assert_eq!(a["status"], "complete", "{a:#}");
    assert_eq!(a["provider_ref"], format!("lead:{lead}"));
    assert_eq!(a["channel"], "telegram");
    assert_eq!(a["contact"]["name"], "Павел Петров");
    assert_eq!(a["contact"]["phones"], json!(["+79031234567"]));
    assert_eq!(a["contact"]["emails"], json!(["pavel@example.com"]));
    let authors: Vec<&str> = a["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["author"].as_str().unwrap())
        .collect();
    assert_eq!(authors, ["system", "visitor", "employee"], "{a:#}");
    assert_eq!(a["messages"][2]["text"], "Добрый день!\nДа, доставляем.");
    assert_eq!(a["employee"]["name"], "Ольга Смирнова");
    assert_eq!(a["employee"]["matched_by"], "external_id");
    assert_eq!(a["attribution"]["via"], "session", "{a:#}");
    assert_eq!(a["attribution"]["campaign_id"], "cmp_demo_spring");
    assert_eq!(s.b24.rate_limited(), 0);
    assert_eq!(
        s.b24.calls("batch"),
        1,
        "entity, chats and sessions in one hit"
    );

    // Different deliveries naming one new lead race: the event, a proxy's repeat of it with
    // its own `ts`, and a reconciliation run that finds the lead. Still one appeal for it.
    let second = openline_lead(&s.b24, "telegrambot", json!({}));
    let body = s.b24.event_body("ONCRMLEADADD", second);
    let repeat = body.replace("&ts=", "&ts=1");
    assert_ne!(body, repeat);
    let path = format!("/api/integrations/{}/reconcile", s.integration_id);
    let reconcile = s.server.demo("POST", &path, None);
    let (a, b, run) = tokio::join!(event(&s, body), event(&s, repeat), reconcile);
    assert_eq!((a, b), (200, 200));
    assert!(run.status < 300, "{}", run.json);
    let items = appeals_when(&s, count(2)).await;
    assert_eq!(items.len(), 2, "{items:#?}");
    let again = items
        .iter()
        .find(|a| a["provider_ref"] == format!("lead:{second}"))
        .unwrap();
    assert_eq!(again["messages"].as_array().unwrap().len(), 3, "{again:#}");
}

#[tokio::test]
async fn without_a_session_messengers_follow_the_mapping_and_the_rest_the_default_source() {
    let s = setup().await;
    connect(&s).await;
    let telegram = openline_lead(&s.b24, "telegrambot", json!({}));
    let whatsapp = openline_lead(&s.b24, "whatsappbyedna", json!({}));
    event(&s, s.b24.event_body("ONCRMLEADADD", telegram)).await;
    event(&s, s.b24.event_body("ONCRMLEADADD", whatsapp)).await;
    let items = appeals_when(&s, count(2)).await;
    let by_ref = |id: u64| {
        items
            .iter()
            .find(|a| a["provider_ref"] == format!("lead:{id}"))
            .unwrap_or_else(|| panic!("lead {id} in {items:#?}"))
    };
    let t = by_ref(telegram);
    assert_eq!(t["attribution"]["via"], "messenger_mapping", "{t:#}");
    assert_eq!(t["attribution"]["campaign_id"], "cmp_demo_telegram");
    let w = by_ref(whatsapp);
    assert_eq!(w["channel"], "whatsapp");
    assert_eq!(w["attribution"]["via"], "default", "{w:#}");
    assert_eq!(w["attribution"]["source_id"], "src_demo_organic");
    assert_eq!(w["attribution"]["site_id"], "site_demo_shop");
}

#[tokio::test]
async fn a_site_widget_chat_with_utm_in_the_lead_is_attributed_by_its_tags() {
    let s = setup().await;
    connect(&s).await;
    let lead = openline_lead(
        &s.b24,
        "livechat",
        json!({"UTM_SOURCE": "google", "UTM_MEDIUM": "cpc", "UTM_CAMPAIGN": "brand"}),
    );
    event(&s, s.b24.event_body("ONCRMLEADADD", lead)).await;
    let a = &appeals_when(&s, count(1)).await[0];
    assert_eq!(a["channel"], "site");
    assert_eq!(a["attribution"]["via"], "utm", "{a:#}");
    assert_eq!(a["attribution"]["campaign_id"], "cmp_demo_google");
}

#[tokio::test]
async fn a_site_widget_chat_finds_its_session_in_the_custom_data_our_script_gave_the_widget() {
    let s = setup().await;
    connect(&s).await;
    let visit = s.server.visit(SPRING_SALE).await;
    let lead = s
        .b24
        .add_lead(json!({"TITLE": "Онлайн-чат", "NAME": "Гость"}));
    let mut chat = chat("lead", lead, "livechat", 3, "Здравствуйте");
    // `widget.setCustomData(...)` shows in the chat as a line of the system.
    chat.messages.insert(
        1,
        ChatMessage {
            sender: 0,
            text: format!(
                "chatsource session {} {}",
                visit["session_id"].as_str().unwrap(),
                visit["code"].as_str().unwrap_or_default()
            ),
            at: "2026-11-20T12:40:01+03:00".into(),
        },
    );
    s.b24.add_openline_chat(chat);
    event(&s, s.b24.event_body("ONCRMLEADADD", lead)).await;
    let a = &appeals_when(&s, count(1)).await[0];
    assert_eq!(a["channel"], "site");
    assert_eq!(a["attribution"]["via"], "session", "{a:#}");
    // The line carries the session's code too; either finds the same session.
    assert_eq!(a["attribution"]["session_lookup"]["found"], true, "{a:#}");
    assert_eq!(a["attribution"]["campaign_id"], "cmp_demo_spring");
}

#[tokio::test]
async fn a_wrong_application_token_is_refused_and_nothing_is_stored() {
    let s = setup().await;
    connect(&s).await;
    let lead = openline_lead(&s.b24, "telegrambot", json!({}));
    let forged = s.b24.event_body("ONCRMLEADADD", lead).replace(
        &s.b24.config().application_token,
        "0123456789abcdef0123456789abcdef",
    );
    assert_eq!(event(&s, forged).await, 403);
    let raw = s
        .server
        .demo(
            "GET",
            &format!("/api/raw-events?integration_id={}", s.integration_id),
            None,
        )
        .await;
    assert_eq!(raw.json["items"], json!([]), "{}", raw.json);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.b24.calls("batch"), 0, "nothing was queued");
    assert!(appeals_when(&s, |_| true).await.is_empty());
}

#[tokio::test]
async fn a_dropped_event_is_recovered_by_reconciliation_and_running_it_again_adds_nothing() {
    let s = setup().await;
    connect(&s).await;
    // Two leads whose events never reached us: a chat, and a form lead no open line made.
    let chat = openline_lead(&s.b24, "telegrambot", json!({}));
    let form = s
        .b24
        .add_lead(json!({"TITLE": "Заявка с сайта", "NAME": "Анна", "SOURCE_ID": "WEB"}));
    let path = format!("/api/integrations/{}/reconcile", s.integration_id);
    let first = s.server.demo("POST", &path, None).await;
    assert_eq!(first.status, 202, "a queued job: {}", first.json);
    assert_eq!(first.json["queued"], true, "{}", first.json);
    let items = appeals_when(&s, count(1)).await;
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["provider_ref"], format!("lead:{chat}"));
    // The form lead is recorded as skipped, with why.
    let skipped = skipped_when(&s, |i| !i.is_empty()).await;
    assert_eq!(
        skipped["items"][0]["entity_ref"],
        format!("lead:{form}"),
        "{skipped}"
    );
    assert_eq!(skipped["items"][0]["kind"], "not_a_chat", "{skipped}");
    assert!(
        skipped["items"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not made by an open line"),
        "{skipped}"
    );
    let watermark = integration(&s).await["reconciliation"]["created_up_to"].clone();
    assert_ne!(
        watermark,
        integration(&s).await["created_at"],
        "it moved on"
    );

    let batches = s.b24.calls("batch");
    assert_eq!(batches, 2, "each lead read once");
    let second = s.server.demo("POST", &path, None).await;
    assert_eq!(second.status, 202, "{}", second.json);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        s.b24.calls("batch"),
        batches,
        "both are known now: nothing read again"
    );
    assert_eq!(appeals_when(&s, |_| true).await.len(), 1);
    // The hourly run does the same for every connected portal, and finds nothing new either.
    let app = chatsource_tests::server::local_app(s.server.store.clone())
        .with_queue(chatsource::embedded_queue(&s.server.store));
    let report =
        maintenance::run(&app, shared::crm::Deadline::after(maintenance::INVOCATION)).await;
    assert_eq!((report.reconciled, report.queued), (1, 0), "{report:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(appeals_when(&s, count(1)).await.len(), 1);

    // A later dropped lead is found by the hourly run.
    let later = openline_lead(&s.b24, "vkgroup", json!({}));
    let report =
        maintenance::run(&app, shared::crm::Deadline::after(maintenance::INVOCATION)).await;
    assert_eq!(report.queued, 1, "{report:?}");
    let items = appeals_when(&s, count(2)).await;
    let vk = items
        .iter()
        .find(|a| a["provider_ref"] == format!("lead:{later}"))
        .unwrap_or_else(|| panic!("{items:#?}"));
    assert_eq!(vk["channel"], "vk");
}

#[tokio::test]
async fn a_deal_made_by_an_open_line_takes_its_person_from_the_contact() {
    let s = setup_with(Config::default(), "deal").await;
    connect(&s).await;
    let contact = s.b24.add_contact(json!({
        "NAME": "Мария", "LAST_NAME": "Иванова",
        "PHONE": [{"ID": "5", "VALUE_TYPE": "WORK", "VALUE": "8 (916) 555-44-33", "TYPE_ID": "PHONE"}],
    }));
    let deal = s.b24.add_deal(json!({
        "TITLE": "Сделка из WhatsApp", "CONTACT_ID": contact,
        "UTM_SOURCE": "yandex", "UTM_MEDIUM": "cpc", "UTM_CAMPAIGN": "spring_sale",
    }));
    s.b24
        .add_openline_chat(chat("deal", deal, "whatsappbyedna", 7, "Хочу заказать"));
    // A lead event does nothing for a deal integration.
    assert_eq!(event(&s, s.b24.event_body("ONCRMLEADADD", 1)).await, 200);
    assert_eq!(event(&s, s.b24.event_body("ONCRMDEALADD", deal)).await, 200);
    let a = &appeals_when(&s, count(1)).await[0];
    assert_eq!(a["provider_ref"], format!("deal:{deal}"));
    assert_eq!(a["channel"], "whatsapp");
    assert_eq!(a["contact"]["name"], "Мария Иванова");
    assert_eq!(a["contact"]["phones"], json!(["+79165554433"]));
    assert_eq!(a["attribution"]["campaign_id"], "cmp_demo_spring", "{a:#}");
    assert_eq!(a["messages"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_a_revoked_one_parks_the_lead_until_reconnected() {
    let s = setup().await;
    connect(&s).await;
    // An hour passes: the portal refuses our access token; the refresh token still works.
    s.b24.expire_access_tokens();
    let first = openline_lead(&s.b24, "telegrambot", json!({}));
    event(&s, s.b24.event_body("ONCRMLEADADD", first)).await;
    assert_eq!(appeals_when(&s, count(1)).await.len(), 1);
    assert_eq!(s.b24.refreshes(), 1);

    // The application is removed from the portal: nothing works until the user connects again.
    s.b24.revoke_all();
    let second = openline_lead(&s.b24, "telegrambot", json!({}));
    event(&s, s.b24.event_body("ONCRMLEADADD", second)).await;
    let id = IntegrationId::parse(&s.integration_id).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while s
        .server
        .store
        .waiting_jobs(&id, 1000)
        .await
        .unwrap()
        .is_empty()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        s.server.store.waiting_jobs(&id, 1000).await.unwrap().len(),
        1,
        "the lead waits, not lost"
    );
    let connection = integration(&s).await["connection"].clone();
    assert_eq!(connection["status"], "needs_reauth", "{connection}");
    assert_eq!(connection["waiting_jobs"], 1, "{connection}");
    let refused = s
        .server
        .demo(
            "POST",
            &format!("/api/integrations/{}/reconcile", s.integration_id),
            None,
        )
        .await;
    assert_eq!(
        (refused.status, refused.json["error"].as_str()),
        (409, Some("needs_reauth"))
    );

    connect(&s).await;
    let items = appeals_when(&s, count(2)).await;
    assert_eq!(items.len(), 2, "{items:#?}");
    assert!(
        s.server
            .store
            .waiting_jobs(&id, 1000)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn reads_are_paced_under_the_portal_limit() {
    // A small bucket: bursting five leads' reads at once would overflow it.
    let s = setup_with(
        Config {
            burst: 3,
            drain_per_second: 2,
            ..Config::default()
        },
        "lead",
    )
    .await;
    connect(&s).await;
    let leads: Vec<u64> = (0..5)
        .map(|_| openline_lead(&s.b24, "telegrambot", json!({})))
        .collect();
    for lead in &leads {
        assert_eq!(
            event(&s, s.b24.event_body("ONCRMLEADADD", *lead)).await,
            200
        );
    }
    let items = appeals_when(&s, count(5)).await;
    assert_eq!(items.len(), 5, "{items:#?}");
    assert_eq!(s.b24.rate_limited(), 0, "paced at 2 requests/s, never over");
}

#[tokio::test]
async fn a_stale_authorization_code_changes_nothing() {
    let s = setup().await;
    let state = s.server.oauth_state(&s.integration_id).await;
    let code = s.b24.authorization_code();
    // The user took longer than the code's 30 seconds.
    s.b24.expire_authorization_codes();
    let page = reqwest::get(format!(
        "{}/oauth/bitrix24/callback?code={code}&state={state}",
        s.server.base
    ))
    .await
    .unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("invalid_grant"));
    assert_eq!(
        integration(&s).await["connection"]["status"],
        "not_connected"
    );
}

/// The demo account's Bitrix24 integration in `store`, pointed at the stand-in and connected
/// to it with a token pair it issued, as if the OAuth callback had run.
pub(crate) async fn demo_connected_to(store: &shared::store::Store, b24: &Bitrix24) {
    use shared::domain::secret::Secret;
    let mut integration: shared::domain::integration::Integration = store
        .entity(shared::app::demo::BITRIX24_INTEGRATION_ID)
        .await
        .unwrap()
        .unwrap();
    let settings = integration.bitrix24.as_mut().unwrap();
    settings.portal_url = b24.portal_url();
    settings.oauth_url = b24.oauth_url();
    settings.client_id = Some(b24.config().client_id.clone());
    settings.client_secret = Some(Secret::new(&b24.config().client_secret));
    settings.member_id = Some(b24.config().member_id.clone());
    store.put_entity(&integration).await.unwrap();
    let granted = b24.issue_tokens();
    let grant = shared::domain::oauth::Grant {
        access_token: Secret::new(granted["access_token"].as_str().unwrap()),
        refresh_token: granted["refresh_token"].as_str().map(Secret::new),
        expires_in: granted["expires_in"].as_u64().map(Duration::from_secs),
    };
    let tokens = shared::domain::oauth::Tokens::connected(
        integration.id.clone(),
        integration.account_id.clone(),
        grant,
        chrono::Utc::now(),
    );
    store.connect(&tokens).await.unwrap();
}

/// The worker alone, on the demo account's Bitrix24 integration pointed at the stand-in and
/// connected, with a retry schedule of no waits.
async fn worker_harness(
    b24: &Bitrix24,
) -> (
    Arc<shared::app::App>,
    Arc<shared::queue::embedded::EmbeddedQueue>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = shared::store::Store::new(Arc::new(
        shared::store::sqlite::SqliteKv::open(&dir.path().join("t.db")).unwrap(),
    ));
    shared::app::demo::seed(&store, None, chrono::Utc::now())
        .await
        .unwrap();
    demo_connected_to(&store, b24).await;
    let queue = Arc::new(shared::queue::embedded::EmbeddedQueue::enrichment(
        store.clone(),
    ));
    let app = Arc::new(
        chatsource_tests::server::local_app(store)
            .with_queue(queue.clone() as Arc<dyn shared::queue::Queue>),
    );
    (app, queue, dir)
}

#[tokio::test]
async fn over_the_portal_limit_the_read_backs_off_and_is_retried() {
    use enrichment_worker::{Outcome, Worker};
    use shared::queue::Queue;
    let b24 = Bitrix24::start(Config::default()).await;
    b24.add_user(OLGA, "Ольга", "Смирнова", "olga@shop.example.ru");
    let (app, queue, _dir) = worker_harness(&b24).await;
    let lead = openline_lead(&b24, "telegrambot", json!({}));
    let integration = app
        .integration(shared::app::demo::BITRIX24_INTEGRATION_ID)
        .await
        .unwrap()
        .unwrap();
    shared::app::jobs::enqueue(
        &app,
        &integration,
        &shared::domain::ids::AppealId::derive(
            &integration.id,
            "bitrix24",
            &format!("lead:{lead}"),
        ),
        shared::domain::job::Task::Bitrix24Entity {
            entity: shared::domain::integration::CrmEntity::Lead,
            id: lead,
        },
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    // Another app on the same portal used up the bucket.
    b24.fail_next(
        "imopenlines.session.history.get",
        503,
        json!({"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}),
    );
    let worker = Worker::with(vec![Duration::ZERO; 3], shared::crm::Timing::default());
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        for delivery in queue.receive(10, Duration::from_secs(60)).await.unwrap() {
            let outcome = worker
                .handle(
                    &app,
                    &delivery,
                    shared::crm::Deadline::after(Duration::from_secs(30)),
                )
                .await;
            if outcome == Outcome::Done {
                queue.delete(&delivery.receipt).await.unwrap();
            }
            outcomes.push(outcome);
        }
    }
    assert_eq!(outcomes, [Outcome::RetryLater, Outcome::Done]);
    assert_eq!(b24.rate_limited(), 1);
    let appeals = app
        .store
        .appeals(
            &shared::domain::ids::AccountId::parse(shared::app::demo::ACCOUNT_ID).unwrap(),
            &Default::default(),
            10,
            None,
        )
        .await
        .unwrap()
        .items;
    let appeal = appeals
        .iter()
        .find(|a| a.provider_ref == format!("lead:{lead}"))
        .expect("the appeal, made on the second attempt");
    assert_eq!(appeal.messages.len(), 3);
    assert!(queue.is_empty().await.unwrap());
}

#[tokio::test]
async fn a_backlog_of_sixty_leads_on_one_portal_read_by_five_workers_ends_with_sixty_appeals_no_timeout_and_nothing_dead_lettered()
 {
    use enrichment_worker::{Outcome, Worker};
    use shared::queue::Queue;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let b24 = Bitrix24::start(Config::default()).await;
    b24.add_user(OLGA, "Ольга", "Смирнова", "olga@shop.example.ru");
    let (app, queue, _dir) = worker_harness(&b24).await;
    let integration = app
        .integration(shared::app::demo::BITRIX24_INTEGRATION_ID)
        .await
        .unwrap()
        .unwrap();
    for _ in 0..60 {
        let lead = openline_lead(&b24, "telegrambot", json!({}));
        let appeal = shared::domain::ids::AppealId::derive(
            &integration.id,
            "bitrix24",
            &format!("lead:{lead}"),
        );
        let task = shared::domain::job::Task::Bitrix24Entity {
            entity: shared::domain::integration::CrmEntity::Lead,
            id: lead,
        };
        shared::app::jobs::enqueue(&app, &integration, &appeal, task, chrono::Utc::now())
            .await
            .unwrap();
    }
    let account = shared::domain::ids::AccountId::parse(shared::app::demo::ACCOUNT_ID).unwrap();
    let appeals = || async {
        app.store
            .appeals(&account, &Default::default(), 100, None)
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|a| a.provider == shared::domain::appeal::Provider::Bitrix24)
            .count()
    };
    // Five Lambda invocations at a time (the template's MaximumConcurrency), each a batch of
    // up to ten jobs (BatchSize) and a 30-second deadline (Timeout); a job out of time comes
    // back a second later.
    let worker = Arc::new(Worker::new().deferring_for(Duration::from_secs(1)));
    let (invocations, timeouts, retries) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let started = Instant::now();
    let lambdas: Vec<_> = (0..5)
        .map(|_| {
            let (app, queue, worker) = (app.clone(), queue.clone(), worker.clone());
            let (invocations, timeouts, retries) =
                (invocations.clone(), timeouts.clone(), retries.clone());
            tokio::spawn(async move {
                while started.elapsed() < Duration::from_secs(240) {
                    let batch = queue.receive(10, Duration::from_secs(180)).await.unwrap();
                    if batch.is_empty() {
                        if queue.is_empty().await.unwrap() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                    invocations.fetch_add(1, Ordering::SeqCst);
                    let invoked = Instant::now();
                    let deadline = shared::crm::Deadline::after(Duration::from_secs(30));
                    let outcomes = worker.batch(&app, &batch, deadline).await;
                    if invoked.elapsed() >= Duration::from_secs(30) {
                        timeouts.fetch_add(1, Ordering::SeqCst);
                    }
                    for (delivery, outcome) in batch.iter().zip(outcomes) {
                        match outcome {
                            Outcome::Done => queue.delete(&delivery.receipt).await.unwrap(),
                            Outcome::RetryLater => {
                                retries.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for lambda in lambdas {
        lambda.await.unwrap();
    }
    let took = started.elapsed();
    assert_eq!(appeals().await, 60, "every lead became its appeal");
    assert_eq!(
        timeouts.load(Ordering::SeqCst),
        0,
        "no invocation ran out its time"
    );
    assert_eq!(
        retries.load(Ordering::SeqCst),
        0,
        "nothing failed on the way"
    );
    assert!(
        queue.parked(10).await.unwrap().is_empty(),
        "nothing dead-lettered"
    );
    assert_eq!(b24.rate_limited(), 0, "the portal was never over its limit");
    eprintln!(
        "60 leads, 5 workers: {took:?}, {} invocations, {} portal hits",
        invocations.load(Ordering::SeqCst),
        b24.hits()
    );
}

#[tokio::test]
async fn a_lead_whose_reading_is_refused_is_parked_shown_as_failed_and_read_once_retried() {
    let s = setup().await;
    connect(&s).await;
    let lead = openline_lead(&s.b24, "telegrambot", json!({}));
    // The portal's plan lapsed: its REST answers PAYMENT_REQUIRED for a while.
    s.b24.fail_next(
        "batch",
        402,
        json!({"error": "PAYMENT_REQUIRED", "error_description": "Payment required"}),
    );
    assert_eq!(event(&s, s.b24.event_body("ONCRMLEADADD", lead)).await, 200);
    let failed = skipped_when(&s, |i| !i.is_empty()).await["items"][0].clone();
    // A failure, visible as one: not a lead that "is no chat".
    assert_eq!(failed["entity_ref"], format!("lead:{lead}"), "{failed}");
    assert_eq!(failed["kind"], "failed", "{failed}");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("PAYMENT_REQUIRED")
    );
    assert!(
        failed["retry_at"].is_string(),
        "reconciliation tries it again: {failed}"
    );
    // Parked in the dead-letter queue with the same reason. The worker records the failure
    // before it hands the job back to be parked, so the record can show first.
    let queue = chatsource::embedded_queue(&s.server.store);
    let deadline = Instant::now() + Duration::from_secs(20);
    let parked = loop {
        let parked = queue.parked(10).await.unwrap();
        if !parked.is_empty() || Instant::now() > deadline {
            break parked;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert!(
        parked[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("PAYMENT_REQUIRED")
    );
    assert!(appeals_when(&s, |_| true).await.is_empty());

    // The bill is paid; whoever fixed it reconciles: the lead is read and becomes its appeal.
    let path = format!("/api/integrations/{}/reconcile", s.integration_id);
    assert_eq!(s.server.demo("POST", &path, None).await.status, 202);
    let items = appeals_when(&s, count(1)).await;
    assert_eq!(items[0]["provider_ref"], format!("lead:{lead}"));
    let listed = skipped_when(&s, <[Value]>::is_empty).await;
    assert_eq!(listed["items"], json!([]), "the failure is over: {listed}");
}
