//! Form bodies with PHP-style bracketed keys (`talk[update][0][talk_id]=5`), as amoCRM and
//! Bitrix24 send and Verbox may, decoded into the JSON shape the same data would have.
//!
//! `a[b][c]=v` nests objects; an object whose keys are exactly `0..n` becomes an array, so
//! several items per request (`talk[update][0]`, `talk[update][1]`) read as a list; `a[]=x`
//! appends. Repeated plain keys keep the last value.
//!
//! Decoding walks the nesting, so it is bounded: a key may nest [`MAX_DEPTH`] brackets deep
//! (providers nest six at most; PHP itself stops at 64) and a body may carry [`MAX_FIELDS`]
//! fields. Past either, the body is refused with the reason instead of exhausting the stack.

use super::Unreadable;
use serde_json::{Map, Value};

/// Brackets one key may nest.
pub const MAX_DEPTH: usize = 32;
/// Fields one body may carry (PHP's own default limit is 1,000).
pub const MAX_FIELDS: usize = 10_000;

/// Whether a body looks like a form rather than JSON: `key=value` pairs, no braces first.
pub fn looks_like_form(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    let text = text.trim_start();
    !text.starts_with('{') && !text.starts_with('[') && text.contains('=')
}

pub fn decode(body: &[u8]) -> Result<Value, Unreadable> {
    let mut root = Value::Object(Map::new());
    for (n, (key, value)) in url::form_urlencoded::parse(body).enumerate() {
        if n == MAX_FIELDS {
            return Err(Unreadable(format!(
                "the form has more than {MAX_FIELDS} fields"
            )));
        }
        let path = split_key(&key);
        if path.len() > MAX_DEPTH {
            return Err(Unreadable(format!(
                "a form field nests more than {MAX_DEPTH} brackets deep"
            )));
        }
        insert(&mut root, &path, Value::String(value.into_owned()));
    }
    Ok(arrays(root))
}

/// `a[b][0][]` → `["a", "b", "0", ""]`; a key without brackets is one segment.
fn split_key(key: &str) -> Vec<String> {
    let Some(open) = key.find('[') else {
        return vec![key.to_owned()];
    };
    let mut path = vec![key[..open].to_owned()];
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        match stripped.find(']') {
            Some(close) => {
                path.push(stripped[..close].to_owned());
                rest = &stripped[close + 1..];
            }
            // An unclosed bracket is part of the name, as PHP reads it.
            None => {
                path.last_mut().expect("a first segment").push_str(rest);
                break;
            }
        }
    }
    path
}

fn insert(node: &mut Value, path: &[String], value: Value) {
    let Some((head, rest)) = path.split_first() else {
        *node = value;
        return;
    };
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    let map = node.as_object_mut().expect("just made an object");
    // `a[]` appends: the next free index.
    let key = if head.is_empty() {
        map.len().to_string()
    } else {
        head.clone()
    };
    let child = map.entry(key).or_insert(Value::Null);
    insert(child, rest, value);
}

/// Objects keyed exactly `0..n` become arrays, depth first.
fn arrays(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let dense = !map.is_empty() && (0..map.len()).all(|i| map.contains_key(&i.to_string()));
            if dense {
                let mut items: Vec<(usize, Value)> = map
                    .into_iter()
                    .map(|(k, v)| (k.parse().unwrap_or(0), arrays(v)))
                    .collect();
                items.sort_by_key(|(i, _)| *i);
                Value::Array(items.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(map.into_iter().map(|(k, v)| (k, arrays(v))).collect())
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bracketed_keys_nest_and_numbered_items_become_lists() {
        let body = b"talk%5Bupdate%5D%5B0%5D%5Btalk_id%5D=5&talk[update][0][is_in_work]=0\
&talk[update][1][talk_id]=6&account[id]=29&account[subdomain]=acme&tags[]=a&tags[]=b&plain=x";
        assert_eq!(
            decode(body).unwrap(),
            json!({
                "talk": {"update": [{"talk_id": "5", "is_in_work": "0"}, {"talk_id": "6"}]},
                "account": {"id": "29", "subdomain": "acme"},
                "tags": ["a", "b"],
                "plain": "x"
            })
        );
    }

    #[test]
    fn sparse_numbers_stay_an_object_and_odd_keys_survive() {
        assert_eq!(
            decode(b"a[1]=x&a[3]=y").unwrap(),
            json!({"a": {"1": "x", "3": "y"}})
        );
        assert_eq!(
            decode(b"a[b=1&c]=2").unwrap(),
            json!({"a[b": "1", "c]": "2"})
        );
        assert_eq!(
            decode(b"name=%D0%9E%D0%BB%D0%B5%D0%B3+%2B7").unwrap(),
            json!({"name": "Олег +7"})
        );
    }

    #[test]
    fn a_key_nested_past_the_bound_or_too_many_fields_is_refused_not_a_stack_overflow() {
        // The body a reviewer crashed the server with: ~2,450 brackets, 7.4 KB.
        let deep = format!("a{}=1", "[x]".repeat(2450));
        let refused = decode(deep.as_bytes()).unwrap_err();
        assert!(refused.0.contains("32 brackets"), "{refused}");
        let at_the_bound = format!("a{}=1", "[x]".repeat(MAX_DEPTH - 1));
        assert!(decode(at_the_bound.as_bytes()).is_ok());
        let many = "a[]=1&".repeat(MAX_FIELDS + 1);
        assert!(decode(many.as_bytes()).unwrap_err().0.contains("fields"));
    }

    #[test]
    fn forms_are_told_from_json() {
        assert!(looks_like_form(b"a=1&b=2"));
        assert!(!looks_like_form(b" {\"a\": \"=\"}"));
        assert!(!looks_like_form(b"just text"));
    }
}
