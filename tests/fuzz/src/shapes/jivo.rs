//! Jivo chat events: every `event_name` the normalizer tells apart, with visitors, agents,
//! sessions, pages, transcripts and calls in the shapes (and type drifts) Jivo's samples show.

use super::{choice, email, id, list, name, object, or_odd, phone, pipe_list, text, time, url};
use crate::rng::Gen;
use serde_json::{Value, json};

/// Field names the normalizer reads, for mutations that add fields.
#[rustfmt::skip]
pub const VOCAB: &[&str] = &[
    "event_name", "event_type", "widget_id", "user_token", "chat_id", "client_id",
    "offline_message_id", "message", "visitor", "agent", "assigned_agent", "agents", "session",
    "page", "chat", "call", "name", "email", "phone", "number", "id", "utm", "utm_json", "source",
    "medium", "campaign", "content", "term", "url", "messages", "timestamp", "type", "agent_id",
];

#[rustfmt::skip]
const EVENTS: &[&str] = &[
    "chat_accepted", "chat_updated", "chat_finished", "offline_message", "call_event",
    "client_updated", "client_attribute_updated", "chat_assigned", "", "CHAT_FINISHED",
];

pub fn event(g: &mut Gen) -> Value {
    let event_name = choice(g, EVENTS);
    let widget = choice(g, &["5501234", "7700001", "1"]);
    let fields = vec![
        ("event_name", event_name),
        ("widget_id", widget),
        ("chat_id", id(g)),
        ("user_token", or_odd(g, json!("sess_7f3c2a9e41b0"))),
        ("visitor", visitor(g)),
        ("agent", agent(g)),
        ("assigned_agent", agent(g)),
        ("agents", list(g, 4, agent)),
        ("session", session(g)),
        ("page", json!({"url": url(g)})),
        ("chat", json!({"messages": list(g, 30, message)})),
        ("call", call(g)),
        ("offline_message_id", id(g)),
        ("message", text(g)),
        ("client_id", id(g)),
    ];
    let mut event = object(g, 0.7, fields);
    if g.chance(0.03) {
        event["event_type"] = json!("lead_created");
    }
    event
}

fn visitor(g: &mut Gen) -> Value {
    let fields = vec![
        ("name", name(g)),
        ("email", email(g)),
        ("phone", phone(g)),
        ("number", id(g)),
    ];
    object(g, 0.8, fields)
}

fn agent(g: &mut Gen) -> Value {
    let fields = vec![("id", id(g)), ("name", name(g)), ("email", email(g))];
    object(g, 0.8, fields)
}

fn session(g: &mut Gen) -> Value {
    let utm_json = ["source", "medium", "campaign", "content", "term"]
        .map(|k| (k, or_odd(g, json!("yandex"))))
        .to_vec();
    let utm_json = object(g, 0.6, utm_json);
    let fields = vec![("utm", pipe_list(g)), ("utm_json", utm_json)];
    object(g, 0.8, fields)
}

fn message(g: &mut Gen) -> Value {
    let kind = choice(g, &["visitor", "agent", "client", "system", "bot"]);
    let fields = vec![
        ("message", text(g)),
        ("timestamp", time(g)),
        ("type", kind),
        ("agent_id", id(g)),
    ];
    object(g, 0.85, fields)
}

fn call(g: &mut Gen) -> Value {
    let kind = choice(g, &["callback", "incoming", "outgoing"]);
    let fields = vec![("type", kind), ("phone", phone(g))];
    object(g, 0.8, fields)
}
