//! `lambda-init`: what a cold start of our Lambda functions costs next to a bare
//! `lambda_runtime` binary (issue 14): spawn to the first `GET /next` (init), spawn to the
//! answer to the first event (init plus the first invocation), and peak resident memory
//! (VmHWM) after it.
//!
//! ```text
//! cargo build --release -p jivo-webhook -p api -p enrichment-worker
//! cargo build --release -p chatsource-lambda-init
//! target/release/lambda-init --runs 20 target/release/jivo-webhook target/release/api \
//!     target/release/enrichment-worker
//! ```
//!
//! Two builds, so the functions are built as deployed: in one, cargo would unify features and
//! give them the SQLite store the tool's test harness uses. Each binary (cargo-lambda's `target/lambda/<function>/bootstrap` works too) is started
//! against a Runtime API stand-in served here, with the environment `template.yaml` gives its
//! function, on moto (started here, from `.venv` as `scripts/test` installs it) with a fresh
//! table holding the demo account per cold start, and gets a first event from `events/` that
//! does the whole job (`functions.rs` says which). `bare-lambda`, built beside this tool, is
//! measured in the same rounds as the baseline; the rounds interleave the binaries so a
//! machine's load shifts all of them alike. The functions reach moto through a proxy that
//! clocks the time a store request is outstanding ("of which store": moto's Python, or
//! DynamoDB's network on AWS, not the function's own work; the baseline has none).
//!
//! Prints a Markdown table: medians and p90s; "answer" is the first invocation's statusCode
//! (which path it took); the ratios are medians over the baseline's init+first (with and
//! without the store's wait) and peak RSS. Exits non-zero when a cold start fails.
#![allow(clippy::print_stdout)] // a measuring tool reports on stdout

mod functions;
mod runtime;
mod store_time;

use clap::Parser;
use runtime::Sample;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Cold starts of Lambda binaries against a bare lambda_runtime binary")]
struct Cli {
    /// Cold starts per binary.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// The baseline (default: `bare-lambda` beside this tool).
    #[arg(long)]
    bare: Option<PathBuf>,
    /// Another first event for a function: `<function>=<file>` (repeatable).
    #[arg(long = "event", value_name = "FUNCTION=FILE")]
    events: Vec<String>,
    /// The Lambda binaries to measure.
    #[arg(required = true)]
    binaries: Vec<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lambda-init: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Measured {
    function: String,
    binary: PathBuf,
    event: String,
    samples: Vec<Sample>,
    /// The first answer's `statusCode` (or `-` for a non-HTTP function), to show which path
    /// the first invocation took.
    answer: String,
}

async fn run(cli: Cli) -> Result<(), String> {
    let bare = match cli.bare {
        Some(path) => path,
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("bare-lambda"),
    };
    let mut measured = Vec::new();
    for binary in std::iter::once(bare).chain(cli.binaries) {
        let function = functions::name_of(&binary);
        let event = match cli
            .events
            .iter()
            .find_map(|e| e.strip_prefix(&format!("{function}=")))
        {
            Some(file) => std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?,
            None => functions::default_event(&function)?,
        };
        measured.push(Measured {
            function,
            binary,
            event,
            samples: Vec::new(),
            answer: String::new(),
        });
    }
    let queues = functions::Queues::make().await;
    let moto = tokio::task::spawn_blocking(chatsource_tests::moto::endpoint)
        .await
        .map_err(|e| e.to_string())?;
    let (endpoint, clock) = store_time::proxy(moto).await?;
    for round in 0..cli.runs {
        eprintln!("round {}/{}", round + 1, cli.runs);
        for m in &mut measured {
            let env = functions::environment(&m.function, &queues, &endpoint).await?;
            let (sample, answer) =
                runtime::cold_start(&m.binary, &m.function, &env, m.event.clone(), &clock).await?;
            if m.answer.is_empty() {
                m.answer = status_of(&answer);
            }
            m.samples.push(sample);
        }
    }
    print!("{}", table(&measured));
    Ok(())
}

fn status_of(answer: &str) -> String {
    serde_json::from_str::<serde_json::Value>(answer)
        .ok()
        .and_then(|v| v.get("statusCode").map(|s| s.to_string()))
        .unwrap_or_else(|| "-".to_owned())
}

/// The value below which `share` of the values lie (nearest rank).
fn percentile(mut values: Vec<f64>, share: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((share * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

fn table(measured: &[Measured]) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let stats = |m: &Measured| {
        let init: Vec<f64> = m.samples.iter().map(|s| ms(s.init)).collect();
        let first: Vec<f64> = m.samples.iter().map(|s| ms(s.first)).collect();
        let store: Vec<f64> = m.samples.iter().map(|s| ms(s.store)).collect();
        let own: Vec<f64> = m
            .samples
            .iter()
            .map(|s| ms(s.first.saturating_sub(s.store)))
            .collect();
        let peak: Vec<f64> = m
            .samples
            .iter()
            .map(|s| s.peak_kib as f64 / 1024.0)
            .collect();
        let threads = m.samples.iter().map(|s| s.threads).max().unwrap_or(0);
        (
            (percentile(init.clone(), 0.5), percentile(init, 0.9)),
            (percentile(first.clone(), 0.5), percentile(first, 0.9)),
            percentile(store, 0.5),
            percentile(own, 0.5),
            percentile(peak, 0.5),
            threads,
        )
    };
    let (_, (bare_first, _), _, _, bare_peak, _) = stats(&measured[0]);
    let mut out = format!(
        "{} cold starts each\n\n\
         | binary | answer | init ms p50 / p90 | init+first ms p50 / p90 | of which store ms | peak RSS MiB | threads | ratio init+first | ratio without store | ratio RSS |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        measured[0].samples.len()
    );
    for m in measured {
        let ((i50, i90), (f50, f90), store, own, peak, threads) = stats(m);
        out.push_str(&format!(
            "| {} | {} | {i50:.1} / {i90:.1} | {f50:.1} / {f90:.1} | {store:.1} | {peak:.1} | {threads} | {:.2}x | {:.2}x | {:.2}x |\n",
            m.function,
            m.answer,
            f50 / bare_first,
            own / bare_first,
            peak / bare_peak,
        ));
    }
    out
}
