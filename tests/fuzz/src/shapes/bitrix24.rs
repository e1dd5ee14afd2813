//! Bitrix24 outbound events as the tree their form keys make: the event name, the entity's
//! id, and the `auth` block that verification reads, which usually carries the demo
//! integration's application token so the body gets past verification to the decision.

use super::{choice, id, object, or_odd};
use crate::rng::Gen;
use serde_json::{Value, json};
use shared::app::demo;

#[rustfmt::skip]
pub const VOCAB: &[&str] = &[
    "event", "data", "FIELDS", "ID", "ts", "auth", "domain", "member_id", "application_token",
];

pub fn event(g: &mut Gen) -> Value {
    let name = *g.pick(&[
        "ONCRMLEADADD",
        "ONCRMDEALADD",
        "oncrmleadadd",
        "ONCRMLEADUPDATE",
        "",
    ]);
    let entity_id = match g.below(3) {
        0 => json!(*g.pick(&[
            "48211",
            "0",
            "-1",
            "18446744073709551616",
            " 7 ",
            "forty-two"
        ])),
        _ => id(g),
    };
    let fields = vec![
        ("event", or_odd(g, json!(name))),
        ("data", json!({"FIELDS": {"ID": entity_id}})),
        ("ts", or_odd(g, json!("1717411200"))),
        ("auth", auth(g)),
    ];
    object(g, 0.9, fields)
}

fn auth(g: &mut Gen) -> Value {
    let token = if g.chance(0.85) {
        json!(demo::BITRIX24_APPLICATION_TOKEN)
    } else {
        or_odd(g, json!("not_the_application_token"))
    };
    let domain = choice(
        g,
        &[
            "b24.shop.example.ru",
            "B24.SHOP.EXAMPLE.RU",
            "acme.bitrix24.ru",
        ],
    );
    let member = or_odd(g, json!("5c0b9d3e2f4a61b7c8d9e0f1a2b3c4d5"));
    let fields = vec![
        ("application_token", token),
        ("domain", domain),
        ("member_id", member),
    ];
    object(g, 0.9, fields)
}
