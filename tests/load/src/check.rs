//! What must hold of the kept appeals and raw events, as lists of violations (empty: it holds).

use crate::api::Kept;
use crate::bodies::EVENTS;
use crate::ids;
use crate::plan::{Plan, Request};
use std::collections::{HashMap, HashSet};

/// How many offenders a violation names; the rest are counted.
const SHOWN: usize = 5;

/// Kept appeals by id (with their status), and kept raw events by id (with theirs).
pub struct Index {
    pub appeals: HashMap<String, String>,
    pub raw_events: HashMap<String, String>,
    /// Appeal ids the listing returned more than once.
    pub listed_twice: Vec<String>,
}

pub fn index(kept: &Kept) -> Index {
    let mut appeals = HashMap::new();
    let mut listed_twice = Vec::new();
    for a in &kept.appeals {
        let id = a["id"].as_str().unwrap_or_default().to_owned();
        let status = a["status"].as_str().unwrap_or_default().to_owned();
        if appeals.insert(id.clone(), status).is_some() {
            listed_twice.push(id);
        }
    }
    let raw_events = kept
        .raw_events
        .iter()
        .map(|r| {
            let id = r["id"].as_str().unwrap_or_default().to_owned();
            (id, r["status"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    Index {
        appeals,
        raw_events,
        listed_twice,
    }
}

/// Every request of the plan reached the server once at least: one appeal per chat, each
/// complete (every chat's `chat_finished` was among them), one raw event per distinct body.
pub fn converged(plan: &Plan, index: &Index) -> Vec<String> {
    let mut violations = Vec::new();
    let chats: HashSet<u64> = plan.requests.iter().map(|r| r.chat_id).collect();
    let expected: HashMap<String, u64> = chats.iter().map(|&c| (ids::appeal(c), c)).collect();
    if index.appeals.len() != chats.len() || !index.listed_twice.is_empty() {
        violations.push(format!(
            "{} distinct appeals (listed {} times) for {} distinct chats",
            index.appeals.len(),
            index.appeals.len() + index.listed_twice.len(),
            chats.len()
        ));
    }
    let missing: Vec<String> = expected
        .iter()
        .filter(|(id, _)| !index.appeals.contains_key(*id))
        .map(|(id, chat)| format!("chat {chat} ({id})"))
        .collect();
    let extra: Vec<&String> = index
        .appeals
        .keys()
        .filter(|id| !expected.contains_key(*id))
        .collect();
    let open: Vec<String> = index
        .appeals
        .iter()
        .filter(|(id, status)| expected.contains_key(*id) && *status != "complete")
        .map(|(id, status)| format!("chat {} ({id}) is {status}", expected[id]))
        .collect();
    name(&mut violations, "chats without their appeal", &missing);
    name(&mut violations, "appeals of no chat sent", &extra);
    name(
        &mut violations,
        "appeals not complete though their chat_finished was delivered",
        &open,
    );
    let bodies: HashSet<String> = plan
        .requests
        .iter()
        .map(|r| ids::raw_event(&r.body))
        .collect();
    let lost: Vec<&String> = bodies
        .iter()
        .filter(|id| !index.raw_events.contains_key(*id))
        .collect();
    if index.raw_events.len() != bodies.len() {
        violations.push(format!(
            "{} raw events kept for {} distinct bodies",
            index.raw_events.len(),
            bodies.len()
        ));
    }
    name(&mut violations, "bodies without their raw event", &lost);
    let unfinished = stuck(index);
    name(
        &mut violations,
        "raw events still `received` though answered 2xx",
        &unfinished,
    );
    violations
}

/// Raw events kept whose handling never finished (a kill cut it, and no repeat came yet).
pub fn stuck(index: &Index) -> Vec<&String> {
    let mut ids: Vec<&String> = index
        .raw_events
        .iter()
        .filter(|(_, status)| *status == "received")
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    ids
}

/// An acknowledged request is durable: its raw event and its chat's appeal are kept, and an
/// acknowledged `chat_finished` left that appeal complete.
pub fn durable(request: &Request, index: &Index) -> Vec<String> {
    let mut violations = Vec::new();
    let raw = ids::raw_event(&request.body);
    if !index.raw_events.contains_key(&raw) {
        violations.push(format!("{}: raw event {raw} lost", request.describe()));
    }
    let appeal = ids::appeal(request.chat_id);
    match index.appeals.get(&appeal) {
        None => violations.push(format!("{}: appeal {appeal} lost", request.describe())),
        Some(status) if EVENTS[request.event] == "chat_finished" && status != "complete" => {
            violations.push(format!(
                "{}: appeal {appeal} is {status}",
                request.describe()
            ));
        }
        Some(_) => {}
    }
    violations
}

/// One violation naming up to [`SHOWN`] offenders.
pub fn name(violations: &mut Vec<String>, what: &str, offenders: &[impl std::fmt::Display]) {
    if offenders.is_empty() {
        return;
    }
    let shown: Vec<String> = offenders
        .iter()
        .take(SHOWN)
        .map(|o| o.to_string())
        .collect();
    let more = offenders.len().saturating_sub(SHOWN);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    violations.push(format!(
        "{} {what}: {}{tail}",
        offenders.len(),
        shown.join("; ")
    ));
}
