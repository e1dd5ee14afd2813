//! An account's conversions for the ad platforms: its appeals of a period read page by page
//! and reduced at once to the ids a platform matches, so a long period's transcripts are never
//! held in memory. Both the CSV exports and the scheduled Metrika upload read them here.

use crate::domain::exports::Conversion;
use crate::domain::ids::AccountId;
use crate::store::{AppealFilter, Store, StoreError};
use chrono::{DateTime, Utc};

/// Most conversions one file carries: far more than a month of a busy account, and still a
/// few megabytes (an HTTP API answer on AWS holds 6 MB).
pub const MAX_CONVERSIONS: usize = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The period holds more appeals than can be read before the caller's deadline.
    #[error("the period holds more appeals than can be read in one go; take a shorter one")]
    OutOfTime,
    #[error("the period holds more than {MAX_CONVERSIONS} conversions; take a shorter one")]
    TooMany,
}

/// The conversions of appeals created in `[from, to)`, oldest first; `more_time` is asked
/// between pages.
pub async fn conversions(
    store: &Store,
    account: &AccountId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    more_time: impl Fn() -> bool,
) -> Result<Vec<Conversion>, CollectError> {
    let filter = AppealFilter {
        from: Some(from),
        to: Some(to),
        ..AppealFilter::default()
    };
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store.appeals(account, &filter, 200, after).await?;
        for appeal in &page.items {
            if let Some(c) = Conversion::of(appeal.created_at, &appeal.session) {
                out.push(c);
            }
        }
        if out.len() > MAX_CONVERSIONS {
            return Err(CollectError::TooMany);
        }
        match page.next {
            Some(next) if more_time() => after = Some(next),
            Some(_) => return Err(CollectError::OutOfTime),
            None => break,
        }
    }
    // The store lists newest first; files read better (and uploads cut cleaner) oldest first.
    out.reverse();
    Ok(out)
}
