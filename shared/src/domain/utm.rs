//! UTM tags and ad click ids, from URLs, key=value lists and provider objects.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest tag value we keep; ad platforms stay far below, junk does not.
const MAX_VALUE: usize = 500;

/// Click ids of the ad platforms our users buy from, as they appear in landing URLs.
pub const CLICK_ID_KEYS: [&str; 9] = [
    "yclid", "ysclid", "gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid", "vkclid",
];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Utm {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
}

/// Click id name (`yclid`, `gclid`...) to value.
pub type ClickIds = BTreeMap<String, String>;

impl Utm {
    pub fn is_empty(&self) -> bool {
        self.fields().iter().all(|(_, v)| v.is_none())
    }

    /// The five tags by their short name, in a fixed order.
    pub fn fields(&self) -> [(&'static str, Option<&str>); 5] {
        [
            ("source", self.source.as_deref()),
            ("medium", self.medium.as_deref()),
            ("campaign", self.campaign.as_deref()),
            ("content", self.content.as_deref()),
            ("term", self.term.as_deref()),
        ]
    }

    /// Sets a tag named `utm_source` or `source` (any case); other keys are not tags.
    /// The value is taken as a widget keeps it: `+` and `%XX` still encoded are decoded
    /// (`%20YANDEX%20` is `YANDEX`), then trimmed. Returns whether the key was a tag.
    pub fn set(&mut self, key: &str, value: &str) -> bool {
        self.put(key, clean(&decode(value)))
    }

    /// The slot of a tag key, decoded value in hand.
    fn put(&mut self, key: &str, value: Option<String>) -> bool {
        let key = key.trim().to_ascii_lowercase();
        let slot = match key.strip_prefix("utm_").unwrap_or(&key) {
            "source" => &mut self.source,
            "medium" => &mut self.medium,
            "campaign" => &mut self.campaign,
            "content" => &mut self.content,
            "term" => &mut self.term,
            _ => return false,
        };
        *slot = value;
        true
    }

    /// Jivo's `session.utm`: `source=yandex|medium=cpc|campaign=...`; a widget that wrote
    /// it as a query string (`utm_source=yandex&utm_medium=cpc`) is read the same.
    pub fn from_pipe_list(list: &str) -> Self {
        let list = list.trim().trim_start_matches('?');
        let separator = if list.contains('|') { '|' } else { '&' };
        let mut utm = Utm::default();
        for pair in list.split(separator) {
            if let Some((k, v)) = pair.split_once('=') {
                utm.set(k.trim(), v);
            }
        }
        utm
    }

    /// Fills the tags this one lacks from `other`.
    pub fn fill_from(&mut self, other: &Utm) {
        for (mine, theirs) in [
            (&mut self.source, &other.source),
            (&mut self.medium, &other.medium),
            (&mut self.campaign, &other.campaign),
            (&mut self.content, &other.content),
            (&mut self.term, &other.term),
        ] {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
    }
}

/// Tags and click ids of a page URL, from its query and its fragment (`#utm_source=...`,
/// `#!/page?utm_source=...`, as single-page sites and some ad links put them). Keys are the
/// `utm_` ones only: a page's own `?source=footer` is no tag, nor is Metrika's `_openstat`.
/// The query's tags are taken whole, else the fragment's: the two are never mixed into a set
/// neither carried. Click ids come from both, the query's first. A URL without a scheme
/// (`shop.ru/?utm_source=x`, as some widgets report pages) is read too; text without a `?` or
/// `#` part has nothing.
pub fn from_url(url: &str) -> (Utm, ClickIds) {
    let url = url.trim();
    let (before, fragment) = url.split_once('#').unwrap_or((url, ""));
    let query = before.split_once('?').map_or("", |(_, q)| q);
    // `#!/page?utm_source=x`: the fragment's own query; `#utm_source=x`: the fragment itself.
    let fragment = fragment.split_once('?').map_or(fragment, |(_, q)| q);
    let (utm, mut clicks) = pairs(query);
    let (fragment_utm, fragment_clicks) = pairs(fragment);
    for (k, v) in fragment_clicks {
        clicks.entry(k).or_insert(v);
    }
    let utm = if utm.is_empty() { fragment_utm } else { utm };
    (utm, clicks)
}

/// Tags and click ids of one `key=value&...` string, decoded once.
fn pairs(query: &str) -> (Utm, ClickIds) {
    let mut utm = Utm::default();
    let mut clicks = ClickIds::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let k = k.trim().to_ascii_lowercase();
        if k.starts_with("utm_") {
            // A repeated key keeps its first value: what the ad platform wrote comes first.
            if utm.get(&k).is_none() {
                utm.put(&k, clean(&v));
            }
        } else if let (true, Some(v)) = (CLICK_ID_KEYS.contains(&k.as_str()), clean(&v)) {
            clicks.entry(k).or_insert(v);
        }
    }
    (utm, clicks)
}

impl Utm {
    /// A tag by its key (`utm_source` or `source`).
    fn get(&self, key: &str) -> Option<&str> {
        let key = key.strip_prefix("utm_").unwrap_or(key);
        self.fields()
            .into_iter()
            .find(|(name, _)| *name == key)
            .and_then(|(_, v)| v)
    }
}

/// Decodes `+` and `%XX` a widget left encoded in a value. A `%` not followed by two hex
/// digits (`50%`) stays as written; a value whose escapes do not decode to UTF-8 (`%FF`) is
/// kept as it came.
pub fn decode(value: &str) -> String {
    if !value.contains(['%', '+']) {
        return value.to_owned();
    }
    let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_owned())
}

/// A value as kept: trimmed, at most `MAX_VALUE` characters; blank is none.
fn clean(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.chars().take(MAX_VALUE).collect())
}

/// A tag value as matching compares it: decoded, trimmed and lower-cased the Unicode way
/// (`Ретаргетинг` is `ретаргетинг`; ASCII folding would leave Cyrillic apart).
pub fn fold(value: &str) -> String {
    decode(value).trim().to_lowercase()
}

/// Whether two tag values are the same tag (see `fold`).
pub fn same(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    if !(plain(a) && plain(b)) {
        return fold(a) == fold(b);
    }
    let (a, b) = (a.trim(), b.trim());
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    lowered(a).eq(lowered(b))
}

/// Whether a tag value folds to `folded`, a `fold` result: `fold(value) == folded` without
/// building the fold for the common value (issue 14: matching one visit against 200
/// campaigns folded 800 strings).
pub fn folds_to(value: &str, folded: &str) -> bool {
    if value.is_ascii() && !value.bytes().any(|b| b == b'%' || b == b'+') {
        // `folded` has no capital ASCII letter: comparing bytes case-blind is comparing folds.
        return value.trim().eq_ignore_ascii_case(folded);
    }
    if !plain(value) {
        return fold(value) == folded;
    }
    lowered(value.trim()).eq(folded.chars())
}

/// Whether `fold` of the value is its trimmed text lower-cased char by char: nothing to
/// decode (`%`, `+`), and no capital sigma (whose lower case depends on the letter after it,
/// so `str::to_lowercase` treats it apart).
fn plain(value: &str) -> bool {
    !value.contains(['%', '+', 'Σ'])
}

fn lowered(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars().flat_map(char::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_landing_url_gives_its_tags_and_click_ids() {
        let (utm, clicks) = from_url(
            "https://shop.example.ru/?utm_source=yandex&UTM_MEDIUM=cpc&utm_campaign=spring&yclid=123&utm_term=%D0%B4%D0%B8%D0%B2%D0%B0%D0%BD&x=1",
        );
        assert_eq!(utm.source.as_deref(), Some("yandex"));
        assert_eq!(utm.medium.as_deref(), Some("cpc"));
        assert_eq!(utm.campaign.as_deref(), Some("spring"));
        assert_eq!(utm.term.as_deref(), Some("диван"));
        assert_eq!(clicks.get("yclid").map(String::as_str), Some("123"));
        assert_eq!(clicks.len(), 1);
    }

    #[test]
    fn jivo_pipe_lists_parse_and_empty_values_are_absent() {
        let utm = Utm::from_pipe_list("source=yandex|medium=|campaign=spring_sale|junk");
        assert_eq!(utm.source.as_deref(), Some("yandex"));
        assert_eq!(utm.medium, None);
        assert_eq!(utm.campaign.as_deref(), Some("spring_sale"));
    }

    #[test]
    fn filling_keeps_what_is_there() {
        let mut a = Utm {
            source: Some("google".into()),
            ..Utm::default()
        };
        a.fill_from(&Utm::from_pipe_list("source=yandex|medium=cpc"));
        assert_eq!(a.source.as_deref(), Some("google"));
        assert_eq!(a.medium.as_deref(), Some("cpc"));
    }

    #[test]
    fn garbage_urls_have_no_tags() {
        assert!(from_url("not a url").0.is_empty());
    }

    #[test]
    fn values_are_decoded_once_and_trimmed_in_a_url() {
        let (utm, _) = from_url(
            "https://shop.example.ru/?utm_source=%20YANDEX%20&utm_medium=+cpc+&utm_campaign=spring%2Bsale&utm_content=50%25",
        );
        assert_eq!(
            utm.source.as_deref(),
            Some("YANDEX"),
            "kept as written, trimmed"
        );
        assert_eq!(utm.medium.as_deref(), Some("cpc"));
        assert_eq!(
            utm.campaign.as_deref(),
            Some("spring+sale"),
            "an encoded + is a +"
        );
        assert_eq!(utm.content.as_deref(), Some("50%"));
    }

    #[test]
    fn widget_fields_left_encoded_are_decoded() {
        let utm = Utm::from_pipe_list(
            "source=%20YANDEX%20|medium=cpc|campaign=spring+sale|term=%D0%B4%D0%B8%D0%B2%D0%B0%D0%BD",
        );
        assert_eq!(utm.source.as_deref(), Some("YANDEX"));
        assert_eq!(utm.campaign.as_deref(), Some("spring sale"));
        assert_eq!(utm.term.as_deref(), Some("диван"));
        let mut one = Utm::default();
        one.set("utm_content", "50% off %FF %zz");
        assert_eq!(
            one.content.as_deref(),
            Some("50% off %FF %zz"),
            "not UTF-8: as it came"
        );
        one.set("term", "  %20 ");
        assert_eq!(one.term, None, "blank once decoded");
        let query = Utm::from_pipe_list("?utm_source=vk&utm_medium=social");
        assert_eq!(
            query.source.as_deref(),
            Some("vk"),
            "a query string in the field"
        );
        assert_eq!(query.medium.as_deref(), Some("social"));
    }

    #[test]
    fn matching_folds_case_the_unicode_way() {
        assert!(same("Ретаргетинг", "ретаргетинг"));
        assert!(same(
            "РЕТАРГЕТИНГ",
            "%D1%80%D0%B5%D1%82%D0%B0%D1%80%D0%B3%D0%B5%D1%82%D0%B8%D0%BD%D0%B3"
        ));
        assert!(same(" Spring+Sale ", "spring sale"));
        assert!(same("Ёлка", "ёлка"));
        assert!(!same("ретаргетинг", "ретаргет"));
        assert_eq!(fold("%20YANDEX%20"), "yandex");
    }

    proptest::proptest! {
        #[test]
        fn comparing_in_place_is_comparing_the_folds(
            a in "[ \u{a0}a-zA-ZА-Яа-яЁёİΣσς%+0-9DdFf_]{0,12}",
            b in "[ \u{a0}a-zA-ZА-Яа-яЁёİΣσς%+0-9DdFf_]{0,12}",
        ) {
            proptest::prop_assert_eq!(same(&a, &b), fold(&a) == fold(&b));
            proptest::prop_assert_eq!(folds_to(&a, &fold(&b)), fold(&a) == fold(&b));
            let upper = a.to_uppercase();
            proptest::prop_assert_eq!(same(&a, &upper), fold(&a) == fold(&upper));
            proptest::prop_assert!(folds_to(&upper, &fold(&a)) == (fold(&upper) == fold(&a)));
        }
    }

    #[test]
    fn tags_in_the_fragment_count_when_the_query_has_none() {
        let (utm, clicks) = from_url("https://shop.ru/#utm_source=vk&utm_campaign=Весна&gclid=g1");
        assert_eq!(utm.source.as_deref(), Some("vk"));
        assert_eq!(utm.campaign.as_deref(), Some("Весна"));
        assert_eq!(clicks["gclid"], "g1");
        let (spa, _) = from_url("https://shop.ru/#!/sofas?utm_source=google&utm_medium=cpc");
        assert_eq!(spa.source.as_deref(), Some("google"));
        // Both: the query's set, whole; never a mix of the two.
        let (both, clicks) = from_url(
            "https://shop.ru/?utm_source=yandex&yclid=1#utm_source=vk&utm_medium=social&yclid=2",
        );
        assert_eq!(both.source.as_deref(), Some("yandex"));
        assert_eq!(both.medium, None);
        assert_eq!(clicks["yclid"], "1");
        assert!(from_url("https://shop.ru/#section-2").0.is_empty());
    }

    #[test]
    fn only_utm_keys_are_tags_and_openstat_is_ignored() {
        let (utm, clicks) = from_url(
            "https://shop.ru/?_openstat=ZGlyZWN0LnlhbmRleC5ydTsxMjM0NTs2Nzg5MDt5YW5kZXgucnU6cHJlbWl1bQ&source=footer&campaign=x",
        );
        assert!(utm.is_empty(), "{utm:?}");
        assert!(clicks.is_empty());
        for odd in [
            "https://shop.ru/?_openstat=direct.yandex.ru;123;456;yandex.ru:premium",
            "https://shop.ru/?_openstat=%ZZ%;;&utm_source=yandex",
            "https://shop.ru/?_openstat&utm_source=yandex",
            "https://shop.ru/?_openstat=&&=&utm_source=yandex#_openstat=x",
        ] {
            let (utm, clicks) = from_url(odd);
            assert!(clicks.is_empty(), "{odd}");
            assert!(utm.medium.is_none() && utm.campaign.is_none(), "{odd}");
        }
        let (utm, _) = from_url("https://shop.ru/?_openstat=%ZZ%;;&utm_source=yandex");
        assert_eq!(utm.source.as_deref(), Some("yandex"));
    }

    #[test]
    fn urls_as_widgets_report_them_are_read() {
        let (utm, clicks) = from_url(" shop.ru/sofas?UTM_Source=yandex&utm_source=google&YCLID=5 ");
        assert_eq!(
            utm.source.as_deref(),
            Some("yandex"),
            "the first of a repeated key"
        );
        assert_eq!(clicks["yclid"], "5");
    }
}
