//! Mutations of a JSON tree that keep most of its shape, so a parser gets past its first
//! checks and meets the odd value deep inside: one node at a time is retyped, stretched,
//! nested, multiplied, dropped, or swapped for a piece of another sample.

use crate::atoms;
use crate::rng::Gen;
use crate::tree::{node_mut, node_ref, nodes, paths};
use serde_json::{Map, Value, json};

/// Applies a few mutations. `vocab` holds the provider's own field names, so new fields are
/// ones the parser reads; `donors` are other bodies of the provider to borrow subtrees from.
pub fn mutate(g: &mut Gen, root: &mut Value, vocab: &[&str], donors: &[Value]) {
    for _ in 0..g.count(8) {
        let paths = paths(root);
        let room = BUDGET.saturating_sub(nodes(root, BUDGET));
        let path = g.pick(&paths).clone();
        let node = node_mut(root, &path);
        once(g, node, vocab, donors, room);
    }
}

/// Nodes a tree may grow to: past this, bodies take seconds to make and find nothing more.
const BUDGET: usize = 50_000;

fn once(g: &mut Gen, node: &mut Value, vocab: &[&str], donors: &[Value], room: usize) {
    match g.below(15) {
        0 => *node = atoms::value(g, 2),
        // The same number as a string, or the string as a number: the usual provider drift.
        1 => {
            *node = match node.take() {
                Value::Number(n) => Value::String(n.to_string()),
                Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
                _ => Value::String(atoms::number_text(g)),
            }
        }
        2 => *node = Value::String(atoms::date_text(g)),
        3 => {
            let text = atoms::number_text(g);
            *node = serde_json::from_str(&text).unwrap_or(Value::String(text));
        }
        4 => *node = Value::String(atoms::odd_text(g)),
        5 => *node = Value::String(atoms::raw(g)),
        6 => {
            let inner = node.take();
            *node = if g.chance(0.5) {
                json!([inner])
            } else {
                json!({ *g.pick(vocab): inner })
            };
        }
        7 => {
            let mut inner = node.take();
            for _ in 0..*g.pick(&[3usize, 10, 20, 30, 32, 64, 126, 127, 128, 129, 200]) {
                inner = if g.chance(0.5) {
                    json!([inner])
                } else {
                    json!({ *g.pick(vocab): inner })
                };
            }
            *node = inner;
        }
        8 | 9 => grow(g, node, vocab, donors, room),
        10 => match node {
            Value::Object(map) if !map.is_empty() => {
                let key = map
                    .keys()
                    .nth(g.below(map.len()))
                    .cloned()
                    .unwrap_or_default();
                map.remove(&key);
            }
            Value::Array(items) if !items.is_empty() => {
                items.remove(g.below(items.len()));
            }
            _ => *node = Value::Null,
        },
        11 if !donors.is_empty() => {
            let donor = g.pick(donors);
            let paths = paths(donor);
            let path = g.pick(&paths);
            *node = node_ref(donor, path).clone();
        }
        12 => match node {
            Value::String(s) if !s.is_empty() => {
                let cut = (0..=g.below(s.len()))
                    .rev()
                    .find(|i| s.is_char_boundary(*i));
                s.truncate(cut.unwrap_or(0));
                s.push_str(&atoms::odd_text(g));
            }
            _ => *node = Value::String(atoms::text(g)),
        },
        13 => *node = Value::Null,
        _ => *node = Value::Bool(g.chance(0.5)),
    }
}

/// More of the same: fields the provider names, or many copies of an item (up to past the
/// form decoder's 10,000-field bound).
fn grow(g: &mut Gen, node: &mut Value, vocab: &[&str], donors: &[Value], room: usize) {
    let n = g.size();
    match node {
        Value::Object(map) => {
            let mut left = room;
            for i in 0..n.max(1) {
                let key = if i == 0 || g.chance(0.5) {
                    g.pick(vocab).to_string()
                } else {
                    format!("{}{i}", g.pick(vocab))
                };
                let value = match donors.is_empty() || g.chance(0.5) {
                    true => atoms::value(g, 2),
                    false => g.pick(donors).clone(),
                };
                left = left.saturating_sub(nodes(&value, left));
                if left == 0 {
                    break;
                }
                map.insert(key, value);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let item = items[g.below(items.len())].clone();
            let n = n.min(room / nodes(&item, room).max(1));
            items.extend(std::iter::repeat_n(item, n));
        }
        other => {
            let mut map = Map::new();
            map.insert(g.pick(vocab).to_string(), other.take());
            *other = Value::Object(map);
        }
    }
}
