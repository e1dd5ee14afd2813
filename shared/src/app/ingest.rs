//! The webhook path, the same for every provider: verify, keep the raw body, decide, apply,
//! record the outcome. Replay of a kept event runs the same [`handle`].

use crate::app::App;
use crate::app::settle::{Looked, Occasion, after_made, counts, settle};
use crate::domain::appeal::{Appeal, AppealFacts, Provider};
use crate::domain::directory::Directory;
use crate::domain::ids::AppealId;
use crate::domain::integration::Integration;
use crate::domain::providers::{self, Decision, Unreadable};
use crate::domain::raw_event::{RawEvent, RawStatus};
use crate::store::{Kept, StoreError, StoredAppeal, Write, keys};
use chrono::{DateTime, Utc};

/// Bodies above this are refused (413) before anything is stored.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One webhook request, as the handler read it from the path and body.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub provider: Provider,
    pub integration_id: &'a str,
    pub secret: &'a str,
    /// Which of the provider's URLs (`chats`, `offline`, `events`).
    pub hook: &'a str,
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct Receipt {
    pub raw_event_id: String,
    pub status: RawStatus,
    pub reason: Option<String>,
    pub appeal_ids: Vec<AppealId>,
    /// The same body reached us before and was already handled.
    pub duplicate: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the body is {0} bytes; at most {MAX_BODY_BYTES} are accepted")]
    TooLarge(usize),
    /// Unknown integration, another provider's, or a wrong secret: one answer for all three,
    /// so the endpoint tells an outsider nothing.
    #[error("no such webhook")]
    NotFound,
    #[error("the integration is switched off; switch it on to receive webhooks")]
    Inactive,
    /// The delivery is not the integration's own (another CRM account, a wrong token).
    #[error("{0}")]
    Forbidden(String),
    /// The body cannot be read far enough to tell whose it is: refused, and (unverified)
    /// not kept.
    #[error("{0}")]
    Malformed(String),
    #[error("{reason}")]
    Unreadable {
        reason: String,
        raw_event_id: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The integration a delivery is for, if its provider and secret match.
pub async fn authenticate(app: &App, d: &Delivery<'_>) -> Result<Integration, IngestError> {
    if d.body.len() > MAX_BODY_BYTES {
        return Err(IngestError::TooLarge(d.body.len()));
    }
    let integration = app
        .integration(d.integration_id)
        .await?
        .filter(|i| {
            i.provider == d.provider && i.secret.verify(d.secret) && i.hooks().contains(&d.hook)
        })
        .ok_or(IngestError::NotFound)?;
    if !integration.active {
        return Err(IngestError::Inactive);
    }
    providers::verify(d.body, &integration).map_err(|refusal| match refusal {
        providers::Refusal::NotOurs(reason) => IngestError::Forbidden(reason),
        providers::Refusal::Unreadable(reason) => IngestError::Malformed(reason),
    })?;
    Ok(integration)
}

pub async fn receive(
    app: &App,
    d: Delivery<'_>,
    now: DateTime<Utc>,
) -> Result<Receipt, IngestError> {
    let integration = authenticate(app, &d).await?;
    let raw = RawEvent {
        id: RawEvent::id_for(&integration.id, d.hook, d.body),
        account_id: integration.account_id.clone(),
        integration_id: integration.id.clone(),
        provider: d.provider,
        hook: d.hook.to_owned(),
        content_type: d.content_type.map(str::to_owned),
        received_at: now,
        size: d.body.len(),
        status: RawStatus::Received,
        reason: None,
        appeal_ids: Vec::new(),
        attempts: 0,
        handled_at: None,
    };
    // The directory that attributes what this event makes is read while the body is kept:
    // on an instance that has not cached it (a cold start, or every 30 s) that is two round
    // trips at once, not one after the other; otherwise it is a cache hit. A failure here is
    // met again, and answered, where the directory is used. Bitrix24's webhook only queues a
    // read (the worker attributes), so it never needs one.
    let warm = async {
        if d.provider != Provider::Bitrix24 {
            let _ = app.directory(&integration.account_id).await;
        }
    };
    let (kept, ()) = tokio::join!(app.store.keep_raw_event(&raw, d.body), warm);
    let kept = kept?;
    // Relayed to the forward URLs whatever we make of it, once, on first keeping; queued
    // only, never failing nor slowing this delivery (see `app::forward`).
    if let Kept::New(raw) = &kept
        && !integration.forward_urls.is_empty()
    {
        super::forward::enqueue(app, &integration, raw, now).await;
    }
    let raw = match kept {
        Kept::New(raw) => raw,
        // Still `received`: an earlier attempt stopped half-way, or runs right now. Handling
        // is idempotent, so finishing it again is safe.
        Kept::Existing(raw) if raw.status == RawStatus::Received => raw,
        Kept::Existing(raw) => return repeat(raw),
    };
    handle(app, &integration, raw, d.body, now).await
}

/// How long an event may stay `received` before it counts as abandoned (its handler died
/// half-way: a process killed, a Lambda timed out) and is finished by the hourly run. Bitrix24
/// never sends an event again, so without this such an event would be lost.
pub const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Finishes an account's events received before `before` whose handling never did, oldest
/// first, while `more_time` says so; how many were finished. Handling is idempotent, so one
/// finished meanwhile by a provider's retry is only handled again.
pub async fn finish_abandoned(
    app: &App,
    account: &crate::domain::ids::AccountId,
    before: DateTime<Utc>,
    more_time: impl Fn() -> bool,
) -> Result<usize, StoreError> {
    let now = Utc::now();
    let mut finished = 0;
    let mut after = None;
    loop {
        let (page, next) = app
            .store
            .unfinished_before(account, before, 50, after)
            .await?;
        for raw in page {
            if !more_time() {
                return Ok(finished);
            }
            // Its integration deleted since: the event expires with its kind.
            let Some(integration) = app
                .store
                .entity::<Integration>(raw.integration_id.as_str())
                .await?
            else {
                continue;
            };
            let body = app.store.raw_body(&raw.id).await?.unwrap_or_default();
            match handle(app, &integration, raw, &body, now).await {
                Ok(_) | Err(IngestError::Unreadable { .. }) => finished += 1,
                Err(IngestError::Store(e)) => return Err(e),
                Err(e) => return Err(StoreError::Unavailable(e.to_string())),
            }
        }
        match next {
            Some(next) => after = Some(next),
            None => return Ok(finished),
        }
    }
}

/// The answer to a delivery we handled before, without handling it again.
fn repeat(raw: RawEvent) -> Result<Receipt, IngestError> {
    if raw.status == RawStatus::Quarantined {
        return Err(IngestError::Unreadable {
            reason: raw.reason.unwrap_or_default(),
            raw_event_id: raw.id,
        });
    }
    Ok(Receipt {
        raw_event_id: raw.id,
        status: raw.status,
        reason: raw.reason,
        appeal_ids: raw.appeal_ids,
        duplicate: true,
    })
}

/// Decides what a kept event means and applies it (a first delivery, or one cut off half-way).
pub async fn handle(
    app: &App,
    integration: &Integration,
    raw: RawEvent,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Receipt, IngestError> {
    handle_as(app, integration, raw, body, now, Occasion::Changed).await
}

/// A kept event handled again because someone asked: an appeal it names that exists already is
/// attributed again with today's settings, the change recorded in its history.
pub async fn replay(
    app: &App,
    integration: &Integration,
    raw: RawEvent,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Receipt, IngestError> {
    handle_as(app, integration, raw, body, now, Occasion::Replay).await
}

/// `later`: how an appeal that exists already is settled.
async fn handle_as(
    app: &App,
    integration: &Integration,
    mut raw: RawEvent,
    body: &[u8],
    now: DateTime<Utc>,
    later: Occasion<'static>,
) -> Result<Receipt, IngestError> {
    raw.attempts += 1;
    raw.handled_at = Some(now);
    // Whether the event's outcome was written with the appeal, in its transaction.
    let mut saved = false;
    let outcome = match decide(integration, &raw, body).map(Decision::bounded) {
        Err(Unreadable(reason)) => Ok((RawStatus::Quarantined, Some(reason), Vec::new())),
        // The usual event: one appeal, its outcome known before the write, so the event is
        // marked handled in the appeal's own transaction (one request, not two more).
        Ok(Decision::Appeal(facts)) => {
            let mut handled = raw.clone();
            handled.status = RawStatus::Processed;
            handled.reason = None;
            handled.appeal_ids = vec![appeal_id(integration, &facts)];
            let also = app.store.raw_outcome_write(&handled, body)?;
            saved = also.is_some();
            apply_as(app, integration, &facts, now, later, also.as_slice())
                .await
                .map(|appeal| (RawStatus::Processed, None, vec![appeal.id]))
        }
        Ok(decision) => apply_all(app, integration, decision, now, later).await,
    };
    let (status, reason, appeal_ids) = match outcome {
        Ok(outcome) => outcome,
        // Every stored text is bounded, so this is a bug of ours or a body no provider sends:
        // kept for replay with the reason, never a loop of provider retries.
        Err(StoreError::TooLarge(n)) => {
            saved = false;
            (
                RawStatus::Quarantined,
                Some(format!(
                    "what this event says would take {n} bytes, more than one appeal can hold"
                )),
                Vec::new(),
            )
        }
        Err(e) => return Err(e.into()),
    };
    raw.status = status;
    raw.reason = reason.clone();
    raw.appeal_ids = appeal_ids.clone();
    if !saved {
        // The whole item is known when the body is inline: one blind put, no read.
        match app.store.raw_outcome_write(&raw, body)? {
            Some(write) => {
                // Unconditional, so never refused.
                app.store.kv().write(&[write]).await?;
            }
            None => app.store.save_raw_outcome(&raw).await?,
        }
    }
    tracing::info!(
        provider = %integration.provider,
        integration_id = %integration.id,
        raw_event_id = %raw.id,
        status = status.as_str(),
        appeals = ?appeal_ids.iter().map(AppealId::as_str).collect::<Vec<_>>(),
        "webhook handled"
    );
    if status == RawStatus::Quarantined {
        return Err(IngestError::Unreadable {
            reason: reason.unwrap_or_default(),
            raw_event_id: raw.id,
        });
    }
    Ok(Receipt {
        raw_event_id: raw.id,
        status,
        reason,
        appeal_ids,
        duplicate: false,
    })
}

type Outcome = (RawStatus, Option<String>, Vec<AppealId>);

/// Applies a decision, each item of a `Many` in turn.
async fn apply_all(
    app: &App,
    integration: &Integration,
    decision: Decision,
    now: DateTime<Utc>,
    later: Occasion<'static>,
) -> Result<Outcome, StoreError> {
    match decision {
        Decision::Many(decisions) => {
            let mut outcomes = Vec::with_capacity(decisions.len());
            for decision in decisions {
                outcomes.push(apply_decision(app, integration, decision, now, later).await?);
            }
            Ok(merge(outcomes))
        }
        decision => apply_decision(app, integration, decision, now, later).await,
    }
}

/// Several items' outcomes as the raw event's: processed if any was, every appeal, every reason.
fn merge(outcomes: Vec<Outcome>) -> Outcome {
    let status = if outcomes.iter().any(|(s, _, _)| *s == RawStatus::Processed) {
        RawStatus::Processed
    } else {
        RawStatus::Ignored
    };
    let reasons: Vec<String> = outcomes.iter().filter_map(|(_, r, _)| r.clone()).collect();
    let mut ids: Vec<AppealId> = outcomes.into_iter().flat_map(|(_, _, ids)| ids).collect();
    ids.dedup();
    (
        status,
        (!reasons.is_empty()).then(|| reasons.join("; ")),
        ids,
    )
}

/// Applies one decision (not `Many`).
async fn apply_decision(
    app: &App,
    integration: &Integration,
    decision: Decision,
    now: DateTime<Utc>,
    later: Occasion<'static>,
) -> Result<Outcome, StoreError> {
    Ok(match decision {
        Decision::Ignore(reason) => (RawStatus::Ignored, Some(reason), Vec::new()),
        Decision::Appeal(facts) => {
            let appeal = apply_as(app, integration, &facts, now, later, &[]).await?;
            (RawStatus::Processed, None, vec![appeal.id])
        }
        Decision::Enrich(facts, task) => {
            let appeal = apply_as(app, integration, &facts, now, later, &[]).await?;
            // Queued after the appeal exists, so the worker always finds it; a lost send
            // leaves the raw event `received` (this returns an error), and a replay queues again.
            super::jobs::enqueue(app, integration, &appeal.id, task, now).await?;
            (
                RawStatus::Processed,
                Some("enrichment queued".into()),
                vec![appeal.id],
            )
        }
        Decision::Fetch { provider_ref, task } => {
            let id = AppealId::derive(
                &integration.id,
                integration.provider.as_str(),
                &provider_ref,
            );
            super::jobs::enqueue(app, integration, &id, task, now).await?;
            (
                RawStatus::Processed,
                Some(format!(
                    "{} queued to be read",
                    provider_ref.replace(':', " ")
                )),
                Vec::new(),
            )
        }
        Decision::Collect {
            provider_ref,
            message_id,
            message,
        } => {
            app.store
                .collect_message(&integration.id, &provider_ref, &message_id, &message)
                .await?;
            let id = AppealId::derive(
                &integration.id,
                integration.provider.as_str(),
                &provider_ref,
            );
            if app.store.appeal(&id).await?.is_none() {
                return Ok((
                    RawStatus::Processed,
                    Some(format!("message kept for {provider_ref}")),
                    Vec::new(),
                ));
            }
            let dir = app.directory(&integration.account_id).await?;
            update(
                app,
                integration,
                &dir,
                &id,
                now,
                Some(&provider_ref),
                |a, messages| a.set_messages(messages, now),
            )
            .await?;
            (RawStatus::Processed, None, vec![id])
        }
        Decision::VisitorContact {
            visitor_ref,
            contact,
            agent,
        } => {
            let ids = app
                .store
                .visitor_appeals(&integration.id, &visitor_ref)
                .await?;
            let dir = app.directory(&integration.account_id).await?;
            for id in &ids {
                update(app, integration, &dir, id, now, None, |a, _| {
                    a.contact.merge(&contact);
                    if a.agent.is_none() {
                        a.agent.clone_from(&agent);
                    }
                })
                .await?;
            }
            match ids.is_empty() {
                true => (
                    RawStatus::Ignored,
                    Some(format!("no appeal of visitor {visitor_ref} yet")),
                    ids,
                ),
                false => (RawStatus::Processed, None, ids),
            }
        }
        // Providers never nest `Many`; a nested one is read as its items' verdict, ignored.
        Decision::Many(_) => (RawStatus::Ignored, Some("nested items".into()), Vec::new()),
    })
}

fn decide(integration: &Integration, raw: &RawEvent, body: &[u8]) -> Result<Decision, Unreadable> {
    providers::check_content_type(raw.provider, raw.content_type.as_deref())?;
    match raw.provider {
        Provider::Jivo => providers::jivo::decide(body, integration, raw.received_at),
        Provider::Verbox => {
            providers::verbox::decide(body, &raw.hook, integration, raw.received_at)
        }
        Provider::Amocrm => providers::amocrm::decide(body, integration, raw.received_at),
        Provider::Bitrix24 => providers::bitrix24::decide(body, integration),
    }
}

/// Creates or updates the appeal the facts are about.
pub async fn apply(
    app: &App,
    integration: &Integration,
    facts: &AppealFacts,
    now: DateTime<Utc>,
) -> Result<Appeal, StoreError> {
    apply_as(app, integration, facts, now, Occasion::Changed, &[]).await
}

fn appeal_id(integration: &Integration, facts: &AppealFacts) -> AppealId {
    AppealId::derive(
        &integration.id,
        integration.provider.as_str(),
        &facts.provider_ref,
    )
}

/// `also`: written in the appeal's transaction (the event's outcome).
async fn apply_as(
    app: &App,
    integration: &Integration,
    facts: &AppealFacts,
    now: DateTime<Utc>,
    later: Occasion<'static>,
    also: &[Write],
) -> Result<Appeal, StoreError> {
    let id = appeal_id(integration, facts);
    let dir = app.directory(&integration.account_id).await?;
    let key = keys::entity("APPEAL", id.as_str());
    let (id, dir) = (&id, &*dir);
    use std::sync::atomic::{AtomicBool, Ordering};
    // Whether the attempt that wrote made the appeal (an attempt may run again on a lost race).
    let created = AtomicBool::new(false);
    let created_ref = &created;
    let looked = &Looked::default();
    // Created if absent first: most events make their appeal, and one that finds it gets it
    // back with the refusal, for what a read would have cost.
    let stored = app
        .store
        .create_or_update_counted(
            &key,
            |current: Option<StoredAppeal>| async move {
                created_ref.store(current.is_none(), Ordering::Relaxed);
                let mut stored = match current {
                    Some(mut stored) => {
                        stored.appeal.absorb(facts, now);
                        stored
                    }
                    None => StoredAppeal::new(Appeal::new(
                        id.clone(),
                        integration.account_id.clone(),
                        integration.id.clone(),
                        integration.provider,
                        facts,
                        now,
                    )),
                };
                let occasion = match created_ref.load(Ordering::Relaxed) {
                    true => Occasion::Made,
                    false => later,
                };
                settle(app, integration, dir, &mut stored, occasion, now, looked).await?;
                Ok(stored)
            },
            counts(&app.store),
            also,
        )
        .await?;
    if !created.load(Ordering::Relaxed) {
        return Ok(stored.appeal);
    }
    // Whether it is a repeat is decided once it exists (see `settle::after_made`); the
    // integration's health mark (a blind write, at most every 30 s) goes out beside it.
    let (made, ()) = tokio::join!(
        after_made(app, dir, stored),
        app.mark_appeal(&integration.id, now)
    );
    Ok(made?.appeal)
}

/// Changes an existing appeal and settles it again (the enrichment worker's way in).
pub async fn update_appeal(
    app: &App,
    integration: &Integration,
    id: &AppealId,
    now: DateTime<Utc>,
    change: impl Fn(&mut Appeal) + Sync,
) -> Result<Appeal, StoreError> {
    let dir = app.directory(&integration.account_id).await?;
    update(app, integration, &dir, id, now, None, |a, _| change(a)).await
}

/// Changes an existing appeal given the messages collected for its conversation (amoCRM's
/// `message[add]` hooks), read inside the conditional update: a message that a racing hook
/// collected meanwhile makes the write start over, so none is ever dropped.
pub async fn update_with_collected(
    app: &App,
    integration: &Integration,
    id: &AppealId,
    conversation: &str,
    now: DateTime<Utc>,
    change: impl Fn(&mut Appeal, Vec<crate::domain::appeal::Message>) + Sync,
) -> Result<Appeal, StoreError> {
    let dir = app.directory(&integration.account_id).await?;
    update(app, integration, &dir, id, now, Some(conversation), change).await
}

/// Changes an existing appeal and settles it again; with `collected`, `change` gets that
/// conversation's collected messages as they stand at this attempt.
async fn update(
    app: &App,
    integration: &Integration,
    dir: &Directory,
    id: &AppealId,
    now: DateTime<Utc>,
    collected: Option<&str>,
    change: impl Fn(&mut Appeal, Vec<crate::domain::appeal::Message>) + Sync,
) -> Result<Appeal, StoreError> {
    let key = keys::entity("APPEAL", id.as_str());
    let change = &change;
    let looked = &Looked::default();
    app.store
        .update_record_counted(
            &key,
            |current: Option<StoredAppeal>| async move {
                let mut stored =
                    current.ok_or_else(|| StoreError::Corrupt(format!("appeal {id} vanished")))?;
                let appeal = &mut stored.appeal;
                // Read after the appeal, within this attempt: see `update_with_collected`.
                let messages = match collected {
                    Some(conversation) => {
                        app.store
                            .collected_messages(&integration.id, conversation)
                            .await?
                    }
                    None => Vec::new(),
                };
                change(appeal, messages);
                appeal.updated_at = now;
                settle(
                    app,
                    integration,
                    dir,
                    &mut stored,
                    Occasion::Changed,
                    now,
                    looked,
                )
                .await?;
                Ok(stored)
            },
            counts(&app.store),
        )
        .await
        .map(|stored| stored.appeal)
}
