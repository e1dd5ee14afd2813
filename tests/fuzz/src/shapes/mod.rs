//! What each provider sends, built from scratch: plausible events whose fields the
//! normalizers read (names, ids, times, messages, envelopes), with values drawn from the
//! odd ones often enough; the shared pieces live here, one file per provider beside.

pub mod amocrm;
pub mod bitrix24;
pub mod jivo;
pub mod tracker;
pub mod verbox;

use crate::atoms;
use crate::rng::Gen;
use serde_json::{Map, Value, json};

/// Keeps the object's fields each with probability `keep` (missing fields are half the
/// lenient parsing), but the first almost always: it says what the object is (an event's
/// name, a talk's id), and without it a parser stops at its first check.
pub fn object(g: &mut Gen, keep: f64, fields: Vec<(&str, Value)>) -> Value {
    let map: Map<String, Value> = fields
        .into_iter()
        .enumerate()
        .filter(|(i, _)| g.chance(if *i == 0 { 0.97 } else { keep }))
        .map(|(_, field)| field)
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    Value::Object(map)
}

/// A list of `1..max` items (sometimes none).
pub fn list(g: &mut Gen, max: usize, mut item: impl FnMut(&mut Gen) -> Value) -> Value {
    let n = if g.chance(0.1) { 0 } else { g.count(max) };
    Value::Array((0..n).map(|_| item(g)).collect())
}

/// A plausible value most of the time, an odd one otherwise.
pub fn or_odd(g: &mut Gen, plausible: Value) -> Value {
    // Rare enough that most events keep the fields their parser needs: the mutations
    // afterwards add oddness where it counts.
    if g.chance(0.85) {
        plausible
    } else {
        atoms::value(g, 1)
    }
}

/// An id: a number, or the same as a string.
pub fn id(g: &mut Gen) -> Value {
    let n = *g.pick(&[1u64, 731, 8841, 48213, 90817, 2209871, 1717412345678]);
    let n = if g.chance(0.3) {
        g.u64() % 10_000_000
    } else {
        n
    };
    let plausible = if g.chance(0.5) {
        json!(n)
    } else {
        json!(n.to_string())
    };
    or_odd(g, plausible)
}

/// A moment as providers write it: Unix seconds or milliseconds (number or string), or a date.
pub fn time(g: &mut Gen) -> Value {
    let secs = 1_717_400_000 + (g.below(100_000) as i64);
    match g.below(6) {
        0 => json!(secs),
        1 => json!(secs.to_string()),
        2 => json!(secs * 1000),
        3 => json!(format!("2024-06-03 1{}:0{}:00", g.below(10), g.below(10))),
        4 => json!(atoms::date_text(g)),
        _ => serde_json::from_str(&atoms::number_text(g)).unwrap_or(json!(secs)),
    }
}

pub fn name(g: &mut Gen) -> Value {
    let plausible = *g.pick(&["Мария Ковалёва", "Павел", "Anna Petrova", "Олег", ""]);
    or_odd(g, json!(plausible))
}

pub fn phone(g: &mut Gen) -> Value {
    let plausible = *g.pick(&["+7 (916) 123-45-67", "89161112233", "8-903-555-01-01", "+"]);
    or_odd(g, json!(plausible))
}

pub fn email(g: &mut Gen) -> Value {
    let plausible = *g.pick(&["M.Kovaleva@Example.org", "oleg@shop.example.ru", "a@b", "@"]);
    or_odd(g, json!(plausible))
}

/// A page of the demo shop with tags and click ids, or some other address.
pub fn url(g: &mut Gen) -> Value {
    let host = *g.pick(&[
        "shop.example.ru",
        "www.shop.example.ru",
        "m.shop.example.ru",
        "evil.example",
    ]);
    let query = *g.pick(&[
        "",
        "?utm_source=yandex&utm_medium=cpc&utm_campaign=spring_sale",
        "?utm_source=google&utm_medium=cpc&gclid=abc",
        "?yclid=7315542&utm_source=%D0%AF",
        "?utm_source=&utm_source=a&utm_campaign=%ZZ",
        "?fbclid=1&_openstat=x&utm_term=%F0%9F%98%80",
    ]);
    or_odd(g, json!(format!("https://{host}/catalog/sofas{query}")))
}

/// A message's text: words, sometimes a deep-link code or one of our session ids in it.
pub fn text(g: &mut Gen) -> Value {
    let plausible = *g.pick(&[
        "Добрый день! Есть диваны?",
        "/start CS7K3M9PQR",
        "мой код CS0123ABCD, ses_0123456789abcdef0123456789abcdef",
        "[b]Здравствуйте[/b][br]Да",
    ]);
    or_odd(g, json!(plausible))
}

/// UTM tags as one pipe list (`source=yandex|medium=cpc`), as Jivo sends them.
pub fn pipe_list(g: &mut Gen) -> Value {
    let parts: Vec<String> = (0..g.count(6))
        .map(|_| {
            let key = *g.pick(&["source", "medium", "campaign", "content", "term", "", "x"]);
            format!("{key}={}", atoms::text(g).replace('|', ""))
        })
        .collect();
    or_odd(g, json!(parts.join("|")))
}

/// One of the plausible strings, or an odd value.
pub fn choice(g: &mut Gen, plausible: &[&str]) -> Value {
    let pick = *g.pick(plausible);
    or_odd(g, json!(pick))
}
