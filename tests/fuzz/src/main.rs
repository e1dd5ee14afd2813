//! `chatsource-fuzz`: runs a target (in child processes, so a crash is pinned to its input),
//! the HTTP sample, or one input again. `scripts/fuzz` drives it.

use chatsource_fuzz::{Target, commands};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Structure-aware fuzzing of chatsource's parsers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs `inputs` inputs of a target in child processes; prints a RESULT line.
    Run {
        target: String,
        #[arg(short = 'n', long, default_value_t = 1_000_000)]
        inputs: u64,
        /// The run's seed; by default one from the clock (printed).
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, default_value_os_t = default_findings())]
        findings: PathBuf,
    },
    /// Posts `per-target` bodies of each provider, and page views, through the handlers.
    Http {
        #[arg(short = 'n', long = "per-target", default_value_t = 2_000)]
        per_target: u64,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, default_value_os_t = default_findings())]
        findings: PathBuf,
    },
    /// Runs one input again: by `--seed` and `--index`, or from `--file`; `--write` saves it.
    Replay {
        target: String,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long)]
        index: Option<u64>,
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Counts what inputs `0..n` of a target come to: decisions, refusals, by kind.
    Stats {
        target: String,
        #[arg(short = 'n', long, default_value_t = 10_000)]
        inputs: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// A child of `run`: inputs `from..to`, progress on stdout.
    #[command(hide = true)]
    Work {
        target: String,
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        from: u64,
        #[arg(long)]
        to: u64,
        #[arg(long)]
        trace: bool,
        #[arg(long)]
        findings: PathBuf,
    },
}

/// `fuzz-findings` in the workspace's target directory (or `CARGO_TARGET_DIR`).
fn default_findings() -> PathBuf {
    let workspace_target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or(workspace_target, PathBuf::from);
    target.join("fuzz-findings")
}

fn target(name: &str) -> Target {
    Target::by_name(name).unwrap_or_else(|| {
        let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
        eprintln!("no target `{name}`; targets: {}", names.join(", "));
        std::process::exit(2)
    })
}

fn seed(given: Option<u64>) -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    given.unwrap_or_else(|| now.map(|d| d.as_secs()).unwrap_or_default())
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run {
            target: t,
            inputs,
            seed: s,
            findings,
        } => commands::run(target(&t), seed(s), inputs, &findings),
        Command::Http {
            per_target,
            seed: s,
            findings,
        } => commands::http(seed(s), per_target, &findings),
        Command::Replay {
            target: t,
            seed,
            index,
            file,
            write,
        } => {
            let target = target(&t);
            let body = match (file, seed, index) {
                (Some(file), ..) => std::fs::read(&file).unwrap_or_else(|e| {
                    eprintln!("{}: {e}", file.display());
                    std::process::exit(2)
                }),
                (None, Some(seed), Some(index)) => commands::input(target, seed, index),
                _ => {
                    eprintln!("replay needs --file, or --seed and --index");
                    return ExitCode::from(2);
                }
            };
            commands::replay(target, body, write)
        }
        Command::Stats {
            target: t,
            inputs,
            seed,
        } => commands::stats(target(&t), seed, inputs),
        Command::Work {
            target: t,
            seed,
            from,
            to,
            trace,
            findings,
        } => commands::work(target(&t), seed, (from, to), trace, &findings),
    }
}
