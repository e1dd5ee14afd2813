//! Page views as the site script posts them (`{visitor_id, session_id, url, referrer}`):
//! ids of ours, tampered and oversized; addresses of the site, of look-alike hosts, of other
//! schemes, and around the 2,048-character bound.

use super::object;
use crate::atoms;
use crate::rng::Gen;
use serde_json::{Value, json};

pub const VOCAB: &[&str] = &["visitor_id", "session_id", "url", "referrer", "title"];

/// Stand-ins the tracker target replaces with a session (and its visitor) it made before,
/// so a page view can continue a visit while the input stays a pure function of the seed.
pub const SESSION: &str = "@session@";
pub const VISITOR: &str = "@visitor@";

pub fn page_view(g: &mut Gen) -> Value {
    let visitor = match g.below(5) {
        0 => json!(VISITOR),
        1 => json!(format!(
            "v_{}",
            "A1b2-C3d4_E5f6G7h8I9j0".repeat(g.range(0, 3))
        )),
        2 => json!(*g.pick(&[
            "v_",
            "v_short",
            "v_<script>",
            "x_0123456789",
            "v_ЖЖЖЖЖЖЖЖЖЖ"
        ])),
        _ => Value::Null,
    };
    let session = match g.below(4) {
        0 | 1 => json!(SESSION),
        2 => json!(*g.pick(&["ses_00000000000000000000000000000000", "", "ses_"])),
        _ => json!("ses_".to_owned() + &"0".repeat(g.range(0, 70))),
    };
    let (url, referrer) = (json!(address(g)), json!(address(g)));
    // Any field of another type refuses the whole page view, so odd types are left to the
    // mutations (they retype one field at a time).
    let fields = vec![
        ("url", url),
        ("visitor_id", visitor),
        ("session_id", session),
        ("referrer", referrer),
        ("title", atoms::value(g, 1)),
    ];
    object(g, 0.85, fields)
}

fn address(g: &mut Gen) -> String {
    // Half the addresses are the site's own, so page views get past the checks to sessions.
    let (scheme, host) = match g.chance(0.5) {
        true => (
            *g.pick(&["https://", "http://"]),
            *g.pick(&[
                "shop.example.ru",
                "www.shop.example.ru",
                "m.shop.example.ru",
            ]),
        ),
        false => (*g.pick(SCHEMES), *g.pick(HOSTS)),
    };
    let query = *g.pick(&[
        "",
        "?utm_source=yandex&utm_medium=cpc&utm_campaign=spring_sale&yclid=7315542",
        "?gclid=1&gclid=2",
        "?utm_source=%FF%FE",
        "?utm_campaign=",
        "#utm_source=x",
        "?&&==&",
    ]);
    let mut address = format!("{scheme}{host}/p{query}");
    if g.chance(0.1) {
        // Around the tracker's 2,048-character bound, and past it.
        let target = *g.pick(&[2_047usize, 2_048, 2_049, 5_000, 17_000]);
        let pad = target.saturating_sub(address.len());
        address.push_str(&"a".repeat(pad));
    }
    if g.chance(0.1) {
        address.push_str(&atoms::odd_text(g));
    }
    address
}

const SCHEMES: &[&str] = &["https://", "HTTPS://", "ftp://", "javascript:", "//", ""];

#[rustfmt::skip]
const HOSTS: &[&str] = &[
    "SHOP.EXAMPLE.RU", "shop.example.ru.", "shop.example.ru.evil.example", "evilshop.example.ru",
    "yandex.ru", "user:pw@shop.example.ru", "shop.example.ru:8080", "shop.example.ru:99999",
    "[::1]", "xn--e1afmkfd.xn--p1ai", "пример.рф", "shop%2Eexample.ru", "",
];
