//! The embedded store's group commit: concurrent writes share commits (one fsync each), a
//! refused write in a batch refuses alone, and an answered write is read back at once, from
//! this handle and from another one on the same file (as `chatsource invoke` beside `serve`).

use futures::future::join_all;
use serde_json::json;
use shared::store::sqlite::SqliteKv;
use shared::store::{Condition, Item, Key, Kv, Query, StoreError, Write, Written};
use std::sync::Arc;

fn item(pk: &str, sk: &str) -> Item {
    Item::new(
        Key::new(pk, sk),
        json!({ "sk": sk, "body": "x".repeat(200) }),
    )
}

fn open(dir: &tempfile::TempDir) -> SqliteKv {
    SqliteKv::open(&dir.path().join("store.db")).expect("open sqlite store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_puts_share_a_few_commits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kv = Arc::new(open(&dir));
    let before = kv.commits();
    let puts = (0..200).map(|i| {
        let kv = Arc::clone(&kv);
        tokio::spawn(async move {
            kv.put(&item("grouped", &format!("{i:03}")), Condition::NotExists)
                .await
        })
    });
    for put in join_all(puts).await {
        put.expect("task").expect("put");
    }
    let commits = kv.commits() - before;
    // One commit per put would be 200 fsyncs; batching needs only as many as the writer
    // found its queue empty.
    assert!(commits <= 50, "200 puts took {commits} commits");
    let page = kv
        .query(&Query {
            limit: 1000,
            ..Query::new(shared::store::Index::Primary, "grouped")
        })
        .await
        .expect("query");
    assert_eq!(page.items.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_write_in_a_batch_undoes_only_itself() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kv = Arc::new(open(&dir));
    for i in (0..150).step_by(3) {
        kv.put(&item("taken", &format!("{i:03}")), Condition::Always)
            .await
            .expect("seed");
    }
    let before = kv.commits();
    // Each request puts a record and counts it, in one transaction: on the taken keys (every
    // third) the put is refused, so its count must not land either, and the others must.
    let writes = (0..150).map(|i| {
        let kv = Arc::clone(&kv);
        tokio::spawn(async move {
            let sk = format!("{i:03}");
            let mut fresh = item("taken", &sk);
            fresh.data = json!({ "sk": sk, "fresh": true });
            kv.write(&[
                Write::Put {
                    item: fresh,
                    condition: Condition::NotExists,
                },
                Write::Count {
                    key: Key::new("counted", &sk),
                    deltas: vec![("n".into(), 1), ("m".into(), 2)],
                },
            ])
            .await
        })
    });
    let answers = join_all(writes).await;
    assert!(kv.commits() - before < 150, "the writes were not batched");
    for (i, answer) in answers.into_iter().enumerate() {
        let answer = answer.expect("task").expect("write");
        let sk = format!("{i:03}");
        let stored = kv.get(&Key::new("taken", &sk)).await.expect("get");
        let counted = kv
            .counters(&Query {
                sort: shared::store::SortKey::BeginsWith(sk.clone()),
                ..Query::new(shared::store::Index::Primary, "counted")
            })
            .await
            .expect("counters");
        if i % 3 == 0 {
            // Refused with the item that was there, read in the same transaction.
            assert_eq!(answer, Written::Refused(Some(item("taken", &sk))), "{sk}");
            assert_eq!(stored, Some(item("taken", &sk)));
            assert!(counted.items.is_empty(), "{sk}: a refused write counted");
        } else {
            assert_eq!(answer, Written::Done, "{sk}");
            assert_eq!(stored.expect("written").data["fresh"], json!(true));
            assert_eq!(counted.items.len(), 1, "{sk}");
            assert_eq!(counted.items[0].1.get("m"), Some(2));
        }
    }
    // A plain put refused in a batch is a condition failure, as before.
    let refused = kv.put(&item("taken", "000"), Condition::NotExists).await;
    assert!(matches!(refused, Err(StoreError::ConditionFailed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answered_write_is_read_back_at_once_by_another_handle_on_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (writer, reader) = (open(&dir), open(&dir));
    for i in 0..50 {
        let written = item("seen", &format!("{i:03}"));
        writer
            .put(&written, Condition::NotExists)
            .await
            .expect("put");
        assert_eq!(
            reader.get(&written.key).await.expect("get"),
            Some(written.clone())
        );
        assert_eq!(writer.get(&written.key).await.expect("get"), Some(written));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_handles_racing_for_the_same_keys_create_each_once() {
    // Two writers on one file, as `serve` and `invoke` in two processes: each batch takes the
    // file's write lock, so a create-if-absent still holds across them.
    let dir = tempfile::tempdir().expect("temp dir");
    let handles = [Arc::new(open(&dir)), Arc::new(open(&dir))];
    let racers = (0..200).map(|i| {
        let kv = Arc::clone(&handles[i % 2]);
        tokio::spawn(async move {
            kv.put(
                &item("raced", &format!("{:03}", i / 2)),
                Condition::NotExists,
            )
            .await
        })
    });
    let mut created = 0;
    for answer in join_all(racers).await {
        match answer.expect("task") {
            Ok(()) => created += 1,
            Err(StoreError::ConditionFailed) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(created, 100);
}
