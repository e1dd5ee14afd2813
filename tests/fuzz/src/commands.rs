//! What each command of `chatsource-fuzz` does and reports: a target run (a `RESULT` line
//! the script tabulates), the HTTP sample, a replay, and the child's side of a run.
#![allow(clippy::print_stdout)] // a command-line tool reports on stdout

use crate::runner::{self, Progress};
use crate::{Fuzzer, Target, http, supervise};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(target: Target, seed: u64, inputs: u64, findings: &Path) -> ExitCode {
    let name = target.name();
    println!("{name}: seed {seed}, {inputs} inputs");
    let s = match supervise::supervise(target, seed, inputs, findings) {
        Ok(summary) => summary,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rate = s.inputs as f64 / s.seconds.max(1e-9);
    let (n, secs, found) = (s.inputs, s.seconds, s.findings);
    println!("RESULT\t{name}\t{n}\t{secs:.1}\t{rate:.0}\t{found}\t{seed}");
    if found > 0 {
        println!(
            "{name}: {found} findings ({} crashes); see {}/{name}-*.txt",
            s.crashes,
            findings.display()
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

pub fn http(seed: u64, per_target: u64, findings: &Path) -> ExitCode {
    println!("http: seed {seed}, {per_target} per target");
    let started = std::time::Instant::now();
    let sample = runner::on_stack(runner::HANDLER_STACK, || http::sample(seed, per_target));
    let seconds = started.elapsed().as_secs_f64();
    let (posted, violations) = (sample.posted, &sample.violations);
    let answers: Vec<String> = sample
        .statuses
        .iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    println!("http answers: {}", answers.join(", "));
    for v in violations {
        let file = findings.join(format!("http-{}-{seed}-{}.in", v.target.name(), v.index));
        let written =
            std::fs::create_dir_all(findings).and_then(|()| std::fs::write(&file, &v.body));
        let kept = written.map_or_else(
            |e| format!("not kept: {e}"),
            |()| file.display().to_string(),
        );
        println!(
            "http {} #{} ({kept}): {}",
            v.target.name(),
            v.index,
            v.answer
        );
    }
    let rate = posted as f64 / seconds.max(1e-9);
    println!(
        "RESULT\thttp\t{posted}\t{seconds:.1}\t{rate:.0}\t{}\t{seed}",
        violations.len()
    );
    match violations.is_empty() {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}

/// One input again, in this process and uncaught: a panic prints its message (and, with
/// `RUST_BACKTRACE=1`, its backtrace); a stack overflow aborts as it did in the run.
pub fn replay(target: Target, body: Vec<u8>, write: Option<PathBuf>) -> ExitCode {
    let name = target.name();
    if let Some(out) = write {
        return match std::fs::write(&out, &body) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}: {e}", out.display());
                ExitCode::FAILURE
            }
        };
    }
    println!("{name}: {} bytes", body.len());
    match runner::on_stack(runner::PARSER_STACK, || Fuzzer::new(target).check(&body)) {
        Ok(()) => {
            println!("{name}: fine");
            ExitCode::SUCCESS
        }
        Err(broken) => {
            println!("{name}: {broken}");
            ExitCode::FAILURE
        }
    }
}

/// Input `index` of a run, as `replay --seed --index` makes it.
pub fn input(target: Target, seed: u64, index: u64) -> Vec<u8> {
    runner::on_stack(runner::PARSER_STACK, || {
        Fuzzer::new(target).input(seed, index)
    })
}

/// What inputs `0..n` come to, most frequent first.
pub fn stats(target: Target, seed: u64, n: u64) -> ExitCode {
    let counts = runner::on_stack(runner::PARSER_STACK, || {
        crate::stats::count(target, seed, n)
    });
    let mut counts: Vec<(String, u64)> = counts.into_iter().collect();
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    for (label, count) in counts {
        println!("{count:>8}  {label}");
    }
    ExitCode::SUCCESS
}

/// The child's side of `run`: progress lines the supervisor reads (`at`, `finding`, `done`).
pub fn work(
    target: Target,
    seed: u64,
    range: (u64, u64),
    trace: bool,
    findings: &Path,
) -> ExitCode {
    let mut out = std::io::stdout();
    let outcome = runner::work(target, seed, range, trace, findings, |p| {
        let _ = match p {
            Progress::At(i) => writeln!(out, "at {i}"),
            Progress::Finding(i, failure) => {
                writeln!(
                    out,
                    "finding {i} {}",
                    failure.lines().next().unwrap_or_default()
                )
            }
        };
        // When tracing, the supervisor must know an input began before it can crash.
        if trace {
            let _ = out.flush();
        }
    });
    println!(
        "done {} {:.3} {}",
        outcome.inputs, outcome.seconds, outcome.findings
    );
    ExitCode::SUCCESS
}
