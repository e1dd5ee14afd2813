//! The short fuzz run `cargo test --workspace` (CI) makes: every parser target for a few
//! thousand inputs of a fixed seed, and a small sample through the HTTP handlers. The long
//! runs are `scripts/fuzz`.

use chatsource_fuzz::runner::{self, Progress};
use chatsource_fuzz::{Target, http};

const SEED: u64 = 20_240_603;

fn findings_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-findings")
}

fn inputs(target: Target) -> u64 {
    // The tracker goes through its handler and the store: slower per input in debug builds.
    match target {
        Target::Tracker => 1_000,
        _ => 5_000,
    }
}

#[test]
fn every_parser_takes_thousands_of_hostile_inputs_without_a_panic_or_a_broken_promise() {
    let mut failures = Vec::new();
    for target in Target::ALL {
        let n = inputs(target);
        let outcome = runner::work(target, SEED, (0, n), false, &findings_dir(), |p| {
            if let Progress::Finding(index, failure) = p {
                failures.push(format!("{} #{index}: {failure}", target.name()));
            }
        });
        assert_eq!(outcome.inputs, n);
    }
    assert!(
        failures.is_empty(),
        "{} failing inputs (kept in target/fuzz-findings; replay with chatsource-fuzz replay):\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_rejection_through_the_handlers_is_a_4xx_with_a_reason() {
    let sample = runner::on_stack(runner::HANDLER_STACK, || http::sample(SEED, 200));
    assert_eq!(sample.posted, 5 * 200);
    let violations = &sample.violations;
    let described: Vec<String> = violations
        .iter()
        .take(20)
        .map(|v| format!("{} #{}: {}", v.target.name(), v.index, v.answer))
        .collect();
    assert!(violations.is_empty(), "{}", described.join("\n"));
}
