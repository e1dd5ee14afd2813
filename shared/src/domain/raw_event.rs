//! Raw events: webhook bodies exactly as received, kept for audit, quarantine and replay.

use crate::domain::appeal::Provider;
use crate::domain::ids::{AccountId, AppealId, IntegrationId};
use crate::domain::secret::sha256_hex;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawStatus {
    /// Kept, not yet handled (or handling failed half-way: replay finishes it).
    Received,
    Processed,
    Ignored,
    Quarantined,
}

impl RawStatus {
    pub fn parse(s: &str) -> Option<RawStatus> {
        [
            RawStatus::Received,
            RawStatus::Processed,
            RawStatus::Ignored,
            RawStatus::Quarantined,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RawStatus::Received => "received",
            RawStatus::Processed => "processed",
            RawStatus::Ignored => "ignored",
            RawStatus::Quarantined => "quarantined",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawEvent {
    /// From (integration, hook, body): the same delivery twice is the same raw event.
    pub id: String,
    pub account_id: AccountId,
    pub integration_id: IntegrationId,
    pub provider: Provider,
    /// Which of the provider's hooks received it (`chats`, `offline`...).
    pub hook: String,
    pub content_type: Option<String>,
    pub received_at: DateTime<Utc>,
    pub size: usize,
    pub status: RawStatus,
    pub reason: Option<String>,
    #[serde(default)]
    pub appeal_ids: Vec<AppealId>,
    /// How many times it was handled (first delivery, repeats, replays).
    #[serde(default)]
    pub attempts: u32,
    pub handled_at: Option<DateTime<Utc>>,
}

impl RawEvent {
    pub fn id_for(integration: &IntegrationId, hook: &str, body: &[u8]) -> String {
        let mut material = Vec::with_capacity(body.len() + 80);
        material.extend_from_slice(integration.as_str().as_bytes());
        material.push(0);
        material.extend_from_slice(hook.as_bytes());
        material.push(0);
        material.extend_from_slice(body);
        format!("raw_{}", &sha256_hex(&material)[..32])
    }
}
