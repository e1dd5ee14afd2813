//! Jivo webhook bodies for one chat, made from the real samples in `events/jivo/bodies/`.

use serde_json::{Value, json};

/// The chat events a Jivo channel sends for one chat, in the order Jivo sends them.
pub const EVENTS: [&str; 3] = ["chat_accepted", "chat_updated", "chat_finished"];

const SAMPLES: [&str; 3] = [
    include_str!("../../../events/jivo/bodies/chat_accepted.json"),
    include_str!("../../../events/jivo/bodies/chat_updated.json"),
    include_str!("../../../events/jivo/bodies/chat_finished.json"),
];

/// The samples' widget: the demo integration maps no channel for it, so it is the site.
pub const WIDGET_ID: &str = "5501234";

/// Event `event` (an index into [`EVENTS`]) of chat `chat_id`, as compact JSON. Every chat is
/// its own visitor with its own contacts and session token, so no two chats share anything
/// the product could merge them by.
pub fn event(chat_id: u64, event: usize) -> Vec<u8> {
    let mut body: Value = serde_json::from_str(SAMPLES[event]).expect("the samples are JSON");
    let digits = chat_id % 10_000_000;
    let (a, b, c) = (digits / 10_000, digits / 100 % 100, digits % 100);
    body["chat_id"] = json!(chat_id);
    body["user_token"] = json!(format!("sess_{chat_id:012x}"));
    let visitor = &mut body["visitor"];
    visitor["number"] = json!(chat_id.to_string());
    // Jivo fills contacts in as the chat goes on: none, then a phone, then everything.
    if event >= 1 {
        visitor["name"] = json!(format!("Посетитель {chat_id}"));
        visitor["phone"] = json!(format!("8 (916) {a:03}-{b:02}-{c:02}"));
    }
    if event == 2 {
        visitor["phone"] = json!(format!("+7 (916) {a:03}-{b:02}-{c:02}"));
        visitor["email"] = json!(format!("Visitor.{chat_id}@Example.org"));
    }
    serde_json::to_vec(&body).expect("a Value serializes")
}

/// The same JSON value written differently (keys in reverse order, spaced out): what a
/// provider's retry through another serializer looks like. Other bytes, the same event.
pub fn reserialized(body: &[u8]) -> Vec<u8> {
    let value: Value = serde_json::from_slice(body).expect("our own bodies are JSON");
    let mut out = String::with_capacity(body.len() + body.len() / 4);
    write_reversed(&value, &mut out);
    out.into_bytes()
}

fn write_reversed(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push_str("{ ");
            for (i, (key, item)) in map.iter().rev().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(" : ");
                write_reversed(item, out);
            }
            out.push_str(" }");
        }
        Value::Array(items) => {
            out.push_str("[ ");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_reversed(item, out);
            }
            out.push_str(" ]");
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}
