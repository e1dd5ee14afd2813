//! A 90-day report by day and source on an account of 1,000,000 appeals (issue 12): reading
//! the hourly counters from the embedded store, and summing them. Run `scripts/bench-report`,
//! or `cargo bench -p shared --features sqlite --bench report` (seeds
//! `target/report-bench` first when it is missing; `CHATSOURCE_REPORT_DIR` names another).

#[path = "support/report_seed.rs"]
mod report_seed;

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use shared::domain::ids::AccountId;
use shared::domain::rollup::{self, Dim, Filter};
use shared::store::sqlite::SqliteKv;
use shared::store::{Counters, Store};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

const DAYS: i64 = 90;

fn data_dir() -> PathBuf {
    std::env::var_os("CHATSOURCE_REPORT_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/report-bench"),
        PathBuf::from,
    )
}

/// The seeded store and the end of its data (written beside it by the seeder).
fn store(rt: &tokio::runtime::Runtime) -> (Store, DateTime<Utc>) {
    let dir = data_dir();
    let db = dir.join("chatsource.db");
    let fresh = !db.exists();
    std::fs::create_dir_all(&dir).expect("data dir");
    let store = Store::new(Arc::new(SqliteKv::open(&db).expect("store")));
    if fresh {
        let end = Utc::now();
        rt.block_on(report_seed::seed(
            &store,
            report_seed::API_KEY,
            1_000_000,
            100,
            end,
            report_seed::SEED,
            |_| {},
        ))
        .expect("seeded");
        report_seed::write_end(&dir, end);
    }
    let end = report_seed::read_end(&dir).unwrap_or_else(Utc::now);
    (store, end)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (store, end) = store(&rt);
    let account = AccountId::parse(shared::app::demo::ACCOUNT_ID).expect("valid id");
    let tz = chrono_tz::Europe::Moscow;
    let to = end.with_timezone(&tz).date_naive();
    let days = (to - Duration::days(DAYS - 1), to);
    let (start, stop) = rollup::day_bounds(tz, days.0, days.1);
    let read = || {
        rt.block_on(store.rollup_counters(&account, start, stop - Duration::seconds(1)))
            .expect("counters")
    };
    let sum = |counters: &[(DateTime<Utc>, Counters)]| {
        rollup::report(
            counters
                .iter()
                .flat_map(|(h, c)| c.iter().map(move |(n, v)| (*h, n, v))),
            &[Dim::Day, Dim::Source],
            &Filter::default(),
            days,
            rollup::local_day(tz),
        )
    };
    let counters = read();
    let report = sum(&counters);
    let hours: std::collections::BTreeSet<_> = counters.iter().map(|(h, _)| *h).collect();
    eprintln!(
        "report: {} to {}: {} counters in {} hours, {} rows, {} appeals",
        days.0,
        days.1,
        counters.iter().map(|(_, c)| c.len()).sum::<usize>(),
        hours.len(),
        report.rows.len(),
        report.totals.count
    );
    let mut group = c.benchmark_group("report 90 days by day x source (1M appeals)");
    group.sample_size(10);
    group.bench_function("read counters (SQLite)", |b| b.iter(|| black_box(read())));
    group.bench_function("sum (rollup::report)", |b| {
        b.iter(|| black_box(sum(&counters)))
    });
    group.bench_function("read + sum", |b| b.iter(|| black_box(sum(&read()))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
