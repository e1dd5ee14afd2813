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
    let everything = logs.join("\n");
    for personal in [
        "+79161234567",
        "79161234567",
        "916",
        "m.kovaleva",
        "Мария",
        "Ковалёва",
        "диван",
        "Перезвоните",
        "igor@",
        "demo_jivo_secret",
    ] {
        assert!(
            !everything.contains(personal),
            "the logs contain {personal:?}:\n{everything}"
        );
    }
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
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .send()
        .await
        .unwrap();
    let message = received.messages().first().expect("a queued job").clone();
    json!({"Records": [{
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    }]})
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
    let lead = b24.add_lead(json!({"NAME": "Павел"}));
    assert_eq!(lead, 48211);
    b24.add_openline_chat(chat(lead));

    // The demo's Bitrix24 integration, connected to the stand-in (whose member id is the
    // samples' portal's).
    let client = aws_sdk_dynamodb::Client::new(&moto::sdk_config().await);
    let store = Store::new(Arc::new(DynamoKv::new(client, &table)));
    crate::bitrix24::demo_connected_to(&store, &b24).await;
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
}
