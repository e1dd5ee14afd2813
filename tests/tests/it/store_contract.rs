//! The storage port's contract (`shared::store::kv`), written once and run against both
//! adapters: SQLite on a temporary file and DynamoDB on moto (a fresh table per test, made
//! from `template.yaml`). Then the repositories that lean on it, on both adapters alike.

use chatsource_tests::moto;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::domain::appeal::{Appeal, AppealFacts, Channel, Kind, Provider, SessionInfo, Status};
use shared::domain::contact::Contact;
use shared::domain::deeplink::Code;
use shared::domain::ids::{AccountId, AppealId, CampaignId, IntegrationId, SessionId, SiteId};
use shared::domain::raw_event::{RawEvent, RawStatus};
use shared::domain::session::Session;
use shared::store::dynamodb::DynamoKv;
use shared::store::kv::MAX_ITEM_BYTES;
use shared::store::kv::MAX_TRANSACTION_ITEMS;
use shared::store::record::Record;
use shared::store::sqlite::SqliteKv;
use shared::store::{
    AppealFilter, Condition, Index, Item, Kept, Key, Kv, Query, SortKey, Store, StoreError,
    StoredAppeal, cursor,
};
use shared::store::{Delta, Write};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One adapter, with what it needs kept alive for the test (the SQLite file's directory).
struct Backend {
    kv: Arc<dyn Kv>,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    async fn sqlite() -> Backend {
        let dir = tempfile::tempdir().expect("temp dir");
        let kv = SqliteKv::open(&dir.path().join("store.db")).expect("open sqlite store");
        Backend {
            kv: Arc::new(kv),
            _dir: Some(dir),
        }
    }

    async fn dynamodb() -> Backend {
        let (client, table) = moto::dynamodb_table().await;
        Backend {
            kv: Arc::new(DynamoKv::new(client, table)),
            _dir: None,
        }
    }
}

/// Every case, once per adapter: `store_contract::sqlite::<case>` and
/// `store_contract::dynamodb::<case>`.
macro_rules! contract_suite {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::Backend::sqlite().await;
                    super::$case(backend.kv.clone()).await;
                }
            )+
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::Backend::dynamodb().await;
                    super::$case(backend.kv.clone()).await;
                }
            )+
        }
    };
}

contract_suite!(
    an_item_reads_back_exactly_as_written_and_is_gone_once_deleted,
    a_put_that_requires_absence_fails_on_a_live_item_and_changes_nothing,
    a_versioned_put_succeeds_only_on_the_version_it_names,
    ten_writers_racing_on_one_record_lose_no_update,
    a_transaction_of_a_put_and_counts_is_all_or_nothing,
    a_transaction_past_dynamodbs_bounds_is_refused_whole_and_one_within_them_lands,
    counters_add_up_go_below_zero_and_back_and_list_in_sort_key_order_by_page,
    twenty_writers_racing_on_one_record_count_each_change_exactly_once,
    writers_of_two_records_sharing_one_counter_item_lose_no_count,
    primary_key_queries_page_through_every_match_once_in_byte_order,
    gsi1_queries_page_through_every_match_once_in_byte_order,
    gsi2_queries_page_through_every_match_once_and_skip_items_without_the_key,
    an_index_whose_sort_keys_repeat_still_pages_through_every_item_once,
    expired_items_are_neither_read_nor_listed_and_do_not_block_a_new_item,
    an_item_at_the_size_limit_is_stored_and_one_byte_more_is_refused,
    an_accounts_appeals_list_newest_first_across_cursor_pages,
    an_appeal_listing_keeps_to_the_time_range_from_inclusive_to_exclusive,
    appeal_filters_on_provider_channel_and_campaign_hold_across_pages,
    a_visitors_appeals_are_found_by_integration_and_visitor,
    the_same_raw_event_kept_twice_is_found_rather_than_stored_again,
    raw_bodies_read_back_byte_for_byte_whatever_their_size_or_encoding,
    a_session_is_found_until_its_retention_runs_out,
    a_started_session_is_found_by_its_deep_link_code_and_codes_stay_unique,
    racing_callers_reserve_distinct_turns_of_a_pace_in_order_and_none_past_their_latest,
    tokens_change_only_on_the_version_read_and_a_needs_reauth_mark_keeps_the_lease,
    a_key_past_dynamodbs_bounds_is_never_found_and_never_written,
    an_integrations_health_keeps_its_last_appeal_and_error_until_it_is_forgotten,
    a_persons_appeals_are_read_across_pages_up_to_five_hundred,
);

// ---------------------------------------------------------------------------------------
// The key-value port
// ---------------------------------------------------------------------------------------

fn now() -> i64 {
    Utc::now().timestamp()
}

async fn an_item_reads_back_exactly_as_written_and_is_gone_once_deleted(kv: Arc<dyn Kv>) {
    let item = Item {
        key: Key::new("THING#1", "THING"),
        gsi1: Some(Key::new("G1#a", "2025-01-01#1")),
        gsi2: Some(Key::new("G2#a", "1")),
        version: 7,
        expires_at: Some(now() + 3600),
        data: json!({
            "name": "Ольга 🙂 \"quoted\" \\ back\nslash",
            "n": -42, "big": 9_007_199_254_740_993_u64, "ok": true, "none": null,
            "nested": {"list": [1, "two", {"three": 3}], "empty": {}}
        }),
    };
    let bare = Item::new(Key::new("THING#2", "THING"), json!("just a string"));
    kv.put(&item, Condition::Always).await.expect("put");
    kv.put(&bare, Condition::Always).await.expect("put bare");
    assert_eq!(kv.get(&item.key).await.expect("get"), Some(item.clone()));
    assert_eq!(
        kv.get(&bare.key).await.expect("get bare"),
        Some(bare.clone())
    );

    let changed = Item {
        data: json!({"name": "changed"}),
        gsi2: None,
        version: 8,
        ..item.clone()
    };
    kv.put(&changed, Condition::Always)
        .await
        .expect("overwrite");
    assert_eq!(kv.get(&item.key).await.expect("get"), Some(changed));

    kv.delete(&item.key).await.expect("delete");
    assert_eq!(kv.get(&item.key).await.expect("get deleted"), None);
    kv.delete(&item.key)
        .await
        .expect("deleting an absent item is not an error");
    assert_eq!(
        kv.get(&bare.key).await.expect("get bare"),
        Some(bare),
        "deleting one item left another alone"
    );
}

async fn a_put_that_requires_absence_fails_on_a_live_item_and_changes_nothing(kv: Arc<dyn Kv>) {
    let first = Item::new(Key::new("ONCE#1", "ONCE"), json!({"writer": 1}));
    kv.put(&first, Condition::NotExists)
        .await
        .expect("a free key takes the item");
    let second = Item::new(first.key.clone(), json!({"writer": 2}));
    assert!(
        matches!(
            kv.put(&second, Condition::NotExists).await,
            Err(StoreError::ConditionFailed)
        ),
        "a second NotExists put on the same key must fail"
    );
    assert_eq!(kv.get(&first.key).await.expect("get"), Some(first));
    // Same partition, other sort key: a different item.
    let sibling = Item::new(Key::new("ONCE#1", "OTHER"), json!({"writer": 3}));
    kv.put(&sibling, Condition::NotExists)
        .await
        .expect("another sort key is another item");
}

async fn a_versioned_put_succeeds_only_on_the_version_it_names(kv: Arc<dyn Kv>) {
    let key = Key::new("VERSIONED#1", "V");
    let mut item = Item::new(key.clone(), json!({"step": 1}));
    kv.put(&item, Condition::NotExists).await.expect("create");

    item.version = 2;
    item.data = json!({"step": 2});
    kv.put(&item, Condition::Version(1))
        .await
        .expect("the stored version is 1");

    let stale = Item {
        version: 2,
        data: json!({"step": "stale"}),
        ..item.clone()
    };
    assert!(matches!(
        kv.put(&stale, Condition::Version(1)).await,
        Err(StoreError::ConditionFailed)
    ));
    assert_eq!(kv.get(&key).await.expect("get"), Some(item));

    let absent = Item::new(Key::new("VERSIONED#2", "V"), json!({}));
    assert!(
        matches!(
            kv.put(&absent, Condition::Version(1)).await,
            Err(StoreError::ConditionFailed)
        ),
        "no stored item has no version"
    );
    assert_eq!(kv.get(&absent.key).await.expect("get"), None);
}

#[derive(Debug, Serialize, Deserialize)]
struct Tally {
    id: String,
    marks: Vec<u32>,
}

impl Record for Tally {
    fn key(&self) -> Key {
        Key::new(format!("TALLY#{}", self.id), "TALLY")
    }
}

async fn ten_writers_racing_on_one_record_lose_no_update(kv: Arc<dyn Kv>) {
    const WRITERS: u32 = 10;
    let store = Store::new(kv);
    let key = Key::new("TALLY#race", "TALLY");
    let start = Arc::new(tokio::sync::Barrier::new(WRITERS as usize));
    let mut writers = tokio::task::JoinSet::new();
    for mark in 0..WRITERS {
        let (store, key, start) = (store.clone(), key.clone(), Arc::clone(&start));
        writers.spawn(async move {
            start.wait().await;
            store
                .update_record(&key, |current: Option<Tally>| async move {
                    let mut tally = current.unwrap_or(Tally {
                        id: "race".into(),
                        marks: Vec::new(),
                    });
                    tally.marks.push(mark);
                    Ok::<_, StoreError>(tally)
                })
                .await
        });
    }
    while let Some(done) = writers.join_next().await {
        done.expect("writer task").expect("update_record");
    }
    let item = store.kv().get(&key).await.expect("get").expect("the tally");
    assert_eq!(item.version, u64::from(WRITERS), "one version per write");
    let tally: Tally = serde_json::from_value(item.data).expect("a tally");
    let marks: BTreeSet<u32> = tally.marks.iter().copied().collect();
    assert_eq!(tally.marks.len(), WRITERS as usize, "{:?}", tally.marks);
    assert_eq!(marks, (0..WRITERS).collect(), "every writer's mark is kept");
}

// ---------------------------------------------------------------------------------------
// Transactions and counters
// ---------------------------------------------------------------------------------------

fn count(key: &Key, deltas: &[(&str, i64)]) -> Write {
    Write::Count {
        key: key.clone(),
        deltas: deltas.iter().map(|(n, by)| (n.to_string(), *by)).collect(),
    }
}

fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(n, v)| (n.to_string(), *v)).collect()
}

/// Every counter item of a partition, following `next` and checking each page as `query_all`
/// does.
async fn counters_all(kv: &dyn Kv, query: &Query) -> Vec<(Key, BTreeMap<String, i64>)> {
    let mut query = query.clone();
    let mut out = Vec::new();
    for _ in 0..1000 {
        let page = kv.counters(&query).await.expect("counters");
        let (len, limit) = (page.items.len(), query.limit);
        assert!(
            len <= limit,
            "{len} counter items on a page of {limit}: {query:?}"
        );
        assert!(
            page.next.is_none() || len == limit,
            "a page of {len} (limit {limit}) with a position to go on from: {query:?}"
        );
        out.extend(page.items.into_iter().map(|(k, c)| (k, c.to_map())));
        match page.next {
            Some(next) => query.after = Some(next),
            None => return out,
        }
    }
    panic!("still paging after 1000 pages: {query:?}");
}

async fn counters_of(kv: &dyn Kv, pk: &str) -> Vec<(Key, BTreeMap<String, i64>)> {
    counters_all(kv, &Query::new(Index::Primary, pk)).await
}

async fn a_transaction_of_a_put_and_counts_is_all_or_nothing(kv: Arc<dyn Kv>) {
    let record = Item::new(Key::new("TXN#1", "TXN"), json!({"step": 1}));
    let (month, day) = (
        Key::new("COUNTS#txn", "2025-01"),
        Key::new("COUNTS#txn", "2025-01-01"),
    );
    kv.transact(&[
        Write::Put {
            item: record.clone(),
            condition: Condition::NotExists,
        },
        count(&day, &[("appeals", 1), ("calls", 2)]),
        count(&month, &[("appeals", 1)]),
    ])
    .await
    .expect("a free key takes the put, and the counts go with it");
    assert_eq!(
        kv.get(&record.key).await.expect("get"),
        Some(record.clone())
    );
    let first = vec![
        (month.clone(), counts(&[("appeals", 1)])),
        (day.clone(), counts(&[("appeals", 1), ("calls", 2)])),
    ];
    assert_eq!(counters_of(&*kv, "COUNTS#txn").await, first);

    // A failing put, first or last among the writes, takes every count down with it,
    // including one that would have made a new counter item.
    let stale = Item {
        version: 2,
        data: json!({"step": "lost"}),
        ..record.clone()
    };
    let fresh = Key::new("COUNTS#txn", "2025-02");
    let failing = [
        vec![
            Write::Put {
                item: stale.clone(),
                condition: Condition::Version(7),
            },
            count(&day, &[("appeals", 10)]),
            count(&fresh, &[("appeals", 1)]),
        ],
        vec![
            count(&day, &[("appeals", 10)]),
            count(&fresh, &[("appeals", 1)]),
            Write::Put {
                item: stale,
                condition: Condition::NotExists,
            },
        ],
    ];
    for writes in failing {
        assert!(
            matches!(kv.transact(&writes).await, Err(StoreError::ConditionFailed)),
            "{writes:?}"
        );
        assert_eq!(
            kv.get(&record.key).await.expect("get"),
            Some(record.clone()),
            "the put did not land"
        );
        assert_eq!(
            counters_of(&*kv, "COUNTS#txn").await,
            first,
            "nor did any count"
        );
    }

    let next = Item {
        version: 2,
        data: json!({"step": 2}),
        ..record.clone()
    };
    kv.transact(&[
        Write::Put {
            item: next.clone(),
            condition: Condition::Version(1),
        },
        count(&day, &[("appeals", 1), ("calls", -2)]),
    ])
    .await
    .expect("the version read takes the put and the counts");
    assert_eq!(kv.get(&record.key).await.expect("get"), Some(next));
    assert_eq!(
        counters_of(&*kv, "COUNTS#txn").await,
        vec![
            (month, counts(&[("appeals", 1)])),
            (day, counts(&[("appeals", 2), ("calls", 0)])),
        ]
    );
}

async fn a_transaction_past_dynamodbs_bounds_is_refused_whole_and_one_within_them_lands(
    kv: Arc<dyn Kv>,
) {
    let key = |i: usize| Key::new("COUNTS#many", format!("{i:03}"));
    let over: Vec<Write> = (0..=MAX_TRANSACTION_ITEMS)
        .map(|i| count(&key(i), &[("n", 1)]))
        .collect();
    assert!(
        matches!(kv.transact(&over).await, Err(StoreError::TooLarge(_))),
        "{} items in one transaction",
        over.len()
    );
    assert_eq!(counters_of(&*kv, "COUNTS#many").await, vec![]);

    // One item counted in three writes is one item of the transaction: the limit is met.
    let mut full: Vec<Write> = (0..MAX_TRANSACTION_ITEMS)
        .map(|i| count(&key(i), &[("n", 1)]))
        .collect();
    full.push(count(&key(0), &[("n", 2), ("m", -1)]));
    full.push(count(&key(0), &[("m", 1)]));
    kv.transact(&full).await.expect("100 items");
    let listed = counters_of(&*kv, "COUNTS#many").await;
    assert_eq!(listed.len(), MAX_TRANSACTION_ITEMS);
    assert_eq!(listed[0], (key(0), counts(&[("m", 0), ("n", 3)])));
    assert!(listed[1..].iter().all(|(_, c)| *c == counts(&[("n", 1)])));

    // One item written twice has no order: refused, and not as something worth a retry.
    let item = Item::new(Key::new("TXN#twice", "TXN"), json!({}));
    let twice = [
        Write::Put {
            item: item.clone(),
            condition: Condition::Always,
        },
        Write::Put {
            item: item.clone(),
            condition: Condition::Always,
        },
    ];
    match kv.transact(&twice).await {
        Err(e) => assert!(!e.is_retryable() && !matches!(e, StoreError::ConditionFailed)),
        Ok(()) => panic!("one item written twice in a transaction"),
    }
    assert_eq!(kv.get(&item.key).await.expect("get"), None);
}

async fn counters_add_up_go_below_zero_and_back_and_list_in_sort_key_order_by_page(
    kv: Arc<dyn Kv>,
) {
    const PK: &str = "COUNTS#list";
    let store = Store::new(kv.clone());
    // A counter starts at 0, goes below it and back; a zero delta makes a counter of 0.
    let swing = Key::new(PK, "b#swing");
    let read = |key: Key| {
        let store = store.clone();
        async move {
            store
                .counters(&key.pk, &key.sk, &key.sk)
                .await
                .expect("counters")
                .into_iter()
                .map(|(k, c)| (k, c.to_map()))
                .collect::<Vec<_>>()
        }
    };
    kv.transact(&[count(&swing, &[("balance", -3)])])
        .await
        .expect("count");
    assert_eq!(
        read(swing.clone()).await,
        vec![(swing.clone(), counts(&[("balance", -3)]))]
    );
    kv.transact(&[count(
        &swing,
        &[("balance", 2), ("balance", 1), ("fresh", 0)],
    )])
    .await
    .expect("count");
    let back = counts(&[("balance", 0), ("fresh", 0)]);
    assert_eq!(
        read(swing.clone()).await,
        vec![(swing.clone(), back.clone())]
    );

    let mut model = BTreeMap::from([(swing.clone(), back)]);
    // Counters named as record attributes are: their own names, no clash.
    let names = [
        "appeals",
        "pk",
        "sk",
        "version",
        "data",
        "expires_at",
        "источник 🙂",
    ];
    let mut steps: Vec<(Key, Vec<(&str, i64)>)> = Vec::new();
    for round in 0..2 {
        for (i, sk) in SORT_KEYS.iter().enumerate() {
            let name = names[(i + round) % names.len()];
            let i = i as i64;
            steps.push((Key::new(PK, *sk), vec![(name, i + 1), ("down", -i)]));
        }
    }
    // Neighbour partitions that share a prefix stay out of the listing.
    for pk in ["COUNTS#lis", "COUNTS#listx", "counts#list"] {
        steps.push((Key::new(pk, "b#1"), vec![("appeals", 1)]));
    }
    for (key, deltas) in &steps {
        kv.transact(&[count(key, deltas)]).await.expect("count");
        let counters = model.entry(key.clone()).or_default();
        for (name, by) in deltas {
            *counters.entry(name.to_string()).or_default() += by;
        }
    }
    let listed = counters_of(&*kv, PK).await;
    let mine: Vec<_> = model
        .iter()
        .filter(|(k, _)| k.pk == PK)
        .map(|(k, c)| (k.clone(), c.clone()))
        .collect();
    assert_eq!(
        listed, mine,
        "every counter item once, in byte order of its sort key"
    );

    let sorts = [
        SortKey::Any,
        SortKey::BeginsWith("b#".into()),
        SortKey::Between("b#".into(), "b#é".into()),
        SortKey::Between("a#2".into(), "b$".into()),
        SortKey::Between("c".into(), "b".into()),
    ];
    for sort in sorts {
        for descending in [false, true] {
            for limit in [1, 2, 3, 100] {
                let query = Query {
                    sort: sort.clone(),
                    descending,
                    limit,
                    ..Query::new(Index::Primary, PK)
                };
                let mut want: Vec<_> = mine
                    .iter()
                    .filter(|(k, _)| sort_matches(&sort, &k.sk))
                    .cloned()
                    .collect();
                if descending {
                    want.reverse();
                }
                assert_eq!(counters_all(&*kv, &query).await, want, "{query:?}");
            }
        }
    }

    let between: Vec<_> = store
        .counters(PK, "a#2", "b$")
        .await
        .expect("counters")
        .into_iter()
        .map(|(k, c)| (k, c.to_map()))
        .collect();
    let want: Vec<_> = mine
        .iter()
        .filter(|(k, _)| ("a#2"..="b$").contains(&k.sk.as_str()))
        .cloned()
        .collect();
    assert_eq!(between, want);
    let gsi = Query::new(Index::Gsi1, PK);
    assert_eq!(
        counters_all(&*kv, &gsi).await,
        vec![],
        "counter items have no index keys"
    );

    kv.delete(&swing).await.expect("delete");
    assert_eq!(read(swing).await, vec![], "a deleted counter item is gone");
}

#[derive(Debug, Serialize, Deserialize)]
struct Changes {
    id: String,
    changes: i64,
}

impl Record for Changes {
    fn key(&self) -> Key {
        Key::new(format!("CHANGES#{}", self.id), "CHANGES")
    }
}

/// `writers` racing `update_record_counted`, spread over `records` that all count into one
/// counter item; then each record's own count of changes is its counter, and the total is
/// one per writer. `counts` derives the step from before and after, so a wrong "before"
/// shows too.
async fn race_counted_changes(kv: Arc<dyn Kv>, records: &[&str], writers: usize) {
    let store = Store::new(kv);
    let counter = Key::new("COUNTS#changes", "total");
    let start = Arc::new(tokio::sync::Barrier::new(writers));
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let id = records[w % records.len()].to_owned();
        let (store, counter, start) = (store.clone(), counter.clone(), Arc::clone(&start));
        tasks.spawn(async move {
            start.wait().await;
            let key = Key::new(format!("CHANGES#{id}"), "CHANGES");
            store
                .update_record_counted(
                    &key,
                    |current: Option<Changes>| {
                        let id = id.clone();
                        async move {
                            let mut record = current.unwrap_or(Changes { id, changes: 0 });
                            record.changes += 1;
                            Ok::<_, StoreError>(record)
                        }
                    },
                    |before, after| {
                        let by = after.changes - before.map_or(0, |b| b.changes);
                        vec![
                            Delta {
                                key: counter.clone(),
                                name: after.id.clone(),
                                by,
                            },
                            Delta {
                                key: counter.clone(),
                                name: "all".into(),
                                by,
                            },
                        ]
                    },
                )
                .await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("writer task").expect("update_record_counted");
    }
    let listed = store
        .counters("COUNTS#changes", "total", "total")
        .await
        .expect("counters");
    let [(_, counters)] = listed.as_slice() else {
        panic!("one counter item: {listed:?}");
    };
    let mut total = 0;
    for id in records {
        let key = Key::new(format!("CHANGES#{id}"), "CHANGES");
        let item = store
            .kv()
            .get(&key)
            .await
            .expect("get")
            .expect("the record");
        let record: Changes = serde_json::from_value(item.data).expect("a record");
        assert_eq!(
            item.version, record.changes as u64,
            "one version per change"
        );
        assert_eq!(
            counters.get(id),
            Some(record.changes),
            "{id}: counted once per change that landed"
        );
        total += record.changes;
    }
    assert_eq!(total, writers as i64, "every writer's change landed once");
    assert_eq!(counters.get("all"), Some(total), "{counters:?}");
}

async fn twenty_writers_racing_on_one_record_count_each_change_exactly_once(kv: Arc<dyn Kv>) {
    race_counted_changes(kv, &["one"], 20).await;
}

/// The records never collide, their counter item always does: on DynamoDB the transactions
/// conflict on it alone, and the loser must retry rather than lose its count.
async fn writers_of_two_records_sharing_one_counter_item_lose_no_count(kv: Arc<dyn Kv>) {
    race_counted_changes(kv, &["left", "right"], 20).await;
}

/// Sort keys whose byte order differs from naive expectations: upper case before lower,
/// `#` (0x23) before `$` (0x24), a prefix before its extensions, multi-byte characters last,
/// up to the greatest character there is.
const SORT_KEYS: [&str; 15] = [
    "b#a",
    "a#1",
    "b#😀",
    "b",
    "b#10",
    "c#1",
    "b#\u{10FFFF}z",
    "b#",
    "b#é",
    "b$",
    "b#2",
    "b#B",
    "a#2",
    "b#\u{10FFFF}",
    "b#1",
];

/// Items of one partition with keys on all three indexes (gsi2 on every other item only),
/// each index ordering them differently, plus neighbours whose partition keys share a prefix.
fn listing() -> Vec<Item> {
    let n = SORT_KEYS.len();
    let mut items: Vec<Item> = (0..n)
        .map(|i| Item {
            key: Key::new("LIST#p", SORT_KEYS[i]),
            // Multipliers prime to n: each index orders the items its own way.
            gsi1: Some(Key::new("G1#p", SORT_KEYS[(i * 4) % n])),
            gsi2: (i % 2 == 0).then(|| Key::new("G2#p", SORT_KEYS[(i * 7) % n])),
            version: 1,
            expires_at: None,
            data: json!({"i": i}),
        })
        .collect();
    for (i, pk) in ["LIST#pp", "LIST#", "list#p"].iter().enumerate() {
        items.push(Item {
            key: Key::new(*pk, "b#1"),
            gsi1: Some(Key::new(pk.replace("LIST", "G1"), "b#1")),
            gsi2: Some(Key::new(pk.replace("LIST", "G2"), "b#1")),
            version: 1,
            expires_at: None,
            data: json!({"neighbour": i}),
        });
    }
    items
}

fn sort_matches(sort: &SortKey, sk: &str) -> bool {
    match sort {
        SortKey::Any => true,
        SortKey::BeginsWith(prefix) => sk.starts_with(prefix.as_str()),
        SortKey::Between(lo, hi) => lo.as_str() <= sk && sk <= hi.as_str(),
    }
}

/// What the query must answer, computed here: Rust orders strings bytewise, as DynamoDB does.
fn expected(items: &[Item], query: &Query) -> Vec<Item> {
    let mut hits: Vec<(&str, &Item)> = items
        .iter()
        .filter_map(|item| Some((item.index_key(query.index)?, item)))
        .filter(|(k, _)| k.pk == query.pk && sort_matches(&query.sort, &k.sk))
        .map(|(k, item)| (k.sk.as_str(), item))
        .collect();
    hits.sort_by_key(|(sk, _)| *sk);
    if query.descending {
        hits.reverse();
    }
    hits.into_iter().map(|(_, item)| item.clone()).collect()
}

/// Follows `next` to the end, checking every page keeps to the limit, and that a page is
/// short only at the end: `next` continues "after the last one returned", so a page that
/// returned none (say, every item it read had expired) cannot hand one out.
async fn query_all(kv: &dyn Kv, query: &Query) -> Vec<Item> {
    let mut query = query.clone();
    let mut out = Vec::new();
    for _ in 0..1000 {
        let page = kv.query(&query).await.expect("query");
        let (len, limit) = (page.items.len(), query.limit);
        assert!(len <= limit, "{len} items on a page of {limit}: {query:?}");
        assert!(
            page.next.is_none() || len == limit,
            "a page of {len} (limit {limit}) with a position to go on from: {query:?}"
        );
        out.extend(page.items);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return out,
        }
    }
    panic!("still paging after 1000 pages: {query:?}");
}

async fn check_index(kv: Arc<dyn Kv>, index: Index, pk: &str) {
    let items = listing();
    for item in &items {
        kv.put(item, Condition::Always).await.expect("seed");
    }
    let sorts = [
        SortKey::Any,
        SortKey::BeginsWith("b#".into()),
        SortKey::BeginsWith("b#\u{10FFFF}".into()),
        SortKey::BeginsWith(String::new()),
        SortKey::Between("b#1".into(), "b#a".into()),
        SortKey::Between(String::new(), "b#1".into()),
        SortKey::Between("b#3".into(), "b#9".into()),
        // Reversed bounds hold nothing.
        SortKey::Between("b#a".into(), "b#1".into()),
    ];
    for sort in sorts {
        for descending in [false, true] {
            for limit in [1, 3, 100] {
                let query = Query {
                    index,
                    pk: pk.into(),
                    sort: sort.clone(),
                    descending,
                    limit,
                    after: None,
                };
                let want = expected(&items, &query);
                let got = query_all(kv.as_ref(), &query).await;
                let keys = |v: &[Item]| v.iter().map(|i| i.key.clone()).collect::<Vec<_>>();
                assert_eq!(keys(&got), keys(&want), "{query:?}");
                assert_eq!(got, want, "whole items come back: {query:?}");
            }
        }
    }
}

async fn primary_key_queries_page_through_every_match_once_in_byte_order(kv: Arc<dyn Kv>) {
    check_index(kv, Index::Primary, "LIST#p").await;
}

async fn gsi1_queries_page_through_every_match_once_in_byte_order(kv: Arc<dyn Kv>) {
    check_index(kv, Index::Gsi1, "G1#p").await;
}

async fn gsi2_queries_page_through_every_match_once_and_skip_items_without_the_key(
    kv: Arc<dyn Kv>,
) {
    check_index(kv, Index::Gsi2, "G2#p").await;
}

async fn an_index_whose_sort_keys_repeat_still_pages_through_every_item_once(kv: Arc<dyn Kv>) {
    // Index keys need not be unique (only the primary key is): several items may share one.
    let shared_sks = [
        "2025-01-02",
        "2025-01-01",
        "2025-01-02",
        "2025-01-02",
        "2025-01-03",
    ];
    let items: Vec<Item> = shared_sks
        .iter()
        .enumerate()
        .map(|(i, sk)| Item {
            gsi1: Some(Key::new("G1#same", *sk)),
            ..Item::new(Key::new(format!("SAME#{i}"), "SAME"), json!({"i": i}))
        })
        .collect();
    for item in &items {
        kv.put(item, Condition::Always).await.expect("seed");
    }
    for descending in [false, true] {
        for limit in [1, 2, 10] {
            let mut query = Query::new(Index::Gsi1, "G1#same");
            query.descending = descending;
            query.limit = limit;
            let got = query_all(kv.as_ref(), &query).await;
            let got_keys: Vec<&Key> = got.iter().map(|i| &i.key).collect();
            let unique: BTreeSet<&Key> = got_keys.iter().copied().collect();
            assert_eq!(
                (got.len(), unique.len()),
                (items.len(), items.len()),
                "every item exactly once (descending {descending}, limit {limit}): {got_keys:?}"
            );
            let sks: Vec<&str> = got
                .iter()
                .map(|i| i.gsi1.as_ref().expect("gsi1").sk.as_str())
                .collect();
            let mut sorted = sks.clone();
            sorted.sort_unstable();
            if descending {
                sorted.reverse();
            }
            assert_eq!(sks, sorted, "in sort key order");
        }
    }
}

async fn expired_items_are_neither_read_nor_listed_and_do_not_block_a_new_item(kv: Arc<dyn Kv>) {
    let at = now();
    let item = |n: usize, expires_at: Option<i64>| Item {
        gsi1: Some(Key::new("G1#ttl", format!("{n:02}"))),
        gsi2: Some(Key::new("G2#ttl", format!("{n:02}"))),
        expires_at,
        ..Item::new(Key::new("TTL#p", format!("{n:02}")), json!({"n": n}))
    };
    // Expired and live items interleaved, so pages of one have to step over the expired.
    let items: Vec<Item> = (0..8)
        .map(|n| match n % 3 {
            0 => item(n, Some(at - 60)),
            1 => item(n, Some(at + 3600)),
            _ => item(n, None),
        })
        .collect();
    for it in &items {
        kv.put(it, Condition::Always).await.expect("seed");
    }
    let live: Vec<Item> = items
        .iter()
        .filter(|i| i.expires_at.is_none_or(|t| t > at))
        .cloned()
        .collect();

    for it in &items {
        let want = live.contains(it).then(|| it.clone());
        assert_eq!(kv.get(&it.key).await.expect("get"), want, "{:?}", it.key);
    }
    for (index, pk) in [
        (Index::Primary, "TTL#p"),
        (Index::Gsi1, "G1#ttl"),
        (Index::Gsi2, "G2#ttl"),
    ] {
        for limit in [1, 2, 100] {
            let mut query = Query::new(index, pk);
            query.limit = limit;
            assert_eq!(query_all(kv.as_ref(), &query).await, live, "{query:?}");
        }
    }

    let expired = &items[0];
    let stale_update = Item {
        version: 2,
        ..expired.clone()
    };
    assert!(
        matches!(
            kv.put(&stale_update, Condition::Version(expired.version))
                .await,
            Err(StoreError::ConditionFailed)
        ),
        "an expired item has no version to match"
    );
    let reborn = Item::new(expired.key.clone(), json!({"reborn": true}));
    kv.put(&reborn, Condition::NotExists)
        .await
        .expect("an expired item does not block NotExists");
    assert_eq!(kv.get(&reborn.key).await.expect("get"), Some(reborn));
}

async fn an_item_at_the_size_limit_is_stored_and_one_byte_more_is_refused(kv: Arc<dyn Kv>) {
    let empty = Item::new(Key::new("BIG#1", "BIG"), json!(""));
    let fill = MAX_ITEM_BYTES - empty.encoded_size();
    let at_limit = Item {
        data: json!("x".repeat(fill)),
        ..empty.clone()
    };
    assert_eq!(at_limit.encoded_size(), MAX_ITEM_BYTES);
    kv.put(&at_limit, Condition::Always)
        .await
        .expect("an item of exactly MAX_ITEM_BYTES is stored");
    assert_eq!(
        kv.get(&at_limit.key).await.expect("get"),
        Some(at_limit.clone())
    );

    let over = Item {
        data: json!("y".repeat(fill + 1)),
        ..empty
    };
    match kv.put(&over, Condition::Always).await {
        Err(StoreError::TooLarge(size)) => assert_eq!(size, MAX_ITEM_BYTES + 1),
        other => panic!("an item one byte over the limit was not refused: {other:?}"),
    }
    assert_eq!(
        kv.get(&over.key).await.expect("get"),
        Some(at_limit),
        "the refused write changed nothing"
    );
}

// ---------------------------------------------------------------------------------------
// Repositories over the port
// ---------------------------------------------------------------------------------------

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap()
}

/// A moment of today, the same through one test.
fn recently() -> DateTime<Utc> {
    Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
}

fn account(id: &str) -> AccountId {
    AccountId::parse(id).expect("account id")
}

fn appeal(
    account_id: &AccountId,
    integration: &str,
    provider_ref: &str,
    created_at: DateTime<Utc>,
) -> Appeal {
    let integration = IntegrationId::parse(integration).expect("integration id");
    let facts = AppealFacts {
        kind: Kind::Chat,
        provider_ref: provider_ref.into(),
        channel: Channel::site(),
        occurred_at: Some(created_at),
        contact: Contact::default(),
        agent: None,
        messages: None,
        session: SessionInfo::default(),
        visitor_ref: None,
        status: Status::Complete,
    };
    let id = AppealId::derive(&integration, "jivo", provider_ref);
    Appeal::new(
        id,
        account_id.clone(),
        integration,
        Provider::Jivo,
        &facts,
        created_at,
    )
}

/// 120 appeals of `acc_main` (two per minute, so times tie and ids decide) with providers,
/// channels and campaigns spread so that some filters are sparse, plus a few of another
/// account interleaved in time.
async fn seed_appeals(store: &Store) -> Vec<Appeal> {
    let main = account("acc_main");
    let channels = ["site", "telegram", "whatsapp"];
    let mut appeals = Vec::new();
    for i in 0..120_i64 {
        let mut a = appeal(
            &main,
            "int_main",
            &format!("chat-{i}"),
            t0() + Duration::minutes(i / 2),
        );
        a.provider = if i % 13 == 0 {
            Provider::Bitrix24
        } else {
            Provider::ALL[(i % 3) as usize]
        };
        a.channel = Channel::parse(channels[(i % 3) as usize]).expect("channel");
        a.attribution.campaign_id = match i % 5 {
            0 => Some(CampaignId::parse("cmp_a").expect("campaign")),
            1 => Some(CampaignId::parse("cmp_b").expect("campaign")),
            _ => None,
        };
        appeals.push(a);
    }
    for i in 0..5 {
        let other = appeal(
            &account("acc_other"),
            "int_other",
            &format!("chat-{i}"),
            t0() + Duration::minutes(i * 10),
        );
        store
            .put_record(&StoredAppeal::new(other), Condition::NotExists)
            .await
            .expect("seed other");
    }
    for a in &appeals {
        store
            .put_record(&StoredAppeal::new(a.clone()), Condition::NotExists)
            .await
            .expect("seed appeal");
    }
    appeals
}

/// The account's appeals matching `keep`, newest first (ties: the greater id first).
fn newest_first(appeals: &[Appeal], keep: impl Fn(&Appeal) -> bool) -> Vec<AppealId> {
    let mut hits: Vec<&Appeal> = appeals.iter().filter(|a| keep(a)).collect();
    hits.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    hits.into_iter().map(|a| a.id.clone()).collect()
}

/// Pages through a listing as an API client does: through opaque cursor strings.
async fn list_all(store: &Store, filter: &AppealFilter, limit: usize) -> Vec<AppealId> {
    let mut ids = Vec::new();
    let mut cursor_text: Option<String> = None;
    for _ in 0..500 {
        let after = cursor_text
            .as_deref()
            .map(|c| cursor::decode(c).expect("a cursor we were given decodes"));
        let page = store
            .appeals(&account("acc_main"), filter, limit, after)
            .await
            .expect("list appeals");
        assert!(page.items.len() <= limit, "page over the limit");
        ids.extend(page.items.iter().map(|a| a.id.clone()));
        match page.next {
            // Far below the scan budget, only the last page may be short.
            Some(next) => {
                assert_eq!(page.items.len(), limit, "a short page with a cursor");
                cursor_text = Some(cursor::encode(&next));
            }
            None => return ids,
        }
    }
    panic!("listing did not end after 500 pages: {filter:?}");
}

async fn an_accounts_appeals_list_newest_first_across_cursor_pages(kv: Arc<dyn Kv>) {
    let store = Store::new(kv);
    let appeals = seed_appeals(&store).await;
    let want = newest_first(&appeals, |_| true);
    assert_eq!(want.len(), 120);
    for limit in [7, 50, 200] {
        let got = list_all(&store, &AppealFilter::default(), limit).await;
        assert_eq!(got, want, "limit {limit}");
    }
    let first = store
        .appeals(&account("acc_main"), &AppealFilter::default(), 3, None)
        .await
        .expect("list");
    let stored = store
        .appeal(&first.items[0].id)
        .await
        .expect("get appeal")
        .expect("the listed appeal exists");
    assert_eq!(first.items[0], stored, "listings carry whole appeals");
}

async fn an_appeal_listing_keeps_to_the_time_range_from_inclusive_to_exclusive(kv: Arc<dyn Kv>) {
    let store = Store::new(kv);
    let appeals = seed_appeals(&store).await;
    // Both bounds fall on minutes that have appeals.
    let (from, to) = (t0() + Duration::minutes(10), t0() + Duration::minutes(40));
    let cases = [(Some(from), Some(to)), (Some(from), None), (None, Some(to))];
    for (from, to) in cases {
        let filter = AppealFilter {
            from,
            to,
            ..AppealFilter::default()
        };
        let want = newest_first(&appeals, |a| {
            from.is_none_or(|f| a.created_at >= f) && to.is_none_or(|t| a.created_at < t)
        });
        assert!(!want.is_empty() && want.len() < appeals.len());
        assert_eq!(list_all(&store, &filter, 9).await, want, "{filter:?}");
    }
}

async fn appeal_filters_on_provider_channel_and_campaign_hold_across_pages(kv: Arc<dyn Kv>) {
    let store = Store::new(kv);
    let appeals = seed_appeals(&store).await;
    let cmp_a = CampaignId::parse("cmp_a").expect("campaign");
    let telegram = Channel::parse("telegram").expect("channel");
    let filters = [
        // Sparse: one appeal in thirteen, so pages span several store queries.
        AppealFilter {
            provider: Some(Provider::Bitrix24),
            ..AppealFilter::default()
        },
        AppealFilter {
            provider: Some(Provider::Verbox),
            ..AppealFilter::default()
        },
        AppealFilter {
            channel: Some(telegram.clone()),
            ..AppealFilter::default()
        },
        AppealFilter {
            campaign_id: Some(cmp_a.clone()),
            ..AppealFilter::default()
        },
        AppealFilter {
            channel: Some(telegram),
            campaign_id: Some(cmp_a),
            from: Some(t0() + Duration::minutes(5)),
            ..AppealFilter::default()
        },
    ];
    for filter in filters {
        let want = newest_first(&appeals, |a| {
            filter.provider.is_none_or(|p| p == a.provider)
                && filter.channel.as_ref().is_none_or(|c| c == &a.channel)
                && filter
                    .campaign_id
                    .as_ref()
                    .is_none_or(|c| a.attribution.campaign_id.as_ref() == Some(c))
                && filter.from.is_none_or(|f| a.created_at >= f)
        });
        assert!(!want.is_empty(), "{filter:?} matches something");
        for limit in [2, 5] {
            assert_eq!(list_all(&store, &filter, limit).await, want, "{filter:?}");
        }
    }
}

async fn a_visitors_appeals_are_found_by_integration_and_visitor(kv: Arc<dyn Kv>) {
    let store = Store::new(kv);
    let acc = account("acc_main");
    let seeds = [
        ("int_a", "chat-1", Some("v1")),
        ("int_a", "chat-2", Some("v1")),
        ("int_a", "chat-3", Some("v2")),
        ("int_b", "chat-4", Some("v1")),
        ("int_a", "chat-5", None),
    ];
    let mut want = BTreeSet::new();
    for (integration, chat, visitor) in seeds {
        let mut a = appeal(&acc, integration, chat, t0());
        a.visitor_ref = visitor.map(str::to_owned);
        if integration == "int_a" && visitor == Some("v1") {
            want.insert(a.id.clone());
        }
        store
            .put_record(&StoredAppeal::new(a), Condition::NotExists)
            .await
            .expect("seed");
    }
    let int_a = IntegrationId::parse("int_a").expect("integration id");
    let got: BTreeSet<AppealId> = store
        .visitor_appeals(&int_a, "v1")
        .await
        .expect("visitor appeals")
        .into_iter()
        .collect();
    assert_eq!(got, want);
    assert!(
        store
            .visitor_appeals(&int_a, "v3")
            .await
            .expect("visitor appeals")
            .is_empty()
    );
}

fn raw_event(body: &[u8], received_at: DateTime<Utc>) -> RawEvent {
    let integration = IntegrationId::parse("int_raw").expect("integration id");
    RawEvent {
        id: RawEvent::id_for(&integration, "chats", body),
        account_id: account("acc_main"),
        integration_id: integration,
        provider: Provider::Jivo,
        hook: "chats".into(),
        content_type: Some("application/json".into()),
        received_at,
        size: body.len(),
        status: RawStatus::Received,
        reason: None,
        appeal_ids: Vec::new(),
        attempts: 0,
        handled_at: None,
    }
}

async fn the_same_raw_event_kept_twice_is_found_rather_than_stored_again(kv: Arc<dyn Kv>) {
    let store = Store::new(kv);
    for body in [
        br#"{"event_name":"chat_finished"}"#.to_vec(),
        pseudo_random_bytes(250 * 1024, 3),
    ] {
        // Kept recently: an event not handled expires 30 days after it was received.
        let first = raw_event(&body, recently());
        match store.keep_raw_event(&first, &body).await.expect("keep") {
            Kept::New(kept) => assert_eq!(kept, first),
            Kept::Existing(e) => panic!("a new event was reported as existing: {e:?}"),
        }
        // The same delivery again, a minute later: the first one is what is kept.
        let again = raw_event(&body, recently() + Duration::minutes(1));
        assert_eq!(again.id, first.id);
        match store.keep_raw_event(&again, &body).await.expect("keep") {
            Kept::Existing(existing) => assert_eq!(existing, first),
            Kept::New(_) => panic!("the same event was stored twice"),
        }
        assert_eq!(
            store.raw_event(&first.id).await.expect("get"),
            Some(first.clone())
        );
        assert_eq!(
            store.raw_body(&first.id).await.expect("body").as_deref(),
            Some(body.as_slice()),
            "keeping it again did not duplicate the body"
        );
    }
}

/// Deterministic bytes covering every value (xorshift), so nothing below is valid UTF-8.
fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

async fn raw_bodies_read_back_byte_for_byte_whatever_their_size_or_encoding(kv: Arc<dyn Kv>) {
    const PART: usize = 96 * 1024;
    let store = Store::new(kv);
    // Two-byte letters with an odd-length separator: the 96 KB cuts fall mid-character.
    let cyrillic = "Здравствуйте, нужна доставка! ".repeat(11_000).into_bytes();
    assert!(
        cyrillic.len() > 3 * PART && std::str::from_utf8(&cyrillic[..PART]).is_err(),
        "the text body is big and its first part ends mid-character"
    );
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("small JSON", br#"{"chat_id": 1, "text": "hi"}"#.to_vec()),
        (
            "small non-UTF-8",
            vec![0xff, 0xfe, 0x00, b'{', 0x80, 0xc3, b'}'],
        ),
        ("exactly one part of text", "a".repeat(PART).into_bytes()),
        ("one byte over one part", "a".repeat(PART + 1).into_bytes()),
        ("300 KB of Cyrillic text", cyrillic),
        ("200 KB of control characters", vec![0x01; 200 * 1024]),
        ("200 KB of binary", pseudo_random_bytes(200 * 1024, 1)),
        ("1 MiB of binary", pseudo_random_bytes(1024 * 1024, 2)),
    ];
    for (what, body) in &bodies {
        let event = raw_event(body, recently());
        store.keep_raw_event(&event, body).await.expect(what);
        let back = store.raw_body(&event.id).await.expect(what);
        assert!(
            back.as_deref() == Some(body.as_slice()),
            "{what}: {} bytes kept, {:?} bytes read back",
            body.len(),
            back.as_ref().map(Vec::len)
        );
    }
    assert_eq!(store.raw_body("raw_unknown").await.expect("body"), None);
}

async fn a_session_is_found_until_its_retention_runs_out(kv: Arc<dyn Kv>) {
    let store = Store::new(kv);
    let session = |id: &str, days_ago: i64| {
        let seen = Utc::now() - Duration::days(days_ago);
        Session {
            id: SessionId::parse(id).expect("session id"),
            account_id: account("acc_main"),
            site_id: SiteId::parse("site_1").expect("site id"),
            visitor_id: "visitor-1".into(),
            code: None,
            landing_page: Some("https://shop.example.ru/?utm_source=yandex".into()),
            referrer: None,
            utm: Default::default(),
            click_ids: Default::default(),
            started_at: seen - Duration::minutes(5),
            last_seen_at: seen,
            metrika_client_id: None,
            ga_client_id: None,
            channel_group: None,
        }
    };
    let recent = session("ses_recent", 89);
    let old = session("ses_old", 91);
    store.put_session(&recent).await.expect("put");
    store.put_session(&old).await.expect("put");
    assert_eq!(
        store.session("ses_recent").await.expect("get"),
        Some(recent)
    );
    assert_eq!(store.session("ses_old").await.expect("get"), None);
}

async fn a_started_session_is_found_by_its_deep_link_code_and_codes_stay_unique(kv: Arc<dyn Kv>) {
    let store = Store::new(kv);
    let mut first = Session {
        id: SessionId::generate(),
        account_id: account("acc_main"),
        site_id: SiteId::parse("site_1").expect("site id"),
        visitor_id: "v_visitor_000001".into(),
        code: Some(Code::generate()),
        landing_page: Some("https://shop.example.ru/?utm_source=yandex".into()),
        referrer: None,
        utm: Default::default(),
        click_ids: Default::default(),
        started_at: Utc::now(),
        last_seen_at: Utc::now(),
        metrika_client_id: None,
        ga_client_id: None,
        channel_group: None,
    };
    store.start_session(&mut first).await.expect("start");
    let code = first.code.clone().expect("code");
    let found = store.session_for_code(&code).await.expect("lookup");
    assert_eq!(found, Some(first.clone()));

    // A second session that happens to draw the same code gets another one.
    let mut second = Session {
        id: SessionId::generate(),
        ..first.clone()
    };
    store.start_session(&mut second).await.expect("start");
    let second_code = second.code.clone().expect("code");
    assert_ne!(second_code, code);
    let by_first = store
        .session_for_code(&code)
        .await
        .expect("lookup")
        .map(|s| s.id);
    let by_second = store
        .session_for_code(&second_code)
        .await
        .expect("lookup")
        .map(|s| s.id);
    assert_eq!(by_first, Some(first.id.clone()));
    assert_eq!(by_second, Some(second.id));
    let nobody = Code::parse("CS00000000").expect("a valid code");
    assert_eq!(store.session_for_code(&nobody).await.expect("lookup"), None);
    // Starting a session twice is refused: ids are never reused.
    assert!(store.start_session(&mut first.clone()).await.is_err());
}

async fn racing_callers_reserve_distinct_turns_of_a_pace_in_order_and_none_past_their_latest(
    kv: Arc<dyn Kv>,
) {
    let store = Store::new(kv);
    let spacing = std::time::Duration::from_millis(100);
    let start = Utc::now().timestamp_millis();
    let latest = start + 60_000;
    let callers = (0..12).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .reserve_turn("bitrix24#member#m1", spacing, || start, latest)
                .await
                .expect("reserve")
                .expect("a turn within a minute")
                .at_ms
        })
    });
    let mut turns: Vec<i64> = futures::future::join_all(callers)
        .await
        .into_iter()
        .map(|t| t.expect("joined"))
        .collect();
    turns.sort();
    let expected: Vec<i64> = (0..12).map(|i| start + i * 100).collect();
    assert_eq!(turns, expected, "one turn each, 100 ms apart, none skipped");
    assert_eq!(
        store
            .next_free_turn("bitrix24#member#m1")
            .await
            .expect("read"),
        start + 1200
    );
    // A caller that cannot wait that long reserves nothing.
    let hurried = store
        .reserve_turn("bitrix24#member#m1", spacing, || start, start + 1000)
        .await
        .expect("reserve");
    assert_eq!(hurried, None);
    assert_eq!(
        store
            .next_free_turn("bitrix24#member#m1")
            .await
            .expect("read"),
        start + 1200
    );
    // Another account's pace is its own.
    let other = store
        .reserve_turn("bitrix24#member#m2", spacing, || start, latest)
        .await
        .expect("reserve");
    assert_eq!(other.map(|t| t.at_ms), Some(start));
}

async fn tokens_change_only_on_the_version_read_and_a_needs_reauth_mark_keeps_the_lease(
    kv: Arc<dyn Kv>,
) {
    use shared::domain::oauth::{Connection, Grant, Lease, Tokens};
    use shared::domain::secret::Secret;
    let store = Store::new(kv);
    let integration = IntegrationId::parse("int_crm").expect("id");
    let tokens = Tokens::connected(
        integration.clone(),
        account("acc_main"),
        Grant {
            access_token: Secret::new("a1"),
            refresh_token: Some(Secret::new("r1")),
            expires_in: Some(std::time::Duration::from_secs(3600)),
        },
        Utc::now(),
    );
    store.connect(&tokens).await.expect("connect");
    let (version, read) = store
        .tokens_versioned(&integration)
        .await
        .expect("read")
        .expect("connected");
    assert_eq!(read, tokens);
    let mut leased = read.clone();
    leased.lease = Some(Lease {
        holder: "worker-1".into(),
        until: Utc::now(),
    });
    let next = store.replace_tokens(&leased, version).await.expect("lease");
    assert!(matches!(
        store.replace_tokens(&leased, version).await,
        Err(StoreError::ConditionFailed)
    ));
    store
        .needs_reauth(&integration, "refused", Utc::now())
        .await
        .expect("mark");
    let (after, marked) = store
        .tokens_versioned(&integration)
        .await
        .expect("read")
        .expect("still there");
    assert!(after > next);
    assert!(matches!(marked.state, Connection::NeedsReauth { .. }));
    assert!(
        marked.leased_to("worker-1"),
        "the holder may still store its pair"
    );
    // Connecting again replaces everything, the lease too.
    store.connect(&tokens).await.expect("connect");
    let again = store
        .tokens(&integration)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(again.state, Connection::Connected);
    assert!(!again.leased_to("worker-1"));
}

async fn a_key_past_dynamodbs_bounds_is_never_found_and_never_written(kv: Arc<dyn Kv>) {
    // An id of 2 KB in a URL: an unknown id, never a store error.
    let long = Key::new(format!("INTEGRATION#{}", "x".repeat(2100)), "INTEGRATION");
    assert_eq!(kv.get(&long).await.expect("a miss, not an error"), None);
    kv.delete(&long).await.expect("nothing to delete");
    let page = kv
        .query(&Query::new(Index::Primary, long.pk.clone()))
        .await
        .expect("an empty page");
    assert!(page.items.is_empty());
    let refused = kv.put(&Item::new(long, json!({})), Condition::Always).await;
    assert!(
        matches!(refused, Err(StoreError::TooLarge(_))),
        "{refused:?}"
    );
    let long_sort = Key::new("P", "s".repeat(1100));
    assert_eq!(kv.get(&long_sort).await.expect("a miss"), None);
}

async fn an_integrations_health_keeps_its_last_appeal_and_error_until_it_is_forgotten(
    kv: Arc<dyn Kv>,
) {
    use shared::store::{Health, HealthError};
    let store = Store::new(kv);
    let integration = IntegrationId::parse("int_health").expect("id");
    let other = IntegrationId::parse("int_other").expect("id");
    assert_eq!(
        store.health(&integration).await.expect("read"),
        Health::default()
    );
    let at = Utc.timestamp_opt(1_717_400_000, 0).unwrap();
    let later = at + Duration::minutes(5);
    for (who, when) in [(&integration, at), (&integration, later), (&other, at)] {
        store.mark_appeal(who, when).await.expect("mark");
    }
    // A reason is a line, not a log: cut.
    store
        .mark_error(&integration, later, &"refused ".repeat(200))
        .await
        .expect("mark");
    let health = store.health(&integration).await.expect("read");
    assert_eq!(health.last_appeal_at, Some(later));
    let HealthError {
        at: failed_at,
        reason,
    } = health.last_error.expect("an error");
    assert_eq!(failed_at, later);
    assert!(reason.starts_with("refused refused"));
    assert!(reason.chars().count() <= 500, "{}", reason.len());

    store.forget_health(&integration).await.expect("forget");
    assert_eq!(
        store.health(&integration).await.expect("read"),
        Health::default()
    );
    assert_eq!(
        store.health(&other).await.expect("read").last_appeal_at,
        Some(at),
        "another integration's marks stay"
    );
}

/// The repeat lookup reads a person's partition in pages of 100 (the local store reads that
/// many in place): one with more must still be read whole, up to the 500 it promises.
async fn a_persons_appeals_are_read_across_pages_up_to_five_hundred(kv: Arc<dyn Kv>) {
    let store = Store::new(kv);
    let account = AccountId::parse("acc_people").expect("id");
    let at = Utc.timestamp_opt(1_717_400_000, 0).unwrap();
    let person = "phone:79990001122".to_owned();
    let appeals = |range: std::ops::Range<usize>| {
        range
            .map(|i| AppealId::parse(&format!("apl_{i:04}")).expect("id"))
            .collect::<Vec<_>>()
    };
    let index = |ids: Vec<AppealId>| async {
        for id in ids {
            let people = std::slice::from_ref(&person);
            store
                .index_people(&account, people, &id, at)
                .await
                .expect("index");
        }
    };
    index(appeals(0..230)).await;
    let found = store.person_appeals(&account, &person).await.expect("read");
    assert_eq!(
        found.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        appeals(0..230),
        "three pages, every appeal once, in id order"
    );
    index(appeals(230..520)).await;
    let found = store.person_appeals(&account, &person).await.expect("read");
    assert_eq!(found.len(), 500, "read at most 500");
    assert_eq!(
        found.last().map(|(id, _)| id.clone()),
        appeals(499..500).pop()
    );
}
