//! Seeds a data dir for `chatsource serve` with a big account: the report benchmark's data
//! (BENCHMARKS.md, "Reports").
//!
//! `cargo run --release -p shared --features sqlite --example seed_report -- DATA_DIR [APPEALS]
//! [DAYS] [SEED] [API_KEY]`: the directory must not hold a store yet.

#[path = "../benches/support/report_seed.rs"]
mod report_seed;

use shared::store::Store;
use shared::store::sqlite::SqliteKv;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let dir = PathBuf::from(arg(0, "target/report-bench"));
    let n: usize = arg(1, "1000000")
        .parse()
        .map_err(|e| format!("APPEALS: {e}"))?;
    let days: i64 = arg(2, "100").parse().map_err(|e| format!("DAYS: {e}"))?;
    let seed: u64 = match args.get(3) {
        Some(s) => s.parse().map_err(|e| format!("SEED: {e}"))?,
        None => report_seed::SEED,
    };
    let key = arg(4, report_seed::API_KEY);
    let db = dir.join("chatsource.db");
    if db.exists() {
        return Err(format!("{} exists: seed an empty data dir", db.display()));
    }
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let kv = SqliteKv::open(&db).map_err(|e| e.to_string())?;
    let store = Store::new(Arc::new(kv));
    let started = Instant::now();
    let end = chrono::Utc::now();
    let seeded = report_seed::seed(&store, &key, n, days, end, seed, |done| {
        eprintln!("seed_report: {done} appeals, {:.0?}", started.elapsed());
    })
    .await
    .map_err(|e| e.to_string())?;
    report_seed::write_end(&dir, end);
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.join("chatsource.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    eprintln!(
        "seed_report: account {} (key {}): {} appeals from {} to {}, {} counter deltas in {} \
         transactions, {:.1?}, {} MB",
        seeded.account,
        seeded.api_key,
        seeded.appeals,
        seeded.first.format("%Y-%m-%d %H:00"),
        seeded.last.format("%Y-%m-%d %H:%M"),
        seeded.counter_deltas,
        seeded.transactions,
        started.elapsed(),
        size / 1_000_000
    );
    Ok(())
}
