//! A webhook whose client hangs up half-way is still handled to the end: hyper drops a
//! request's future when its connection closes, which would stop a webhook between its
//! writes (its body kept, its appeal half made, finished only by the next start).

use shared::app::App;
use shared::app::demo::{JIVO_INTEGRATION_ID, JIVO_SECRET};
use shared::domain::raw_event::RawStatus;
use shared::store::Store;
use shared::store::gate::Gate;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_whose_client_hangs_up_mid_write_is_still_handled_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = chatsource::open_store(dir.path()).unwrap();
    chatsource::ensure_demo(&store, None).await.unwrap();
    let gate = Gate::new(Arc::clone(store.kv()));
    let app = Arc::new(App::new(Store::new(gate.clone())));
    let running = chatsource::serve(
        app,
        chatsource::ServeOptions {
            addr: "127.0.0.1:0".parse().unwrap(),
        },
    )
    .await
    .unwrap();

    let body = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/jivo/bodies/chat_finished.json"),
    )
    .unwrap();
    let request = format!(
        "POST /hooks/jivo/{JIVO_INTEGRATION_ID}/{JIVO_SECRET} HTTP/1.1\r\nhost: localhost\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    // The appeal's write waits at the gate; meanwhile the client goes away.
    gate.hold_next_write("APPEAL#");
    let mut client = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    client.write_all(request.as_bytes()).await.unwrap();
    client.write_all(&body).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), gate.holding())
        .await
        .expect("the webhook reached its appeal's write");
    drop(client);
    // Time for the server to see the connection closed (and, before the fix, drop the work).
    tokio::time::sleep(Duration::from_millis(300)).await;
    gate.release();

    let raw_id = shared::domain::raw_event::RawEvent::id_for(
        &shared::domain::ids::IntegrationId::parse(JIVO_INTEGRATION_ID).unwrap(),
        "chats",
        &body,
    );
    let mut status = None;
    for _ in 0..100 {
        status = store.raw_event(&raw_id).await.unwrap().map(|r| r.status);
        if status == Some(RawStatus::Processed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status,
        Some(RawStatus::Processed),
        "the webhook was cut off"
    );
}
