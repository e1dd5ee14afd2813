//! The hourly upload of each account's chats to Yandex Metrika as offline conversions, for the
//! accounts that switched it on.
//!
//! Each account keeps a watermark (`metrika_upload.uploaded_through`): a run sends the
//! conversions made from it up to [`SETTLE`] ago and, only once Metrika has accepted them,
//! moves it there; so a success is never sent again, and a failure (a refused token, 429, 5xx)
//! records its reason and leaves the watermark for the next run to try the same span again.
//! An appeal stored more than [`SETTLE`] after its chat began (a CRM record closed days later)
//! falls behind the watermark and is not uploaded; it stays in the CSV export.

use chrono::{DateTime, Utc};
use shared::app::App;
use shared::app::exports::conversions;
use shared::clients::metrika::Metrika;
use shared::crm::Deadline;
use shared::domain::account::{Account, MetrikaUpload, UploadError};
use shared::domain::exports::metrika_csv;
use shared::domain::limits::{REASON_CHARS, cut};
use std::time::Duration;

/// Metrika adds a conversion only to a visit of the last 21 days: nothing older is sent, and
/// the first upload of an account covers that much.
pub const WINDOW: chrono::Duration = chrono::Duration::days(21);
/// Conversions younger than this wait for a later run: an appeal is stored when its chat, or
/// its CRM record, reaches us, which can be a while after the chat began (its `created_at`).
pub const SETTLE: chrono::Duration = chrono::Duration::hours(3);

/// What the uploads of one run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Uploads {
    /// Accounts whose conversions Metrika accepted.
    pub uploaded: usize,
    /// Conversions those uploads carried.
    pub conversions: usize,
    pub failed: usize,
}

/// Uploads every account that switched the upload on.
pub async fn upload_all(app: &App, deadline: Deadline) -> Uploads {
    let mut done = Uploads::default();
    let accounts = match app.store.accounts().await {
        Ok(accounts) => accounts,
        Err(e) => {
            tracing::error!(error = %e, "could not list the accounts for the Metrika upload");
            done.failed += 1;
            return done;
        }
    };
    for account in accounts.iter().filter(|a| a.metrika.upload) {
        if deadline.remaining() < Duration::from_secs(30) {
            tracing::warn!("no time left for the other Metrika uploads; the next run does them");
            break;
        }
        match upload(app, account, Utc::now(), deadline).await {
            Outcome::Uploaded(n) => {
                done.uploaded += 1;
                done.conversions += n;
            }
            Outcome::Nothing => {}
            Outcome::Failed => done.failed += 1,
        }
    }
    done
}

/// What one account's upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to send (or nothing Metrika could match).
    Nothing,
    /// Metrika took a file of this many conversions.
    Uploaded(usize),
    /// The reason is on the account (`metrika_upload.last_error`).
    Failed,
}

/// One account's upload, as of `now`.
pub async fn upload(
    app: &App,
    account: &Account,
    now: DateTime<Utc>,
    deadline: Deadline,
) -> Outcome {
    let Some((counter, goal, token)) = account.metrika.uploadable() else {
        return Outcome::Nothing;
    };
    let through = account.metrika_upload.uploaded_through;
    let start = through.unwrap_or(now - WINDOW).max(now - WINDOW);
    let end = now - SETTLE;
    if start >= end {
        return Outcome::Nothing;
    }
    let more_time = || deadline.remaining() > Duration::from_secs(30);
    let found = match conversions(&app.store, &account.id, start, end, more_time).await {
        Ok(found) => found,
        Err(e) => {
            let reason = format!("Reading the chats to upload failed: {e}");
            return failed(app, account, now, reason).await;
        }
    };
    let (csv, rows) = metrika_csv(&found, goal);
    if rows == 0 {
        // Nothing Metrika could match in the span: it is done all the same.
        record(app, account, |u| u.uploaded_through = Some(end)).await;
        return Outcome::Nothing;
    }
    let client = Metrika {
        http: &app.http,
        base_url: &app.metrika_url,
        timeout: deadline
            .remaining()
            .saturating_sub(Duration::from_secs(5))
            .min(Duration::from_secs(60)),
    };
    match client.upload(counter, token, &csv).await {
        Ok(uploading) => {
            tracing::info!(account_id = %account.id, conversions = rows, uploading_id = ?uploading.id, "conversions uploaded to Metrika");
            record(app, account, |u| {
                u.uploaded_through = Some(end);
                u.last_upload_at = Some(now);
                u.last_upload_id = uploading.id;
                u.uploaded = rows as u64;
                u.last_error = None;
            })
            .await;
            Outcome::Uploaded(rows)
        }
        Err(e) => failed(app, account, now, e.to_string()).await,
    }
}

/// Notes a failed attempt: the reason is shown on the account; the watermark stays.
async fn failed(app: &App, account: &Account, now: DateTime<Utc>, reason: String) -> Outcome {
    tracing::warn!(account_id = %account.id, reason = %reason, "the Metrika upload failed; the next run tries again");
    let reason = cut(&reason, REASON_CHARS);
    record(app, account, |u| {
        u.last_error = Some(UploadError {
            at: now,
            reason: reason.clone(),
        });
    })
    .await;
    Outcome::Failed
}

/// Writes the upload's progress, leaving the account's settings as they are now (the user may
/// have changed them meanwhile). A watermark never moves back.
async fn record(app: &App, account: &Account, change: impl Fn(&mut MetrikaUpload)) {
    let written = app
        .store
        .update_account(&account.id, |current: Option<Account>| {
            let mut current = current.ok_or(shared::store::StoreError::ConditionFailed)?;
            let before = current.metrika_upload.uploaded_through;
            change(&mut current.metrika_upload);
            current.metrika_upload.uploaded_through =
                current.metrika_upload.uploaded_through.max(before);
            Ok::<_, shared::store::StoreError>(current)
        })
        .await;
    if let Err(e) = written {
        // After a success this means the next run sends the same span again: Metrika then
        // has it twice. Nothing better can be done without a store.
        tracing::error!(account_id = %account.id, error = %e, "could not record the Metrika upload");
    }
}
