//! The embedded store: the key-value port on one SQLite file (WAL), for `chatsource serve`.
//!
//! One table mirrors the DynamoDB one; the two secondary indexes are partial SQLite indexes.
//! Counter items get a table of their own, one row per counter, so a count is one upsert.
//! SQLite compares TEXT bytewise, as DynamoDB orders string keys, so queries page alike.
//!
//! An answered write is durable, also on power loss (`synchronous=FULL`): a provider that
//! never re-sends loses an acknowledged event for good otherwise. One fsync per write would
//! cap a disk at a few hundred writes a second, so writes go to one writer thread that
//! commits whatever has queued in one transaction (group commit, [`writer`]); reads run on
//! connections of their own ([`read`]), and the WAL is checkpointed beside them
//! ([`checkpoint`]). Every batch is `BEGIN IMMEDIATE`, so conditions hold
//! across processes too (`chatsource invoke` beside a running `serve`).

mod checkpoint;
mod read;
mod writer;

use super::kv::{
    Condition, CounterPage, Item, Key, Kv, Page, Query, StoreError, Write, Written, check_size_of,
    key_fits, plan_sized,
};
use async_trait::async_trait;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use writer::{Encoded, Op, Outcome};

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

/// Keeps each prepared statement's plan whatever is bound to it. Without this, SQLite marks a
/// statement whose plan could depend on a bound value (our queries' `expires_at > ?` and
/// `LIMIT ?`) to be prepared again at every new binding: two full re-prepares per webhook, 7%
/// of the server's CPU under load. Our statements have one good plan each (the key or index
/// seek), so re-planning per value buys nothing.
fn stable_plans(conn: &Connection) -> Result<(), StoreError> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(drop)
    .map_err(unavailable)
}

/// How long a connection waits for another process's write (or checkpoint) before it fails.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A handle on the store; clones share the writer and the readers, and the writer thread ends
/// when the last clone is dropped.
#[derive(Clone)]
pub struct SqliteKv {
    writer: Arc<writer::Writer>,
    reads: Arc<read::Reads>,
}

impl SqliteKv {
    pub fn open(path: &Path) -> Result<SqliteKv, StoreError> {
        let conn = Connection::open(path).map_err(unavailable)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        // An answer promises the write survives power loss: FULL syncs the WAL at each commit
        // (NORMAL syncs it only at checkpoints, so the last commits could vanish).
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(unavailable)?;
        // Each request of a batch runs in a savepoint: its journal stays in memory.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(unavailable)?;
        // Pages the writer keeps between batches: 4 MB, not more. A B-tree split parks a page
        // at the lock-byte page's number (262,145) for a moment, and the commit after it then
        // walks the whole page cache's hash table: with 32 MB that walk was 8% of the server's
        // CPU under load. A bigger cache saved fewer re-reads than that walk cost (A/B: 32 MB
        // 441-448 µs of CPU per webhook, 4 MB 419-424 µs, 2 MB 413-430 µs). Bigger pages (8 or
        // 16 KB, measured) write twice to three times the bytes per webhook and cost more.
        conn.pragma_update(None, "cache_size", -4 * 1024)
            .map_err(unavailable)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        let kv = SqliteKv {
            reads: Arc::new(read::Reads::new(path)),
            writer: Arc::new(writer::Writer::start(conn, path)?),
        };
        kv.purge_expired_now()?;
        Ok(kv)
    }

    /// Deletes expired items (reads already skip them; this reclaims the space). Waits for the
    /// writer without a runtime (it is called from plain threads and tasks alike).
    pub fn purge_expired_now(&self) -> Result<usize, StoreError> {
        match self.writer.send_blocking(Op::Purge)? {
            Outcome::Purged(n) => Ok(n),
            _ => Err(StoreError::Unavailable(
                "sqlite: purge answered oddly".into(),
            )),
        }
    }

    /// Transactions committed by this handle's writer since it was opened: one per batch of
    /// writes, so tests can see that concurrent writers share commits.
    pub fn commits(&self) -> u64 {
        self.writer.commits()
    }

    async fn transaction(
        &self,
        writes: &[Write],
        want_refusal: bool,
    ) -> Result<Written, StoreError> {
        // Each put's data is encoded here, once, and its size taken from that encoding: the
        // writer only binds strings.
        let mut datas = Vec::new();
        let plan = plan_sized(writes, |item| {
            let data = item.data.to_string();
            let size = item.size_with_data(data.len());
            datas.push(data);
            size
        })?;
        if plan.puts.is_empty() && plan.counts.is_empty() {
            return Ok(Written::Done);
        }
        let puts = plan
            .puts
            .into_iter()
            .zip(datas)
            .map(|((item, condition), data)| (Encoded::new(item, data), condition))
            .collect();
        // Only the first write's refusal carries the stored item (the port's promise).
        let want_item = want_refusal && matches!(writes.first(), Some(Write::Put { .. }));
        let op = Op::Write {
            puts,
            counts: plan.counts,
            want_item,
        };
        match self.writer.send(op).await? {
            Outcome::Refused(found) => Ok(Written::Refused(
                found.map(|found| with_data(*found)).transpose()?,
            )),
            _ => Ok(Written::Done),
        }
    }
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

/// A row of `read::GET`'s columns as an item whose data is still its JSON text: it is parsed by the
/// caller, outside the writer and the read connection.
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
        self.reads.get(key)?.map(with_data).transpose()
    }

    async fn put(&self, item: &Item, condition: Condition) -> Result<(), StoreError> {
        let data = item.data.to_string();
        check_size_of(item, item.size_with_data(data.len()))?;
        let op = Op::Write {
            puts: vec![(Encoded::new(item, data), condition)],
            counts: Default::default(),
            want_item: false,
        };
        match self.writer.send(op).await? {
            Outcome::Refused(_) => Err(StoreError::ConditionFailed),
            _ => Ok(()),
        }
    }

    async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        if !key_fits(key) {
            return Ok(());
        }
        self.writer.send(Op::Delete(key.clone())).await.map(drop)
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        if query.pk.len() > super::kv::MAX_PARTITION_KEY_BYTES {
            return Ok(Page::default());
        }
        let (rows, more) = if query.limit <= read::IN_PLACE_LIMIT {
            self.reads.query(query)?
        } else {
            let (reads, query) = (Arc::clone(&self.reads), query.clone());
            blocking(move || reads.query(&query)).await?
        };
        let items = rows
            .into_iter()
            .map(with_data)
            .collect::<Result<Vec<_>, _>>()?;
        let next = more
            .then(|| items.last().map(|i| Page::position_of(i, query.index)))
            .flatten();
        Ok(Page { items, next })
    }

    async fn transact(&self, writes: &[Write]) -> Result<(), StoreError> {
        match self.transaction(writes, false).await? {
            Written::Done => Ok(()),
            Written::Refused(_) => Err(StoreError::ConditionFailed),
        }
    }

    async fn write(&self, writes: &[Write]) -> Result<Written, StoreError> {
        self.transaction(writes, true).await
    }

    async fn counters(&self, query: &Query) -> Result<CounterPage, StoreError> {
        if query.index != super::kv::Index::Primary
            || query.pk.len() > super::kv::MAX_PARTITION_KEY_BYTES
        {
            return Ok(CounterPage::default());
        }
        // A report reads up to a million counters: off the runtime's threads.
        let (reads, query) = (Arc::clone(&self.reads), query.clone());
        blocking(move || reads.counters(&query)).await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
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
