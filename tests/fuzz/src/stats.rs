//! What the inputs of a target come to, counted: which decisions, which refusals (by the
//! first words of their reason), which answers. It shows the generators get past the first
//! checks into the parsers' depths, rather than only being refused at the door.

use crate::fuzzer::Fuzzer;
use crate::targets::Target;
use shared::domain::providers::{self, Decision, Refusal};
use std::collections::BTreeMap;

impl Fuzzer {
    /// One label per parser run on the body (per integration and hook).
    pub fn labels(&self, body: &[u8]) -> Vec<String> {
        let (demo, now) = (&self.demo, self.received_at);
        let label = |d: Result<Decision, providers::Unreadable>| match d {
            Ok(decision) => kind(&decision),
            Err(e) => format!("unreadable: {}", words(&e.0)),
        };
        match self.target {
            Target::Jivo => (demo.jivo.iter())
                .map(|i| label(providers::jivo::decide(body, i, now)))
                .collect(),
            Target::Verbox => ["chats", "offline"]
                .iter()
                .map(|h| {
                    format!(
                        "{h} {}",
                        label(providers::verbox::decide(body, h, &demo.verbox[0], now))
                    )
                })
                .collect(),
            Target::Amocrm | Target::Bitrix24 => {
                let integrations = match self.target {
                    Target::Amocrm => &demo.amocrm,
                    _ => &demo.bitrix24,
                };
                let i = &integrations[0];
                let verified = match providers::verify(body, i) {
                    Ok(()) => "verified".to_owned(),
                    Err(Refusal::NotOurs(why)) => format!("not ours: {}", words(&why)),
                    Err(Refusal::Unreadable(why)) => format!("unreadable: {}", words(&why)),
                };
                let decided = match self.target {
                    Target::Amocrm => label(providers::amocrm::decide(body, i, now)),
                    _ => label(providers::bitrix24::decide(body, i)),
                };
                vec![verified, decided]
            }
            Target::Form => vec![match providers::form::decode(body) {
                Ok(_) => "decoded".to_owned(),
                Err(e) => format!("refused: {}", words(&e.0)),
            }],
            Target::Tracker => {
                let (status, answer) = self.page_view(body);
                let json: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
                let why = json["message"].as_str().map(words).unwrap_or_default();
                vec![format!("{status} {why}")]
            }
        }
    }
}

fn kind(decision: &Decision) -> String {
    match decision {
        Decision::Appeal(_) => "appeal".into(),
        Decision::Enrich(..) => "enrich".into(),
        Decision::VisitorContact { .. } => "visitor contact".into(),
        Decision::Collect { .. } => "collect".into(),
        Decision::Fetch { .. } => "fetch".into(),
        Decision::Many(items) => format!("many ({})", items.first().map(kind).unwrap_or_default()),
        Decision::Ignore(why) => format!("ignore: {}", words(why)),
    }
}

/// The first words of a reason: its kind, without the details that vary by input.
fn words(reason: &str) -> String {
    reason
        .split_whitespace()
        .take(4)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Counts of the labels of inputs `0..n`.
pub fn count(target: Target, seed: u64, n: u64) -> BTreeMap<String, u64> {
    let fuzzer = Fuzzer::new(target);
    let mut counts = BTreeMap::new();
    for index in 0..n {
        for label in fuzzer.labels(&fuzzer.input(seed, index)) {
            *counts.entry(label).or_default() += 1;
        }
    }
    counts
}
