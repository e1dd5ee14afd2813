//! How much of what a payload says is kept: every text an appeal stores has a bound, so one
//! appeal always fits one store item (DynamoDB holds 400 KB) whatever a provider (or someone
//! holding a webhook URL) sends. The raw event keeps the body whole.

use crate::domain::secret::sha256_hex;
use chrono::{DateTime, Datelike, Utc};

/// A person's or an operator's name.
pub const NAME_CHARS: usize = 200;
/// One message's text; longer ones end in "…".
pub const MESSAGE_CHARS: usize = 8_000;
/// A page address (landing page, referrer, the chat's page).
pub const URL_CHARS: usize = 2_048;
/// A tag value (UTM) or a click id.
pub const TAG_CHARS: usize = 256;
/// Click ids kept per visit.
pub const CLICK_IDS: usize = 10;
/// Phones, and e-mails, kept per contact.
pub const CONTACTS: usize = 10;
/// An id the provider gave (a visitor, an operator, a session id a widget carried).
pub const ID_CHARS: usize = 128;
/// Why an appeal is pending or failed.
pub const REASON_CHARS: usize = 1_000;
/// The transcript as stored (its JSON): what is left of an item for the rest of the appeal
/// is then well over 100 KB, for fields that are each bounded above.
pub const TRANSCRIPT_BYTES: usize = 256 * 1024;

/// A time a payload gave, if it could be one a chat happened at (this century): a year of
/// 262143 or -1 is a bug or an attack, and would make every later sum with it overflow.
pub fn plausible(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (2000..2100).contains(&t.year()).then_some(t)
}

/// `text` cut to at most `max` characters, marked with "…" when cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((end, _)) if text[end..].chars().nth(1).is_some() => format!("{}…", &text[..end]),
        _ => text.to_owned(),
    }
}

/// `text` if it is at most `max` characters, else nothing: an id cut short would name
/// something else.
pub fn whole(text: &str, max: usize) -> Option<&str> {
    (text.chars().count() <= max).then_some(text)
}

/// A provider's reference for a chat or a request, usable as its identity: kept as is when it
/// is a plausible id, else replaced by its digest, so it stays unique and bounded.
pub fn reference(text: &str) -> String {
    match whole(text, ID_CHARS) {
        Some(text) => text.to_owned(),
        None => format!("sha256:{}", sha256_hex(text.as_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_cut_on_character_boundaries_and_say_so() {
        assert_eq!(cut("Мария", 10), "Мария");
        assert_eq!(cut("Мария", 5), "Мария");
        assert_eq!(cut("Мария", 3), "Ма…");
        assert_eq!(cut("", 3), "");
        assert_eq!(
            cut(&"я".repeat(100_000), NAME_CHARS).chars().count(),
            NAME_CHARS
        );
    }

    #[test]
    fn only_this_centurys_times_are_plausible() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(plausible(t("2024-06-03T10:00:00Z")).is_some());
        assert!(plausible(t("+262142-12-31T23:59:59Z")).is_none());
        assert!(plausible(t("1970-01-01T00:00:00Z")).is_none());
    }

    #[test]
    fn long_references_become_digests_and_short_ones_stay() {
        assert_eq!(reference("12345:987"), "12345:987");
        let long = "x".repeat(5_000);
        let digest = reference(&long);
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "{digest}"
        );
        assert_ne!(digest, reference(&"x".repeat(5_001)));
        assert_eq!(whole("abc", 2), None);
    }
}
