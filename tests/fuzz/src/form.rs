//! Form bodies (`talk[update][0][talk_id]=5&...`) as amoCRM and Bitrix24 send them: a sample
//! split into its pairs, or a JSON shape flattened field by field into bracketed keys; then
//! keys and values are mutated and the pairs encoded (brackets raw or `%5B`, spaces `+` or
//! `%20`, broken escapes, odd separators).

use crate::atoms::{self, RAW};
use crate::rng::Gen;
use serde_json::Value;

pub type Pairs = Vec<(String, String)>;

pub fn pairs_of(body: &[u8]) -> Pairs {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// `{"a": {"b": [x, y]}}` → `a[b][0]=x&a[b][1]=y` (or `a[b][]=x`, as PHP forms append).
pub fn flatten(g: &mut Gen, value: &Value) -> Pairs {
    let mut out = Vec::new();
    let append = g.chance(0.2);
    walk(value, String::new(), append, &mut out);
    out
}

fn walk(value: &Value, key: String, append: bool, out: &mut Pairs) {
    let child = |k: &str| match key.is_empty() {
        true => k.to_owned(),
        false => format!("{key}[{k}]"),
    };
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| walk(v, child(k), append, out)),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| {
            // `a[][x]=1&a[][y]=2` makes two items, so only lists of plain values append.
            let index = if append && !(v.is_object() || v.is_array()) {
                String::new()
            } else {
                i.to_string()
            };
            walk(v, child(&index), append, out)
        }),
        Value::String(s) => out.push((key, s.strip_prefix(RAW).unwrap_or(s).to_owned())),
        Value::Null => out.push((key, String::new())),
        leaf => out.push((key, leaf.to_string())),
    }
}

/// Key and value mutations: brackets around the 32-deep bound and far past it, appends,
/// numeric and odd indexes, unclosed brackets, one key as a value and an object at once,
/// repeated keys, and field counts around the 10,000 bound.
pub fn mutate(g: &mut Gen, pairs: &mut Pairs, vocab: &[&str]) {
    for _ in 0..g.count(8) {
        if pairs.is_empty() {
            pairs.push((g.pick(vocab).to_string(), atoms::text(g)));
        }
        let i = g.below(pairs.len());
        let (key, value) = pairs[i].clone();
        match g.below(12) {
            0 | 1 => pairs[i].1 = atoms::text(g),
            2 => {
                // Past the 32-bracket bound a quarter of the time: the whole body is refused then.
                let depth = match g.chance(0.75) {
                    true => *g.pick(&[1usize, 2, 5, 25, 30, 31]),
                    false => *g.pick(&[32usize, 33, 34, 64, 100, 2_450]),
                };
                let segment = *g.pick(&["[x]", "[]", "[0]", "[a][1]"]);
                pairs[i].0 = format!("{key}{}", segment.repeat(depth));
            }
            3 => {
                let index = [
                    "[]",
                    "[0]",
                    "[1]",
                    "[-1]",
                    "[00]",
                    "[ 0]",
                    "[1e3]",
                    "[18446744073709551616]",
                ];
                let at = key.find('[').unwrap_or(key.len());
                pairs[i].0 = format!("{}{}{}", &key[..at], g.pick(&index), &key[at..]);
            }
            4 => {
                let odd = [
                    "[", "]", "[[x]]", "][", "[x", "x]", "[]]", "[=]", "[&]", "[%5B]",
                ];
                pairs[i].0 = format!("{key}{}", g.pick(&odd));
            }
            // The key's prefix as a plain value too: `a=1` beside `a[b]=2`, in either order.
            5 => {
                let prefix = key.split('[').next().unwrap_or_default().to_owned();
                let at = if g.chance(0.5) { i } else { i + 1 };
                pairs.insert(at, (prefix, atoms::text(g)));
            }
            6 => pairs.insert(g.below(pairs.len() + 1), (key, value)),
            7 => {
                pairs.remove(i);
            }
            8 => {
                let n = g.size();
                let many = (0..n).map(|k| match k % 3 {
                    0 => (format!("{key}[]"), value.clone()),
                    1 => (format!("{}[{k}]", g.pick(vocab)), atoms::number_text(g)),
                    _ => (key.clone(), value.clone()),
                });
                let many: Pairs = many.collect();
                pairs.extend(many);
            }
            9 => pairs[i].0 = atoms::odd_text(g),
            10 => {
                let j = g.below(pairs.len());
                pairs.swap(i, j);
            }
            _ => pairs.push((
                format!("{}[{}]", g.pick(vocab), g.pick(vocab)),
                atoms::text(g),
            )),
        }
    }
}

/// The pairs as a body, each part encoded its own way, with a few broken escapes.
pub fn encode(g: &mut Gen, pairs: &Pairs) -> Vec<u8> {
    let raw_brackets = g.chance(0.3);
    let sloppy = g.chance(0.1);
    let mut out = Vec::new();
    for (n, (key, value)) in pairs.iter().enumerate() {
        if n > 0 {
            let separator = if sloppy {
                *g.pick(&["&", "&&", ";", "&amp;"])
            } else {
                "&"
            };
            out.extend_from_slice(separator.as_bytes());
        }
        escape(key.as_bytes(), raw_brackets, &mut out);
        if !(sloppy && g.chance(0.1)) {
            out.push(b'=');
        }
        escape(value.as_bytes(), false, &mut out);
        if sloppy && g.chance(0.1) {
            let escapes: [&[u8]; 6] = [b"%", b"%G1", b"%FF", b"%C3", b"\xff", b"%%"];
            let junk = *g.pick(&escapes);
            out.extend_from_slice(junk);
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn escape(bytes: &[u8], raw_brackets: bool, out: &mut Vec<u8>) {
    for &b in bytes {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b),
            b'[' | b']' if raw_brackets => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
        }
    }
}
