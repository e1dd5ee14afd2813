//! What each of our functions is started with: the environment `template.yaml` gives it
//! (pointed at moto) and a first event from `events/` that does real work on a store holding
//! the demo account, as the Lambda integration tests do it.

use chatsource_tests::moto;
use shared::store::Store;
use shared::store::dynamodb::DynamoKv;
use std::sync::Arc;

/// The demo account's API key in the tables made here.
const KEY: &str = "lambda_init_key_0123456789";

/// The function a binary is: its file name, or its folder's for cargo-lambda's
/// `target/lambda/<function>/bootstrap`.
pub fn name_of(binary: &std::path::Path) -> String {
    let file = binary.file_name().unwrap_or_default().to_string_lossy();
    if file == "bootstrap"
        && let Some(dir) = binary.parent().and_then(|d| d.file_name())
    {
        return dir.to_string_lossy().into_owned();
    }
    file.into_owned()
}

/// Whether a function reads the store: the bare baseline does not.
pub fn needs_store(function: &str) -> bool {
    function != "bare-lambda"
}

/// The first event a function gets: an `events/` sample its handler does the whole job on
/// (the demo integration exists, so a webhook writes an appeal). Others (the bare baseline)
/// get the Jivo webhook's API Gateway event.
pub fn default_event(function: &str) -> Result<String, String> {
    let sample = match function {
        "api" => {
            return Ok(chatsource_tests::lambda::http_event(
                "GET",
                "/api/appeals",
                &[("authorization", &format!("Bearer {KEY}"))],
                None,
            ));
        }
        "verbox-webhook" => "verbox/chat_finished.json",
        "amocrm-webhook" => "amocrm/talk_closed.json",
        "bitrix24-webhook" => "bitrix24/deal_add.json",
        "tracker" => "tracker/page_view.json",
        "enrichment-worker" => "worker/verbox_transcript.json",
        "maintenance" => "maintenance/hourly.json",
        _ => "jivo/chat_finished.json",
    };
    let path = moto::repo_root().join("events").join(sample);
    std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))
}

/// Queues shared by every cold start of one measurement (made once on moto).
pub struct Queues {
    pub url: String,
    pub dead_letter_url: String,
}

impl Queues {
    pub async fn make() -> Queues {
        let (_, url, dead_letter_url) = moto::sqs_queues().await;
        Queues {
            url,
            dead_letter_url,
        }
    }
}

/// The environment of one cold start: the template's variables for this function, on a
/// fresh table holding the demo account (made here, outside the timing).
/// `endpoint` stands for AWS (moto behind the store clock).
pub async fn environment(
    function: &str,
    queues: &Queues,
    endpoint: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut env: Vec<(String, String)> = moto::env_vars()
        .into_iter()
        .map(|(k, v)| match k {
            "AWS_ENDPOINT_URL" => (k.to_owned(), endpoint.to_owned()),
            _ => (k.to_owned(), v),
        })
        .collect();
    if !needs_store(function) {
        return Ok(env);
    }
    let (client, table) = moto::dynamodb_table().await;
    let store = Store::new(Arc::new(DynamoKv::new(client, &table)));
    shared::app::demo::seed(&store, Some(KEY.into()), chrono::Utc::now())
        .await
        .map_err(|e| format!("seeding the demo account: {e}"))?;
    let mut set = |k: &str, v: &str| env.push((k.to_owned(), v.to_owned()));
    set("TABLE_NAME", &table);
    set("RUST_LOG", "info");
    set("PUBLIC_BASE_URL", "");
    // As the Lambda tests set them (the template never does): Metrika is a loopback port
    // nothing listens on, so maintenance's upload fails at once rather than on a resolver
    // with no network behind it.
    set("CHATSOURCE_ALLOW_PRIVATE_URLS", "1");
    set("METRIKA_API_URL", "http://127.0.0.1:9");
    let queued = [
        "verbox-webhook",
        "amocrm-webhook",
        "bitrix24-webhook",
        "maintenance",
        "api",
        "enrichment-worker",
    ];
    if queued.contains(&function) {
        set("QUEUE_URL", &queues.url);
        set("DEAD_LETTER_QUEUE_URL", &queues.dead_letter_url);
    }
    if matches!(function, "api" | "enrichment-worker") {
        set("EXPORT_BUCKET", "chatsource-exports");
    }
    if function == "api" {
        set("ADMIN_API_KEY", "lambda_init_admin_0123456789");
    }
    Ok(env)
}
