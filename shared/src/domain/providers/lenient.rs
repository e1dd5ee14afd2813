//! Serde helpers for providers that are inconsistent about types: ids that are strings in one
//! event and numbers in the next, `null` vs missing vs `""`, objects that are sometimes `[]`.
//!
//! Use with `#[serde(default, deserialize_with = "lenient::...")]`. A field of an unexpected
//! shape becomes absent instead of failing the whole event: the raw event keeps it anyway.
//!
//! Each helper reads the value as it streams by (no `serde_json::Value` is built on the way,
//! issue 14) and gives for every JSON value what reading it into a `Value` first gave. The
//! one difference: a struct read from a body's bytes refuses a key written twice, where a
//! `Value` keeps the last; [`from_body`] then answers `None`, and the caller reads the body
//! through a `Value` as before.

use serde::Deserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::{Number, Value};
use std::fmt;
use std::marker::PhantomData;

/// A string or a number, trimmed; `None` for null, `""`, and anything else.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(Lenient(StringOf))
}

pub fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => trimmed(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn trimmed(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// An integer, or a string holding one.
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(Lenient(IntOf))
}

fn as_int(n: &Number) -> Option<i64> {
    n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))
}

/// `T` when the value has its shape, else `None`. `T` (here and in `list`) is a struct whose
/// fields all read leniently, so that any object is one: an object is read in place, and an
/// error there fails the whole read instead of costing the field.
pub fn object<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    d.deserialize_any(ObjectOf::<T>(PhantomData))
}

/// The elements of an array that have `T`'s shape; anything else is an empty list.
pub fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    d.deserialize_any(ListOf::<T>(PhantomData))
}

/// The body, a JSON object, read straight into `T` (whose fields all use these helpers), when
/// that is sure to give what `serde_json::from_value::<T>` of the body's `Value` gives; `None`
/// means read it through a `Value` (a body that is no object or no JSON, a key written twice,
/// or one of the rare things a `Value` refuses and skipping does not, see [`plain`]).
pub fn from_body<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    if !plain(body) {
        return None;
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = de.deserialize_map(Whole::<T>(PhantomData)).ok()?;
    de.end().ok()?;
    Some(value)
}

struct Whole<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for Whole<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map))
    }
}

/// Where, from `i`, the next `"` or `\\` may be: skips eight bytes at a time (strings are
/// most of a body, and the byte loop alone cost as much as the typed read).
fn quiet_run(body: &[u8], mut i: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let has = |x: u64, b: u8| {
        let v = x ^ (ONES * u64::from(b));
        v.wrapping_sub(ONES) & !v & HIGHS != 0
    };
    while let Some(chunk) = body.get(i..i + 8) {
        let x = u64::from_ne_bytes(chunk.try_into().unwrap_or_default());
        if has(x, b'"') || has(x, b'\\') {
            break;
        }
        i += 8;
    }
    i
}

/// Whether the four hex digits of a `\\u` escape are neither half of a surrogate pair nor
/// a character of `RAW_VALUE_KEY`'s kind (see `plain`).
fn plain_escape(hex: Option<&[u8]>) -> bool {
    let Some(code) = hex
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| u16::from_str_radix(h, 16).ok())
    else {
        // Not four hex digits: the typed read refuses the escape anyway.
        return true;
    };
    let spells = u8::try_from(code)
        .is_ok_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'$' | b':' | b'_'));
    !(0xD800..=0xDFFF).contains(&code) && !spells
}

/// Deepest nesting [`plain`] lets through: below serde_json's limit of 128, which a `Value`
/// parse enforces everywhere and skipping an unknown field does not.
const PLAIN_DEPTH: usize = 100;

/// The key that makes serde_json read an object into a `Value` as the JSON text its value
/// holds (the `raw_value` feature, on in this workspace): such a body reads otherwise.
const RAW_VALUE_KEY: &str = "$serde_json::private::RawValue";

/// Whether the fields a struct skips hold nothing a `Value` parse refuses: skipping checks
/// JSON's syntax but not that strings are UTF-8 with paired `\uD8xx` escapes, that numbers
/// fit an f64, or how deep arrays nest. So: UTF-8 throughout, no surrogate escape at all, no
/// number with an exponent or of 300 characters, nesting at most `PLAIN_DEPTH`; and no
/// `RAW_VALUE_KEY` (nor a letter, `$`, `:` or `_` written as a `\u` escape, which could spell
/// it). Assumes the syntax is valid, which the typed read checks.
fn plain(body: &[u8]) -> bool {
    match std::str::from_utf8(body) {
        Ok(text) if !text.contains(RAW_VALUE_KEY) => {}
        _ => return false,
    }
    let (mut depth, mut i) = (0usize, 0);
    while i < body.len() {
        match body[i] {
            b'"' => {
                i += 1;
                while i < body.len() && body[i] != b'"' {
                    i = quiet_run(body, i);
                    if i >= body.len() || body[i] == b'"' {
                        break;
                    }
                    if body[i] == b'\\' {
                        if body.get(i + 1) == Some(&b'u') && !plain_escape(body.get(i + 2..i + 6)) {
                            return false;
                        }
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > PLAIN_DEPTH {
                    return false;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i + 1 < body.len()
                    && matches!(body[i + 1], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    i += 1;
                }
                let number = &body[start..=i];
                if number.len() >= 300 || number.iter().any(|b| matches!(b, b'e' | b'E')) {
                    return false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    true
}

/// What a scalar reads as; whatever else (null, a boolean, an array, an object) is `None`.
trait Scalar {
    type Out;
    const EXPECTING: &'static str;
    fn number(&self, n: Number) -> Option<Self::Out>;
    fn text(&self, s: &str) -> Option<Self::Out>;
}

struct StringOf;

impl Scalar for StringOf {
    type Out = String;
    const EXPECTING: &'static str = "a string or a number";
    fn number(&self, n: Number) -> Option<String> {
        Some(n.to_string())
    }
    fn text(&self, s: &str) -> Option<String> {
        trimmed(s)
    }
}

struct IntOf;

impl Scalar for IntOf {
    type Out = i64;
    const EXPECTING: &'static str = "an integer";
    fn number(&self, n: Number) -> Option<i64> {
        as_int(&n)
    }
    fn text(&self, s: &str) -> Option<i64> {
        s.trim().parse().ok()
    }
}

struct Lenient<S>(S);

impl<'de, S: Scalar> Visitor<'de> for Lenient<S> {
    type Value = Option<S::Out>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(S::EXPECTING)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(self.0.text(s))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(self.0.number(n.into()))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        Ok(self.0.number(n.into()))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
        // As a `Value` holds it: a float that is no JSON number would have been null.
        Ok(Number::from_f64(n).and_then(|n| self.0.number(n)))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_map(map).map(|_| None)
    }
}

/// `Some(T)` for an object (read in place); anything else is read as from a `Value`: an
/// array can be a struct (serde lets one come as the list of its fields), a scalar cannot.
/// Also the seed of one element of `list`.
struct ObjectOf<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for ObjectOf<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        // Every struct read this way has only lenient fields, so an object always fits; an
        // error here (a key written twice in the bytes) fails the whole read.
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // Rare and odd (`"visitor": []`): read exactly as from a `Value`.
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(from_value(Value::Array(items)))
    }
    // A scalar is `T` only when `T` is no struct (`list::<u8>`): read as from a `Value`.
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(from_value(Value::from(s)))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(from_value(Value::from(n)))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        Ok(from_value(Value::from(n)))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
        Ok(from_value(Value::from(n)))
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
        Ok(from_value(Value::from(b)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(from_value(Value::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(from_value(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

fn from_value<T: DeserializeOwned>(v: Value) -> Option<T> {
    serde_json::from_value(v).ok()
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for ObjectOf<T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

struct ListOf<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for ListOf<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ObjectOf::<T>(PhantomData))? {
            items.extend(item);
        }
        Ok(items)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_map(map).map(|_| Vec::new())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

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
