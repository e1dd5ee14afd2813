//! `chatsource-load`: the two proofs against a real `chatsource serve`, over HTTP only,
//! and the floor under its durable ingest (the ingest and the embedded store in-process).
#![allow(clippy::print_stdout)] // a command-line proof reports on stdout

mod api;
mod bodies;
mod check;
mod crash;
mod duplicates;
mod fire;
mod floor;
mod ids;
mod kill;
mod plan;
mod server;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tempfile::TempDir;

// The server's allocator (its `override` also takes SQLite's mallocs), so `floor` measures the
// store as the server runs it; to the HTTP proofs, clients of a server in its own process, the
// allocator makes no difference.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Load and crash proofs of `chatsource serve` (Jivo webhooks to the demo hook)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The server binary (default: `chatsource` beside this one, i.e. target/release).
    #[arg(long, global = true)]
    chatsource: Option<PathBuf>,
    /// Seed of the plan (chats, orders, repeats); printed, so a failing run can be repeated.
    #[arg(long, global = true)]
    seed: Option<u64>,
    #[arg(long, global = true, default_value_t = 32)]
    in_flight: usize,
    /// Share of the requests that repeat an earlier body (exactly or reserialized).
    #[arg(long, global = true, default_value_t = 0.3)]
    duplicate_share: f64,
}

#[derive(Subcommand)]
enum Command {
    /// Repeats and reorders under concurrency: distinct appeals == distinct chats, all 2xx.
    Duplicates {
        #[arg(long, default_value_t = 10_000)]
        requests: usize,
    },
    /// kill -9 mid-load, restart on the same data: every 2xx'd webhook kept, with its appeal.
    Crash {
        #[arg(long, default_value_t = 3)]
        kills: usize,
        #[arg(long, default_value_t = 3_000)]
        requests_per_kill: usize,
    },
    /// What a running server kept of the demo Jivo integration, once it stopped changing, as
    /// one JSON line: appeals (and how many are complete), raw events by status. Read back
    /// after a load run to check that every acknowledged webhook was kept (`scripts/bench`);
    /// the server must have been started with the proofs' API key.
    Stored {
        #[arg(long)]
        base: String,
    },
    /// The floor under the server's durable ingest: the bench's webhooks handled in-process
    /// without HTTP, then their writes replayed alone onto a fresh store (see `floor`).
    Floor {
        #[arg(long, default_value_t = 20_000)]
        webhooks: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
}

/// What both proofs share.
pub struct Common {
    pub binary: PathBuf,
    pub seed: u64,
    pub in_flight: usize,
    pub duplicate_share: f64,
}

impl Common {
    pub fn workdir(&self) -> Result<TempDir, String> {
        tempfile::Builder::new()
            .prefix("chatsource-load-")
            .tempdir()
            .map_err(|e| format!("cannot make a work dir: {e}"))
    }

    /// Prints the outcome; a failed proof keeps its data dir and server log for a look.
    pub fn verdict(&self, work: TempDir, violations: &[String]) -> bool {
        if violations.is_empty() {
            println!("  PASS (seed {})", self.seed);
            return true;
        }
        for v in violations {
            println!("  VIOLATION: {v}");
        }
        let kept = work.keep();
        println!(
            "  FAIL (seed {}); data dir and serve.log kept in {}",
            self.seed,
            kept.display()
        );
        false
    }
}

async fn stored(base: &str) -> Result<bool, String> {
    let kept = api::settled(base).await?;
    let complete = kept
        .appeals
        .iter()
        .filter(|a| a["status"] == "complete")
        .count();
    let mut raw_statuses = serde_json::Map::new();
    for r in &kept.raw_events {
        let status = r["status"].as_str().unwrap_or("").to_owned();
        let n = raw_statuses
            .get(&status)
            .and_then(|n| n.as_u64())
            .unwrap_or(0);
        raw_statuses.insert(status, (n + 1).into());
    }
    let line = serde_json::json!({
        "appeals": kept.appeals.len(),
        "complete": complete,
        "raw_events": kept.raw_events.len(),
        "raw_statuses": raw_statuses,
    });
    println!("{line}");
    Ok(true)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let common = Common {
        binary: cli.chatsource.unwrap_or_else(server::default_binary),
        seed: cli.seed.unwrap_or_else(rand::random),
        in_flight: cli.in_flight.max(1),
        duplicate_share: cli.duplicate_share.clamp(0.0, 0.9),
    };
    let result = match cli.command {
        Command::Duplicates { requests } => duplicates::run(&common, requests).await,
        Command::Crash {
            kills,
            requests_per_kill,
        } => crash::run(&common, kills, requests_per_kill).await,
        Command::Stored { base } => stored(&base).await,
        Command::Floor {
            webhooks,
            concurrency,
        } => floor::run(webhooks, concurrency).await,
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("chatsource-load: {message}");
            ExitCode::from(2)
        }
    }
}
