//! Messenger deep-link codes: a short code per session that our script writes into
//! `t.me/<bot>?start=<code>` and the prefilled text of `wa.me` links, and that we find again
//! in the chat (`/start <code>` is the first thing a Telegram bot receives; WhatsApp sends the
//! prefilled text as the visitor's first message). Not VK: `vk.me/<group>?ref=` reaches only
//! the community's Callback API, never the chat text a provider relays.
//!
//! Format: `CS` and eight Crockford base32 digits (40 bits). Upper-case and digits only, so it
//! survives every messenger's start-parameter rules, and unlikely to occur in prose by chance.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const PREFIX: &str = "CS";
const DIGITS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Code(String);

impl Code {
    pub fn generate() -> Code {
        let mut rng = rand::rng();
        let digits: String = (0..DIGITS)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        Code(format!("{PREFIX}{digits}"))
    }

    pub fn parse(s: &str) -> Option<Code> {
        let digits = s.strip_prefix(PREFIX)?;
        (digits.len() == DIGITS && digits.bytes().all(|b| ALPHABET.contains(&b)))
            .then(|| Code(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first code in a message, standing as a word of its own.
    pub fn find_in(text: &str) -> Option<Code> {
        text.split(|c: char| !c.is_ascii_alphanumeric())
            .find_map(Code::parse)
    }
}

impl TryFrom<String> for Code {
    type Error = String;
    fn try_from(s: String) -> Result<Code, String> {
        Code::parse(&s).ok_or_else(|| format!("`{s}` is not a deep-link code"))
    }
}

impl From<Code> for String {
    fn from(c: Code) -> String {
        c.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The first of our session ids (`ses_` and 32 hex digits) in a text: widgets that take no
/// id field (Bitrix24 custom data) show it in a message instead.
pub fn find_session_id(text: &str) -> Option<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| {
            w.strip_prefix("ses_")
                .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_short_recognisable_and_found_where_messengers_put_them() {
        let code = Code::generate();
        assert_eq!(code.as_str().len(), 10);
        assert_eq!(Code::parse(code.as_str()), Some(code.clone()));
        assert_eq!(Code::find_in(&format!("/start {code}")), Some(code.clone()));
        assert_eq!(
            Code::find_in(&format!("Здравствуйте! [{code}]")),
            Some(code.clone())
        );
        assert_eq!(
            Code::find_in("CSS is fun; CS12345678I; xCS1234567890"),
            None
        );
    }

    #[test]
    fn session_ids_are_found_in_text_and_lookalikes_are_not() {
        let text = "chatsource session ses_0123456789abcdef0123456789abcdef, code CS12345678";
        assert_eq!(
            find_session_id(text),
            Some("ses_0123456789abcdef0123456789abcdef")
        );
        assert_eq!(
            find_session_id("ses_123 and sess_0123456789abcdef0123456789abcdef"),
            None
        );
    }
}
