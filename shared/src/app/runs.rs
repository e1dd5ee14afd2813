//! Re-attribution runs and backfills, as queued jobs taking the account's appeals page by page
//! (a Lambda is frozen once it has answered, so the API only starts them). Each appeal is
//! settled again in its own conditional write with its counters, so a page taken twice (a job
//! retried after a crash, two deliveries of one job) changes nothing twice; the run's record
//! takes a page's outcome only if no one took that page before.

use super::App;
use super::jobs;
use super::settle::{self, Occasion, counts};
use crate::domain::account::Backfill;
use crate::domain::appeal::Decided;
use crate::domain::directory::Directory;
use crate::domain::ids::{AccountId, AppealId, RunId};
use crate::domain::integration::Integration;
use crate::domain::job::{Failure, Job, Task};
use crate::domain::reattribution::{Run, RunKind, RunStatus, Scope};
use crate::store::{AppealFilter, Search, StoreError, StoredAppeal, cursor, keys};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;

/// Appeals per page: each is some eight store requests on DynamoDB (the appeal, its session,
/// its person's index, the transaction), so a page takes a couple of seconds and fits in the
/// time the worker keeps for a job; a page's outcome is one write of the run. A page cut off
/// by the invocation's end is taken again whole by the next delivery, changing nothing twice.
const PAGE: usize = 25;

/// Starts a run: its record, then its first job. If the job cannot be sent the run is marked
/// failed (and the caller answers with the error), so no run waits for a job that never comes.
pub async fn start(
    app: &App,
    account: &AccountId,
    kind: RunKind,
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<Run, StoreError> {
    start_with(app, account, RunId::generate(), kind, scope, now).await
}

/// The job: pages until the run is done or the time is up.
pub async fn run_job(
    app: &App,
    account: &AccountId,
    id: &RunId,
    more_time: impl Fn() -> bool,
) -> Result<(), Failure> {
    let retry = |e: StoreError| Failure::Retry(e.to_string());
    let mut integrations: HashMap<String, Option<Integration>> = HashMap::new();
    loop {
        let run = app
            .store
            .run(account, id)
            .await
            .map_err(retry)?
            .ok_or_else(|| Failure::GiveUp(format!("no run {id}")))?;
        if run.status != RunStatus::Running {
            return Ok(());
        }
        if !more_time() {
            return Err(Failure::Defer(format!(
                "the run goes on in the next job ({} appeals examined)",
                run.examined
            )));
        }
        // Read each page: a directory changed mid-run applies from the next page on.
        let dir = app.store.directory(account).await.map_err(retry)?;
        let after = match &run.cursor {
            Some(c) => Some(
                cursor::decode(c)
                    .ok_or_else(|| Failure::GiveUp(format!("run {id} has a damaged cursor")))?,
            ),
            None => None,
        };
        let filter = filter_of(&run.scope);
        let page = app
            .store
            .appeals(account, &filter, PAGE, after)
            .await
            .map_err(retry)?;
        let now = Utc::now();
        let mut moves = Vec::new();
        for appeal in &page.items {
            let key = appeal.integration_id.to_string();
            if !integrations.contains_key(&key) {
                let found = app.integration(&key).await.map_err(retry)?;
                integrations.insert(key.clone(), found);
            }
            // An appeal whose integration is gone keeps its answer: nothing decides it now.
            let Some(integration) = integrations.get(&key).and_then(Option::as_ref) else {
                continue;
            };
            if let Some(moved) = take(app, integration, &dir, &run, &appeal.id, now)
                .await
                .map_err(retry)?
            {
                moves.push(moved);
            }
        }
        let next = page.next.as_ref().map(cursor::encode);
        let pages = run.pages;
        let examined = page.items.len() as u64;
        app.store
            .update_run(&run, |mut current: Run| {
                // Another delivery of this job took the page first: its outcome stands.
                if current.pages == pages && current.status == RunStatus::Running {
                    current.add_page(examined, &moves, next.clone(), now);
                }
                Ok::<_, StoreError>(current)
            })
            .await
            .map_err(retry)?;
    }
}

/// Settles one appeal for the run; for a re-attribution, the move it made (if this run moved
/// it, also on an earlier try of the same page: the appeal's history names the run).
async fn take(
    app: &App,
    integration: &Integration,
    dir: &Directory,
    run: &Run,
    id: &AppealId,
    now: DateTime<Utc>,
) -> Result<Option<(Decided, Decided)>, StoreError> {
    let key = keys::entity("APPEAL", id.as_str());
    let run_id = run.id.as_str();
    let looked = &settle::Looked::default();
    let stored = app
        .store
        .update_record_counted(
            &key,
            |current: Option<StoredAppeal>| async move {
                let mut stored =
                    current.ok_or_else(|| StoreError::Corrupt(format!("appeal {id} vanished")))?;
                match (run.kind, run.phase) {
                    (RunKind::Reattribute, _) => {
                        settle::settle(
                            app,
                            integration,
                            dir,
                            &mut stored,
                            Occasion::Run(run_id),
                            now,
                            looked,
                        )
                        .await?
                    }
                    (RunKind::Backfill, 0) => settle::index_people(app, &mut stored).await?,
                    (RunKind::Backfill, _) => settle::backfill(app, dir, &mut stored).await?,
                }
                Ok(stored)
            },
            counts(&app.store),
        )
        .await?;
    let moved = stored
        .appeal
        .attribution_history
        .last()
        .filter(|change| change.run_id.as_deref() == Some(run_id))
        .map(|change| (change.previous.clone(), stored.appeal.attribution.decided()));
    Ok(moved)
}

/// A run's job given up: the run says so, with the reason.
pub async fn fail(
    app: &App,
    account: &AccountId,
    id: &RunId,
    reason: &str,
) -> Result<(), StoreError> {
    let Some(run) = app.store.run(account, id).await? else {
        return Ok(());
    };
    app.store
        .update_run(&run, |mut current: Run| {
            if current.status == RunStatus::Running {
                current.status = RunStatus::Failed;
                current.error = Some(reason.to_owned());
                current.finished_at = Some(Utc::now());
            }
            Ok::<_, StoreError>(current)
        })
        .await
        .map(|_| ())
}

/// The journal's filter a run's scope stands for.
fn filter_of(scope: &Scope) -> AppealFilter {
    AppealFilter {
        from: scope.from,
        to: scope.to,
        provider: scope.provider,
        channel: scope.channel.clone(),
        campaign_id: scope.campaign_id.clone(),
        source_id: scope.source_id.clone(),
        integration_id: scope.integration_id.clone(),
        via: scope.via,
        status: scope.status,
        search: scope.q.as_deref().and_then(Search::parse),
        repeat: scope.repeat,
        channel_group: scope.channel_group,
    }
}

/// Starts the backfill of every account that has none yet: appeals made before reports and
/// the person index existed get counted and indexed. Marked on the account first, so one
/// backfill starts per account (one started twice would still count nothing twice).
pub async fn backfill_all(app: &App, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let mut started = 0;
    if app.queue.is_none() {
        // Nothing would take the run's jobs (a tool run without a queue); the next run will.
        return Ok(0);
    }
    for account in app.store.accounts().await? {
        if account.backfill != Backfill::Needed {
            continue;
        }
        let id = RunId::generate();
        let marked = app
            .store
            .update_account(&account.id, |current| {
                let mut current = current.ok_or(StoreError::ConditionFailed)?;
                if current.backfill != Backfill::Needed {
                    return Err(StoreError::ConditionFailed);
                }
                current.backfill = Backfill::Started(id.clone());
                Ok(current)
            })
            .await;
        match marked {
            Ok(_) => {}
            // Gone, or another run of this marked it first.
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e),
        }
        start_with(
            app,
            &account.id,
            id,
            RunKind::Backfill,
            Scope::default(),
            now,
        )
        .await?;
        started += 1;
    }
    Ok(started)
}

async fn start_with(
    app: &App,
    account: &AccountId,
    id: RunId,
    kind: RunKind,
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<Run, StoreError> {
    let run = Run::new(id, account.clone(), kind, scope, now);
    app.store.create_run(&run).await?;
    let job = Job::for_account(
        account.clone(),
        Task::Run {
            run_id: run.id.clone(),
        },
        now,
    );
    if let Err(e) = jobs::send(app, &job, Duration::ZERO).await {
        fail(app, account, &run.id, &e.to_string()).await?;
        return Err(e);
    }
    Ok(run)
}
