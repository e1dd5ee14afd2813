//! Scalars that break parsers: numbers past every integer type, dates at and past chrono's
//! range, odd unicode, very long strings, look-alike ids; as text (a form value, a JSON
//! string) and as JSON values of any type.

use crate::rng::Gen;
use serde_json::{Value, json};

/// A JSON string starting with this is written verbatim by [`crate::emit`]: tokens a
/// `serde_json::Value` cannot hold (lone surrogates, `1e400`, 200 nested brackets, `NaN`).
pub const RAW: &str = "\u{0}\u{1}raw:";

/// Numbers as text: each integer type's edges and one past, floats, exponents, and Unix
/// times of the years 0, 1, 9999, 262143 (chrono's last) and beyond, in seconds and millis.
#[rustfmt::skip]
const NUMBERS: &[&str] = &[
    "0", "-0", "1", "-1", "0.5", "-0.0", "1.0", "1e3", "2.5e-3", "42",
    "2147483647", "2147483648", "-2147483649", "4294967296",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
    "18446744073709551615", "18446744073709551616", "340282366920938463463374607431768211456",
    "1e18", "-1e18", "1e19", "9.3e18", "1e308", "-1e308", "1.7976931348623157e308", "5e-324",
    "1717410042", "1717410042000", "1717410042000000", "10000000000", "10000000001",
    "-62167219200", "-62135596800", "253402300799", "253402300800", "8210298412799",
    "8210298412800", "-8334632851200", "-8334632851201", "8210298412799000", "-8334632851200000",
    "0x10", "1_000", "+5", "٣", "１２",
];

#[rustfmt::skip]
const DATES: &[&str] = &[
    "0000-01-01T00:00:00Z", "-0001-01-01T00:00:00Z", "0001-01-01 00:00:00",
    "9999-12-31T23:59:59Z", "9999-12-31 23:59:59", "+10000-01-01T00:00:00Z",
    "+262143-12-31T23:59:59Z", "262143-12-31 23:59:59", "262144-01-01 00:00:00",
    "-262144-01-01T00:00:00Z", "+262143-12-31T23:59:59-23:59", "-262143-01-01T00:00:00+23:59",
    "2024-02-30 10:00:00", "2024-06-03 24:00:00", "2016-12-31T23:59:60Z", "2024-13-01 00:00:00",
    "2024-06-03T12:40:00+14:00", "2024-06-03T12:40:00-99:99", "2024-06-03 11:05:12.999999999",
    " 2024-06-03 10:58:40 ", "2024-06-03", "10:58:40", "1970-01-01 00:00:00", "2026-11-20T12:40:00+03:00",
    "2024-06-03T12:40:00.123456789123Z", "2024-06-03t12:40:00z", "２０２４-06-03 10:00:00",
];

#[rustfmt::skip]
const STRINGS: &[&str] = &[
    "", " ", "\t\n", "\0", "a\0b", "null", "true", "[]", "{}", "=", "&", "[", "]", "%", "%zz", "%E0%A4%A",
    "%00", "+", "\u{202E}олег\u{202C}", "\u{200F}\u{200E}", "e\u{301}\u{301}\u{301}\u{301}", "\u{FEFF}",
    "\u{FFFF}", "\u{10FFFF}", "😀👩‍👩‍👧‍👦", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "Мария Ковалёва", "王小明", "ﷺ", "İı", "ß", "\u{0301}",
    "+7 (916) 123-45-67", "8 (903) 123-45-67", "+", "++79161234567", "79161234567890123456789",
    "Anna.Petrova@Example.com", "@", "a@", "@b", "a@b@c", "\"quoted\"@example.com",
    "https://shop.example.ru/?utm_source=yandex&utm_medium=cpc&utm_campaign=spring_sale&yclid=1",
    "javascript:alert(1)", "//evil.example", "https://shop.example.ru.evil.example/",
    "ses_00000000000000000000000000000000", "ses_0123456789abcdefABCDEF0123456789", "ses_",
    "CS0123ABCD", "CSIIIIIIII", "/start CS7K3M9PQR", "SGVsbG8gd29ybGQ=", "AAAA====", "dGVzdA",
    "[b]bold[/b][br][url=https://x]x[/url]", "[", "[/", "[]]", "[b", "source=yandex|medium=cpc",
    "|||", "=|=", "telegram", "whatsapp", "Telegram Bot", "vk", "ok", "max", "imol|telegrambot|2|1|2",
    "livechat|58|1981|450", "|", "imol|", "0", "1", "-1", "lead", "deal", "ONCRMLEADADD", "oncrmleadadd",
    "demo-shop", "DEMO-SHOP", "demo_bitrix24_application_token", "b24.shop.example.ru",
];

pub fn number_text(g: &mut Gen) -> String {
    match g.below(4) {
        0 => g.i64().to_string(),
        1 => g.u64().to_string(),
        2 => format!("{:e}", (g.f64() - 0.5) * 10f64.powi(g.below(40) as i32)),
        _ => g.pick(NUMBERS).to_string(),
    }
}

pub fn date_text(g: &mut Gen) -> String {
    if g.chance(0.5) {
        return g.pick(DATES).to_string();
    }
    let year = *g.pick(&[
        0i64, -1, 1, 1969, 1970, 2024, 9999, 10000, 262143, 262144, -262144,
    ]);
    let (mo, d) = (g.range(0, 13), g.range(0, 32));
    let (h, mi, s) = (g.range(0, 25), g.range(0, 60), g.range(0, 61));
    match g.below(3) {
        0 => format!("{year:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"),
        1 => format!("{year:+05}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
        _ => format!("{year}-{mo}-{d}T{h}:{mi}:{s}+{h:02}:{mi:02}"),
    }
}

/// Odd text: the table, long runs (up to 100 KB), or pieces of the table glued together.
pub fn odd_text(g: &mut Gen) -> String {
    match g.below(12) {
        0 => {
            let unit = *g.pick(&["a", "Ж", "😀", "e\u{301}", " ", "\0", "[", "%"]);
            unit.repeat(*g.pick(&[255usize, 256, 1_000, 4_096, 16_385, 100_000]) / unit.len())
        }
        1 | 2 => (0..g.range(2, 6)).map(|_| *g.pick(STRINGS)).collect(),
        _ => g.pick(STRINGS).to_string(),
    }
}

/// Any text a field might hold: odd, numeric or a date.
pub fn text(g: &mut Gen) -> String {
    match g.below(6) {
        0 | 1 => number_text(g),
        2 | 3 => date_text(g),
        _ => odd_text(g),
    }
}

/// A raw JSON token, emitted verbatim: often invalid, sometimes valid but unusual.
pub fn raw(g: &mut Gen) -> String {
    let depth = *g.pick(&[10usize, 64, 127, 128, 129, 200]);
    let token = match g.below(8) {
        0 => format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        1 => format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)),
        2 => g.pick(NUMBERS).to_string(),
        _ => g
            .pick(&[
                "\"\\ud800\"",
                "\"\\udc00x\\ud800\"",
                "\"\\ud83d\\ude00\"",
                "\"\\u0000\"",
                "1e400",
                "-1e400",
                "NaN",
                "Infinity",
                "01",
                "1.",
                ".5",
                "tru",
                "nul",
                "\"\\x41\"",
                "\"a\nb\"",
                "[1,]",
                "{\"a\":1,}",
                "\"\\u00\"",
                "[][]",
                "\"\u{7f}\"",
            ])
            .to_string(),
    };
    format!("{RAW}{token}")
}

/// A JSON value of a random type, nested at most `depth` more levels.
pub fn value(g: &mut Gen, depth: usize) -> Value {
    match g.below(if depth == 0 { 7 } else { 9 }) {
        0 => Value::Null,
        1 => Value::Bool(g.chance(0.5)),
        2 => serde_json::from_str(&number_text(g)).unwrap_or_else(|_| json!(g.i64())),
        3 => Value::String(number_text(g)),
        4 => Value::String(date_text(g)),
        5 => Value::String(odd_text(g)),
        // Mostly invalid: rare, or hardly any body would parse.
        6 if g.chance(0.2) => Value::String(raw(g)),
        6 => Value::String(String::new()),
        7 => Value::Array((0..g.count(6)).map(|_| value(g, depth - 1)).collect()),
        _ => Value::Object(
            (0..g.count(6))
                .map(|_| (text(g), value(g, depth - 1)))
                .collect(),
        ),
    }
}
