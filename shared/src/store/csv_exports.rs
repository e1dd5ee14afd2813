//! CSV exports of appeals made by a job: what was asked (the filters, the dialect), how far the job has
//! got (so a job cut off by its invocation's deadline resumes where it stopped), and the end.

use super::appeals::AppealFilter;
use super::kv::{Condition, Key, Position, StoreError};
use super::record::Record;
use super::{Store, keys};
use crate::domain::csv::Dialect;
use crate::domain::ids::{AccountId, ExportId};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A record outlives its file (the bucket deletes files after a day), so asking about an old
/// export says it is gone rather than that it never existed.
const KEEP_DAYS: i64 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CsvExport {
    pub id: ExportId,
    pub account_id: AccountId,
    pub created_at: DateTime<Utc>,
    pub filter: AppealFilter,
    pub dialect: Dialect,
    pub state: CsvExportState,
    /// The file in the export bucket.
    pub object_key: String,
    /// Set while the job is writing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<CsvProgress>,
    /// When done: what the file holds.
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CsvExportState {
    Queued,
    Done,
    Failed { reason: String },
}

/// A multipart upload under way: the parts uploaded (their ETags, in order), the rows read
/// since but too few for a part when the last run ran out of time (`carry`), where in the
/// listing the next run reads on, and what the parts (and the carry) hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsvProgress {
    pub upload_id: String,
    pub etags: Vec<String>,
    /// The object holding the rows after the last part (the start of the next): a part must
    /// be 5 MiB, and a selective filter over a large account may take runs to find that much.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carry: Option<String>,
    pub after: Option<Position>,
    /// Rows in the parts and the carry.
    pub rows: u64,
    /// Bytes in the parts.
    pub bytes: u64,
    /// The parts hold every row: only making them into the file is left.
    #[serde(default)]
    pub complete: bool,
}

impl CsvExport {
    pub fn new(
        account_id: AccountId,
        filter: AppealFilter,
        dialect: Dialect,
        now: DateTime<Utc>,
    ) -> CsvExport {
        let id = ExportId::generate();
        CsvExport {
            object_key: format!("exports/{account_id}/{id}.csv"),
            id,
            account_id,
            created_at: now,
            filter,
            dialect,
            state: CsvExportState::Queued,
            progress: None,
            rows: 0,
            bytes: 0,
            finished_at: None,
        }
    }

    /// The name a download is saved as.
    pub fn file_name(&self) -> String {
        format!("appeals-{}.csv", self.created_at.format("%Y-%m-%d-%H%M%S"))
    }
}

impl Record for CsvExport {
    fn key(&self) -> Key {
        keys::entity("EXPORT", self.id.as_str())
    }
    fn expires_at(&self) -> Option<i64> {
        Some((self.created_at + Duration::days(KEEP_DAYS)).timestamp())
    }
}

impl Store {
    pub async fn create_csv_export(&self, export: &CsvExport) -> Result<(), StoreError> {
        self.put_record(export, Condition::NotExists).await
    }

    /// An export of `account` (another account's id finds nothing).
    pub async fn csv_export(
        &self,
        account: &AccountId,
        id: &ExportId,
    ) -> Result<Option<CsvExport>, StoreError> {
        let found: Option<CsvExport> = self
            .get_record(&keys::entity("EXPORT", id.as_str()))
            .await?;
        Ok(found.filter(|e| &e.account_id == account))
    }

    /// Changes an export only if it is as `expected` left it (its state and its progress):
    /// a second run of the same job (queues deliver at least once) that lost the race
    /// finds `ConditionFailed` and stops, rather than writing over the winner's progress.
    pub async fn advance_csv_export(
        &self,
        expected: &CsvExport,
        next: &CsvExport,
    ) -> Result<(), StoreError> {
        let key = keys::entity("EXPORT", expected.id.as_str());
        self.update_record(&key, |current: Option<CsvExport>| {
            let same = current
                .is_some_and(|c| c.state == expected.state && c.progress == expected.progress);
            let result = if same {
                Ok(next.clone())
            } else {
                Err(StoreError::ConditionFailed)
            };
            std::future::ready(result)
        })
        .await
        .map(|_| ())
    }
}
