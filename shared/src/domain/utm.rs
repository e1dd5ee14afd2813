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
    /// Returns whether the key was a tag.
    pub fn set(&mut self, key: &str, value: &str) -> bool {
        let key = key.to_ascii_lowercase();
        let slot = match key.strip_prefix("utm_").unwrap_or(&key) {
            "source" => &mut self.source,
            "medium" => &mut self.medium,
            "campaign" => &mut self.campaign,
            "content" => &mut self.content,
            "term" => &mut self.term,
            _ => return false,
        };
        *slot = clean(value);
        true
    }

    /// Jivo's `session.utm`: `source=yandex|medium=cpc|campaign=...`.
    pub fn from_pipe_list(list: &str) -> Self {
        let mut utm = Utm::default();
        for pair in list.split('|') {
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

/// Tags and click ids in a URL's query string; an unparseable URL has none.
pub fn from_url(url: &str) -> (Utm, ClickIds) {
    let mut utm = Utm::default();
    let mut clicks = ClickIds::new();
    if let Ok(parsed) = url::Url::parse(url) {
        for (k, v) in parsed.query_pairs() {
            if utm.set(&k, &v) {
                continue;
            }
            let k = k.to_ascii_lowercase();
            if let (true, Some(v)) = (CLICK_ID_KEYS.contains(&k.as_str()), clean(&v)) {
                clicks.insert(k, v);
            }
        }
    }
    (utm, clicks)
}

fn clean(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.chars().take(MAX_VALUE).collect())
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
}
