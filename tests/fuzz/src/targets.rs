//! The parsers under test, by name, and the real samples each one's inputs start from.

use crate::rng::Gen;
use crate::samples::{self, Samples};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Jivo,
    Verbox,
    Amocrm,
    Bitrix24,
    Form,
    Tracker,
}

pub type Shape = fn(&mut Gen) -> Value;

impl Target {
    pub const ALL: [Target; 6] = [
        Target::Jivo,
        Target::Verbox,
        Target::Amocrm,
        Target::Bitrix24,
        Target::Form,
        Target::Tracker,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::Jivo => "jivo",
            Target::Verbox => "verbox",
            Target::Amocrm => "amocrm",
            Target::Bitrix24 => "bitrix24",
            Target::Form => "form",
            Target::Tracker => "tracker",
        }
    }

    pub fn by_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    pub(crate) fn samples(self) -> Samples {
        Samples::new(match self {
            Target::Jivo => &[samples::JIVO],
            Target::Verbox => &[samples::VERBOX],
            Target::Amocrm => &[samples::AMOCRM],
            Target::Bitrix24 => &[samples::BITRIX24],
            Target::Form => &[samples::AMOCRM, samples::BITRIX24, samples::VERBOX],
            Target::Tracker => &[samples::TRACKER],
        })
    }
}
