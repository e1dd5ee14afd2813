//! Serde helpers for providers that are inconsistent about types: ids that are strings in one
//! event and numbers in the next, `null` vs missing vs `""`, objects that are sometimes `[]`.
//!
//! Use with `#[serde(default, deserialize_with = "lenient::...")]`. A field of an unexpected
//! shape becomes absent instead of failing the whole event: the raw event keeps it anyway.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A string or a number, trimmed; `None` for null, `""`, and anything else.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(as_string(&Value::deserialize(d)?))
}

pub fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer, or a string holding one.
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// `T` when the value has its shape, else `None`.
pub fn object<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// The elements of an array that have `T`'s shape; anything else is an empty list.
pub fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "string")]
        id: Option<String>,
        #[serde(default, deserialize_with = "int")]
        n: Option<i64>,
        #[serde(default, deserialize_with = "list")]
        xs: Vec<u8>,
    }

    fn probe(json: &str) -> Probe {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn ids_come_as_strings_or_numbers_and_blanks_are_absent() {
        assert_eq!(probe(r#"{"id": 1217}"#).id.as_deref(), Some("1217"));
        assert_eq!(probe(r#"{"id": " 1217 "}"#).id.as_deref(), Some("1217"));
        for blank in [r#"{"id": ""}"#, r#"{"id": null}"#, r#"{}"#, r#"{"id": {}}"#] {
            assert_eq!(probe(blank).id, None, "{blank}");
        }
    }

    #[test]
    fn numbers_and_lists_tolerate_odd_shapes() {
        assert_eq!(probe(r#"{"n": "17"}"#).n, Some(17));
        assert_eq!(probe(r#"{"n": "x"}"#).n, None);
        assert_eq!(probe(r#"{"xs": [1, "a", 2]}"#).xs, [1, 2]);
        assert!(probe(r#"{"xs": {}}"#).xs.is_empty());
    }
}
