//! Reads, on connections of their own beside the writer: in WAL each read sees every commit
//! made before it starts, so a write already answered is always read back.

use super::super::kv::CounterPage;
use super::super::kv::{
    Counters, Index, Item, Key, Position, Query, SortKey, StoreError, now_unix,
};
use super::{BUSY_TIMEOUT, prefix_end, row_to_item, stable_plans, unavailable};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

/// A query for at most this many items reads on the caller's thread, as a `get` does: a
/// page of indexed rows costs less than the hop to a blocking thread (a wake-up and a context
/// switch each way). Bigger ones hop: a page of 200 raw events of up to 400 KB each must not
/// hold one of the runtime's two threads. A person's partition is read in pages of this size
/// for that reason (`people::PAGE`).
pub(super) const IN_PLACE_LIMIT: usize = 100;

/// Connections kept open between reads; more are opened while more reads run at once. Opening
/// one parses the schema again, so the pool keeps enough for a busy server's concurrent reads
/// (a 4-connection pool was opening 80 connections a second under load).
const IDLE_CONNECTIONS: usize = 16;

pub(super) const GET: &str = "SELECT pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, version, expires_at, data \
     FROM items WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)";

pub(super) struct Reads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Reads {
    pub fn new(path: &Path) -> Reads {
        Reads {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on an idle connection (or a new one), then keeps it for the next read.
    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(conn);
        }
        result
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(unavailable)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(unavailable)?;
        stable_plans(&conn)?;
        // Every query shape (see `query_sql`) and counter shape stays prepared.
        conn.set_prepared_statement_cache_capacity(QUERY_SHAPES + COUNTER_SHAPES + 4);
        Ok(conn)
    }

    pub fn get(&self, key: &Key) -> Result<Option<(Item, String)>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(GET).map_err(unavailable)?;
            stmt.query_row(params![key.pk, key.sk, now_unix()], row_to_item)
                .optional()
                .map_err(unavailable)
        })
    }

    /// The page's rows (data not parsed yet), and whether more follow.
    pub fn query(&self, query: &Query) -> Result<(Vec<(Item, String)>, bool), StoreError> {
        let (sort, lo, hi) = match &query.sort {
            SortKey::Any => (0, None, None),
            SortKey::BeginsWith(prefix) => match prefix_end(prefix) {
                Some(end) => (1, Some(prefix.as_str()), Some(end)),
                None => (2, Some(prefix.as_str()), None),
            },
            SortKey::Between(lo, hi) => (3, Some(lo.as_str()), Some(hi.clone())),
        };
        // After the previous page: its sort key, and on an index the primary key too (several
        // items may share an index sort key). An index position without its index key
        // continues nowhere in particular, as before: from the start.
        let after = match (query.index, &query.after) {
            (Index::Primary, Some(Position { key, .. })) => Some((None, key)),
            (
                _,
                Some(Position {
                    key,
                    index_key: Some(index_key),
                }),
            ) => Some((Some(index_key.sk.as_str()), key)),
            _ => None,
        };
        let sql = query_sql(query.index, sort, after.is_some(), query.descending);
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(sql).map_err(unavailable)?;
            let mut bind = |i: usize, value: &dyn rusqlite::ToSql| {
                stmt.raw_bind_parameter(i, value).map_err(unavailable)
            };
            bind(1, &query.pk)?;
            bind(2, &now_unix())?;
            if let Some(lo) = lo {
                bind(3, &lo)?;
            }
            if let Some(hi) = &hi {
                bind(4, hi)?;
            }
            if let Some((index_sk, key)) = after {
                if let Some(index_sk) = index_sk {
                    bind(5, &index_sk)?;
                    bind(6, &key.pk)?;
                }
                bind(7, &key.sk)?;
            }
            bind(8, &((query.limit + 1) as i64))?;
            let mut rows = stmt.raw_query();
            let mut items = Vec::new();
            while let Some(row) = rows.next().map_err(unavailable)? {
                if items.len() == query.limit {
                    return Ok((items, true));
                }
                items.push(row_to_item(row).map_err(unavailable)?);
            }
            Ok((items, false))
        })
    }

    pub fn counters(&self, query: &Query) -> Result<CounterPage, StoreError> {
        let (lower, upper) = counter_range(query);
        let sql = counters_sql(
            lower.as_ref().map(|b| b.1),
            upper.as_ref().map(|b| b.1),
            query.descending,
        );
        self.with(|conn| {
            // One pass over the primary key, in order, stopping at the first counter of the
            // item after the page: a report reads a million counters, so they are read once
            // (not once to pick the page's items and again for their counters) and decoded
            // without a copy of the sort key per row. One statement reads one snapshot, even
            // beside a writer in another process.
            let mut stmt = conn.prepare_cached(sql).map_err(unavailable)?;
            stmt.raw_bind_parameter(1, &query.pk).map_err(unavailable)?;
            for (i, bound) in [(2, &lower), (3, &upper)] {
                if let Some((value, _)) = bound {
                    stmt.raw_bind_parameter(i, value).map_err(unavailable)?;
                }
            }
            let mut rows = stmt.raw_query();
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
    }
}

/// Query shapes: 3 indexes x 4 sort conditions x with or without a position x 2 directions.
const QUERY_SHAPES: usize = 3 * 4 * 2 * 2;

/// The SQL of one query shape, built once. Parameters: ?1 pk, ?2 now, ?3 and ?4 the sort key
/// bounds, ?5 ?6 ?7 the position (index sort key, pk, sk), ?8 the limit; a shape names only
/// those it uses. `sort`: 0 any, 1 a prefix with an end, 2 a prefix without one, 3 between.
fn query_sql(index: Index, sort: usize, after: bool, descending: bool) -> &'static str {
    static SQL: OnceLock<Vec<String>> = OnceLock::new();
    let shapes = SQL.get_or_init(|| {
        let mut shapes = Vec::with_capacity(QUERY_SHAPES);
        for index in [Index::Primary, Index::Gsi1, Index::Gsi2] {
            for sort in 0..4 {
                for after in [false, true] {
                    for descending in [false, true] {
                        shapes.push(build_query_sql(index, sort, after, descending));
                    }
                }
            }
        }
        shapes
    });
    let index = match index {
        Index::Primary => 0,
        Index::Gsi1 => 1,
        Index::Gsi2 => 2,
    };
    &shapes[((index * 4 + sort) * 2 + usize::from(after)) * 2 + usize::from(descending)]
}

fn build_query_sql(index: Index, sort: usize, after: bool, descending: bool) -> String {
    let (pkc, skc) = index.attributes();
    let mut sql = format!(
        "SELECT pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, version, expires_at, data FROM items \
         WHERE {pkc} = ?1 AND (expires_at IS NULL OR expires_at > ?2)"
    );
    match sort {
        1 => sql.push_str(&format!(" AND {skc} >= ?3 AND {skc} < ?4")),
        2 => sql.push_str(&format!(" AND {skc} >= ?3")),
        3 => sql.push_str(&format!(" AND {skc} >= ?3 AND {skc} <= ?4")),
        _ => {}
    }
    let cmp = if descending { "<" } else { ">" };
    if after {
        match index {
            Index::Primary => sql.push_str(&format!(" AND {skc} {cmp} ?7")),
            _ => sql.push_str(&format!(" AND ({skc}, pk, sk) {cmp} (?5, ?6, ?7)")),
        }
    }
    let dir = if descending { "DESC" } else { "ASC" };
    // On an index, several items may share a sort key: the primary key orders them, as a
    // position names it, so a page boundary among equals skips none of them.
    match index {
        Index::Primary => sql.push_str(&format!(" ORDER BY {skc} {dir}")),
        _ => sql.push_str(&format!(" ORDER BY {skc} {dir}, pk {dir}, sk {dir}")),
    }
    sql.push_str(" LIMIT ?8");
    sql
}

/// A sort key bound, and whether it is inclusive.
type Bound = (String, bool);

/// The sort key conditions of a counters query, as one lower and one upper bound: SQLite
/// seeks to one bound on each side and only filters by any other, so `sk >= from AND sk >
/// after` would scan every earlier page again on each page (quadratic in a report's pages).
fn counter_range(query: &Query) -> (Option<Bound>, Option<Bound>) {
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
    (lower, upper)
}

/// Counter shapes: no lower bound, an inclusive or an exclusive one; the same above; 2
/// directions.
const COUNTER_SHAPES: usize = 3 * 3 * 2;

/// The SQL of one counters shape, built once: ?1 the pk, ?2 the lower bound, ?3 the upper
/// one. A bound is `Some(inclusive)`.
fn counters_sql(lower: Option<bool>, upper: Option<bool>, descending: bool) -> &'static str {
    static SQL: OnceLock<Vec<String>> = OnceLock::new();
    let bounds = [None, Some(true), Some(false)];
    let shapes = SQL.get_or_init(|| {
        let mut shapes = Vec::with_capacity(COUNTER_SHAPES);
        for lower in bounds {
            for upper in bounds {
                for descending in [false, true] {
                    let mut sql = "SELECT sk, name, value FROM counters WHERE pk = ?1".to_owned();
                    match lower {
                        Some(true) => sql.push_str(" AND sk >= ?2"),
                        Some(false) => sql.push_str(" AND sk > ?2"),
                        None => {}
                    }
                    match upper {
                        Some(true) => sql.push_str(" AND sk <= ?3"),
                        Some(false) => sql.push_str(" AND sk < ?3"),
                        None => {}
                    }
                    let dir = if descending { "DESC" } else { "ASC" };
                    sql.push_str(&format!(" ORDER BY sk {dir}, name"));
                    shapes.push(sql);
                }
            }
        }
        shapes
    });
    let at = |b: Option<bool>| bounds.iter().position(|x| *x == b).unwrap_or(0);
    &shapes[(at(lower) * 3 + at(upper)) * 2 + usize::from(descending)]
}

/// A TEXT column of `row`, borrowed.
fn text<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r str, StoreError> {
    row.get_ref(i)
        .and_then(|v| v.as_str().map_err(Into::into))
        .map_err(unavailable)
}

#[cfg(test)]
mod tests {
    use super::super::SqliteKv;
    use super::query_sql;
    use crate::store::kv::{Condition, Index, Item, Key, Kv, Query};
    use rusqlite::StatementStatus;

    /// Binding new values must not prepare a statement again (see `stable_plans`): without
    /// QPSG every run of a query re-prepared, two full SQL compilations per webhook.
    #[tokio::test]
    async fn a_query_run_again_with_other_values_is_not_prepared_again() {
        let dir = tempfile::tempdir().unwrap();
        let kv = SqliteKv::open(&dir.path().join("store.db")).unwrap();
        for person in ["p1", "p2", "p3"] {
            let item = Item::new(
                Key::new(format!("PERSON#{person}"), "APPEAL#1"),
                serde_json::json!({ "person": person }),
            );
            kv.put(&item, Condition::Always).await.unwrap();
        }
        for person in ["p1", "p2", "p3", "p1"] {
            let mut query = Query::new(Index::Primary, format!("PERSON#{person}"));
            query.limit = 500;
            assert_eq!(kv.query(&query).await.unwrap().items.len(), 1);
        }
        let reprepared = kv
            .reads
            .with(|conn| {
                let sql = query_sql(Index::Primary, 0, false, false);
                let stmt = conn.prepare_cached(sql).unwrap();
                Ok(stmt.get_status(StatementStatus::RePrepare))
            })
            .unwrap();
        assert_eq!(reprepared, 0, "the query was prepared again on new values");
    }
}
