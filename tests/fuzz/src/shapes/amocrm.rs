//! amoCRM hooks as the tree their bracketed form keys make: the account, talks added and
//! changed (open and closed), messages added, and entities the normalizer only names.

use super::{choice, id, list, name, object, or_odd, text, time};
use crate::rng::Gen;
use serde_json::{Value, json};

#[rustfmt::skip]
pub const VOCAB: &[&str] = &[
    "account", "subdomain", "id", "talk", "message", "add", "update", "talk_id", "created_at",
    "updated_at", "contact_id", "chat_id", "entity_id", "entity_type", "is_in_work", "is_read",
    "origin", "text", "type", "author", "name", "leads", "contacts", "status",
];

pub fn hook(g: &mut Gen) -> Value {
    let subdomain = choice(g, &["demo-shop", "DEMO-SHOP", "someone-else", ""]);
    let account_id = choice(g, &["30123456", "99999999"]);
    let account = object(g, 0.9, vec![("subdomain", subdomain), ("id", account_id)]);
    let talks = vec![("add", list(g, 4, talk)), ("update", list(g, 4, talk))];
    let talks = object(g, 0.6, talks);
    let messages = vec![("add", list(g, 10, message))];
    let messages = object(g, 0.9, messages);
    let leads = vec![("add", list(g, 2, |g| json!({"id": id(g)})))];
    let leads = object(g, 0.5, leads);
    let fields = vec![
        ("account", account),
        ("talk", talks),
        ("message", messages),
        ("leads", leads),
    ];
    object(g, 0.7, fields)
}

fn talk(g: &mut Gen) -> Value {
    let in_work = choice(g, &["0", "1", "0", ""]);
    let entity_type = choice(g, &["lead", "contact", "customer"]);
    let origin = choice(
        g,
        &["telegram", "instagram_business", "wazzup", "amo_site_chat"],
    );
    let fields = vec![
        ("talk_id", id(g)),
        ("created_at", time(g)),
        ("updated_at", time(g)),
        ("contact_id", id(g)),
        (
            "chat_id",
            or_odd(g, json!("7b0e4c4e-2f1d-4a86-9a53-0c7d1f2e9a10")),
        ),
        ("entity_id", id(g)),
        ("entity_type", entity_type),
        ("is_in_work", in_work),
        ("origin", origin),
    ];
    object(g, 0.85, fields)
}

fn message(g: &mut Gen) -> Value {
    let kind = choice(g, &["incoming", "outgoing", "system"]);
    let author_type = choice(g, &["external", "internal", "bot"]);
    let author = vec![("type", author_type), ("name", name(g)), ("id", id(g))];
    let author = object(g, 0.8, author);
    let fields = vec![
        (
            "id",
            or_odd(g, json!("2f6a1e0c-7d3b-4c8e-9a11-5b2d6e7f8a90")),
        ),
        ("talk_id", id(g)),
        ("text", text(g)),
        ("created_at", time(g)),
        ("type", kind),
        ("author", author),
    ];
    object(g, 0.85, fields)
}
