//! The one writer: whatever writes have queued commit together, in one transaction and one
//! fsync, each in a savepoint of its own, and each is answered once its batch is durable.

use super::super::kv::{Condition, Item, Key, StoreError, now_unix};
use super::{checkpoint, row_to_item, unavailable};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Bounds of one batch: enough to share an fsync among every connection of a busy server,
/// few enough that one batch does not hold the others' answers for long.
const MAX_BATCH_REQUESTS: usize = 512;
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// An item ready to bind: its data encoded by the caller, outside the writer.
pub(super) struct Encoded {
    key: Key,
    gsi1: Option<Key>,
    gsi2: Option<Key>,
    version: i64,
    expires_at: Option<i64>,
    data: String,
}

impl Encoded {
    pub fn new(item: &Item, data: String) -> Encoded {
        Encoded {
            key: item.key.clone(),
            gsi1: item.gsi1.clone(),
            gsi2: item.gsi2.clone(),
            version: item.version as i64,
            expires_at: item.expires_at,
            data,
        }
    }
}

pub(super) enum Op {
    /// A transaction (a put alone is one): all its writes or none. `want_item`: a refused
    /// first put answers with the stored item, read in the same transaction.
    Write {
        puts: Vec<(Encoded, Condition)>,
        counts: BTreeMap<Key, BTreeMap<String, i64>>,
        want_item: bool,
    },
    Delete(Key),
    Purge,
}

impl Op {
    fn bytes(&self) -> usize {
        match self {
            Op::Write { puts, .. } => puts.iter().map(|(e, _)| e.data.len()).sum(),
            Op::Delete(_) | Op::Purge => 0,
        }
    }

    /// Whether a failure could come after part of the request was written, so it needs a
    /// savepoint to undo that part alone. A lone put checks its condition before writing, and
    /// a statement that fails undoes itself.
    fn needs_savepoint(&self) -> bool {
        match self {
            Op::Write { puts, counts, .. } => {
                puts.len() + counts.values().map(BTreeMap::len).sum::<usize>() > 1
            }
            Op::Delete(_) => true,
            Op::Purge => false,
        }
    }
}

pub(super) enum Outcome {
    Done,
    /// A condition failed and nothing of the request was written; the stored item (data not
    /// yet parsed) when the first put was refused on an item that exists and it was asked for.
    Refused(Option<Box<(Item, String)>>),
    Purged(usize),
}

type Answer = Result<Outcome, StoreError>;

/// Where a request's answer goes: a task awaiting it, or a plain thread blocked on it.
enum Reply {
    Task(oneshot::Sender<Answer>),
    Thread(mpsc::SyncSender<Answer>),
}

struct Request {
    op: Op,
    reply: Reply,
}

impl Request {
    fn answer(self, answer: Answer) {
        // A caller that stopped waiting (its task was cancelled) needs no answer.
        let _ = match self.reply {
            Reply::Task(tx) => tx.send(answer).map_err(drop),
            Reply::Thread(tx) => tx.send(answer).map_err(drop),
        };
    }
}

pub(super) struct Writer {
    /// `None` only while dropping: closing it ends the thread.
    requests: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    checkpointer: Option<checkpoint::Checkpointer>,
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the thread that owns `conn` for writing.
    pub fn start(conn: Connection, path: &Path) -> Result<Writer, StoreError> {
        conn.set_prepared_statement_cache_capacity(32);
        super::stable_plans(&conn)?;
        // Checkpoints are the checkpointer's (see `checkpoint`), not the committing writer's.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(unavailable)?;
        let (tx, rx) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let checkpointer = checkpoint::start(path, Arc::clone(&commits))?;
        let counted = Arc::clone(&commits);
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx, &counted))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the sqlite writer: {e}")))?;
        Ok(Writer {
            requests: Some(tx),
            thread: Some(thread),
            checkpointer: Some(checkpointer),
            commits,
        })
    }

    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Queues `op` and waits for its batch to be committed.
    pub async fn send(&self, op: Op) -> Answer {
        let (tx, rx) = oneshot::channel();
        self.enqueue(Request {
            op,
            reply: Reply::Task(tx),
        })?;
        // The answer dropped unsent: the writer died (a panic past its guard); not committed.
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    /// As [`Writer::send`], blocking the calling thread.
    pub fn send_blocking(&self, op: Op) -> Answer {
        let (tx, rx) = mpsc::sync_channel(1);
        self.enqueue(Request {
            op,
            reply: Reply::Thread(tx),
        })?;
        rx.recv().unwrap_or_else(|_| Err(gone()))
    }

    fn enqueue(&self, request: Request) -> Result<(), StoreError> {
        self.requests
            .as_ref()
            .ok_or_else(gone)?
            .send(request)
            .map_err(|_| gone())
    }
}

impl Drop for Writer {
    /// Ends the thread once it has answered what is queued, so the file is closed when the
    /// last handle is gone (a test or `invoke` may open it again right after).
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(checkpointer) = self.checkpointer.take() {
            drop(checkpointer.stop);
            let _ = checkpointer.thread.join();
        }
    }
}

fn gone() -> StoreError {
    StoreError::Unavailable("the sqlite writer stopped; the write may not have landed".into())
}

fn run(conn: Connection, requests: mpsc::Receiver<Request>, commits: &AtomicU64) {
    let mut batch = Vec::new();
    while let Ok(first) = requests.recv() {
        let mut bytes = first.op.bytes();
        batch.push(first);
        while batch.len() < MAX_BATCH_REQUESTS && bytes < MAX_BATCH_BYTES {
            match requests.try_recv() {
                Ok(request) => {
                    bytes += request.op.bytes();
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        let answers = match catch_unwind(AssertUnwindSafe(|| commit(&conn, &batch, commits))) {
            Ok(answers) => answers,
            Err(_) => {
                // Nothing of the batch was answered: undo it all and say so to each caller.
                abandon(&conn);
                failed(
                    batch.len(),
                    "the sqlite writer panicked; nothing was written",
                )
            }
        };
        for (request, answer) in batch.drain(..).zip(answers) {
            request.answer(answer);
        }
    }
}

/// One transaction for the whole batch; the answers, in order, valid only once it committed.
fn commit(conn: &Connection, batch: &[Request], commits: &AtomicU64) -> Vec<Answer> {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        return failed(batch.len(), &format!("sqlite: {e}"));
    }
    let now = now_unix();
    let mut answers = Vec::with_capacity(batch.len());
    for request in batch {
        match in_savepoint(conn, &request.op, now) {
            // SQLite rolled the whole transaction back (an I/O error, a full disk): the
            // requests applied before this one are gone too.
            Ok(_) if conn.is_autocommit() => {
                return failed(batch.len(), "sqlite rolled the batch back");
            }
            Ok(answer) => answers.push(answer),
            // A request's writes could not be undone alone: none of the batch may commit.
            Err(e) => {
                abandon(conn);
                return failed(batch.len(), &format!("sqlite savepoint: {e}"));
            }
        }
    }
    match exec(conn, "COMMIT") {
        Ok(()) => {
            commits.fetch_add(1, Ordering::Relaxed);
            answers
        }
        Err(e) => {
            abandon(conn);
            failed(batch.len(), &format!("sqlite commit: {e}"))
        }
    }
}

/// Applies one request; a refusal or an error undoes only its own writes. `Err` when the
/// savepoint itself failed, so the request's writes cannot be told from the others'.
fn in_savepoint(conn: &Connection, op: &Op, now: i64) -> rusqlite::Result<Answer> {
    if !op.needs_savepoint() {
        return Ok(apply(conn, op, now));
    }
    exec(conn, "SAVEPOINT request")?;
    let answer = apply(conn, op, now);
    if !matches!(answer, Ok(Outcome::Done)) {
        exec(conn, "ROLLBACK TO request")?;
    }
    exec(conn, "RELEASE request")?;
    Ok(answer)
}

fn apply(conn: &Connection, op: &Op, now: i64) -> Answer {
    match op {
        Op::Write {
            puts,
            counts,
            want_item,
        } => {
            for (i, (item, condition)) in puts.iter().enumerate() {
                if let Some(refusal) = check(conn, item, *condition, *want_item && i == 0, now)? {
                    return Ok(refusal);
                }
                put(conn, item)?;
            }
            let mut add = conn
                .prepare_cached(
                    "INSERT INTO counters (pk, sk, name, value) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (pk, sk, name) DO UPDATE SET value = value + excluded.value",
                )
                .map_err(unavailable)?;
            for (key, counters) in counts {
                for (name, by) in counters {
                    add.execute(params![key.pk, key.sk, name, by])
                        .map_err(unavailable)?;
                }
            }
            Ok(Outcome::Done)
        }
        Op::Delete(key) => {
            // A key names a record item or a counter item (as on DynamoDB, where both are
            // items): delete whichever it is.
            for sql in [
                "DELETE FROM items WHERE pk = ?1 AND sk = ?2",
                "DELETE FROM counters WHERE pk = ?1 AND sk = ?2",
            ] {
                let mut stmt = conn.prepare_cached(sql).map_err(unavailable)?;
                stmt.execute(params![key.pk, key.sk]).map_err(unavailable)?;
            }
            Ok(Outcome::Done)
        }
        Op::Purge => {
            let mut stmt = conn
                .prepare_cached(
                    "DELETE FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                )
                .map_err(unavailable)?;
            Ok(Outcome::Purged(stmt.execute([now]).map_err(unavailable)?))
        }
    }
}

/// `None` when the put's condition holds; else the refusal, with the stored item if asked.
fn check(
    conn: &Connection,
    item: &Encoded,
    condition: Condition,
    want_item: bool,
    now: i64,
) -> Result<Option<Outcome>, StoreError> {
    if condition == Condition::Always {
        return Ok(None);
    }
    let key = params![item.key.pk, item.key.sk, now];
    let (version, found) = if want_item {
        let mut stmt = conn.prepare_cached(super::read::GET).map_err(unavailable)?;
        let found = stmt
            .query_row(key, row_to_item)
            .optional()
            .map_err(unavailable)?;
        (found.as_ref().map(|(i, _)| i.version as i64), found)
    } else {
        let mut stmt = conn
            .prepare_cached(
                "SELECT version FROM items WHERE pk = ?1 AND sk = ?2 \
                 AND (expires_at IS NULL OR expires_at > ?3)",
            )
            .map_err(unavailable)?;
        let version = stmt
            .query_row(key, |r| r.get::<_, i64>(0))
            .optional()
            .map_err(unavailable)?;
        (version, None)
    };
    let holds = match condition {
        Condition::NotExists => version.is_none(),
        Condition::Version(v) => version == Some(v as i64),
        Condition::Always => true,
    };
    Ok((!holds).then(|| Outcome::Refused(found.map(Box::new))))
}

fn put(conn: &Connection, item: &Encoded) -> Result<(), StoreError> {
    let (g1pk, g1sk) = split(&item.gsi1);
    let (g2pk, g2sk) = split(&item.gsi2);
    let mut stmt = conn
        .prepare_cached(
            "INSERT OR REPLACE INTO items \
             (pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, version, expires_at, data) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(unavailable)?;
    stmt.execute(params![
        item.key.pk,
        item.key.sk,
        g1pk,
        g1sk,
        g2pk,
        g2sk,
        item.version,
        item.expires_at,
        item.data
    ])
    .map_err(unavailable)?;
    Ok(())
}

fn split(key: &Option<Key>) -> (Option<&str>, Option<&str>) {
    match key {
        Some(k) => (Some(k.pk.as_str()), Some(k.sk.as_str())),
        None => (None, None),
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Rolls back whatever transaction is open (after a failed commit or a panic).
fn abandon(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

fn failed(n: usize, why: &str) -> Vec<Answer> {
    (0..n)
        .map(|_| Err(StoreError::Unavailable(why.to_owned())))
        .collect()
}
