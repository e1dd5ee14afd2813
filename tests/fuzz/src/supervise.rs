//! A target run as child processes of this binary: a stack overflow aborts the process that
//! meets it, so the supervisor notes where the child got to, runs that stretch again
//! announcing each input to pin the one that crashed, keeps that input as a finding, and
//! goes on after it.

use crate::findings::Findings;
use crate::fuzzer::Fuzzer;
use crate::targets::Target;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Past this many crashes a run stops: something is wrong with every input, not with some.
const MAX_CRASHES: u64 = 20;

pub struct Summary {
    pub inputs: u64,
    pub seconds: f64,
    /// Failing inputs: panics and broken promises, and crashes.
    pub findings: u64,
    pub crashes: u64,
}

struct Child {
    /// The last input the child announced: every one before it is done.
    last_at: u64,
    findings: u64,
    /// `None`: it finished; else the end of its stderr (the crash's own words).
    crash: Option<String>,
}

pub fn supervise(target: Target, seed: u64, inputs: u64, dir: &Path) -> std::io::Result<Summary> {
    std::fs::create_dir_all(dir)?;
    let started = Instant::now();
    let mut summary = Summary {
        inputs,
        seconds: 0.0,
        findings: 0,
        crashes: 0,
    };
    let mut crashes = Findings::new(dir, target.name(), seed);
    let mut next = 0;
    while next < inputs {
        let run = child(target, seed, (next, inputs), false, dir)?;
        summary.findings += run.findings;
        let Some(_) = run.crash else { break };
        if summary.crashes == MAX_CRASHES {
            eprintln!(
                "{}: {MAX_CRASHES} crashes; stopping at input {}",
                target.name(),
                run.last_at
            );
            summary.inputs = run.last_at;
            break;
        }
        // The crash is among the 1,024 inputs after the last announced one.
        let stretch = (run.last_at, (run.last_at + 1024).min(inputs));
        let traced = child(target, seed, stretch, true, dir)?;
        summary.crashes += 1;
        summary.findings += 1;
        match traced.crash {
            Some(words) => {
                let index = traced.last_at;
                let body = Fuzzer::new(target).input(seed, index);
                let kept = crashes.add(index, &body, &format!("crash: {words}"));
                eprintln!(
                    "{}: input {index} crashed the process ({words}); kept as {}",
                    target.name(),
                    kept.display()
                );
                next = index + 1;
            }
            None => {
                eprintln!(
                    "{}: a crash in inputs {}..{} did not happen again",
                    target.name(),
                    stretch.0,
                    stretch.1
                );
                next = stretch.1;
            }
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn child(
    target: Target,
    seed: u64,
    (from, to): (u64, u64),
    trace: bool,
    dir: &Path,
) -> std::io::Result<Child> {
    let stderr_path = dir.join(format!(".{}.stderr", target.name()));
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["work", target.name(), "--seed", &seed.to_string()])
        .args(["--from", &from.to_string(), "--to", &to.to_string()])
        .arg("--findings")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path)?);
    if trace {
        command.arg("--trace");
    }
    let mut process = command.spawn()?;
    let mut run = Child {
        last_at: from,
        findings: 0,
        crash: None,
    };
    let mut done = false;
    let stdout = process.stdout.take().expect("a piped stdout");
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let mut words = line.split(' ');
        match (words.next(), words.next().and_then(|n| n.parse().ok())) {
            (Some("at"), Some(index)) => run.last_at = index,
            (Some("finding"), Some(_)) => run.findings += 1,
            (Some("done"), _) => done = true,
            _ => {}
        }
    }
    let status = process.wait()?;
    if done && status.success() {
        let _ = std::fs::remove_file(&stderr_path);
    } else {
        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let tail: Vec<&str> = stderr
            .lines()
            .rev()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .collect();
        run.crash = Some(format!(
            "{status}; {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        ));
    }
    Ok(run)
}
