//! The job values: one piece of slow provider work for the enrichment worker, and why one did
//! not finish. They travel as queue message bodies; the queue itself is a port (`queue`).

use crate::domain::ids::{AccountId, AppealId, IntegrationId};
use crate::domain::integration::CrmEntity;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One piece of enrichment work for one appeal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub account_id: AccountId,
    pub integration_id: IntegrationId,
    /// The appeal the job completes, or (Bitrix24) the one it makes if the entity is a chat.
    pub appeal_id: AppealId,
    pub task: Task,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Task {
    /// Fetch a finished Verbox dialog's messages over the REST API.
    VerboxTranscript {
        client_id: Option<String>,
        search_id: Option<i64>,
        /// When the dialog finished: messages after it belong to a later dialog.
        finished_at: DateTime<Utc>,
    },
    /// Read a closed amoCRM talk, its lead and contact over the API.
    AmocrmTalk {
        talk_id: u64,
        lead_id: Option<u64>,
        contact_id: Option<u64>,
    },
    /// Read a Bitrix24 lead or deal and the open-line chat that made it: the appeal is made
    /// from them, or the entity is recorded as no chat.
    Bitrix24Entity { entity: CrmEntity, id: u64 },
}

impl Job {
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_body(body: &str) -> Result<Job, String> {
        serde_json::from_str(body).map_err(|e| format!("not a job: {e}"))
    }
}
