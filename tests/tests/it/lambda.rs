//! The Lambda binaries themselves on DynamoDB (moto), driven through a stand-in of the Lambda
//! Runtime API with the `events/` files: configuration from the environment as
//! `template.yaml` sets it, clients built at cold start, JSON logs without personal data.

use chatsource_tests::lambda::{LambdaProcess, http_event};
use chatsource_tests::moto;
use serde_json::{Value, json};
use shared::store::Store;
use shared::store::dynamodb::DynamoKv;
use std::sync::Arc;

const KEY: &str = "lambda_test_key_0123456789";

/// The environment `template.yaml` gives the functions, pointed at moto.
fn env(table: &str) -> Vec<(&'static str, String)> {
    let mut env: Vec<_> = moto::env_vars().into_iter().collect();
    env.push(("TABLE_NAME", table.to_owned()));
    env.push(("RUST_LOG", "info".to_owned()));
    env.push(("PUBLIC_BASE_URL", String::new()));
    // The stand-ins live on loopback; the template never sets this.
    env.push(("CHATSOURCE_ALLOW_PRIVATE_URLS", "1".to_owned()));
    env
}

/// A fresh table on moto holding the demo account (with [`KEY`] as its API key).
async fn demo_table() -> String {
    let (client, table) = moto::dynamodb_table().await;
    let store = Store::new(Arc::new(DynamoKv::new(client, &table)));
    shared::app::demo::seed(&store, Some(KEY.into()), chrono::Utc::now())
        .await
        .expect("seed");
    table
}

fn sample(path: &str) -> String {
    std::fs::read_to_string(moto::repo_root().join("events").join(path)).expect("sample")
}

fn payload(answer: &str) -> (u64, Value) {
    let response: Value = serde_json::from_str(answer).expect("a Lambda proxy response");
    let status = response["statusCode"].as_u64().expect("statusCode");
    let body =
        serde_json::from_str(response["body"].as_str().unwrap_or("null")).expect("JSON body");
    (status, body)
}

#[tokio::test]
async fn the_lambda_binaries_turn_a_jivo_sample_into_an_appeal_on_dynamodb() {
    let table = demo_table().await;

    let jivo = LambdaProcess::start("jivo-webhook", &env(&table)).await;
    let (status, body) = payload(
        &jivo
            .invoke(&sample("jivo/chat_finished.json"))
            .await
            .expect("invoked"),
    );
    assert_eq!((status, body), (200, json!({"result": "ok"})));
    let (status, body) = payload(
        &jivo
            .invoke(&sample("jivo/malformed.json"))
            .await
            .expect("invoked"),
    );
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_payload");

    let api = LambdaProcess::start("api", &env(&table)).await;
    let auth = format!("Bearer {KEY}");
    let event = http_event(
        "GET",
        "/api/appeals?channel=site",
        &[("authorization", &auth)],
        None,
    );
    let (status, body) = payload(&api.invoke(&event).await.expect("invoked"));
    assert_eq!(status, 200, "{body}");
    let appeal = &body["items"][0];
    assert_eq!(appeal["contact"]["phones"], json!(["+79161234567"]));
    assert_eq!(appeal["attribution"]["via"], "utm");
    assert_eq!(appeal["attribution"]["campaign_id"], "cmp_demo_spring");
    let event = http_event(
        "GET",
        "/api/appeals",
        &[("authorization", "Bearer wrong")],
        None,
    );
    assert_eq!(payload(&api.invoke(&event).await.expect("invoked")).0, 401);

    // Webhook URLs handed out on AWS use the host API Gateway was called on.
    let event = http_event(
        "GET",
        "/api/integrations/int_demo_jivo",
        &[("authorization", &auth)],
        None,
    );
    let (_, integration) = payload(&api.invoke(&event).await.expect("invoked"));
    assert_eq!(
        integration["webhook_urls"]["chats"],
        "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/hooks/jivo/int_demo_jivo/demo_jivo_secret"
    );
}

#[tokio::test]
async fn lambda_logs_are_json_lines_with_ids_and_no_personal_data() {
    let table = demo_table().await;
    let jivo = LambdaProcess::start("jivo-webhook", &env(&table)).await;
    for event in [
        "chat_accepted",
        "chat_updated",
        "chat_finished",
        "client_updated",
        "offline_message",
        "malformed",
    ] {
        jivo.invoke(&sample(&format!("jivo/{event}.json")))
            .await
            .expect("invoked");
    }
    let logs = jivo.logs();
    let handled: Vec<Value> = logs
        .iter()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|_| panic!("not a JSON log line: {line}"))
        })
        .filter(|l| l["fields"]["message"] == "webhook handled")
        .collect();
    assert_eq!(handled.len(), 6, "{logs:#?}");
    assert!(
        handled
            .iter()
            .all(|l| l["fields"]["integration_id"] == "int_demo_jivo")
    );
    // Each delivery is a span: whatever is logged while handling it carries its ids.
    assert!(
        handled.iter().all(|l| l["span"]["name"] == "webhook"
            && l["span"]["provider"] == "jivo"
            && l["span"]["integration_id"] == "int_demo_jivo"),
        "{handled:#?}"
    );
    assert!(
        handled
            .iter()
            .any(|l| l["fields"]["status"] == "quarantined")
    );
    assert_no_personal_data(
        &logs,
        &[
            "+79161234567",
            "79161234567",
            "916",
            "m.kovaleva",
            "M.Kovaleva",
            "Мария",
            "Ковалёва",
            "диван",
            "Перезвоните",
            "igor@",
            "Игорь",
            "8-903-555-01-01",
            "79035550101",
            "maria.k@",
            "79031112233",
            "Олег",
            "oleg@shop",
            "demo_jivo_secret",
        ],
    );
}

/// Every line a function wrote is a JSON object, and none carries any of `personal`. The
/// timestamp is left out: its digits are the clock's, and would match a phone's by chance.
fn assert_no_personal_data(logs: &[String], personal: &[&str]) {
    assert!(!logs.is_empty(), "the function logged nothing");
    for line in logs {
        let mut parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
        parsed
            .as_object_mut()
            .unwrap_or_else(|| panic!("not a JSON object: {line}"))
            .remove("timestamp");
        let text = parsed.to_string();
        for p in personal {
            assert!(!text.contains(p), "a log line carries {p:?}:\n{line}");
        }
    }
}

/// The lines whose message is `message`.
fn lines_saying(logs: &[String], message: &str) -> Vec<Value> {
    logs.iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|l| l["fields"]["message"] == message)
        .collect()
}

#[tokio::test]
async fn the_verbox_lambda_queues_to_sqs_and_the_worker_lambda_completes_the_dialog() {
    let table = demo_table().await;
    let (sqs, queue_url, dead_letter_url) = moto::sqs_queues().await;
    let rest =
        chatsource_tests::verbox::Verbox::start(chatsource_tests::verbox::Mode::Answer).await;
    // The demo's Verbox integration, given a REST token for the stand-in.
    let client = aws_sdk_dynamodb::Client::new(&moto::sdk_config().await);
    let store = Store::new(Arc::new(DynamoKv::new(client, &table)));
    let mut verbox: shared::domain::integration::Integration = store
        .entity(shared::app::demo::VERBOX_INTEGRATION_ID)
        .await
        .unwrap()
        .unwrap();
    let settings = verbox.verbox.as_mut().unwrap();
    settings.rest_token = Some(shared::domain::secret::Secret::new(
        chatsource_tests::verbox::TOKEN,
    ));
    settings.rest_url = rest.rest_url.clone();
    store.put_entity(&verbox).await.unwrap();

    let mut env = env(&table);
    env.push(("QUEUE_URL", queue_url.clone()));
    env.push(("DEAD_LETTER_QUEUE_URL", dead_letter_url));
    let webhook = LambdaProcess::start("verbox-webhook", &env).await;
    let (status, _) = payload(
        &webhook
            .invoke(&sample("verbox/no_transcript.json"))
            .await
            .expect("invoked"),
    );
    assert_eq!(status, 200);

    let worker = LambdaProcess::start("enrichment-worker", &env).await;
    work_next_job(&worker, &sqs, &queue_url).await;

    let appeals = demo_appeals(&store).await;
    let appeal = appeals
        .iter()
        .find(|a| a.provider == shared::domain::appeal::Provider::Verbox)
        .expect("the Verbox appeal");
    assert_eq!(appeal.status, shared::domain::appeal::Status::Complete);
    assert_eq!(appeal.messages.len(), 3);
    assert_eq!(rest.calls(), 1);
    // The job is a span: its lines carry the job's, the integration's and the appeal's ids.
    let done: Vec<Value> = worker
        .logs()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|l| l["fields"]["message"] == "enrichment done")
        .collect();
    assert_eq!(done.len(), 1, "{:#?}", worker.logs());
    let span = &done[0]["span"];
    assert_eq!(span["name"], "job");
    assert_eq!(span["provider"], "verbox");
    assert_eq!(span["integration_id"], "int_demo_verbox");
    assert_eq!(span["appeal_id"], json!(appeal.id.as_str()));
    assert!(
        span["job_id"].as_str().unwrap().starts_with("job_"),
        "{span}"
    );

    // The worker read Игорь's transcript with the REST token: none of it is logged.
    assert_eq!(appeal.contact.phones, ["+79260001122"]);
    let dialog = [
        "Игорь",
        "+7 926 000-11-22",
        "79260001122",
        "000-11-22",
        "Олег",
        "demo_verbox_secret",
        "verbox-side-secret",
    ];
    let transcript = [
        "Старый вопрос",
        "нужен диван",
        "Какой размер",
        "Три метра",
        "Новый диалог",
        chatsource_tests::verbox::TOKEN,
    ];
    assert_no_personal_data(&worker.logs(), &[&dialog[..], &transcript[..]].concat());

    // The other samples through the webhook: names, phones, e-mails, messages, a form body.
    for name in [
        "chat_finished",
        "offline",
        "telegram_dialog",
        "dialog_form",
        "message_event",
        "malformed",
    ] {
        webhook
            .invoke(&sample(&format!("verbox/{name}.json")))
            .await
            .expect("invoked");
    }
    let logs = webhook.logs();
    let handled = lines_saying(&logs, "webhook handled");
    assert_eq!(handled.len(), 7, "{logs:#?}");
    assert!(
        handled
            .iter()
            .any(|l| l["fields"]["status"] == "quarantined")
    );
    let samples = [
        "Анна Петрова",
        "Anna.Petrova@Example.com",
        "anna.petrova@example.com",
        "8 (903) 123-45-67",
        "79031234567",
        "стулья",
        "Тоскана",
        "oleg@shop.example.ru",
        "Светлана",
        "89161112233",
        "79161112233",
        "sveta@example.net",
        "самовывоз",
        "Позвоните",
        "Павел",
        "pavel_k",
        "Тверь",
        "Марина",
        "Здравствуйте",
        "Алло",
    ];
    assert_no_personal_data(&logs, &[&dialog[..], &samples[..]].concat());
}

/// The worker Lambda on the job SQS holds, handing it as Lambda would; it must finish it.
async fn work_next_job(worker: &LambdaProcess, sqs: &aws_sdk_sqs::Client, queue_url: &str) {
    let event = next_job(sqs, queue_url).await;
    let answer: Value =
        serde_json::from_str(&worker.invoke(&event.to_string()).await.expect("invoked")).unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": []}),
        "{:#?}",
        worker.logs()
    );
}

async fn demo_appeals(store: &Store) -> Vec<shared::domain::appeal::Appeal> {
    let account = shared::domain::ids::AccountId::parse(shared::app::demo::ACCOUNT_ID).unwrap();
    store
        .appeals(&account, &Default::default(), 10, None)
        .await
        .unwrap()
        .items
}

/// The message SQS holds, as the SQS event Lambda would hand the worker.
async fn next_job(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Value {
    queued_job(sqs, queue_url).await.expect("a queued job")
}

/// As [`next_job`], if SQS shows one.
async fn queued_job(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Option<Value> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .send()
        .await
        .unwrap();
    let message = received.messages().first()?.clone();
    Some(json!({"Records": [{
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    }]}))
}

#[tokio::test]
async fn the_bitrix24_lambdas_read_a_lead_from_the_portal_and_the_schedule_recovers_a_dropped_one()
{
    use chatsource_tests::bitrix24::{Bitrix24, ChatMessage, Config, OpenLineChat};
    let table = demo_table().await;
    let (sqs, queue_url, dead_letter_url) = moto::sqs_queues().await;
    let b24 = Bitrix24::start(Config::default()).await;
    // Lead 48211, the one `events/bitrix24/lead_add.json` names, made by a Telegram chat.
    let chat = |lead: u64| OpenLineChat {
        entity_type: "lead".into(),
        entity_id: lead,
        connector: "telegrambot".into(),
        line_id: 2,
        chat_id: lead,
        session_id: lead + 1,
        client: (450, "Павел".into()),
        messages: vec![ChatMessage {
            sender: 450,
            text: "Здравствуйте".into(),
            at: String::new(),
        }],
    };
    let lead = b24.add_lead(json!({
        "NAME": "Павел",
        "LAST_NAME": "Смирнов",
        "PHONE": [{"VALUE_TYPE": "MOBILE", "VALUE": "+7 (916) 555-44-33", "TYPE_ID": "PHONE"}],
        "EMAIL": [{"VALUE_TYPE": "WORK", "VALUE": "Pavel.Smirnov@Example.org", "TYPE_ID": "EMAIL"}],
    }));
    assert_eq!(lead, 48211);
    b24.add_openline_chat(chat(lead));

    // The demo's Bitrix24 integration, connected to the stand-in (whose member id is the
    // samples' portal's).
    let client = aws_sdk_dynamodb::Client::new(&moto::sdk_config().await);
    let store = Store::new(Arc::new(DynamoKv::new(client, &table)));
    crate::bitrix24::demo_connected_to(&store, &b24).await;
    let integration_id =
        shared::domain::ids::IntegrationId::parse(shared::app::demo::BITRIX24_INTEGRATION_ID)
            .unwrap();
    let tokens = |t: shared::domain::oauth::Tokens| {
        let mut secrets = vec![t.access_token.expose().to_owned()];
        secrets.extend(t.refresh_token.map(|r| r.expose().to_owned()));
        secrets
    };
    let mut secrets = tokens(store.tokens(&integration_id).await.unwrap().unwrap());
    let mut env = env(&table);
    env.push(("QUEUE_URL", queue_url.clone()));
    env.push(("DEAD_LETTER_QUEUE_URL", dead_letter_url));
    let webhook = LambdaProcess::start("bitrix24-webhook", &env).await;
    let (status, _) = payload(
        &webhook
            .invoke(&sample("bitrix24/lead_add.json"))
            .await
            .expect("invoked"),
    );
    assert_eq!(status, 200);
    let worker = LambdaProcess::start("enrichment-worker", &env).await;
    work_next_job(&worker, &sqs, &queue_url).await;
    // A second lead whose event never came: the scheduled run finds and queues it.
    let dropped = b24.add_lead(json!({"NAME": "Анна"}));
    b24.add_openline_chat(chat(dropped));
    let maintenance = LambdaProcess::start("maintenance", &env).await;
    let report: Value = serde_json::from_str(
        &maintenance
            .invoke(&sample("maintenance/hourly.json"))
            .await
            .expect("invoked"),
    )
    .unwrap();
    assert_eq!(
        (&report["reconciled"], &report["queued"]),
        (&json!(1), &json!(1)),
        "{report}"
    );
    work_next_job(&worker, &sqs, &queue_url).await;

    let appeals = demo_appeals(&store).await;
    let mut refs: Vec<&str> = appeals
        .iter()
        .filter(|a| a.provider == shared::domain::appeal::Provider::Bitrix24)
        .map(|a| a.provider_ref.as_str())
        .collect();
    refs.sort();
    assert_eq!(refs, [format!("lead:{lead}"), format!("lead:{dropped}")]);
    assert!(appeals.iter().all(|a| a.channel.as_str() == "telegram"));

    // The worker read Павел's phone and e-mail from the portal: none of it is logged, nor the
    // chats, nor a token (a refresh by the scheduled run would have made new ones).
    let pavel = appeals
        .iter()
        .find(|a| a.provider_ref == format!("lead:{lead}"))
        .unwrap();
    assert_eq!(pavel.contact.phones, ["+79165554433"]);
    secrets.extend(tokens(
        store.tokens(&integration_id).await.unwrap().unwrap(),
    ));
    // The other samples through the webhook: a deal, a forged token, a malformed id.
    for name in ["deal_add", "wrong_token", "malformed"] {
        webhook
            .invoke(&sample(&format!("bitrix24/{name}.json")))
            .await
            .expect("invoked");
    }
    let personal = [
        "Павел",
        "Смирнов",
        "Анна",
        "Здравствуйте",
        "+7 (916) 555-44-33",
        "79165554433",
        "Pavel.Smirnov@Example.org",
        "pavel.smirnov@example.org",
        shared::app::demo::BITRIX24_APPLICATION_TOKEN,
        shared::app::demo::BITRIX24_SECRET,
        "not_the_application_token",
        &b24.config().client_secret,
    ];
    let personal: Vec<&str> = personal
        .into_iter()
        .chain(secrets.iter().map(String::as_str))
        .collect();
    let logs = webhook.logs();
    assert_eq!(lines_saying(&logs, "webhook handled").len(), 3, "{logs:#?}");
    assert_no_personal_data(&logs, &personal);
    let logs = worker.logs();
    assert_eq!(lines_saying(&logs, "enrichment done").len(), 2, "{logs:#?}");
    assert_eq!(
        lines_saying(&logs, "Bitrix24 open-line chat read").len(),
        2,
        "{logs:#?}"
    );
    assert_no_personal_data(&logs, &personal);
    let logs = maintenance.logs();
    assert_eq!(
        lines_saying(&logs, "Bitrix24 reconciled").len(),
        1,
        "{logs:#?}"
    );
    assert_no_personal_data(&logs, &personal);
}

#[tokio::test]
async fn the_amocrm_lambdas_log_no_contact_no_message_and_no_token() {
    use chatsource_tests::amocrm::{Amocrm, Config};
    let table = demo_table().await;
    let (sqs, queue_url, dead_letter_url) = moto::sqs_queues().await;
    // Павел's closed Telegram talk, the one `events/amocrm/talk_closed.json` names.
    let amo = Amocrm::start(Config::default()).await;
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
    let mut env = env(&table);
    env.push(("QUEUE_URL", queue_url.clone()));
    env.push(("DEAD_LETTER_QUEUE_URL", dead_letter_url));

    // The demo's amoCRM integration, connected to the stand-in through the API.
    let api = LambdaProcess::start("api", &env).await;
    let token = amo.long_lived_token();
    let settings = json!({"amocrm": {
        "base_url": amo.base_url(), "client_id": amo.config().client_id,
        "client_secret": amo.config().client_secret, "long_lived_token": token,
    }});
    let auth = format!("Bearer {KEY}");
    let event = http_event(
        "PATCH",
        "/api/integrations/int_demo_amocrm",
        &[("authorization", &auth)],
        Some(&settings.to_string()),
    );
    let (status, body) = payload(&api.invoke(&event).await.expect("invoked"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["connection"]["status"], "connected");

    let webhook = LambdaProcess::start("amocrm-webhook", &env).await;
    for name in [
        "talk_open",
        "messages",
        "talk_closed",
        "talk_closed_base64",
        "two_talks",
        "leads_add",
        "foreign_account",
        "malformed",
    ] {
        webhook
            .invoke(&sample(&format!("amocrm/{name}.json")))
            .await
            .expect("invoked");
    }
    let worker = LambdaProcess::start("enrichment-worker", &env).await;
    let mut worked = 0;
    while let Some(job) = queued_job(&sqs, &queue_url).await {
        worker.invoke(&job.to_string()).await.expect("invoked");
        worked += 1;
        assert!(worked < 10, "{:#?}", worker.logs());
    }
    let client = aws_sdk_dynamodb::Client::new(&moto::sdk_config().await);
    let appeals = demo_appeals(&Store::new(Arc::new(DynamoKv::new(client, &table)))).await;
    let talk = appeals
        .iter()
        .find(|a| {
            a.provider == shared::domain::appeal::Provider::Amocrm
                && a.status == shared::domain::appeal::Status::Complete
        })
        .unwrap_or_else(|| panic!("{appeals:#?}\n{:#?}", worker.logs()));
    assert_eq!(talk.contact.phones, ["+79031234567"]);

    let personal = [
        "Павел",
        "+7 903 123-45-67",
        "79031234567",
        "Pavel@Example.com",
        "pavel@example.com",
        "Олег",
        "oleg@shop.example.ru",
        "Здравствуйте",
        "ассрочк",
        "Добрый день",
        shared::app::demo::AMOCRM_SECRET,
        &token,
        &amo.config().client_secret,
    ];
    let logs = webhook.logs();
    let handled = lines_saying(&logs, "webhook handled");
    // All but the foreign account's (refused) and talk_closed's base64 twin (a duplicate).
    assert_eq!(handled.len(), 6, "{logs:#?}");
    assert!(
        handled
            .iter()
            .all(|l| l["fields"]["integration_id"] == "int_demo_amocrm")
    );
    assert_no_personal_data(&logs, &personal);
    let logs = worker.logs();
    assert!(
        !lines_saying(&logs, "enrichment done").is_empty(),
        "{logs:#?}"
    );
    // Talk 8842 of `two_talks` is unknown to the stand-in: the reason logged is amoCRM's answer.
    assert_eq!(
        lines_saying(&logs, "enrichment given up").len(),
        1,
        "{logs:#?}"
    );
    assert_no_personal_data(&logs, &personal);
    let logs = api.logs();
    assert_eq!(lines_saying(&logs, "connected").len(), 1, "{logs:#?}");
    assert_no_personal_data(&logs, &personal);
}

#[tokio::test]
async fn the_tracker_lambda_keeps_page_addresses_out_of_its_logs() {
    let table = demo_table().await;
    let tracker = LambdaProcess::start("tracker", &env(&table)).await;
    // A page whose address carries what a careless form put there.
    let mut personal: Value = serde_json::from_str(&sample("tracker/page_view.json")).unwrap();
    personal["body"] = json!(
        json!({
            "visitor_id": null,
            "session_id": null,
            "url": "https://shop.example.ru/thanks?email=ivan%40example.com&phone=79161234567&utm_source=yandex",
            "referrer": "https://shop.example.ru/order?name=%D0%98%D0%B2%D0%B0%D0%BD",
        })
        .to_string()
    );
    let status = |answer: &str| {
        serde_json::from_str::<Value>(answer).unwrap()["statusCode"]
            .as_u64()
            .unwrap()
    };
    for (event, expected) in [
        (sample("tracker/page_view.json"), 200),
        (personal.to_string(), 200),
        (sample("tracker/page_view_junk.json"), 400),
        (sample("tracker/script.json"), 200),
    ] {
        let answer = tracker.invoke(&event).await.expect("invoked");
        assert_eq!(status(&answer), expected, "{answer}");
    }
    let logs = tracker.logs();
    assert_eq!(lines_saying(&logs, "session started").len(), 2, "{logs:#?}");
    assert_no_personal_data(
        &logs,
        &[
            "ivan%40example.com",
            "ivan@example.com",
            "79161234567",
            "email=",
            "phone=",
            "%D0%98%D0%B2%D0%B0%D0%BD",
            "Иван",
        ],
    );
}

#[tokio::test]
async fn the_api_lambda_logs_no_key_no_secret_and_no_contact() {
    const ADMIN_KEY: &str = "lambda_admin_key_9876543210";
    const AMO_SECRET: &str = "amo-client-secret-Xy7Qp2Lm9Kd4";
    const B24_SECRET: &str = "b24-client-secret-Vt3Nw8Rc5Hs1";
    const B24_APP_TOKEN: &str = "b24-application-token-Gz6Jf0Ub2";
    const VERBOX_TOKEN: &str = "verbox-rest-token-Ea9Wm4Yo7";
    let table = demo_table().await;
    let jivo = LambdaProcess::start("jivo-webhook", &env(&table)).await;
    for name in ["chat_finished", "offline_message"] {
        jivo.invoke(&sample(&format!("jivo/{name}.json")))
            .await
            .expect("invoked");
    }
    let mut env = env(&table);
    env.push(("ADMIN_API_KEY", ADMIN_KEY.to_owned()));
    let api = LambdaProcess::start("api", &env).await;
    let call = |method: &str, path: &str, key: &str, body: Option<Value>| {
        let auth = format!("Bearer {key}");
        let body = body.map(|b| b.to_string());
        let event = http_event(method, path, &[("authorization", &auth)], body.as_deref());
        let api = &api;
        async move { payload(&api.invoke(&event).await.expect("invoked")) }
    };

    let (status, account) = call(
        "POST",
        "/api/accounts",
        ADMIN_KEY,
        Some(json!({"name": "Acme"})),
    )
    .await;
    assert_eq!(status, 201, "{account}");
    let new_key = account["api_key"].as_str().unwrap().to_owned();
    // Integrations carrying every kind of secret; the addresses are loopback, never called.
    let nowhere = "http://127.0.0.1:9";
    let mut webhook_secrets = Vec::new();
    for integration in [
        json!({"provider": "amocrm", "name": "amoCRM", "amocrm": {
            "base_url": nowhere, "client_id": "amo-client", "client_secret": AMO_SECRET}}),
        json!({"provider": "bitrix24", "name": "Bitrix24", "bitrix24": {
            "portal_url": nowhere, "oauth_url": nowhere, "client_id": "local.b24",
            "client_secret": B24_SECRET, "application_token": B24_APP_TOKEN}}),
        json!({"provider": "verbox", "name": "Verbox", "verbox": {
            "rest_url": format!("{nowhere}/json/v1.0"), "rest_token": VERBOX_TOKEN}}),
    ] {
        let (status, created) = call("POST", "/api/integrations", KEY, Some(integration)).await;
        assert_eq!(status, 201, "{created}");
        let url = created["webhook_urls"].as_object().unwrap().values().next();
        let secret = url.unwrap().as_str().unwrap().split('/').nth(6).unwrap();
        webhook_secrets.push(secret.to_owned());
    }
    assert!(
        webhook_secrets.iter().all(|s| s.len() >= 16),
        "{webhook_secrets:?}"
    );
    // What the Jivo samples told, read back in every form the API gives.
    let (status, appeals) = call("GET", "/api/appeals", KEY, None).await;
    assert_eq!(status, 200, "{appeals}");
    assert!(appeals.to_string().contains("+79161234567"), "{appeals}");
    let (_, raws) = call(
        "GET",
        "/api/raw-events?integration_id=int_demo_jivo",
        KEY,
        None,
    )
    .await;
    let raw_id = raws["items"][0]["id"]
        .as_str()
        .expect("a raw event")
        .to_owned();
    let (status, raw) = call("GET", &format!("/api/raw-events/{raw_id}"), KEY, None).await;
    assert_eq!(status, 200, "{raw}");
    let body = raw["body"].as_str().unwrap();
    assert!(["Мария", "Игорь"].iter().any(|n| body.contains(n)), "{raw}");
    let (status, replayed) = call(
        "POST",
        &format!("/api/raw-events/{raw_id}/replay"),
        KEY,
        None,
    )
    .await;
    assert_eq!(status, 200, "{replayed}");
    let (status, _) = call("GET", "/api/appeals", "lambda_wrong_key_000000", None).await;
    assert_eq!(status, 401);
    let (status, _) = call("GET", "/api/appeals", &new_key, None).await;
    assert_eq!(status, 200);

    let logs = api.logs();
    assert_eq!(lines_saying(&logs, "account created").len(), 1, "{logs:#?}");
    assert_eq!(lines_saying(&logs, "webhook handled").len(), 1, "{logs:#?}");
    let mut personal = vec![
        KEY,
        ADMIN_KEY,
        &new_key,
        "lambda_wrong_key",
        AMO_SECRET,
        B24_SECRET,
        B24_APP_TOKEN,
        VERBOX_TOKEN,
        "demo_jivo_secret",
        "+79161234567",
        "79161234567",
        "916",
        "m.kovaleva",
        "M.Kovaleva",
        "Мария",
        "Ковалёва",
        "диван",
        "igor@",
        "Игорь",
        "8-903-555-01-01",
        "79035550101",
        "Перезвоните",
    ];
    personal.extend(webhook_secrets.iter().map(String::as_str));
    assert_no_personal_data(&logs, &personal);
}
