//! The CSV export of appeals: one exporter, [`CsvWriter`], that every consumer drives a page
//! at a time, so no one holds the whole file: the local server streams it as it reads, the API
//! Lambda buffers it within its answer's limits, and an export too large for those is queued
//! as a job ([`run_job`]) that writes it to the export bucket in parts, resuming across
//! invocations from the progress kept with the export.

use super::{App, jobs};
use crate::domain::csv::Dialect;
use crate::domain::directory::Directory;
use crate::domain::ids::{AccountId, ExportId};
use crate::domain::job::{Failure, Job, Task};
use crate::store::objects::Objects;
use crate::store::{AppealFilter, CsvExport, CsvExportState, CsvProgress, Position, StoreError};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Appeals read per page of the store (its most).
const PAGE: usize = 200;
/// How long a link to a finished export works.
pub const LINK_VALID_FOR: Duration = Duration::from_secs(3600);
pub const CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// How large an export the API answers itself; a larger one becomes a job.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// An HTTP API answer on AWS holds 6 MB, counted as the Lambda's JSON (quotes and line
    /// ends escaped): well under, so the answer always fits.
    pub inline_bytes: usize,
    /// The API has 10 s; a CSV that takes longer to read is better made by the job.
    pub inline_time: Duration,
    /// The job's upload parts (S3: at least 5 MiB but the last).
    pub part_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            inline_bytes: 4 * 1024 * 1024,
            inline_time: Duration::from_secs(5),
            part_bytes: 8 * 1024 * 1024,
        }
    }
}

/// The export, page by page: the header (and the byte order mark in Excel's dialect) with
/// the first page, then one chunk per page of the store, until `None`.
pub struct CsvWriter {
    account: AccountId,
    filter: AppealFilter,
    dialect: Dialect,
    /// Read once, so every row names things alike.
    directory: Option<std::sync::Arc<Directory>>,
    after: Option<Position>,
    started: bool,
    done: bool,
    rows: u64,
}

impl CsvWriter {
    pub fn new(account: AccountId, filter: AppealFilter, dialect: Dialect) -> CsvWriter {
        CsvWriter {
            account,
            filter,
            dialect,
            directory: None,
            after: None,
            started: false,
            done: false,
            rows: 0,
        }
    }

    /// Where the job left off: after the rows its uploaded parts hold.
    fn resuming(export: &CsvExport, progress: &CsvProgress) -> CsvWriter {
        let mut writer = CsvWriter::new(
            export.account_id.clone(),
            export.filter.clone(),
            export.dialect,
        );
        // The header went up with the first part, or is in the rows carried over.
        writer.started = !progress.etags.is_empty() || progress.carry.is_some();
        writer.after = progress.after.clone();
        writer.rows = progress.rows;
        writer
    }

    /// What was asked: the filters and the dialect (to queue the export as a job).
    pub fn into_request(self) -> (AppealFilter, Dialect) {
        (self.filter, self.dialect)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The next chunk (possibly empty: a page of a sparse filter may match nothing), or
    /// `None` once every appeal has been written.
    pub async fn next_chunk(&mut self, app: &App) -> Result<Option<String>, StoreError> {
        if self.done {
            return Ok(None);
        }
        if self.directory.is_none() {
            self.directory = Some(app.directory(&self.account).await?);
        }
        let page = app
            .store
            .appeals(&self.account, &self.filter, PAGE, self.after.clone())
            .await?;
        let mut out = if self.started {
            String::new()
        } else {
            self.dialect.start()
        };
        self.started = true;
        let directory = self.directory.as_ref().expect("read above");
        for appeal in &page.items {
            self.dialect.write_appeal(&mut out, appeal, directory);
        }
        self.rows += page.items.len() as u64;
        self.done = page.next.is_none();
        self.after = page.next;
        Ok(Some(out))
    }
}

/// Why an export could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// This deployment has no export bucket (or no job queue) to make it in.
    #[error(
        "the export is too large to answer at once and there is no export bucket to make it in; narrow it (from, to)"
    )]
    NoBucket,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Queues an export as a job: its record (the filters, the dialect), then the job.
pub async fn queue(
    app: &App,
    account: &AccountId,
    filter: AppealFilter,
    dialect: Dialect,
    now: DateTime<Utc>,
) -> Result<CsvExport, QueueError> {
    if app.objects.is_none() || app.queue.is_none() {
        return Err(QueueError::NoBucket);
    }
    let export = CsvExport::new(account.clone(), filter, dialect, now);
    app.store.create_csv_export(&export).await?;
    let task = Task::ExportAppeals {
        export_id: export.id.clone(),
    };
    jobs::send(
        app,
        &Job::for_account(account.clone(), task, now),
        Duration::ZERO,
    )
    .await?;
    tracing::info!(account_id = %account, export_id = %export.id, "CSV export queued");
    Ok(export)
}

/// An export as its caller sees it, with a download link once it is done.
pub struct Status {
    pub export: CsvExport,
    pub url: Option<String>,
    pub url_expires_at: Option<DateTime<Utc>>,
}

pub async fn status(
    app: &App,
    account: &AccountId,
    id: &ExportId,
    now: DateTime<Utc>,
) -> Result<Option<Status>, StoreError> {
    let Some(export) = app.store.csv_export(account, id).await? else {
        return Ok(None);
    };
    let (mut url, mut url_expires_at) = (None, None);
    if let (CsvExportState::Done, Some(objects)) = (&export.state, &app.objects) {
        let link = objects
            .download_url(
                &export.object_key,
                &export.file_name(),
                LINK_VALID_FOR,
                now.into(),
            )
            .await?;
        url = Some(link);
        url_expires_at = chrono::Duration::from_std(LINK_VALID_FOR)
            .ok()
            .map(|d| now + d);
    }
    Ok(Some(Status {
        export,
        url,
        url_expires_at,
    }))
}

/// The export job: writes the file in parts, keeping its progress after each part; when
/// `more_time` says no, it keeps the rows read since the last part (too few for one: S3 takes
/// 5 MiB) in an object of their own and defers, and the next run starts its part with them
/// and reads on from there. A second run of the same job finds the progress moved and stops.
pub async fn run_job(
    app: &App,
    account: &AccountId,
    id: &ExportId,
    more_time: impl Fn() -> bool,
) -> Result<(), Failure> {
    let retry = |e: StoreError| Failure::Retry(e.to_string());
    let objects = app
        .objects
        .as_deref()
        .ok_or_else(|| Failure::GiveUp("no export bucket is configured".into()))?;
    let mut export = app
        .store
        .csv_export(account, id)
        .await
        .map_err(retry)?
        .ok_or_else(|| Failure::GiveUp(format!("no export {id} (it expires after two days)")))?;
    if export.state != CsvExportState::Queued {
        return Ok(());
    }
    let progress = match export.progress.clone() {
        Some(progress) => progress,
        None => {
            let upload_id = objects
                .start_upload(&export.object_key, CONTENT_TYPE)
                .await
                .map_err(retry)?;
            let progress = CsvProgress {
                upload_id,
                etags: Vec::new(),
                carry: None,
                after: None,
                rows: 0,
                bytes: 0,
                complete: false,
            };
            let mut next = export.clone();
            next.progress = Some(progress.clone());
            if !advance(app, &mut export, next).await? {
                return Ok(());
            }
            progress
        }
    };
    if progress.complete {
        return finish(app, objects, export).await;
    }
    let mut writer = CsvWriter::resuming(&export, &progress);
    let mut part = match &progress.carry {
        None => Vec::new(),
        Some(key) => match objects.get(key).await.map_err(retry)? {
            Some(rows) => rows,
            None => {
                // Gone (the bucket keeps files a day): the export starts over.
                let mut next = export.clone();
                next.progress = None;
                advance(app, &mut export, next).await?;
                return Err(Failure::Retry(
                    "the rows kept between runs are gone; the export starts over".into(),
                ));
            }
        },
    };
    loop {
        // Once every row is read only the last part is left, and stopping would gain nothing.
        if !writer.done && !more_time() {
            return defer(app, objects, &mut export, &writer, part).await;
        }
        let chunk = writer.next_chunk(app).await.map_err(retry)?;
        let last = chunk.is_none();
        part.extend_from_slice(chunk.unwrap_or_default().as_bytes());
        // A part goes up once it is large enough, and at the end with the rest (a file is at
        // least one part, so a part goes up at the end if none has).
        let first = progress_of(&export).etags.is_empty();
        let upload =
            part.len() >= app.export_limits.part_bytes || (last && (first || !part.is_empty()));
        if upload {
            let mut step = progress_of(&export).clone();
            let body = std::mem::take(&mut part);
            step.bytes += body.len() as u64;
            let number = step.etags.len() + 1;
            let etag = objects
                .upload_part(&export.object_key, &step.upload_id, number, body)
                .await
                .map_err(retry)?;
            step.etags.push(etag);
            // The carried rows went up in this part (their object goes with the bucket's day).
            step.carry = None;
            step.after = writer.after.clone();
            step.rows = writer.rows;
            step.complete = writer.done;
            let mut next = export.clone();
            next.progress = Some(step);
            if !advance(app, &mut export, next).await? {
                return Ok(());
            }
        }
        if last {
            break;
        }
    }
    finish(app, objects, export).await
}

/// Out of time: the rows read since the last kept position are kept (the ones past the last
/// part in an object of their own) so that the next run reads on from here, then the job is
/// deferred to it.
async fn defer(
    app: &App,
    objects: &dyn Objects,
    export: &mut CsvExport,
    writer: &CsvWriter,
    part: Vec<u8>,
) -> Result<(), Failure> {
    let kept = progress_of(export).clone();
    if writer.after != kept.after {
        let mut step = kept;
        step.carry = None;
        if !part.is_empty() {
            // A key of its own per run: a second run of the job that loses the race to keep
            // its progress must not have overwritten the winner's rows.
            let key = format!("{}.carry-{:016x}", export.object_key, rand::random::<u64>());
            objects
                .put(&key, part)
                .await
                .map_err(|e| Failure::Retry(e.to_string()))?;
            step.carry = Some(key);
        }
        step.after = writer.after.clone();
        step.rows = writer.rows;
        let mut next = export.clone();
        next.progress = Some(step);
        if !advance(app, export, next).await? {
            return Ok(());
        }
    }
    Err(Failure::Defer(format!(
        "the export goes on in the next run ({} rows read)",
        writer.rows
    )))
}

/// The parts made into the file, and the export marked done.
async fn finish(app: &App, objects: &dyn Objects, mut export: CsvExport) -> Result<(), Failure> {
    let step = progress_of(&export).clone();
    match objects
        .finish_upload(&export.object_key, &step.upload_id, &step.etags)
        .await
    {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            // The upload is not the one recorded (a lost race rewrote a part): start over.
            let mut next = export.clone();
            next.progress = None;
            advance(app, &mut export, next).await?;
            return Err(Failure::Retry(
                "the upload changed under the export; it starts over".into(),
            ));
        }
        Err(e) => return Err(Failure::Retry(e.to_string())),
    }
    let mut next = export.clone();
    next.state = CsvExportState::Done;
    next.rows = step.rows;
    next.bytes = step.bytes;
    next.finished_at = Some(Utc::now());
    next.progress = None;
    if advance(app, &mut export, next).await? {
        tracing::info!(export_id = %export.id, rows = step.rows, bytes = step.bytes, "CSV export done");
    }
    Ok(())
}

fn progress_of(export: &CsvExport) -> &CsvProgress {
    static NONE: std::sync::LazyLock<CsvProgress> = std::sync::LazyLock::new(|| CsvProgress {
        upload_id: String::new(),
        etags: Vec::new(),
        carry: None,
        after: None,
        rows: 0,
        bytes: 0,
        complete: false,
    });
    export.progress.as_ref().unwrap_or(&NONE)
}

/// Writes `next` if the export is still as this run last left it; `false` when another run
/// moved it meanwhile (this one then stops).
async fn advance(app: &App, export: &mut CsvExport, next: CsvExport) -> Result<bool, Failure> {
    match app.store.advance_csv_export(export, &next).await {
        Ok(()) => {
            *export = next;
            Ok(true)
        }
        Err(StoreError::ConditionFailed) => {
            tracing::info!(export_id = %export.id, "another run of the export is ahead; this one stops");
            Ok(false)
        }
        Err(e) => Err(Failure::Retry(e.to_string())),
    }
}

/// A given-up export job: its export says `failed`, with the reason.
pub async fn fail(
    app: &App,
    account: &AccountId,
    id: &ExportId,
    reason: &str,
) -> Result<(), StoreError> {
    for _ in 0..5 {
        let Some(export) = app.store.csv_export(account, id).await? else {
            return Ok(());
        };
        if export.state != CsvExportState::Queued {
            return Ok(());
        }
        let mut next = export.clone();
        next.state = CsvExportState::Failed {
            reason: reason.to_owned(),
        };
        next.progress = None;
        next.finished_at = Some(Utc::now());
        match app.store.advance_csv_export(&export, &next).await {
            Err(StoreError::ConditionFailed) => continue,
            other => return other,
        }
    }
    Err(StoreError::Unavailable("the export kept changing".into()))
}
