//! The embedded store: the key-value port on one SQLite file (WAL), for `chatsource serve`.
//!
//! One table mirrors the DynamoDB one; the two secondary indexes are partial SQLite indexes.
//! Counter items get a table of their own, one row per counter, so a count is one upsert.
//! SQLite compares TEXT bytewise, as DynamoDB orders string keys, so queries page alike.
//! Writes run in `BEGIN IMMEDIATE` transactions, so conditions hold across processes too
//! (`chatsource invoke` beside a running `serve`).

use super::kv::{
    Condition, CounterPage, Counters, Index, Item, Key, Kv, Page, Position, Query, SortKey,
    StoreError, Write, check_size, key_fits, now_unix, plan,
};
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    gsi1pk TEXT, gsi1sk TEXT,
    gsi2pk TEXT, gsi2sk TEXT,
    version INTEGER NOT NULL,
    expires_at INTEGER,
    data TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk) WHERE gsi2pk IS NOT NULL;
CREATE TABLE IF NOT EXISTS counters (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (pk, sk, name)
) WITHOUT ROWID;
PRAGMA user_version = 2;
";

#[derive(Clone)]
pub struct SqliteKv {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteKv {
    pub fn open(path: &Path) -> Result<SqliteKv, StoreError> {
        let conn = Connection::open(path).map_err(unavailable)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        // WAL makes NORMAL durable against application crashes; only power loss can cost the
        // last transactions, which is fine for a local store.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        let kv = SqliteKv {
            conn: Arc::new(Mutex::new(conn)),
        };
        kv.purge_expired_now()?;
        Ok(kv)
    }

    /// Deletes expired items (reads already skip them; this reclaims the space).
    pub fn purge_expired_now(&self) -> Result<usize, StoreError> {
        let conn = self.conn.lock().map_err(|_| poisoned())?;
        conn.execute(
            "DELETE FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?1",
            [now_unix()],
        )
        .map_err(unavailable)
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| poisoned())?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

fn poisoned() -> StoreError {
    StoreError::Unavailable("sqlite connection poisoned by an earlier panic".into())
}

const COLUMNS: &str = "pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, version, expires_at, data";

fn row_to_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Item, String)> {
    let opt_key = |a: Option<String>, b: Option<String>| match (a, b) {
        (Some(pk), Some(sk)) => Some(Key { pk, sk }),
        _ => None,
    };
    let data: String = row.get(8)?;
    let item = Item {
        key: Key {
            pk: row.get(0)?,
            sk: row.get(1)?,
        },
        gsi1: opt_key(row.get(2)?, row.get(3)?),
        gsi2: opt_key(row.get(4)?, row.get(5)?),
        version: row.get::<_, i64>(6)? as u64,
        expires_at: row.get(7)?,
        data: serde_json::Value::Null,
    };
    Ok((item, data))
}

fn with_data((mut item, data): (Item, String)) -> Result<Item, StoreError> {
    item.data = serde_json::from_str(&data)
        .map_err(|e| StoreError::Corrupt(format!("{} {}: {e}", item.key.pk, item.key.sk)))?;
    Ok(item)
}

#[async_trait]
impl Kv for SqliteKv {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        if !key_fits(key) {
            return Ok(None);
        }
        let key = key.clone();
        self.run(move |conn| {
            let row = conn
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2 \
                         AND (expires_at IS NULL OR expires_at > ?3)"
                    ),
                    params![key.pk, key.sk, now_unix()],
                    row_to_item,
                )
                .optional()
                .map_err(unavailable)?;
            row.map(with_data).transpose()
        })
        .await
    }

    async fn put(&self, item: &Item, condition: Condition) -> Result<(), StoreError> {
        check_size(item)?;
        let item = item.clone();
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            put_in(&tx, &item, condition)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        if !key_fits(key) {
            return Ok(());
        }
        let key = key.clone();
        self.run(move |conn| {
            // A key names a record item or a counter item (as on DynamoDB, where both are
            // items): delete whichever it is.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            for table in ["items", "counters"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE pk = ?1 AND sk = ?2"),
                    params![key.pk, key.sk],
                )
                .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        if query.pk.len() > super::kv::MAX_PARTITION_KEY_BYTES {
            return Ok(Page::default());
        }
        let query = query.clone();
        self.run(move |conn| {
            let (pkc, skc) = query.index.attributes();
            let mut sql = format!(
                "SELECT {COLUMNS} FROM items WHERE {pkc} = ?1 AND (expires_at IS NULL OR expires_at > ?2)"
            );
            let mut args = vec![Value::Text(query.pk.clone()), Value::Integer(now_unix())];
            sql.push_str(&key_range(&query, &mut args));
            let dir = if query.descending { "DESC" } else { "ASC" };
            // On an index, several items may share a sort key: the primary key orders them, as
            // a position names it, so a page boundary among equals skips none of them.
            let order = match query.index {
                Index::Primary => format!("{skc} {dir}"),
                _ => format!("{skc} {dir}, pk {dir}, sk {dir}"),
            };
            sql.push_str(&format!(" ORDER BY {order} LIMIT {}", query.limit + 1));

            let mut stmt = conn.prepare(&sql).map_err(unavailable)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), row_to_item)
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            let more = rows.len() > query.limit;
            let items = rows
                .into_iter()
                .take(query.limit)
                .map(with_data)
                .collect::<Result<Vec<_>, _>>()?;
            let next = more
                .then(|| items.last().map(|i| Page::position_of(i, query.index)))
                .flatten();
            Ok(Page { items, next })
        })
        .await
    }

    async fn transact(&self, writes: &[Write]) -> Result<(), StoreError> {
        let plan = plan(writes)?;
        if plan.puts.is_empty() && plan.counts.is_empty() {
            return Ok(());
        }
        let puts: Vec<(Item, Condition)> = plan
            .puts
            .into_iter()
            .map(|(item, condition)| (item.clone(), condition))
            .collect();
        let counts = plan.counts;
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            // A failing condition returns early: dropping `tx` rolls back what came before it.
            for (item, condition) in &puts {
                put_in(&tx, item, *condition)?;
            }
            let mut add = tx
                .prepare_cached(
                    "INSERT INTO counters (pk, sk, name, value) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (pk, sk, name) DO UPDATE SET value = value + excluded.value",
                )
                .map_err(unavailable)?;
            for (key, counters) in &counts {
                for (name, by) in counters {
                    add.execute(params![key.pk, key.sk, name, by])
                        .map_err(unavailable)?;
                }
            }
            drop(add);
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn counters(&self, query: &Query) -> Result<CounterPage, StoreError> {
        if query.index != Index::Primary || query.pk.len() > super::kv::MAX_PARTITION_KEY_BYTES {
            return Ok(CounterPage::default());
        }
        let query = query.clone();
        self.run(move |conn| {
            let mut args = vec![Value::Text(query.pk.clone())];
            let range = counter_range(&query, &mut args);
            let dir = if query.descending { "DESC" } else { "ASC" };
            // One pass over the primary key, in order, stopping at the first counter of the
            // item after the page: a report reads a million counters, so they are read once
            // (not once to pick the page's items and again for their counters) and decoded
            // without a copy of the sort key per row. One statement reads one snapshot, even
            // beside a writer in another process.
            let sql = format!(
                "SELECT sk, name, value FROM counters WHERE pk = ?1{range} ORDER BY sk {dir}, name"
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(unavailable)?;
            let mut rows = stmt
                .query(rusqlite::params_from_iter(args.iter()))
                .map_err(unavailable)?;
            let mut items: Vec<(Key, Counters)> = Vec::new();
            // The item being read and its counters, in name order; one buffer for every item
            // (a busy hour has a thousand counters: growing a fresh one each hour costs more
            // in the allocator than the rest of the read).
            let mut sk: Option<String> = None;
            let mut counters = Counters::default();
            let done = |items: &mut Vec<_>, sk: String, counters: &mut Counters| {
                items.push((Key::new(query.pk.clone(), sk), std::mem::take(counters)));
            };
            let mut more = false;
            while let Some(row) = rows.next().map_err(unavailable)? {
                let row_sk = text(row, 0)?;
                if sk.as_deref() != Some(row_sk) {
                    if let Some(sk) = sk.take() {
                        done(&mut items, sk, &mut counters);
                    }
                    if items.len() == query.limit {
                        more = true;
                        break;
                    }
                    sk = Some(row_sk.to_owned());
                }
                let value = row.get(2).map_err(unavailable)?;
                counters.push(text(row, 1)?, value);
            }
            if let Some(sk) = sk.take() {
                done(&mut items, sk, &mut counters);
            }
            let next = more
                .then(|| {
                    items.last().map(|(key, _)| Position {
                        key: key.clone(),
                        index_key: None,
                    })
                })
                .flatten();
            Ok(CounterPage { items, next })
        })
        .await
    }
}

/// A sort key bound, and whether it is inclusive.
type Bound = (String, bool);

/// The sort key conditions of a counters query, as one lower and one upper bound: SQLite
/// seeks to one bound on each side and only filters by any other, so `sk >= from AND sk >
/// after` would scan every earlier page again on each page (quadratic in a report's pages).
fn counter_range(query: &Query, args: &mut Vec<Value>) -> String {
    let (mut lower, mut upper): (Option<Bound>, Option<Bound>) = match &query.sort {
        SortKey::Any => (None, None),
        SortKey::BeginsWith(prefix) => (
            Some((prefix.clone(), true)),
            prefix_end(prefix).map(|end| (end, false)),
        ),
        SortKey::Between(lo, hi) => (Some((lo.clone(), true)), Some((hi.clone(), true))),
    };
    if let Some(after) = &query.after {
        let sk = &after.key.sk;
        if query.descending {
            if upper.as_ref().is_none_or(|(hi, _)| sk <= hi) {
                upper = Some((sk.clone(), false));
            }
        } else if lower.as_ref().is_none_or(|(lo, _)| sk >= lo) {
            lower = Some((sk.clone(), false));
        }
    }
    let mut sql = String::new();
    for (bound, ops) in [(lower, (">=", ">")), (upper, ("<=", "<"))] {
        if let Some((value, inclusive)) = bound {
            args.push(Value::Text(value));
            let op = if inclusive { ops.0 } else { ops.1 };
            sql.push_str(&format!(" AND sk {op} ?{}", args.len()));
        }
    }
    sql
}

/// A TEXT column of `row`, borrowed.
fn text<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r str, StoreError> {
    row.get_ref(i)
        .and_then(|v| v.as_str().map_err(Into::into))
        .map_err(unavailable)
}

/// A put inside a write transaction: its condition checked against the stored item first.
fn put_in(
    tx: &rusqlite::Transaction<'_>,
    item: &Item,
    condition: Condition,
) -> Result<(), StoreError> {
    if condition != Condition::Always {
        let stored: Option<i64> = tx
            .query_row(
                "SELECT version FROM items WHERE pk = ?1 AND sk = ?2 \
                 AND (expires_at IS NULL OR expires_at > ?3)",
                params![item.key.pk, item.key.sk, now_unix()],
                |r| r.get(0),
            )
            .optional()
            .map_err(unavailable)?;
        let holds = match condition {
            Condition::NotExists => stored.is_none(),
            Condition::Version(v) => stored == Some(v as i64),
            Condition::Always => true,
        };
        if !holds {
            return Err(StoreError::ConditionFailed);
        }
    }
    let (g1pk, g1sk) = split(item.gsi1.as_ref());
    let (g2pk, g2sk) = split(item.gsi2.as_ref());
    tx.execute(
        &format!(
            "INSERT OR REPLACE INTO items ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ),
        params![
            item.key.pk,
            item.key.sk,
            g1pk,
            g1sk,
            g2pk,
            g2sk,
            item.version as i64,
            item.expires_at,
            item.data.to_string()
        ],
    )
    .map_err(unavailable)?;
    Ok(())
}

/// The conditions (` AND ...`) of a query's sort key and of where its previous page stopped,
/// binding their values after `args`.
fn key_range(query: &Query, args: &mut Vec<Value>) -> String {
    let (_, skc) = query.index.attributes();
    let mut bind = |value: &str| {
        args.push(Value::Text(value.to_owned()));
        format!("?{}", args.len())
    };
    let mut sql = String::new();
    match &query.sort {
        SortKey::Any => {}
        SortKey::BeginsWith(prefix) => {
            sql.push_str(&format!(" AND {skc} >= {}", bind(prefix)));
            if let Some(end) = prefix_end(prefix) {
                sql.push_str(&format!(" AND {skc} < {}", bind(&end)));
            }
        }
        SortKey::Between(lo, hi) => {
            sql.push_str(&format!(" AND {skc} >= {}", bind(lo)));
            sql.push_str(&format!(" AND {skc} <= {}", bind(hi)));
        }
    }
    let cmp = if query.descending { "<" } else { ">" };
    if let Some(after) = &query.after {
        match (query.index, &after.index_key) {
            (Index::Primary, _) => {
                sql.push_str(&format!(" AND {skc} {cmp} {}", bind(&after.key.sk)));
            }
            (_, Some(index_key)) => {
                let (isk, pk, sk) = (
                    bind(&index_key.sk),
                    bind(&after.key.pk),
                    bind(&after.key.sk),
                );
                sql.push_str(&format!(" AND ({skc}, pk, sk) {cmp} ({isk}, {pk}, {sk})"));
            }
            (_, None) => {}
        }
    }
    sql
}

/// The least string above every string that starts with `prefix`: its last character
/// incremented (bytewise order is code point order in UTF-8). `None` when every string from
/// `prefix` on starts with it (an empty prefix, or one of only U+10FFFF).
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn split(key: Option<&Key>) -> (Option<&str>, Option<&str>) {
    match key {
        Some(k) => (Some(k.pk.as_str()), Some(k.sk.as_str())),
        None => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_ends_where_its_last_character_is_incremented() {
        assert_eq!(prefix_end("b#").as_deref(), Some("b$"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("\u{10FFFF}"), None);
    }
}
