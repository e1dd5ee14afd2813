//! Verbox (Talk-Me) dialogs and offline requests, in every envelope the normalizer's
//! assumptions name: `data.dialog`, `data`, `dialog`, or the top level.

use super::{choice, email, id, list, name, object, or_odd, phone, text, time};
use crate::atoms;
use crate::rng::Gen;
use serde_json::{Value, json};

#[rustfmt::skip]
pub const VOCAB: &[&str] = &[
    "secretKey", "event", "data", "dialog", "dialogId", "id", "client", "clientId", "searchId",
    "name", "phone", "phones", "email", "emails", "customData", "chatsource_session", "messages",
    "whoSend", "text", "message", "dateTime", "dateTimeUTC", "date", "timestamp", "messageType",
    "operator", "operatorName", "login", "channel", "messenger", "source", "type", "finishedAt",
    "dateFinish", "requestId", "questionId", "question", "comment",
];

/// A finished dialog (or a per-message event) in one of the envelopes.
pub fn dialog(g: &mut Gen) -> Value {
    let fields = vec![
        ("client", client(g)),
        ("dialogId", or_odd(g, json!("d-5501-7731"))),
        ("id", id(g)),
        ("operator", operator(g)),
        ("messages", list(g, 30, message)),
        ("dateTime", time(g)),
        ("finishedAt", time(g)),
        ("dateFinish", time(g)),
        ("channel", channel(g)),
    ];
    let body = object(g, 0.6, fields);
    let event = choice(g, &["dialogFinished", "clientSendMessage", "message"]);
    envelope(g, body, event)
}

/// An offline-form question.
pub fn offline(g: &mut Gen) -> Value {
    let fields = vec![
        ("id", id(g)),
        ("requestId", id(g)),
        ("questionId", id(g)),
        ("client", client(g)),
        ("message", json!({"text": text(g)})),
        ("text", text(g)),
        ("question", text(g)),
        ("comment", text(g)),
        ("name", name(g)),
        ("phone", phone(g)),
    ];
    let body = object(g, 0.4, fields);
    envelope(g, body, json!("offline"))
}

fn envelope(g: &mut Gen, body: Value, event: Value) -> Value {
    let secret = json!("verbox-side-secret");
    match g.below(4) {
        0 => json!({"secretKey": secret, "event": event, "data": body}),
        1 => json!({"secretKey": secret, "event": event, "data": {"dialog": body}}),
        2 => json!({"event": event, "dialog": body}),
        _ => body,
    }
}

fn client(g: &mut Gen) -> Value {
    let phones = list(g, 3, phone);
    let emails = list(g, 3, email);
    let custom = vec![
        (
            "chatsource_session",
            or_odd(g, json!("ses_00000000000000000000000000000000")),
        ),
        ("cart", text(g)),
    ];
    let custom = object(g, 0.7, custom);
    let fields = vec![
        (
            "clientId",
            or_odd(g, json!("4f1e7a9c2b8d4e6fa1c3b5d7e9f20413")),
        ),
        ("searchId", id(g)),
        ("name", name(g)),
        ("phone", phone(g)),
        ("phones", phones),
        ("email", email(g)),
        ("emails", emails),
        ("customData", custom),
        ("source", channel(g)),
        ("messenger", channel(g)),
    ];
    object(g, 0.6, fields)
}

fn channel(g: &mut Gen) -> Value {
    let named = *g.pick(&[
        "widget",
        "telegram",
        "WhatsApp Business",
        "vk",
        "ok",
        "max",
        "maxima",
    ]);
    match g.below(3) {
        0 => json!({"type": named}),
        1 => json!({"name": named}),
        _ => or_odd(g, json!(named)),
    }
}

fn operator(g: &mut Gen) -> Value {
    let fields = vec![
        ("login", or_odd(g, json!("oleg"))),
        ("name", name(g)),
        ("email", email(g)),
    ];
    object(g, 0.7, fields)
}

fn message(g: &mut Gen) -> Value {
    let who = choice(
        g,
        &[
            "client", "visitor", "user", "operator", "agent", "bot", "system",
        ],
    );
    let kind = choice(g, &["comment", "autoMessage", "AUTOMESSAGE"]);
    let time_key = *g.pick(&["dateTimeUTC", "dateTime", "date", "timestamp"]);
    let fields = vec![
        ("whoSend", who),
        ("text", text(g)),
        ("message", json!(atoms::odd_text(g))),
        (time_key, time(g)),
        ("messageType", kind),
        ("operator", operator(g)),
        ("operatorName", name(g)),
    ];
    object(g, 0.75, fields)
}
