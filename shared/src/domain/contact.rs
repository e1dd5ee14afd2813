//! Who wrote: a contact's name, phones (E.164 where parseable) and e-mails (lower-case).

use crate::domain::limits::{CONTACTS, NAME_CHARS, cut, whole};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: Option<String>,
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub emails: Vec<String>,
}

/// The longest phone or e-mail a person is recognised by: an e-mail address is at most 254
/// bytes (RFC 5321's path less its brackets).
pub const PERSON_KEY_BYTES: usize = 254;

impl Contact {
    /// Builds a contact from whatever a provider sent, normalizing every part and dropping
    /// what carries nothing (empty strings, "phones" without digits, "e-mails" without `@`).
    pub fn from_raw<'a>(
        name: Option<&str>,
        phones: impl IntoIterator<Item = &'a str>,
        emails: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut contact = Contact {
            name: name.and_then(normalize_name),
            ..Contact::default()
        };
        for phone in phones.into_iter().filter_map(normalize_phone) {
            push_unique(&mut contact.phones, phone);
        }
        for email in emails.into_iter().filter_map(normalize_email) {
            push_unique(&mut contact.emails, email);
        }
        contact
    }

    /// The keys a person is recognised by across chats: phones as normalized (E.164 where
    /// they parse; a number kept as written only when it has enough digits to mean someone)
    /// and e-mails, lower-cased. A value no real phone or address can be (longer than an
    /// address may be, RFC 5321) recognises nobody: it would only make a key the store refuses.
    pub fn person_keys(&self) -> Vec<String> {
        let phones = self
            .phones
            .iter()
            .filter(|p| p.chars().filter(char::is_ascii_digit).count() >= 7)
            .filter(|p| p.len() <= PERSON_KEY_BYTES)
            .map(|p| format!("tel:{p}"));
        let emails = self
            .emails
            .iter()
            .filter(|e| e.len() <= PERSON_KEY_BYTES)
            .map(|e| format!("mailto:{}", e.to_lowercase()));
        phones.chain(emails).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.phones.is_empty() && self.emails.is_empty()
    }

    /// Merges newer data in: a newer non-empty name replaces the old one; phones and e-mails
    /// accumulate (a person who gave two numbers is reachable on both).
    pub fn merge(&mut self, newer: &Contact) {
        if newer.name.is_some() {
            self.name.clone_from(&newer.name);
        }
        for phone in &newer.phones {
            push_unique(&mut self.phones, phone.clone());
        }
        for email in &newer.emails {
            push_unique(&mut self.emails, email.clone());
        }
    }
}

/// Adds a value not there yet, up to [`CONTACTS`] of them.
fn push_unique(list: &mut Vec<String>, value: String) {
    if list.len() < CONTACTS && !list.contains(&value) {
        list.push(value);
    }
}

/// Whitespace folded, at most [`NAME_CHARS`] characters.
pub fn normalize_name(raw: &str) -> Option<String> {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    (!name.is_empty()).then(|| cut(&name, NAME_CHARS))
}

/// Lower-cases and trims an e-mail; `None` for values that are not e-mails at all.
pub fn normalize_email(raw: &str) -> Option<String> {
    // RFC 5321 holds an address to 254 characters.
    let email = whole(raw.trim(), 254)?.to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let plausible = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(char::is_whitespace);
    plausible.then_some(email)
}

/// E.164 (`+79161234567`) where the number allows it, else the trimmed original; `None` when
/// there is no digit at all.
///
/// Our users are mostly Russian-speaking businesses, so a national number is read as Russian:
/// `8 916 ...` and `7 916 ...` (11 digits) and bare 10-digit numbers become `+7...`. Numbers
/// written with `+`, `00` or the Russian international prefix `8 10` keep their country code.
/// Text after the number (an extension: "доб. 12", "ext 5") is not part of it.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let mut digits = String::new();
    let mut plus = false;
    for c in trimmed.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if digits.is_empty() => plus = true,
            c if c.is_alphabetic() && !digits.is_empty() => break,
            _ => {}
        }
    }
    if digits.is_empty() {
        return None;
    }
    let international = if plus {
        Some(match digits.as_str() {
            // "+8 916 ..." is a common slip for the Russian trunk prefix.
            d if d.len() == 11 && d.starts_with("89") => format!("7{}", &d[1..]),
            d => d.to_owned(),
        })
    } else if let Some(rest) = digits.strip_prefix("00") {
        Some(rest.to_owned())
    } else if digits.len() >= 13 && digits.starts_with("810") {
        Some(digits[3..].to_owned())
    } else {
        match digits.len() {
            11 if digits.starts_with('8') || digits.starts_with('7') => {
                Some(format!("7{}", &digits[1..]))
            }
            10 if !digits.starts_with('0') => Some(format!("7{digits}")),
            12..=15 => Some(digits.clone()),
            _ => None,
        }
    };
    match international {
        Some(d) if (8..=15).contains(&d.len()) && !d.starts_with('0') => Some(format!("+{d}")),
        // Kept as written, as long as it could be a number someone dials.
        _ => whole(trimmed, 64).map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_is_known_by_phones_and_e_mails_no_real_one_longer_than_an_address() {
        let contact = Contact {
            name: None,
            phones: vec!["+79161234567".into(), "123".into()],
            emails: vec![
                "Maria@Example.org".into(),
                format!("{}@example.org", "a".repeat(5_000)),
            ],
        };
        assert_eq!(
            contact.person_keys(),
            ["tel:+79161234567", "mailto:maria@example.org"]
        );
    }
    use proptest::prelude::*;

    #[test]
    fn russian_numbers_in_every_usual_spelling_become_e164() {
        for raw in [
            "8 916 123-45-67",
            "+7 (916) 123-45-67",
            "7 916 1234567",
            "89161234567",
            "9161234567",
            "+8 916 123 45 67",
            " +7-916-123-45-67 ",
            "+7 916 123-45-67 доб. 12",
        ] {
            assert_eq!(
                normalize_phone(raw).as_deref(),
                Some("+79161234567"),
                "{raw}"
            );
        }
    }

    #[test]
    fn international_numbers_keep_their_country() {
        assert_eq!(
            normalize_phone("+380 50 123 4567").as_deref(),
            Some("+380501234567")
        );
        assert_eq!(
            normalize_phone("00 49 30 1234567").as_deref(),
            Some("+49301234567")
        );
        assert_eq!(
            normalize_phone("8 10 49 30 1234567").as_deref(),
            Some("+49301234567")
        );
    }

    #[test]
    fn what_cannot_be_made_e164_is_kept_as_written() {
        assert_eq!(normalize_phone("12-34").as_deref(), Some("12-34"));
        assert_eq!(normalize_phone("нет"), None);
        assert_eq!(normalize_phone(""), None);
    }

    #[test]
    fn emails_are_lower_cased_and_junk_is_dropped() {
        assert_eq!(
            normalize_email(" M.Kovaleva@Example.ORG ").as_deref(),
            Some("m.kovaleva@example.org")
        );
        for junk in ["", "нет", "a@b", "@x.ru", "a b@x.ru", "a@@x.ru"] {
            assert_eq!(normalize_email(junk), None, "{junk}");
        }
    }

    #[test]
    fn merging_keeps_every_phone_and_the_newest_name() {
        let mut c = Contact::from_raw(Some("Мария"), ["+79161234567"], []);
        c.merge(&Contact::from_raw(
            Some(" Мария  Ковалёва "),
            ["8 916 123 45 67", "+79031112233"],
            ["M@X.RU"],
        ));
        c.merge(&Contact::from_raw(None, [], []));
        assert_eq!(c.name.as_deref(), Some("Мария Ковалёва"));
        assert_eq!(c.phones, ["+79161234567", "+79031112233"]);
        assert_eq!(c.emails, ["m@x.ru"]);
    }

    proptest! {
        #[test]
        fn a_normalized_phone_is_e164_or_the_input_and_normalizing_again_changes_nothing(raw in "[+0-9 ()-]{0,24}") {
            if let Some(p) = normalize_phone(&raw) {
                let e164 = p.starts_with('+') && p.len() >= 9 && p.len() <= 16
                    && p[1..].bytes().all(|b| b.is_ascii_digit());
                prop_assert!(e164 || p == raw.trim(), "{p:?} from {raw:?}");
                if e164 {
                    prop_assert_eq!(normalize_phone(&p), Some(p.clone()));
                }
            }
        }
    }
}
