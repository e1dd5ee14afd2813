//! amoCRM end to end, against the amoCRM stand-in: connect over OAuth as a user does, closed
//! talks in through the integration's hook URL, appeals out through the API; single-use refresh
//! tokens refreshed once for many workers; a revoked connection parking jobs until the user
//! connects again.

use chatsource_tests::amocrm::{Amocrm, Config};
use chatsource_tests::server::{TestServer, start};
use serde_json::{Value, json};
use shared::crm::{Deadline, Session};
use shared::domain::ids::IntegrationId;
use shared::domain::oauth::Refresh;
use std::sync::Arc;
use std::time::Duration;

const SESSION_FIELD: u64 = 777_001;

struct Setup {
    server: TestServer,
    amo: Arc<Amocrm>,
    integration_id: String,
    hook: String,
}

/// A chatsource, an amoCRM account with Павел's closed Telegram talk (lead 2209871, contact
/// 5512093, Олег responsible), and an amoCRM integration set up as the settings page does.
async fn setup() -> Setup {
    let server = start().await;
    let amo = Amocrm::start(Config {
        redirect_uri: format!("{}/oauth/amocrm/callback", server.base),
        ..Config::default()
    })
    .await;
    amo.add_user(900100, "Олег", "oleg@shop.example.ru");
    amo.add_contact(
        5512093,
        "Павел",
        &["+7 903 123-45-67"],
        &["Pavel@Example.com"],
        &[],
    );
    amo.add_lead(2209871, "Сделка #2209871", 900100, 5512093, &[], &[]);
    amo.add_talk(8841, 5512093, 2209871, "telegram", false);
    let config = amo.config();
    let created = server
        .demo(
            "POST",
            "/api/integrations",
            Some(json!({"provider": "amocrm", "name": "amoCRM", "default_campaign_id": "cmp_demo_default",
                        "default_employee_id": "emp_demo_oleg",
                        "messenger_mapping": {"telegram": {"campaign_id": "cmp_demo_telegram"}},
                        "amocrm": {"base_url": amo.base_url(), "client_id": config.client_id,
                                   "client_secret": config.client_secret, "session_field_id": SESSION_FIELD}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    assert_eq!(created.json["connection"]["status"], "not_connected");
    assert_eq!(created.json["amocrm"]["client_secret"], "set");
    assert_eq!(
        created.json["oauth_redirect_uri"],
        json!(format!("{}/oauth/amocrm/callback", server.base))
    );
    Setup {
        integration_id: created.json["id"].as_str().unwrap().to_owned(),
        hook: created.json["webhook_urls"]["events"]
            .as_str()
            .unwrap()
            .to_owned(),
        server,
        amo,
    }
}

/// The user opens the authorize URL, allows access, and amoCRM sends the browser back to us.
async fn connect(s: &Setup) {
    s.server
        .connect_oauth(&s.integration_id, &format!("{}/oauth?", s.amo.base_url()))
        .await;
}

async fn hook(s: &Setup, name: &str) -> u16 {
    let body = std::fs::read(
        chatsource_tests::server::events_dir().join(format!("amocrm/bodies/{name}.form")),
    )
    .unwrap();
    let response = s
        .server
        .client
        .post(&s.hook)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

async fn integration(s: &Setup) -> Value {
    s.server.integration(&s.integration_id).await
}

async fn appeals_when(s: &Setup, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    s.server.appeals_when(&s.integration_id, done).await
}

fn complete(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|a| a["status"] == "complete")
}

#[tokio::test]
async fn connecting_then_a_closed_talk_gives_one_complete_appeal_with_contact_transcript_and_session()
 {
    let s = setup().await;
    // The visit our script recorded, whose id the amoCRM button put in the lead's session field.
    let visit = s
        .server
        .visit("https://shop.example.ru/?utm_source=yandex&utm_medium=cpc&utm_campaign=spring_sale&yclid=77")
        .await;
    let session_id = visit["session_id"].as_str().unwrap();
    s.amo.add_lead(
        2209871,
        "Сделка #2209871",
        900100,
        5512093,
        &[],
        &[(SESSION_FIELD, session_id)],
    );
    connect(&s).await;
    let connection = &integration(&s).await["connection"];
    assert_eq!(connection["status"], "connected", "{connection}");

    assert_eq!(hook(&s, "messages").await, 200);
    assert_eq!(hook(&s, "talk_closed").await, 200);
    let items = appeals_when(&s, complete).await;
    assert_eq!(items.len(), 1, "{items:#?}");
    let a = &items[0];
    assert_eq!(a["status"], "complete", "{a:#}");
    assert_eq!(a["channel"], "telegram");
    assert_eq!(a["contact"]["name"], "Павел");
    assert_eq!(a["contact"]["phones"], json!(["+79031234567"]));
    assert_eq!(a["contact"]["emails"], json!(["pavel@example.com"]));
    assert_eq!(a["employee"]["id"], "emp_demo_oleg");
    assert_eq!(a["employee"]["matched_by"], "email");
    assert_eq!(a["messages"].as_array().unwrap().len(), 2);
    assert_eq!(a["attribution"]["via"], "session", "{a:#}");
    assert_eq!(a["attribution"]["campaign_id"], "cmp_demo_spring");
    assert_eq!(a["session"]["click_ids"], json!({"yclid": "77"}));
    assert_eq!(s.amo.rate_limited(), 0);

    // Different deliveries of the close of one talk race (amoCRM sends `talk[update]` again
    // with a later `updated_at`, and a message arrives meanwhile): still one appeal.
    let body = std::fs::read_to_string(
        chatsource_tests::server::events_dir().join("amocrm/bodies/talk_closed.form"),
    )
    .unwrap();
    let later = body.replace("updated_at%5D=1717403700", "updated_at%5D=1717403799");
    assert_ne!(body, later);
    let post = |body: String| {
        s.server
            .client
            .post(&s.hook)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let (first, second, messages) = tokio::join!(post(body), post(later), hook(&s, "messages"));
    assert_eq!(first.unwrap().status(), 200);
    assert_eq!(second.unwrap().status(), 200);
    assert_eq!(messages, 200);
    let items = appeals_when(&s, complete).await;
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn without_a_session_a_lead_with_utm_fields_is_attributed_by_its_tags() {
    let s = setup().await;
    s.amo.add_lead(
        2209871,
        "Сделка",
        900100,
        5512093,
        &[("UTM_SOURCE", "google"), ("UTM_MEDIUM", "cpc")],
        &[],
    );
    connect(&s).await;
    hook(&s, "talk_closed").await;
    let a = &appeals_when(&s, complete).await[0];
    assert_eq!(a["attribution"]["via"], "utm", "{a:#}");
    assert_eq!(a["attribution"]["campaign_id"], "cmp_demo_google");
}

#[tokio::test]
async fn twenty_workers_needing_a_fresh_token_at_once_cause_exactly_one_refresh() {
    let s = setup().await;
    connect(&s).await;
    // A day passes: every access token amoCRM issued is dead; ours does not know yet.
    s.amo.expire_access_tokens();
    let id = IntegrationId::parse(&s.integration_id).unwrap();
    let stale = s
        .server
        .store
        .tokens(&id)
        .await
        .unwrap()
        .unwrap()
        .access_token;
    let integration: shared::domain::integration::Integration = s
        .server
        .store
        .entity(&s.integration_id)
        .await
        .unwrap()
        .unwrap();
    let app = Arc::new(chatsource_tests::server::local_app(s.server.store.clone()));
    let integration = Arc::new(integration);
    let workers = (0..20).map(|_| {
        let (app, integration, stale) = (app.clone(), integration.clone(), stale.clone());
        tokio::spawn(async move {
            // Each was refused with the old token, and asks for a fresh one at the same moment.
            Session::new(&app, &integration, Deadline::after(Duration::from_secs(30)))
                .token(Refresh::Refused(&stale))
                .await
        })
    });
    let tokens: Vec<_> = futures::future::join_all(workers)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(s.amo.refreshes(), 1, "one refresh for twenty workers");
    assert!(
        tokens.windows(2).all(|w| w[0] == w[1]),
        "all reuse the one new token"
    );
    assert_ne!(tokens[0], stale);
    assert_eq!(integration_status(&s).await, "connected", "no revocation");

    // And the product path: a closed talk read with the stale token gets one refresh, then works.
    s.amo.expire_access_tokens();
    hook(&s, "talk_closed").await;
    assert_eq!(appeals_when(&s, complete).await[0]["status"], "complete");
    assert_eq!(s.amo.refreshes(), 2);
}

async fn integration_status(s: &Setup) -> Value {
    integration(s).await["connection"]["status"].clone()
}

#[tokio::test]
async fn a_revoked_connection_parks_jobs_shows_needs_reauth_and_reconnecting_drains_them() {
    let s = setup().await;
    connect(&s).await;
    s.amo.revoke_all();
    s.amo.expire_access_tokens();
    assert_eq!(hook(&s, "talk_closed").await, 200);
    let items = appeals_when(&s, |items| {
        items.iter().any(|a| a["status_reason"].is_string())
    })
    .await;
    assert_eq!(items[0]["status"], "pending_enrichment", "{:#?}", items[0]);
    assert!(
        items[0]["status_reason"]
            .as_str()
            .unwrap()
            .contains("connected again"),
        "{:#?}",
        items[0]
    );
    let connection = integration(&s).await["connection"].clone();
    assert_eq!(connection["status"], "needs_reauth", "{connection}");
    assert!(connection["since"].is_string());
    assert!(
        connection["reason"].as_str().unwrap().contains("revoked"),
        "{connection}"
    );
    let id = IntegrationId::parse(&s.integration_id).unwrap();
    assert_eq!(
        s.server.store.waiting_jobs(&id, 1000).await.unwrap().len(),
        1,
        "the job waits, not lost"
    );

    // The user connects again: the waiting job becomes the appeal.
    connect(&s).await;
    assert_eq!(integration_status(&s).await, "connected");
    let items = appeals_when(&s, complete).await;
    assert_eq!(items[0]["status"], "complete", "{:#?}", items[0]);
    assert!(items[0].get("status_reason").is_none());
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
async fn open_talks_make_no_appeal() {
    let s = setup().await;
    connect(&s).await;
    assert_eq!(hook(&s, "talk_open").await, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(appeals_when(&s, |_| true).await.is_empty());
}

#[tokio::test]
async fn a_long_lived_token_connects_without_oauth_and_a_refused_one_is_not_kept() {
    let s = setup().await;
    let path = format!("/api/integrations/{}", s.integration_id);
    let refused = s
        .server
        .demo(
            "PATCH",
            &path,
            Some(json!({"amocrm": {"long_lived_token": "not-a-token"}})),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.json);
    assert_eq!(integration(&s).await["amocrm"]["long_lived_token"], "unset");
    let ok = s
        .server
        .demo(
            "PATCH",
            &path,
            Some(json!({"amocrm": {"long_lived_token": s.amo.long_lived_token()}})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    assert_eq!(ok.json["connection"]["status"], "connected");
    hook(&s, "talk_closed").await;
    assert_eq!(
        appeals_when(&s, complete).await[0]["contact"]["name"],
        "Павел"
    );
    assert_eq!(
        s.amo.refreshes(),
        0,
        "a long-lived token is never refreshed"
    );
}

#[tokio::test]
async fn the_settings_page_lists_lead_and_contact_fields_to_pick_the_session_field() {
    let s = setup().await;
    for i in 0..300u64 {
        s.amo
            .add_custom_field("leads", 100_000 + i, &format!("Поле {i}"), None, "text");
    }
    s.amo
        .add_custom_field("contacts", 200_001, "Сессия", None, "text");
    let not_yet = s
        .server
        .demo(
            "GET",
            &format!("/api/integrations/{}/amocrm/fields", s.integration_id),
            None,
        )
        .await;
    assert_eq!(
        (not_yet.status, not_yet.json["error"].as_str()),
        (409, Some("not_connected"))
    );
    connect(&s).await;
    let fields = s
        .server
        .demo(
            "GET",
            &format!("/api/integrations/{}/amocrm/fields", s.integration_id),
            None,
        )
        .await;
    assert_eq!(fields.status, 200, "{}", fields.json);
    let items = fields.json["items"].as_array().unwrap();
    assert!(
        items.iter().filter(|f| f["entity"] == "lead").count() >= 300,
        "every page of lead fields"
    );
    assert!(
        items
            .iter()
            .any(|f| f["entity"] == "contact" && f["id"] == 200_001 && f["name"] == "Сессия")
    );

    // The settings page asks on every view; amoCRM restricts an IP that reads the same list
    // again and again, so the list read a moment ago is shown, and read anew only on demand.
    let read = |s: &Setup| s.amo.calls("GET /api/v4/contacts/custom_fields");
    assert_eq!(read(&s), 1);
    s.amo
        .add_custom_field("contacts", 200_002, "Новое поле", None, "text");
    let path = format!("/api/integrations/{}/amocrm/fields", s.integration_id);
    let again = s.server.demo("GET", &path, None).await;
    assert_eq!(again.json["items"], fields.json["items"]);
    assert_eq!(again.json["read_at"], fields.json["read_at"]);
    assert_eq!(read(&s), 1, "kept, not read again");
    let fresh = s
        .server
        .demo("GET", &format!("{path}?fresh=true"), None)
        .await;
    assert_eq!(fresh.status, 200, "{}", fresh.json);
    assert_eq!(read(&s), 2);
    assert!(
        fresh.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == 200_002),
        "{}",
        fresh.json
    );
    let then = s.server.demo("GET", &path, None).await;
    assert_eq!(
        then.json["items"], fresh.json["items"],
        "the fresh list is kept"
    );
    assert_eq!(read(&s), 2);
}

#[tokio::test]
async fn a_replayed_or_forged_oauth_callback_changes_nothing() {
    let s = setup().await;
    let state = s.server.oauth_state(&s.integration_id).await;
    let callback = |state: &str| {
        format!(
            "{}/oauth/amocrm/callback?code={}&state={state}",
            s.server.base,
            s.amo.authorization_code()
        )
    };
    let forged = reqwest::get(callback(&format!("{}x", &state)))
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert_eq!(reqwest::get(callback(&state)).await.unwrap().status(), 200);
    let replayed = reqwest::get(callback(&state)).await.unwrap();
    assert_eq!(replayed.status(), 400, "a state works once");
    assert!(replayed.text().await.unwrap().contains("used already"));
}

#[tokio::test]
async fn the_hourly_maintenance_refreshes_a_connection_left_idle_for_a_month() {
    let s = setup().await;
    connect(&s).await;
    let id = IntegrationId::parse(&s.integration_id).unwrap();
    let mut tokens = s.server.store.tokens(&id).await.unwrap().unwrap();
    tokens.obtained_at -= chrono::Duration::days(31);
    s.server.store.connect(&tokens).await.unwrap();
    let app = chatsource_tests::server::local_app(s.server.store.clone());
    let report =
        maintenance::run(&app, shared::crm::Deadline::after(maintenance::INVOCATION)).await;
    assert_eq!(report.refreshed, 1, "{report:?}");
    assert_eq!(s.amo.refreshes(), 1);
    let fresh = s.server.store.tokens(&id).await.unwrap().unwrap();
    assert!(chrono::Utc::now() - fresh.obtained_at < chrono::Duration::minutes(1));
    // Nothing else was that old: a second run leaves everything alone.
    assert_eq!(
        maintenance::run(&app, shared::crm::Deadline::after(maintenance::INVOCATION))
            .await
            .refreshed,
        0
    );
}

/// What a worker has in hand when amoCRM refuses its token: an app over the server's store,
/// the integration as stored, and the token amoCRM just refused (every access token expired).
async fn refused(
    s: &Setup,
) -> (
    Arc<shared::app::App>,
    Arc<shared::domain::integration::Integration>,
    shared::domain::secret::Secret,
) {
    s.amo.expire_access_tokens();
    let id = IntegrationId::parse(&s.integration_id).unwrap();
    let stale = s
        .server
        .store
        .tokens(&id)
        .await
        .unwrap()
        .unwrap()
        .access_token;
    let integration = s
        .server
        .store
        .entity(&s.integration_id)
        .await
        .unwrap()
        .unwrap();
    let app = Arc::new(chatsource_tests::server::local_app(s.server.store.clone()));
    (app, Arc::new(integration), stale)
}

/// A worker asking for a fresh token in its own task, with a one-second lease.
fn ask(
    app: &Arc<shared::app::App>,
    integration: &Arc<shared::domain::integration::Integration>,
    stale: &shared::domain::secret::Secret,
) -> tokio::task::JoinHandle<Result<shared::domain::secret::Secret, shared::crm::SessionError>> {
    let (app, integration, stale) = (app.clone(), integration.clone(), stale.clone());
    tokio::spawn(async move {
        Session::new(&app, &integration, Deadline::after(Duration::from_secs(30)))
            .with_timing(short_lease())
            .token(Refresh::Refused(&stale))
            .await
    })
}

fn short_lease() -> shared::crm::Timing {
    shared::crm::Timing {
        lease: Duration::from_secs(1),
        // Room for a refresh answer held back for seconds (on a loaded machine too).
        refresh: Duration::from_secs(10),
        ..shared::crm::Timing::default()
    }
}

/// Other workers booked the account's pace about `ahead` into the future.
async fn book_the_pace(
    app: &shared::app::App,
    integration: &shared::domain::integration::Integration,
    ahead: Duration,
) {
    let key = integration.amocrm.as_ref().unwrap().pace_key();
    let now = || chrono::Utc::now().timestamp_millis();
    let spacing = Duration::from_millis(1000 / u64::from(shared::crm::AMOCRM_PER_SECOND) + 15);
    let until = now() + ahead.as_millis() as i64;
    while let Some(turn) = app
        .store
        .reserve_turn(&key, spacing, now, i64::MAX)
        .await
        .unwrap()
    {
        if turn.at_ms >= until {
            break;
        }
    }
}

async fn until(what: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !what() {
        assert!(std::time::Instant::now() < deadline, "waited 10 s in vain");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_refresh_takes_its_pace_turn_before_its_lease_so_a_busy_pace_never_lets_the_lease_lapse()
{
    let s = setup().await;
    connect(&s).await;
    let (app, integration, stale) = refused(&s).await;
    assert_eq!(
        integration.amocrm.as_ref().unwrap().pace_key(),
        "amocrm#account#30123456",
        "the pace is the account's, learned on connecting"
    );
    book_the_pace(&app, &integration, Duration::from_secs(2)).await;
    let first = ask(&app, &integration, &stale);
    // Longer than the lease: a lease taken before the wait for the turn would have lapsed.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let second = ask(&app, &integration, &stale);
    let first = first.await.unwrap().unwrap();
    let second = second.await.unwrap().unwrap();
    assert_eq!(first, second, "both use the one new token");
    assert_ne!(first, stale);
    assert_eq!(
        s.amo.calls("POST /oauth2/access_token"),
        2,
        "the code, then one refresh"
    );
    assert_eq!(s.amo.refreshes(), 1);
    assert_eq!(integration_status(&s).await, "connected");
}

#[tokio::test]
async fn a_lease_that_lapses_while_amocrm_is_slow_is_not_spent_again_and_its_holder_still_stores_the_pair()
 {
    let s = setup().await;
    connect(&s).await;
    let (app, integration, stale) = refused(&s).await;
    // The answer comes 5 s after the refresh: the other ask below, made once the 1 s lease
    // has lapsed, must still find the refresh unanswered even on a loaded machine.
    s.amo.hold_refresh_answers(Duration::from_secs(5));
    let holder = ask(&app, &integration, &stale);
    until(|| s.amo.refreshes() == 1).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // The lease lapsed with no result: whether amoCRM used the token is not known here.
    let other = ask(&app, &integration, &stale).await.unwrap();
    match other {
        Err(shared::crm::SessionError::Token(shared::domain::oauth::TokenError::NeedsReauth(
            reason,
        ))) => assert!(reason.contains("stopped half-way"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // The holder was only slow: it comes back with the pair and stores it, fenced on its lease.
    let fresh = holder.await.unwrap().unwrap();
    assert_ne!(fresh, stale);
    assert_eq!(
        s.amo.calls("POST /oauth2/access_token"),
        2,
        "the code, then one refresh"
    );
    assert_eq!(integration_status(&s).await, "connected");
    let now = Session::new(&app, &integration, Deadline::after(Duration::from_secs(5)))
        .token(Refresh::IfExpiring)
        .await
        .unwrap();
    assert_eq!(now, fresh);
}

#[tokio::test]
async fn a_holder_killed_after_amocrm_consumed_the_token_leaves_an_honest_needs_reauth_and_no_second_refresh()
 {
    let s = setup().await;
    connect(&s).await;
    let (app, stored, stale) = refused(&s).await;
    s.amo.hold_refresh_answers(Duration::from_secs(30));
    let holder = ask(&app, &stored, &stale);
    until(|| s.amo.refreshes() == 1).await;
    holder.abort(); // the worker dies with the new pair on its way
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let workers: Vec<_> = (0..5).map(|_| ask(&app, &stored, &stale)).collect();
    for worker in workers {
        assert!(matches!(
            worker.await.unwrap(),
            Err(shared::crm::SessionError::Token(
                shared::domain::oauth::TokenError::NeedsReauth(_)
            ))
        ));
    }
    assert_eq!(
        s.amo.calls("POST /oauth2/access_token"),
        2,
        "the code, then the one refresh; the consumed token is never spent again"
    );
    let connection = integration(&s).await["connection"].clone();
    assert_eq!(connection["status"], "needs_reauth", "{connection}");
    assert!(
        connection["reason"]
            .as_str()
            .unwrap()
            .contains("stopped half-way"),
        "{connection}"
    );
    // The user connects again, and everything works as before.
    connect(&s).await;
    assert_eq!(integration_status(&s).await, "connected");
}

#[tokio::test]
async fn maintenance_and_the_field_list_take_their_turn_of_the_accounts_pace_like_every_call() {
    let s = setup().await;
    connect(&s).await;
    let (app, integration, _) = refused(&s).await;
    let id = IntegrationId::parse(&s.integration_id).unwrap();
    let mut tokens = s.server.store.tokens(&id).await.unwrap().unwrap();
    tokens.obtained_at -= chrono::Duration::days(31);
    s.server.store.connect(&tokens).await.unwrap();

    book_the_pace(&app, &integration, Duration::from_millis(1500)).await;
    let started = std::time::Instant::now();
    let report =
        maintenance::run(&app, shared::crm::Deadline::after(maintenance::INVOCATION)).await;
    assert_eq!(report.refreshed, 1, "{report:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "the refresh waited for its turn: {:?}",
        started.elapsed()
    );

    book_the_pace(&app, &integration, Duration::from_millis(1500)).await;
    let started = std::time::Instant::now();
    let fields = s
        .server
        .demo(
            "GET",
            &format!("/api/integrations/{}/amocrm/fields", s.integration_id),
            None,
        )
        .await;
    assert_eq!(fields.status, 200, "{}", fields.json);
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "the field list waited for its turn: {:?}",
        started.elapsed()
    );
    assert_eq!(s.amo.rate_limited(), 0);
}

#[tokio::test]
async fn deleting_an_integration_forgets_its_tokens() {
    let s = setup().await;
    connect(&s).await;
    let id = IntegrationId::parse(&s.integration_id).unwrap();
    assert!(s.server.store.tokens(&id).await.unwrap().is_some());
    let path = format!("/api/integrations/{}", s.integration_id);
    assert_eq!(s.server.demo("DELETE", &path, None).await.status, 204);
    assert_eq!(s.server.store.tokens(&id).await.unwrap(), None);
    let app = chatsource_tests::server::local_app(s.server.store.clone());
    let report = maintenance::run(&app, Deadline::after(maintenance::INVOCATION)).await;
    assert_eq!(report.refreshed + report.failed, 0, "{report:?}");
}
