//! amoCRM (Kommo) webhooks (providers.md section 3) to decisions.
//!
//! A hook is form-encoded with bracketed keys and may carry several items of several entities
//! (`talk[update][0]`, `talk[update][1]`, `message[add][0]`...). A talk (a conversation) is
//! closed when it arrives with `is_in_work=0`; only then does it become an appeal, completed by
//! the enrichment worker from the API (the hook carries ids only). Talks still in work are
//! recorded (the raw event) and wait for their close. Messages (`message[add]`) are collected
//! per talk, so the appeal gets a transcript when amoCRM sends them (subscribe to "message
//! added" as well as "talk added/changed").

use super::lenient::as_string;
use super::{Decision, Unreadable, form};
use crate::domain::appeal::{AppealFacts, Author, Channel, Kind, Message, SessionInfo, Status};
use crate::domain::contact::Contact;
use crate::domain::integration::Integration;
use crate::domain::job::Task;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

/// Checks that the hook comes from the integration's amoCRM account: the subdomain of its
/// address and, once connected, its account id. A hook from another account is refused.
pub fn verify(root: &Value, integration: &Integration) -> Result<(), String> {
    let Some(settings) = &integration.amocrm else {
        return Err("the integration has no amoCRM settings".into());
    };
    let account = root.get("account");
    let field = |k: &str| account.and_then(|a| a.get(k)).and_then(as_string);
    let (id, subdomain) = (field("id"), field("subdomain"));
    if let (Some(expected), Some(got)) = (settings.subdomain(), &subdomain)
        && !got.eq_ignore_ascii_case(&expected)
    {
        return Err(format!(
            "the hook comes from amoCRM account `{got}`, not `{expected}`"
        ));
    }
    if let (Some(expected), Some(got)) = (settings.account_id, &id)
        && got != &expected.to_string()
    {
        return Err(format!(
            "the hook comes from amoCRM account {got}, not {expected}"
        ));
    }
    if id.is_none() && subdomain.is_none() {
        return Err("the hook names no amoCRM account".into());
    }
    Ok(())
}

pub fn decide(
    body: &[u8],
    _integration: &Integration,
    received_at: DateTime<Utc>,
) -> Result<Decision, Unreadable> {
    if !form::looks_like_form(body) {
        return Err(Unreadable(
            "an amoCRM hook is a form (key=value&...), this body is not".into(),
        ));
    }
    let root = form::decode(body)?;
    let mut decisions = Vec::new();
    for action in ["add", "update"] {
        for talk in items(&root, "talk", action) {
            decisions.push(talk_decision(talk)?);
        }
    }
    for message in items(&root, "message", "add") {
        decisions.push(message_decision(message, received_at)?);
    }
    let others: Vec<&str> = root
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .map(String::as_str)
        .filter(|k| !matches!(*k, "account" | "talk" | "message"))
        .collect();
    if decisions.is_empty() {
        return Ok(Decision::Ignore(if others.is_empty() {
            "an amoCRM hook without talks or messages".into()
        } else {
            format!(
                "amoCRM `{}` events carry nothing for an appeal; subscribe to talks and messages",
                others.join("`, `")
            )
        }));
    }
    Ok(match decisions.len() {
        1 => decisions.remove(0),
        _ => Decision::Many(decisions),
    })
}

/// `entity[action][i]` items, whether one or many.
fn items<'a>(root: &'a Value, entity: &str, action: &str) -> Vec<&'a Value> {
    match root.get(entity).and_then(|e| e.get(action)) {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

fn talk_decision(talk: &Value) -> Result<Decision, Unreadable> {
    let talk_id =
        number(talk, "talk_id").ok_or_else(|| Unreadable("a talk without talk_id".into()))?;
    if text(talk, "is_in_work").as_deref() != Some("0") {
        return Ok(Decision::Ignore(format!(
            "talk {talk_id} is still in work: it becomes an appeal when it closes"
        )));
    }
    let lead_id = (text(talk, "entity_type").as_deref() == Some("lead"))
        .then(|| number(talk, "entity_id"))
        .flatten();
    let facts = AppealFacts {
        kind: Kind::Chat,
        provider_ref: talk_ref(talk_id),
        channel: channel(text(talk, "origin").as_deref()),
        occurred_at: time(talk, "created_at"),
        contact: Contact::default(),
        agent: None,
        messages: None,
        session: SessionInfo::default(),
        visitor_ref: text(talk, "contact_id"),
        status: Status::PendingEnrichment,
    };
    Ok(Decision::Enrich(
        Box::new(facts),
        Task::AmocrmTalk {
            talk_id,
            lead_id,
            contact_id: number(talk, "contact_id"),
        },
    ))
}

fn message_decision(message: &Value, received_at: DateTime<Utc>) -> Result<Decision, Unreadable> {
    let talk_id =
        number(message, "talk_id").ok_or_else(|| Unreadable("a message without talk_id".into()))?;
    let id = text(message, "id").ok_or_else(|| Unreadable("a message without id".into()))?;
    let author = message.get("author");
    let author_type = author
        .and_then(|a| a.get("type"))
        .and_then(as_string)
        .unwrap_or_default();
    let author = match (text(message, "type").as_deref(), author_type.as_str()) {
        (_, "bot") => Author::Bot,
        (Some("incoming"), _) => Author::Visitor,
        (Some("outgoing"), _) => Author::Employee,
        _ => Author::System,
    };
    Ok(Decision::Collect {
        provider_ref: talk_ref(talk_id),
        message_id: id,
        message: Message {
            at: time(message, "created_at").unwrap_or(received_at),
            author,
            author_name: message
                .get("author")
                .and_then(|a| a.get("name"))
                .and_then(as_string),
            text: text(message, "text").unwrap_or_default(),
        },
    })
}

/// The appeal of a talk is found by this.
pub fn talk_ref(talk_id: u64) -> String {
    format!("talk:{talk_id}")
}

/// amoCRM's `origin` (the source a talk was created for) as our channel. The online chat of
/// amoCRM's own site button is the site widget.
pub fn channel(origin: Option<&str>) -> Channel {
    let origin = origin.unwrap_or_default().to_ascii_lowercase();
    let messenger = [
        ("telegram", "telegram"),
        ("instagram", "instagram"),
        ("whatsapp", "whatsapp"),
        ("wazzup", "whatsapp"),
        ("viber", "viber"),
        ("avito", "avito"),
        ("facebook", "facebook"),
        ("vk", "vk"),
        ("odnoklassniki", "ok"),
    ]
    .iter()
    .find(|(needle, _)| origin.contains(needle))
    .map(|(_, channel)| *channel);
    messenger
        .and_then(|c| Channel::parse(c).ok())
        .unwrap_or_else(Channel::site)
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(as_string)
}

fn number(v: &Value, key: &str) -> Option<u64> {
    text(v, key)?.parse().ok()
}

fn time(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(text(v, key)?.parse().ok()?, 0)
        .single()
        .and_then(crate::domain::limits::plausible)
}
