//! The `chatsource` binary as a newcomer runs it: `serve` on a fresh data dir, a Jivo sample
//! posted to the printed URL, the appeal read back with the printed key; and `invoke` on an
//! `events/` file printing the Lambda response.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

fn events() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `chatsource serve` on a free port and reads its banner: (base URL, API key, Jivo URL).
fn serve(data_dir: &std::path::Path, extra: &[&str]) -> (Killed, String, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatsource"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env_remove("CHATSOURCE_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chatsource starts");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (mut base, mut key, mut hook) = (String::new(), String::new(), String::new());
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("chatsource is listening on ") {
            base = rest.split_whitespace().next().unwrap().to_owned();
        } else if let Some(rest) = line.trim().strip_prefix("API key:") {
            key = rest.trim().to_owned();
        } else if let Some(rest) = line.trim().strip_prefix("Jivo chats:") {
            hook = rest.trim().to_owned();
        } else if line.contains("/api/appeals") {
            // The banner's last line.
            break;
        }
    }
    (Killed(child), base, key, hook)
}

async fn appeals(base: &str, key: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{base}/api/appeals"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn serve_seeds_the_demo_and_a_posted_sample_is_readable_with_the_printed_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, key, hook) = serve(dir.path(), &[]);
    assert!(key.starts_with("cs_"), "{key}");
    let client = reqwest::Client::new();
    let body = std::fs::read(events().join("jivo/bodies/chat_finished.json")).unwrap();
    let posted = client
        .post(&hook)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    assert_eq!(posted.text().await.unwrap(), r#"{"result":"ok"}"#);
    let listed = appeals(&base, &key).await;
    assert_eq!(listed["items"][0]["attribution"]["via"], "utm");
    assert_eq!(listed["items"][0]["contact"]["phones"][0], "+79161234567");
}

#[tokio::test]
async fn a_restart_keeps_the_data_and_does_not_seed_again_and_a_fixed_key_opens_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _, first_key, hook) = serve(dir.path(), &[]);
    let client = reqwest::Client::new();
    let body = std::fs::read(events().join("jivo/bodies/offline_message.json")).unwrap();
    assert_eq!(
        client.post(&hook).body(body).send().await.unwrap().status(),
        200
    );
    drop(first);

    let (_second, base, shown, _) = serve(dir.path(), &["--api-key", "my_fixed_demo_key_1234"]);
    assert_eq!(shown, "my_fixed_demo_key_1234");
    for key in [&first_key, &shown] {
        let listed = appeals(&base, key).await;
        assert_eq!(
            listed["items"].as_array().unwrap().len(),
            1,
            "with key {key}"
        );
    }
}

#[test]
fn invoke_prints_the_lambda_response_for_an_event_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = |function: &str, event: &str| invoke_in(dir.path(), function, event);
    let ok = run("jivo-webhook", "jivo/chat_finished.json");
    assert_eq!(ok["statusCode"], 200);
    assert_eq!(ok["body"], r#"{"result":"ok"}"#);
    assert_eq!(ok["isBase64Encoded"], false);
    let bad = run("jivo-webhook", "jivo/malformed.json");
    assert_eq!(bad["statusCode"], 400);
    assert_eq!(
        run("bitrix24-webhook", "bitrix24/lead_add.json")["statusCode"],
        200
    );
    assert_eq!(
        run("bitrix24-webhook", "bitrix24/wrong_token.json")["statusCode"],
        403
    );
    let page_view = run("tracker", "tracker/page_view.json");
    assert_eq!(page_view["statusCode"], 200);
    assert_eq!(
        page_view["headers"]["access-control-allow-origin"],
        "https://shop.example.ru"
    );

    let unknown = Command::new(env!("CARGO_BIN_EXE_chatsource"))
        .args(["invoke", "no-such-function", "x.json"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
}

/// `chatsource invoke <function> events/<event>` on the store in `data_dir`: what it printed.
fn invoke_in(data_dir: &std::path::Path, function: &str, event: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_chatsource"))
        .args(["invoke", function])
        .arg(events().join(event))
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn invoke_on_fresh_store(function: &str, event: &str) -> serde_json::Value {
    invoke_in(tempfile::tempdir().unwrap().path(), function, event)
}

#[test]
fn invoke_runs_the_worker_on_an_sqs_event_file() {
    // The demo's Verbox integration has no REST token: the job is given up (and parked), so
    // SQS is told nothing to redeliver.
    assert_eq!(
        invoke_on_fresh_store("enrichment-worker", "worker/verbox_transcript.json"),
        serde_json::json!({"batchItemFailures": []})
    );
    // The demo's Bitrix24 is not connected: its job is set aside until it is, not retried.
    assert_eq!(
        invoke_on_fresh_store("enrichment-worker", "worker/bitrix24_lead.json"),
        serde_json::json!({"batchItemFailures": []})
    );
}

#[tokio::test]
async fn serve_keeps_serving_when_nobody_reads_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatsource"))
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The reader goes away before the banner is written: writing it must not kill the server.
    drop(child.stdout.take());
    let server = Killed(child);
    let client = reqwest::Client::new();
    let mut answered = None;
    for _ in 0..100 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/api/sites"))
            .send()
            .await
        {
            answered = Some(r.status().as_u16());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let still = client
        .get(format!("http://127.0.0.1:{port}/api/sites"))
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(answered, Some(401));
    assert_eq!(
        still.ok(),
        Some(401),
        "the server died after writing its banner"
    );
    drop(server);
}

#[test]
fn invoke_runs_the_maintenance_on_a_schedule_event() {
    let report = invoke_on_fresh_store("maintenance", "maintenance/hourly.json");
    assert_eq!(
        report,
        serde_json::json!({"refreshed": 0, "needs_reauth": 0, "failed": 0, "reconciled": 0,
                           "queued": 0, "released": 0, "finished": 0, "metrika_uploads": 0,
                           "metrika_conversions": 0, "backfills": 0})
    );
}

#[tokio::test]
async fn a_server_others_can_reach_starts_empty_as_the_demo_secrets_are_public() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, key, hook) =
        serve(dir.path(), &["--public-url", "https://hooks.example.com"]);
    assert!(hook.is_empty(), "no demo hook is printed: {hook}");
    assert!(!key.is_empty());
    let client = reqwest::Client::new();
    let integrations: serde_json::Value = client
        .get(format!("{base}/api/integrations"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(integrations["items"], serde_json::json!([]));
    let posted = client
        .post(format!("{base}/hooks/jivo/int_demo_jivo/demo_jivo_secret"))
        .header("content-type", "application/json")
        .body(std::fs::read(events().join("jivo/bodies/chat_finished.json")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 404, "the public demo secret opens nothing");
}
