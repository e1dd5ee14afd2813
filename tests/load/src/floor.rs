//! `chatsource-load floor`: the floor under the local server's durable ingest (issue 14, goal
//! 1), in two steps on the embedded store, in this process (the server's allocator, see
//! `main`, and runtime):
//!
//! 1. **ingest, no HTTP**: the webhooks `bench/jivo_chats.lua` sends (each a distinct finished
//!    Jivo chat of its own visitor) handled by `ingest::receive`, as `serve` handles them but
//!    called directly, `concurrency` at a time. Every write each one makes is recorded.
//! 2. **the store's writes alone**: those writes, webhook by webhook in their order, replayed
//!    as fast as they go onto a fresh store seeded the same way: no HTTP, no parsing, no
//!    reads, no domain work. What the store commits here is the most the server could ever
//!    acknowledge durably, whatever else got faster.
//!
//! Prints one table row per step: webhooks/s, process CPU per webhook, p50/p99 of one
//! webhook's time. `scripts/bench` runs it beside the load runs; it is a benchmark, not a test.

use shared::app::App;
use shared::app::ingest::{self, Delivery};
use shared::domain::appeal::Provider;
use shared::store::kv::{
    Condition, CounterPage, Item, Key, Kv, Page, Query, StoreError, Write, Written,
};
use shared::store::{Store, sqlite::SqliteKv};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{bodies, fire};

tokio::task_local! {
    /// Which webhook the writes being made belong to.
    static WEBHOOK: usize;
}

/// One write as the store was asked for it.
enum Op {
    Put(Item, Condition),
    Delete(Key),
    Transact(Vec<Write>),
    Write(Vec<Write>),
}

/// The store, recording the writes made inside a `WEBHOOK` scope.
struct Recording {
    inner: Arc<dyn Kv>,
    ops: Mutex<Vec<(usize, Op)>>,
}

impl Recording {
    fn note(&self, op: impl FnOnce() -> Op) {
        if let Ok(webhook) = WEBHOOK.try_with(|w| *w) {
            self.ops.lock().expect("not poisoned").push((webhook, op()));
        }
    }
}

#[async_trait::async_trait]
impl Kv for Recording {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn put(&self, item: &Item, condition: Condition) -> Result<(), StoreError> {
        self.note(|| Op::Put(item.clone(), condition));
        self.inner.put(item, condition).await
    }
    async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        self.note(|| Op::Delete(key.clone()));
        self.inner.delete(key).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
    async fn transact(&self, writes: &[Write]) -> Result<(), StoreError> {
        self.note(|| Op::Transact(writes.to_vec()));
        self.inner.transact(writes).await
    }
    async fn counters(&self, query: &Query) -> Result<CounterPage, StoreError> {
        self.inner.counters(query).await
    }
    async fn write(&self, writes: &[Write]) -> Result<Written, StoreError> {
        self.note(|| Op::Write(writes.to_vec()));
        self.inner.write(writes).await
    }
    fn counter_shards(&self) -> u32 {
        self.inner.counter_shards()
    }
}

/// What one step measured.
struct Step {
    webhooks: usize,
    took: Duration,
    cpu: Duration,
    times: Vec<Duration>,
    /// Webhooks that failed (step 1) or writes the store refused (step 2).
    failures: usize,
}

impl Step {
    fn row(&mut self, name: &str) -> String {
        self.times.sort();
        let at = |q| fire::quantile(&self.times, q);
        format!(
            "| {name} | {:.0} | {:.0} µs | {:.1} ms | {:.1} ms | {} of {} |",
            self.webhooks as f64 / self.took.as_secs_f64(),
            self.cpu.as_secs_f64() * 1e6 / self.webhooks as f64,
            at(0.5).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            self.failures,
            self.webhooks,
        )
    }
}

/// This process's CPU time (user + system) so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime are the 12th and
    // 13th of them, in clock ticks (100 a second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Runs `one(i)` for webhooks `0..count`, `concurrency` at a time, timing each.
async fn timed<F, Fut>(count: usize, concurrency: usize, one: F) -> Step
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let one = Arc::new(one);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu = cpu_time();
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (one, next) = (one.clone(), next.clone());
            tokio::spawn(async move {
                let (mut times, mut failures) = (Vec::new(), 0);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return (times, failures);
                    }
                    let at = Instant::now();
                    if !WEBHOOK.scope(i, one(i)).await {
                        failures += 1;
                    }
                    times.push(at.elapsed());
                }
            })
        })
        .collect();
    let mut step = Step {
        webhooks: count,
        took: Duration::ZERO,
        cpu: Duration::ZERO,
        times: Vec::with_capacity(count),
        failures: 0,
    };
    for worker in workers {
        let (times, failures) = worker.await.expect("a worker ends");
        step.times.extend(times);
        step.failures += failures;
    }
    step.took = started.elapsed();
    step.cpu = cpu_time().saturating_sub(cpu);
    step
}

async fn seeded(dir: &Path) -> Result<(Store, Arc<dyn Kv>), String> {
    let seed = async {
        let kv: Arc<dyn Kv> = Arc::new(SqliteKv::open(&dir.join("chatsource.db"))?);
        let store = Store::new(kv.clone());
        shared::app::demo::seed(&store, None, chrono::Utc::now()).await?;
        Ok::<_, StoreError>((store, kv))
    };
    seed.await.map_err(|e| format!("cannot seed a store: {e}"))
}

/// Both steps, then their table; `Ok(false)` when a step failed any webhook (no floor then).
pub async fn run(count: usize, concurrency: usize) -> Result<bool, String> {
    let (count, concurrency) = (count.max(1), concurrency.max(1));
    // Bodies made before the clock starts, as wrk's script makes them in wrk.
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..count)
            .map(|i| bodies::event(1_000_000 + i as u64, 2))
            .collect(),
    );

    let first = workdir()?;
    let (store, kv) = seeded(first.path()).await?;
    let recording = Arc::new(Recording {
        inner: kv,
        ops: Mutex::new(Vec::new()),
    });
    let app = Arc::new(App::new(Store::new(recording.clone())));
    drop(store);
    let mut ingest = timed(count, concurrency, {
        let (app, bodies) = (app.clone(), bodies.clone());
        move |i| {
            let (app, bodies) = (app.clone(), bodies.clone());
            async move {
                let delivery = Delivery {
                    provider: Provider::Jivo,
                    integration_id: shared::app::demo::JIVO_INTEGRATION_ID,
                    secret: shared::app::demo::JIVO_SECRET,
                    hook: "chats",
                    body: &bodies[i],
                    content_type: Some("application/json"),
                };
                ingest::receive(&app, delivery, chrono::Utc::now())
                    .await
                    .is_ok()
            }
        }
    })
    .await;
    drop(app);

    // Each webhook's writes in the order it made them.
    let mut by_webhook: BTreeMap<usize, Vec<Op>> = BTreeMap::new();
    for (webhook, op) in std::mem::take(&mut *recording.ops.lock().expect("not poisoned")) {
        by_webhook.entry(webhook).or_default().push(op);
    }
    let writes: usize = by_webhook.values().map(Vec::len).sum();
    let by_webhook: Arc<Vec<Vec<Op>>> = Arc::new(by_webhook.into_values().collect());
    // The first store's last handle: its writer and checkpointer stop (joined) before the
    // replay starts, so they take none of the replay's CPU.
    drop(recording);

    let second = workdir()?;
    let (_, fresh) = seeded(second.path()).await?;
    let mut alone = timed(by_webhook.len(), concurrency, {
        let by_webhook = by_webhook.clone();
        move |i| {
            let (by_webhook, kv) = (by_webhook.clone(), fresh.clone());
            async move {
                let mut all_done = true;
                for op in &by_webhook[i] {
                    let done = match op {
                        Op::Put(item, condition) => kv.put(item, *condition).await.is_ok(),
                        Op::Delete(key) => kv.delete(key).await.is_ok(),
                        Op::Transact(writes) => kv.transact(writes).await.is_ok(),
                        Op::Write(writes) => {
                            matches!(kv.write(writes).await, Ok(Written::Done))
                        }
                    };
                    all_done &= done;
                }
                all_done
            }
        }
    })
    .await;

    println!(
        "{count} webhooks, {concurrency} at a time; {writes} store writes recorded ({:.1} a webhook)",
        writes as f64 / count as f64
    );
    println!();
    println!("| step | webhooks/s | CPU per webhook | p50 | p99 | failed |");
    println!("|---|---|---|---|---|---|");
    println!("{}", ingest.row("ingest, no HTTP (`ingest::receive`)"));
    println!("{}", alone.row("the store's writes alone (replayed)"));
    Ok(ingest.failures == 0 && alone.failures == 0)
}

fn workdir() -> Result<tempfile::TempDir, String> {
    tempfile::tempdir().map_err(|e| format!("cannot make a store dir: {e}"))
}
