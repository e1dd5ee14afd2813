//! A target ready to run: the demo account it decides against, and what it must do with a
//! body: never panic, and keep the promises of [`crate::check`] (and, for the form decoder,
//! its own bounds; for the tracker, an answer a browser can act on).

use crate::context::Demo;
use crate::samples::Samples;
use crate::targets::Target;
use crate::tracker::{self, Visit};
use crate::{check, http};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use shared::domain::providers::{self, form as product_form};

pub struct Fuzzer {
    pub target: Target,
    pub demo: Demo,
    pub(crate) samples: Samples,
    visit: Option<Visit>,
    /// When every body "arrived": fixed, so a run is a function of its seed.
    pub(crate) received_at: DateTime<Utc>,
}

impl Fuzzer {
    pub fn new(target: Target) -> Fuzzer {
        let demo = Demo::new();
        let visit = (target == Target::Tracker).then(|| Visit::new(&demo));
        Fuzzer {
            target,
            demo,
            samples: target.samples(),
            visit,
            received_at: Utc.with_ymd_and_hms(2024, 6, 3, 12, 0, 0).unwrap(),
        }
    }

    /// Runs one body through the target; `Err` is a broken promise (a panic unwinds).
    pub fn check(&self, body: &[u8]) -> Result<(), String> {
        let (demo, now) = (&self.demo, self.received_at);
        let dir = &demo.directory;
        match self.target {
            Target::Jivo => demo.jivo.iter().try_for_each(|i| {
                let decided = providers::jivo::decide(body, i, now);
                decided.map_or(Ok(()), |d| check::follow(d, i, dir, now))
            }),
            Target::Verbox => demo.verbox.iter().try_for_each(|i| {
                ["chats", "offline"].iter().try_for_each(|hook| {
                    let decided = providers::verbox::decide(body, hook, i, now);
                    decided.map_or(Ok(()), |d| check::follow(d, i, dir, now))
                })
            }),
            Target::Amocrm => {
                // Verification differs by connection; the decision reads the body alone.
                demo.amocrm
                    .iter()
                    .for_each(|i| drop(providers::verify(body, i)));
                let i = &demo.amocrm[0];
                let decided = providers::amocrm::decide(body, i, now);
                decided.map_or(Ok(()), |d| check::follow(d, i, dir, now))
            }
            Target::Bitrix24 => demo.bitrix24.iter().try_for_each(|i| {
                let _ = providers::verify(body, i);
                let decided = providers::bitrix24::decide(body, i);
                decided.map_or(Ok(()), |d| check::follow(d, i, dir, now))
            }),
            Target::Form => form_bounds(body),
            Target::Tracker => {
                let (status, answer) = self.page_view(body);
                http::judge(status, &answer)
            }
        }
    }

    /// Posts a page view (its stand-ins filled in) to the tracker; the status and answer.
    pub fn page_view(&self, body: &[u8]) -> (u16, String) {
        let body = self.visit.as_ref().map_or(body.to_vec(), |v| v.fill(body));
        let origin = tracker::origin(&body);
        tracker::post(&self.demo, body, origin)
    }
}

/// A decoded form nests no deeper than its keys may, and holds no more fields than a body may.
fn form_bounds(body: &[u8]) -> Result<(), String> {
    product_form::looks_like_form(body);
    let Ok(tree) = product_form::decode(body) else {
        return Ok(());
    };
    let (depth, leaves) = measure(&tree);
    if depth > product_form::MAX_DEPTH || leaves > product_form::MAX_FIELDS {
        return Err(format!(
            "a decoded form is {depth} deep with {leaves} fields, past the decoder's bounds"
        ));
    }
    Ok(())
}

fn measure(v: &Value) -> (usize, usize) {
    let children: Vec<(usize, usize)> = match v {
        Value::Object(map) => map.values().map(measure).collect(),
        Value::Array(items) => items.iter().map(measure).collect(),
        _ => return (0, 1),
    };
    let depth = children.iter().map(|c| c.0).max().unwrap_or(0);
    (depth + 1, children.iter().map(|c| c.1).sum())
}
