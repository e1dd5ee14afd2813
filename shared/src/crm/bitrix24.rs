//! Bitrix24 Open Lines: connecting a portal over OAuth, a lead or deal that an event (or
//! reconciliation) named read with the open-line chat behind it (providers.md 4.5), and
//! reconciliation for a CRM that never sends an event twice.
//!
//! Reading an entity: one `batch` reads the entity, its chats and its session activities. Each
//! Open Lines session is a conversation and so an appeal (the first keeps the entity's ref,
//! `lead:48211`; a later one, a returning visitor's, is `lead:48211:session:<id>`); the ones
//! already appeals are left alone, so an update event with no new session costs that one
//! batch. For each new one: a deal's contact (one call), then its session's history. An entity
//! no open line made is recorded as skipped, as is one that no longer exists.
//! Every portal call goes through the integration's [`Session`] (2 requests/s per portal);
//! `QUERY_LIMIT_EXCEEDED` is retried on the worker's schedule.

use super::{ConnectError, Session, SessionError, connected};
use crate::app::{ingest, jobs};
use crate::clients::CallError;
pub use crate::clients::bitrix24::authorize_url;
use crate::clients::bitrix24::{Batch, Bitrix24, Connected, command};
use crate::domain::ids::AppealId;
use crate::domain::integration::{Bitrix24Settings, CrmEntity, Integration};
use crate::domain::job::{Failure, Task};
use crate::domain::providers::bitrix24::{
    Conversation, OpenLine, Read, Transcript, dialog_transcript, entity_ref, history_transcript,
    owner_type_id, parse_entity_ref,
};
use crate::store::{SkipKind, Skipped, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

/// New conversations of one entity read per job (a lead is normally one chat, one session);
/// more wait for the entity's next event or reconciliation.
const MAX_SESSIONS: usize = 10;
/// `im.dialog.messages.get` pages (of 50) read when there is no session to ask for.
const MAX_DIALOG_PAGES: usize = 10;

fn settings(integration: &Integration) -> Result<&Bitrix24Settings, CallError> {
    integration
        .bitrix24
        .as_ref()
        .ok_or_else(|| CallError::Refused("not a Bitrix24 integration".into()))
}

fn client<'a>(session: &Session<'a>, timeout: Duration) -> Result<Bitrix24<'a>, CallError> {
    Ok(Bitrix24 {
        http: session.http(),
        settings: settings(session.integration())?,
        timeout,
    })
}

/// `POST {portal}/rest/{method}.json` with the connection's token, at the portal's pace.
async fn call(session: &Session<'_>, method: &str, params: Value) -> Result<Value, SessionError> {
    session
        .call(|token, timeout| {
            let params = params.clone();
            async move { client(session, timeout)?.call(&token, method, params).await }
        })
        .await
}

/// Several calls for one turn of the portal's pace.
async fn batch(session: &Session<'_>, commands: &[(&str, String)]) -> Result<Batch, SessionError> {
    session
        .call(
            |token, timeout| async move { client(session, timeout)?.batch(&token, commands).await },
        )
        .await
}

/// The OAuth callback's work: the code (it lives 30 seconds) exchanged first, the pair stored
/// with the portal it names: its events must carry that member id and domain from now on.
pub async fn connect(
    session: &Session<'_>,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Integration, ConnectError> {
    let Connected {
        grant,
        member_id,
        domain,
    } = session
        .paced(|timeout| async move { client(session, timeout)?.exchange_code(code).await })
        .await?;
    connected(session.app(), session.integration(), grant, now, |i| {
        if let Some(b) = i.bitrix24.as_mut() {
            b.member_id = member_id.clone().or(b.member_id.take());
            b.domain = domain
                .as_ref()
                .map(|d| d.to_ascii_lowercase())
                .or(b.domain.take());
        }
    })
    .await
}

/// A user field of the portal's leads (or deals), to pick the one the site fills with our
/// session id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    /// `UF_CRM_...`: what `bitrix24.session_field` takes.
    pub code: String,
    /// The label the portal's users see.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The user fields of the entity the integration's open lines create, every page of them.
pub async fn fields(session: &Session<'_>) -> Result<Vec<Field>, SessionError> {
    let entity = settings(session.integration())
        .map_err(SessionError::Call)?
        .entity;
    let method = format!("crm.{}.userfield.list", entity.as_str());
    let mut out = Vec::new();
    let mut start = 0u64;
    // 50 a page; 20 pages is far beyond any portal's fields.
    for _ in 0..20 {
        let body = call(
            session,
            &method,
            json!({"order": {"SORT": "ASC"}, "filter": {"LANG": "ru"}, "start": start}),
        )
        .await?;
        for row in body["result"].as_array().into_iter().flatten() {
            let Some(code) = field(row, "FIELD_NAME") else {
                continue;
            };
            let name = ["EDIT_FORM_LABEL", "LIST_COLUMN_LABEL"]
                .iter()
                .find_map(|k| field(row, k))
                .unwrap_or_else(|| code.clone());
            out.push(Field {
                name: crate::domain::limits::cut(&name, 200),
                kind: field(row, "USER_TYPE_ID").unwrap_or_default(),
                code,
            });
        }
        match body["next"].as_u64() {
            Some(next) if next > start => start = next,
            _ => break,
        }
    }
    Ok(out)
}

/// Reads the entity a job names and makes its appeal, or records it as no chat. A reading that
/// fails for a lasting reason (access denied, an unpaid portal, a lead not to be found) is a
/// failure, not a skip: recorded as failed (reconciliation queues it again later) and given
/// up, so the job is parked with the reason.
pub async fn enrich(session: &Session<'_>, entity: CrmEntity, id: u64) -> Result<(), Failure> {
    let integration = session.integration();
    let store = &session.app().store;
    let provider_ref = entity_ref(entity, id);
    let retry = |e: StoreError| Failure::Retry(e.to_string());
    match read(session, entity, id).await {
        Ok(None) => {
            // A failure recorded earlier is over.
            store
                .forget_skipped(&integration.id, &provider_ref)
                .await
                .map_err(retry)
        }
        Ok(Some(reason)) => {
            let skipped = Skipped {
                integration_id: integration.id.clone(),
                entity_ref: provider_ref.clone(),
                reason: reason.clone(),
                at: Utc::now(),
                kind: SkipKind::NotAChat,
                failures: 0,
                retry_at: None,
            };
            store.skip_entity(&skipped).await.map_err(retry)?;
            tracing::info!(entity = %provider_ref, reason = %reason, "Bitrix24 entity is no chat");
            Ok(())
        }
        Err(Failure::GiveUp(reason)) => {
            let before = store
                .skipped_entity(&integration.id, &provider_ref)
                .await
                .map_err(retry)?;
            let failed = Skipped::failed(
                integration.id.clone(),
                provider_ref.clone(),
                reason.clone(),
                before.as_ref(),
                Utc::now(),
            );
            store.skip_entity(&failed).await.map_err(retry)?;
            Err(Failure::GiveUp(reason))
        }
        Err(other) => Err(other),
    }
}

/// Makes the appeal of an entity; `Some(reason)` when it is none.
async fn read(
    session: &Session<'_>,
    entity: CrmEntity,
    id: u64,
) -> Result<Option<String>, Failure> {
    let integration = session.integration();
    let fail = |e| super::failure(integration, e);
    let settings = settings(integration).map_err(|e| fail(SessionError::Call(e)))?;
    let kind = entity.as_str();
    let batch = batch(
        session,
        &[
            (
                "entity",
                command(&format!("crm.{kind}.get"), &[("id", id.to_string())]),
            ),
            (
                "chats",
                command(
                    "imopenlines.crm.chat.get",
                    &[
                        ("CRM_ENTITY_TYPE", kind.to_owned()),
                        ("CRM_ENTITY", id.to_string()),
                        ("ACTIVE_ONLY", "N".into()),
                    ],
                ),
            ),
            (
                "sessions",
                command(
                    "crm.activity.list",
                    &[
                        ("filter[OWNER_TYPE_ID]", owner_type_id(entity).to_string()),
                        ("filter[OWNER_ID]", id.to_string()),
                        ("filter[PROVIDER_ID]", "IMOPENLINES_SESSION".into()),
                        ("select[]", "ID".into()),
                        ("select[]", "ASSOCIATED_ENTITY_ID".into()),
                        ("select[]", "PROVIDER_PARAMS".into()),
                        ("order[ID]", "ASC".into()),
                    ],
                ),
            ),
        ],
    )
    .await
    .map_err(fail)?;
    let part = |name| {
        batch
            .get(name)
            .cloned()
            .map_err(|e| fail(SessionError::Call(e)))
    };
    let fields = match batch.get("entity") {
        Ok(fields) if fields.is_object() => fields.clone(),
        // Deleted, or hidden from the connected user: which one, we cannot tell.
        Ok(_) | Err(CallError::NotFound(_)) => {
            return Err(Failure::GiveUp(format!(
                "{kind} {id} was not found in Bitrix24 (deleted, or not visible to the user \
                 who connected the portal)"
            )));
        }
        Err(e) => return Err(fail(SessionError::Call(e))),
    };
    let chats = part("chats")?;
    let sessions = part("sessions")?;
    let mut read = Read {
        entity,
        id,
        fields: &fields,
        contact: None,
        chats: &chats,
        sessions: &sessions,
    };
    let modified = field(&fields, "DATE_MODIFY")
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc));
    let Some(line) = read.open_line() else {
        seen(session, entity, id, modified).await?;
        return Ok(Some(format!(
            "{kind} {id} was not made by an open line (no chat, no session, no OPENLINE value)"
        )));
    };
    // Conversations already appeals are done: only new ones cost more calls.
    let store = &session.app().store;
    let mut new = Vec::new();
    for conversation in line.conversations(entity, id) {
        let appeal_id = AppealId::derive(
            &integration.id,
            integration.provider.as_str(),
            &conversation.provider_ref,
        );
        let known = store
            .appeal(&appeal_id)
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?;
        if known.is_none() {
            new.push(conversation);
        }
    }
    if new.is_empty() {
        tracing::debug!(integration_id = %integration.id, entity = %entity_ref(entity, id), "no new conversation");
        seen(session, entity, id, modified).await?;
        return Ok(None);
    }
    let contact = match read.contact_to_read() {
        Some(contact_id) => match call(session, "crm.contact.get", json!({"id": contact_id})).await
        {
            Ok(body) => Some(body["result"].clone()),
            // A deleted contact: the entity's own fields still name the person.
            Err(SessionError::Call(CallError::NotFound(_))) => None,
            Err(e) => return Err(fail(e)),
        },
        None => None,
    };
    read.contact = contact.as_ref();
    for conversation in new.iter().take(MAX_SESSIONS) {
        let transcript = transcript(session, &line, conversation).await?;
        let facts = read.facts(&line, conversation, transcript, settings);
        let appeal = ingest::apply(session.app(), integration, &facts, Utc::now())
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?;
        tracing::info!(integration_id = %integration.id, appeal_id = %appeal.id, channel = %facts.channel.as_str(), first = conversation.first, "Bitrix24 open-line chat read");
    }
    if new.len() <= MAX_SESSIONS {
        seen(session, entity, id, modified).await?;
    }
    Ok(None)
}

/// Records the entity's `DATE_MODIFY` as read: reconciling by modification skips it until it
/// changes again.
async fn seen(
    session: &Session<'_>,
    entity: CrmEntity,
    id: u64,
    modified: Option<DateTime<Utc>>,
) -> Result<(), Failure> {
    let Some(modified) = modified else {
        return Ok(());
    };
    let integration = session.integration();
    session
        .app()
        .store
        .mark_seen(
            &integration.id,
            &entity_ref(entity, id),
            modified,
            Utc::now(),
        )
        .await
        .map_err(|e| Failure::Retry(e.to_string()))
}

/// One conversation's messages: its session's history (it needs the session id, else
/// ACCESS_DENIED); for the first conversation, else the chat's own messages.
async fn transcript(
    session: &Session<'_>,
    line: &OpenLine,
    conversation: &Conversation,
) -> Result<Transcript, Failure> {
    let fail = |e| super::failure(session.integration(), e);
    let mut out = Transcript::default();
    if let Some(s) = &conversation.session {
        let mut params = json!({"SESSION_ID": s.id});
        if let Some(chat) = s.chat_id.or(line.chat_id) {
            params["CHAT_ID"] = json!(chat);
        }
        match call(session, "imopenlines.session.history.get", params).await {
            Ok(body) => out.extend(history_transcript(&body["result"])),
            // Without the rights to this session, the chat's messages may still be readable.
            Err(SessionError::Call(CallError::Refused(_) | CallError::NotFound(_))) => {}
            Err(e) => return Err(fail(e)),
        }
    }
    // The chat's messages are every session's: only the first conversation falls back to them.
    if !out.messages.is_empty() || !conversation.first {
        return Ok(out);
    }
    let Some(chat) = line.chat_id else {
        return Ok(out);
    };
    let mut last_id: Option<u64> = None;
    for _ in 0..MAX_DIALOG_PAGES {
        let mut params = json!({"DIALOG_ID": format!("chat{chat}"), "LIMIT": 50});
        if let Some(last) = last_id {
            params["LAST_ID"] = json!(last);
        }
        let body = match call(session, "im.dialog.messages.get", params).await {
            Ok(body) => body,
            // No `im` scope: the appeal is made without its transcript rather than not at all.
            Err(SessionError::Call(CallError::Refused(reason))) => {
                tracing::warn!(chat, reason = %reason, "the chat's messages could not be read");
                break;
            }
            Err(e) => return Err(fail(e)),
        };
        let page = &body["result"];
        let ids: Vec<u64> = page["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_u64())
            .collect();
        out.extend(dialog_transcript(page));
        // Newest first: the next page is older than this page's oldest.
        match ids.iter().min() {
            Some(oldest) if ids.len() >= 50 => last_id = Some(*oldest),
            _ => break,
        }
    }
    Ok(out)
}

/// Events come through Bitrix24's queue, seconds late, and clocks differ: each run lists again
/// from this long before the watermark.
pub const OVERLAP: Duration = Duration::from_secs(10 * 60);
/// Pages of 50 listed per run; a backlog beyond them waits for the next run.
pub const MAX_PAGES: usize = 20;

/// Failed readings queued again per run at most.
const RETRIED_PER_RUN: usize = 200;

/// Who asked for a reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// The hourly run: failed readings are queued again when their backoff says so.
    Scheduled,
    /// Someone who may have fixed a cause (access, payment) asked: every failed reading is
    /// queued again now.
    OnDemand,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciled {
    /// Entities created since the watermark (less the overlap).
    pub listed: usize,
    /// Of them, the ones never seen, now queued.
    pub queued: usize,
    /// Entities modified since the `DATE_MODIFY` watermark (less the overlap).
    pub modified: usize,
    /// Entities whose reading had failed, queued again.
    pub retried: usize,
    /// Entities created up to this moment have been listed.
    pub watermark: Option<DateTime<Utc>>,
    /// More were left for the next run.
    pub more: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("only Bitrix24 integrations are reconciled")]
    NotReconciled,
    #[error(transparent)]
    Crm(#[from] SessionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reconciliation (providers.md 4.4): the leads (or deals) created since the watermark are
/// listed, and each one we have not seen (no appeal, not skipped) is queued to be read, so an
/// event lost while we were down, or dropped on the way, still becomes an appeal. Then the ones
/// modified since the other watermark: each known one changed since it was last read is
/// queued, so a lost update event (a returning visitor's new session) is recovered the same
/// way. Running it again queues nothing new; an entity queued twice makes one appeal per
/// conversation all the same (their appeal ids are derived from them).
pub async fn reconcile(
    session: &Session<'_>,
    run: Run,
    now: DateTime<Utc>,
) -> Result<Reconciled, ReconcileError> {
    let integration = session.integration();
    let app = session.app();
    let Some(settings) = &integration.bitrix24 else {
        return Err(ReconcileError::NotReconciled);
    };
    let entity = settings.entity;
    // Nothing before the integration existed was ever sent to us.
    let watermark = app
        .store
        .watermark(&integration.id)
        .await?
        .unwrap_or(integration.created_at);
    let since = watermark - chrono::Duration::from_std(OVERLAP).unwrap_or_default();
    let method = format!("crm.{}.list", entity.as_str());
    let mut report = Reconciled {
        watermark: Some(watermark),
        ..Reconciled::default()
    };
    let mut newest: Option<DateTime<Utc>> = None;
    let mut queued = HashSet::new();
    let mut start = 0u64;
    for page in 0..MAX_PAGES {
        let body = call(
            session,
            &method,
            json!({
                "filter": {">DATE_CREATE": since.to_rfc3339()},
                "order": {"DATE_CREATE": "ASC", "ID": "ASC"},
                "select": ["ID", "DATE_CREATE"],
                "start": start,
            }),
        )
        .await?;
        for row in body["result"].as_array().into_iter().flatten() {
            let Some(id) = field(row, "ID").and_then(|id| id.parse::<u64>().ok()) else {
                continue;
            };
            report.listed += 1;
            if let Some(created) = field(row, "DATE_CREATE")
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc))
            {
                newest = newest.max(Some(created));
            }
            let provider_ref = entity_ref(entity, id);
            let appeal_id = AppealId::derive(
                &integration.id,
                integration.provider.as_str(),
                &provider_ref,
            );
            // Known: an appeal, no chat, or a failure (queued again below, on its backoff).
            if app.store.appeal(&appeal_id).await?.is_some()
                || app
                    .store
                    .skipped_entity(&integration.id, &provider_ref)
                    .await?
                    .is_some()
            {
                continue;
            }
            let task = Task::Bitrix24Entity { entity, id };
            jobs::enqueue(app, integration, &appeal_id, task, now).await?;
            queued.insert(id);
            report.queued += 1;
        }
        match body["next"].as_u64() {
            Some(next) if next > start => start = next,
            _ => break,
        }
        report.more = page + 1 == MAX_PAGES;
    }
    if let Some(newest) = newest {
        report.watermark = Some(
            app.store
                .advance_watermark(&integration.id, newest, now)
                .await?,
        );
    }
    reconcile_modified(session, watermark, &mut queued, &mut report, now).await?;
    report.retried = retry_failed(session, run, now).await?;
    tracing::info!(
        integration_id = %integration.id,
        listed = report.listed,
        queued = report.queued,
        "Bitrix24 reconciled"
    );
    Ok(report)
}

/// The modified half of [`reconcile`]: entities we know (an appeal of their first
/// conversation, or read and found no chat) whose `DATE_MODIFY` is later than when we read
/// them. Unknown ones are the creation listing's, failed ones [`retry_failed`]'s.
async fn reconcile_modified(
    session: &Session<'_>,
    created_watermark: DateTime<Utc>,
    queued: &mut HashSet<u64>,
    report: &mut Reconciled,
    now: DateTime<Utc>,
) -> Result<(), ReconcileError> {
    let integration = session.integration();
    let app = session.app();
    let Some(settings) = &integration.bitrix24 else {
        return Err(ReconcileError::NotReconciled);
    };
    let entity = settings.entity;
    let watermark = app
        .store
        .modified_watermark(&integration.id)
        .await?
        .unwrap_or(created_watermark);
    let since = watermark - chrono::Duration::from_std(OVERLAP).unwrap_or_default();
    let method = format!("crm.{}.list", entity.as_str());
    let mut newest: Option<DateTime<Utc>> = None;
    let mut start = 0u64;
    for page in 0..MAX_PAGES {
        let body = call(
            session,
            &method,
            json!({
                "filter": {">DATE_MODIFY": since.to_rfc3339()},
                "order": {"DATE_MODIFY": "ASC", "ID": "ASC"},
                "select": ["ID", "DATE_MODIFY"],
                "start": start,
            }),
        )
        .await?;
        for row in body["result"].as_array().into_iter().flatten() {
            let Some(id) = field(row, "ID").and_then(|id| id.parse::<u64>().ok()) else {
                continue;
            };
            report.modified += 1;
            let modified = field(row, "DATE_MODIFY")
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc));
            newest = newest.max(modified);
            if queued.contains(&id) {
                continue;
            }
            let provider_ref = entity_ref(entity, id);
            let seen = app
                .store
                .seen_modified(&integration.id, &provider_ref)
                .await?;
            if seen.is_some_and(|seen| modified.is_none_or(|m| m <= seen)) {
                continue;
            }
            let appeal_id = AppealId::derive(
                &integration.id,
                integration.provider.as_str(),
                &provider_ref,
            );
            let known = app.store.appeal(&appeal_id).await?.is_some()
                || app
                    .store
                    .skipped_entity(&integration.id, &provider_ref)
                    .await?
                    .is_some_and(|s| s.kind == SkipKind::NotAChat);
            if !known {
                continue;
            }
            let task = Task::Bitrix24Entity { entity, id };
            jobs::enqueue(app, integration, &appeal_id, task, now).await?;
            queued.insert(id);
            report.queued += 1;
        }
        match body["next"].as_u64() {
            Some(next) if next > start => start = next,
            _ => break,
        }
        report.more |= page + 1 == MAX_PAGES;
    }
    if let Some(newest) = newest {
        app.store
            .advance_modified_watermark(&integration.id, newest, created_watermark, now)
            .await?;
    }
    Ok(())
}

/// Queues the failed readings due again (all of them on demand). Each is moved an hour on
/// first, so a job that waits (for a reconnect, say) is not queued again every run.
async fn retry_failed(
    session: &Session<'_>,
    run: Run,
    now: DateTime<Utc>,
) -> Result<usize, ReconcileError> {
    let integration = session.integration();
    let app = session.app();
    let due_by = match run {
        Run::Scheduled => Some(now),
        Run::OnDemand => None,
    };
    let failed = app
        .store
        .failed_entities(&integration.id, due_by, RETRIED_PER_RUN)
        .await?;
    let mut queued = 0;
    for mut record in failed {
        let Some((entity, id)) = parse_entity_ref(&record.entity_ref) else {
            continue;
        };
        if record.retry_at.is_some() {
            record.retry_at = Some(now + chrono::Duration::hours(1));
            app.store.skip_entity(&record).await?;
        }
        let appeal_id = AppealId::derive(
            &integration.id,
            integration.provider.as_str(),
            &record.entity_ref,
        );
        let task = Task::Bitrix24Entity { entity, id };
        jobs::enqueue(app, integration, &appeal_id, task, now).await?;
        queued += 1;
    }
    Ok(queued)
}

fn field(row: &Value, key: &str) -> Option<String> {
    crate::domain::providers::lenient::as_string(row.get(key)?)
}
