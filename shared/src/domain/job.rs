//! The job values: one piece of slow provider work for the enrichment worker, why one did not
//! finish, and the retry schedule. They travel as queue message bodies; the queue itself is a
//! port (`queue`).

use crate::domain::appeal::Provider;
use crate::domain::ids::{AccountId, AppealId, IntegrationId};
use crate::domain::integration::CrmEntity;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Waits between attempts, as data: attempt n failed, the next comes after `RETRY_AFTER[n-1]`.
pub const RETRY_AFTER: [Duration; 5] = [
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(1800),
    Duration::from_secs(3600),
];

/// One piece of enrichment work for one appeal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Stays the same through retries and deferrals, so its log lines can be followed.
    /// (Messages queued before ids existed read as `""`.)
    #[serde(default)]
    pub id: String,
    pub account_id: AccountId,
    pub integration_id: IntegrationId,
    /// The appeal the job completes, or (Bitrix24) the one it makes if the entity is a chat;
    /// none for an integration's chores (reconciling, releasing the jobs that waited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appeal_id: Option<AppealId>,
    pub task: Task,
    pub created_at: DateTime<Utc>,
    /// Attempts made in earlier messages of this job: a job that ran out of time is sent again
    /// as a new message, whose receive count starts over, so the attempts it made travel here.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
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
    /// Reconcile a Bitrix24 integration now, as someone asked (failed readings are queued
    /// again too): an API answer cannot wait for it.
    Reconcile,
    /// Send the jobs that waited for the integration's connection back to the queue, all of
    /// them, after it was connected again.
    ReleaseWaiting,
    /// Write an account's CSV export of appeals to the export bucket (one too large to answer
    /// within the API's limits); its progress is kept with the export, so it resumes.
    ExportAppeals {
        export_id: crate::domain::ids::ExportId,
    },
    /// Take the next pages of an account's re-attribution run or backfill; its progress is
    /// kept with the run, so it resumes where a cut-off job stopped.
    Run { run_id: crate::domain::ids::RunId },
    /// Relay a kept webhook body, verbatim, to one of the integration's forward URLs (a bot
    /// platform on the same Jivo channel). The URL, not its position: a list edited meanwhile
    /// never sends a body to an address it was not meant for.
    Forward { raw_event_id: String, url: String },
}

impl Task {
    /// The provider whose API the task reads (a chore of any integration reads none).
    pub fn provider(&self) -> Option<Provider> {
        match self {
            Task::VerboxTranscript { .. } => Some(Provider::Verbox),
            Task::AmocrmTalk { .. } => Some(Provider::Amocrm),
            Task::Bitrix24Entity { .. } | Task::Reconcile => Some(Provider::Bitrix24),
            Task::ReleaseWaiting => None,
            Task::ExportAppeals { .. } | Task::Run { .. } => None,
            // It calls the integration's forward URL, not the provider's API.
            Task::Forward { .. } => None,
        }
    }

    /// Provider calls a job of this task usually makes: how much of the provider's pace it
    /// needs, to judge whether it can finish before a deadline.
    pub fn usual_calls(&self) -> u32 {
        match self {
            Task::VerboxTranscript { .. } => 1,
            // The talk, its lead, its contact, the responsible user.
            Task::AmocrmTalk { .. } => 4,
            // One batch (the entity, its chats, its sessions), then the session history; a
            // deal's contact is one more.
            Task::Bitrix24Entity {
                entity: CrmEntity::Lead,
                ..
            } => 2,
            Task::Bitrix24Entity {
                entity: CrmEntity::Deal,
                ..
            } => 3,
            // A page of the list; more pages wait their turn as the deadline allows.
            Task::Reconcile => 1,
            Task::ReleaseWaiting => 0,
            Task::ExportAppeals { .. } | Task::Run { .. } => 0,
            Task::Forward { .. } => 0,
        }
    }
}

impl Job {
    pub fn new(
        account_id: AccountId,
        integration_id: IntegrationId,
        appeal_id: Option<AppealId>,
        task: Task,
        now: DateTime<Utc>,
    ) -> Job {
        Job {
            id: format!("job_{}", uuid::Uuid::now_v7().simple()),
            account_id,
            integration_id,
            appeal_id,
            task,
            created_at: now,
            attempts: 0,
        }
    }

    /// A job of the account rather than of one of its integrations (an export). Jobs name an
    /// integration, so these name [`NO_INTEGRATION`], which no integration can have (created
    /// ones get generated ids): whatever looks one up finds none.
    pub fn for_account(account_id: AccountId, task: Task, now: DateTime<Utc>) -> Job {
        let none =
            IntegrationId::parse(NO_INTEGRATION).unwrap_or_else(|_| IntegrationId::generate());
        Job::new(account_id, none, None, task, now)
    }

    /// Jobs of one lane run one after another: an integration's share its CRM's pace; an
    /// account's own job (an export, a run) shares nothing.
    pub fn lane(&self) -> String {
        match &self.task {
            Task::ExportAppeals { export_id } => export_id.to_string(),
            Task::Run { run_id } => run_id.to_string(),
            _ => self.integration_id.to_string(),
        }
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_body(body: &str) -> Result<Job, String> {
        serde_json::from_str(body).map_err(|e| format!("not a job: {e}"))
    }
}

/// The integration an account's own job names (see [`Job::for_account`]).
pub const NO_INTEGRATION: &str = "int_none";

/// Why a job did not finish, by what happens to it next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt (timeouts, rate limits, server errors): retried on the schedule.
    Retry(String),
    /// No attempt will succeed (a refused token, a deleted integration): the appeal says
    /// `failed`, and the job is parked in the dead-letter queue with the reason.
    GiveUp(String),
    /// Nothing can happen until the user connects the integration again (a revoked OAuth
    /// grant): the job waits, set aside, and goes back to the queue on reconnection.
    Wait(String),
    /// The invocation's time runs out before the job could finish (the provider's pace is
    /// booked up): it goes back to the queue for a later invocation. Not an attempt.
    Defer(String),
}

impl Failure {
    pub fn reason(&self) -> &str {
        match self {
            Failure::Retry(r) | Failure::GiveUp(r) | Failure::Wait(r) | Failure::Defer(r) => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_keeps_its_id_and_attempts_through_its_body_and_old_bodies_still_read() {
        let job = Job::new(
            AccountId::parse("acc_1").unwrap(),
            IntegrationId::parse("int_1").unwrap(),
            Some(AppealId::derive(
                &IntegrationId::parse("int_1").unwrap(),
                "bitrix24",
                "lead:1",
            )),
            Task::Bitrix24Entity {
                entity: CrmEntity::Lead,
                id: 1,
            },
            Utc::now(),
        );
        let mut again = Job::from_body(&job.to_body()).unwrap();
        assert_eq!(again, job);
        assert!(job.id.starts_with("job_"));
        again.attempts = 3;
        assert_eq!(Job::from_body(&again.to_body()).unwrap().attempts, 3);
        let mut old: serde_json::Value = serde_json::from_str(&job.to_body()).unwrap();
        old.as_object_mut().unwrap().remove("id");
        let old = Job::from_body(&old.to_string()).unwrap();
        assert_eq!((old.id.as_str(), old.attempts), ("", 0));
    }
}
