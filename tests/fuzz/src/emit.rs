//! JSON text from a value tree, with what a `serde_json::Value` cannot hold: raw tokens (see
//! [`crate::atoms::RAW`]), duplicated keys (last wins in a map, an error in a struct), and
//! unusual but legal whitespace.

use crate::atoms::{self, RAW};
use crate::rng::Gen;
use serde_json::Value;

pub fn emit(g: &mut Gen, value: &Value) -> Vec<u8> {
    let style = Style {
        duplicates: g.chance(0.08),
        spaces: g.chance(0.05),
    };
    let mut out = String::new();
    write(g, &style, value, &mut out);
    out.into_bytes()
}

#[derive(Clone, Copy)]
struct Style {
    duplicates: bool,
    spaces: bool,
}

fn write(g: &mut Gen, style: &Style, value: &Value, out: &mut String) {
    if style.spaces && g.chance(0.2) {
        let space = *g.pick(&[" ", "\n", "\t", "\r\n", "  \n  "]);
        out.push_str(space);
    }
    match value {
        Value::String(s) if s.starts_with(RAW) => out.push_str(&s[RAW.len()..]),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(g, style, item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                member(g, style, key, item, out);
                if style.duplicates && g.chance(0.3) {
                    out.push(',');
                    let other = if g.chance(0.5) {
                        item.clone()
                    } else {
                        atoms::value(g, 1)
                    };
                    // The copy without copies of its own: nested ones would double per level.
                    let plain = Style {
                        duplicates: false,
                        ..*style
                    };
                    member(g, &plain, key, &other, out);
                }
            }
            out.push('}');
        }
        leaf => out.push_str(&leaf.to_string()),
    }
}

fn member(g: &mut Gen, style: &Style, key: &str, value: &Value, out: &mut String) {
    out.push_str(&Value::String(key.to_owned()).to_string());
    out.push(':');
    write(g, style, value, out);
}
