//! The real sample bodies of `events/*/bodies/`, built into the binary so a run (and a
//! replay) does not depend on the working directory; parsed once into trees and pairs that
//! the generators start from and borrow pieces of.

use crate::form::{self, Pairs};
use serde_json::Value;

macro_rules! bodies {
    ($dir:literal: $($name:literal),+ $(,)?) => {
        &[$(include_bytes!(concat!("../../../events/", $dir, "/bodies/", $name)) as &[u8]),+]
    };
}

pub const JIVO: &[&[u8]] = bodies!("jivo": "call_event.json", "chat_accepted.json",
    "chat_finished.json", "chat_updated.json", "client_attribute_updated.json",
    "client_updated.json", "malformed.json", "offline_message.json", "telegram_chat_finished.json");
pub const VERBOX: &[&[u8]] = bodies!("verbox": "chat_finished.json", "dialog_form.form",
    "malformed.json", "message_event.json", "no_transcript.json", "offline.json",
    "telegram_dialog.json");
pub const AMOCRM: &[&[u8]] = bodies!("amocrm": "foreign_account.form", "leads_add.form",
    "malformed.form", "messages.form", "talk_closed.form", "talk_open.form", "two_talks.form");
pub const BITRIX24: &[&[u8]] = bodies!("bitrix24": "deal_add.form", "lead_add.form",
    "malformed.form", "wrong_token.form");
pub const TRACKER: &[&[u8]] = bodies!("tracker": "page_view.json", "page_view_junk.json");

/// One provider's samples: as bytes, as JSON trees (forms decoded the way the product
/// decodes them), and (forms) as pairs.
pub struct Samples {
    pub bytes: Vec<&'static [u8]>,
    pub trees: Vec<Value>,
    pub pairs: Vec<Pairs>,
}

impl Samples {
    pub fn new(sets: &[&'static [&'static [u8]]]) -> Samples {
        let bytes: Vec<&'static [u8]> = sets.iter().flat_map(|set| set.iter().copied()).collect();
        let is_form = |b: &[u8]| shared::domain::providers::form::looks_like_form(b);
        let trees = bytes
            .iter()
            .filter_map(|b| match is_form(b) {
                true => shared::domain::providers::form::decode(b).ok(),
                false => serde_json::from_slice(b).ok(),
            })
            .collect();
        let pairs = bytes
            .iter()
            .filter(|b| is_form(b))
            .map(|b| form::pairs_of(b))
            .collect();
        Samples {
            bytes,
            trees,
            pairs,
        }
    }
}
