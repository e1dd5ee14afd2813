//! Checkpoints off the writer's path: a thread of its own copies the WAL into the database,
//! so no batch's answers wait for a checkpoint's reads, writes and fsyncs.

use super::super::kv::StoreError;
use super::{BUSY_TIMEOUT, unavailable};
use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the WAL is checkpointed while writes come: often enough that it stays a few
/// megabytes under load.
const EVERY: Duration = Duration::from_millis(100);

/// The running checkpointer: dropping `stop` ends it.
pub(super) struct Checkpointer {
    pub stop: mpsc::Sender<()>,
    pub thread: JoinHandle<()>,
}

/// Starts checkpointing `path` whenever `commits` has moved since the last checkpoint.
pub(super) fn start(path: &Path, commits: Arc<AtomicU64>) -> Result<Checkpointer, StoreError> {
    let conn = Connection::open(path).map_err(unavailable)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
    // A checkpoint syncs the WAL before copying it and the database before the WAL restarts.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(unavailable)?;
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let mut checkpointed = 0;
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                let now = commits.load(Ordering::Relaxed);
                if now != checkpointed {
                    // PASSIVE never waits for the writer or readers: what it cannot copy now
                    // is copied next time. A failure is retried the same way.
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "sqlite checkpoint failed; retried");
                    }
                    checkpointed = now;
                }
            }
        })
        .map_err(|e| {
            StoreError::Unavailable(format!("cannot start the sqlite checkpointer: {e}"))
        })?;
    Ok(Checkpointer { stop, thread })
}
