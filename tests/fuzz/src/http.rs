//! The HTTP sample: generated bodies posted through the real handlers to the demo
//! integrations' webhook URLs (and the tracker's), on a seeded temporary store. Every answer
//! must be a 2xx, or a 4xx whose JSON names the `error` and says why in `message`: never a
//! 5xx, never a panic.

use crate::fuzzer::Fuzzer;
use crate::requests;
use crate::rng::Gen;
use crate::targets::Target;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Whether an answer is one a sender can act on.
pub fn judge(status: u16, body: &str) -> Result<(), String> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let text = |k: &str| json[k].as_str().filter(|s| !s.trim().is_empty());
    match (status, text("error"), text("message")) {
        (400..=499, Some(_), Some(_)) => Ok(()),
        (400..=499, ..) => Err(format!("{status} without an error and a message: {body}")),
        _ => Err(format!("{status}: {body}")),
    }
}

/// One violation: which target, the input's index, the answer.
pub struct Violation {
    pub target: Target,
    pub index: u64,
    pub body: Vec<u8>,
    pub answer: String,
}

#[derive(Default)]
pub struct Sample {
    pub posted: u64,
    /// Answers by target and status (`jivo 400`), to show what the bodies came to.
    pub statuses: BTreeMap<String, u64>,
    pub violations: Vec<Violation>,
}

/// Posts `per_target` bodies of each provider (and page views) through the handlers.
pub fn sample(seed: u64, per_target: u64) -> Sample {
    crate::runner::capture_panics();
    let mut sample = Sample::default();
    let targets = [
        Target::Jivo,
        Target::Verbox,
        Target::Amocrm,
        Target::Bitrix24,
        Target::Tracker,
    ];
    for target in targets {
        let fuzzer = Fuzzer::new(target);
        for index in 0..per_target {
            let g = &mut Gen::new(seed ^ 0x4854_5450, index);
            let mut body = fuzzer.input(seed, index);
            if g.chance(0.005) {
                // Past the 1 MiB a webhook may carry.
                body.resize(1024 * 1024 + 1, b'a');
            }
            let outcome = catch_unwind(AssertUnwindSafe(|| match target {
                Target::Tracker => Ok(fuzzer.page_view(&body)),
                _ => requests::post(&fuzzer, g, target, &body),
            }));
            sample.posted += 1;
            let failure = match outcome {
                Ok(Ok((status, answer))) => {
                    *sample
                        .statuses
                        .entry(format!("{} {status}", target.name()))
                        .or_default() += 1;
                    match judge(status, &answer) {
                        Ok(()) => continue,
                        Err(broken) => broken,
                    }
                }
                Ok(Err(request)) => request,
                Err(_) => format!("panic: {}", crate::runner::last_panic()),
            };
            sample.violations.push(Violation {
                target,
                index,
                body,
                answer: failure,
            });
        }
    }
    sample
}
