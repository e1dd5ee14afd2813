//! Bitrix24: a lead or deal that an event (or reconciliation) named, read with the open-line
//! chat behind it (providers.md 4.5). One `batch` reads the entity, its chats and its session
//! activities; a deal's contact is one more call; then the history of each session. The
//! appeal is made from them. An entity no open line made is recorded as skipped, as is one
//! that no longer exists.
//!
//! Every portal call takes a turn of the portal's rate limit (2/s, shared by all workers);
//! `QUERY_LIMIT_EXCEEDED` is retried on the worker's schedule.

use crate::Failure;
use chrono::Utc;
use serde_json::json;
use shared::app::App;
use shared::app::ingest;
use shared::clients::CallError;
use shared::clients::bitrix24::{Portal, command};
use shared::crm::connections::ConnectedError;
use shared::domain::integration::{CrmEntity, Integration};
use shared::domain::providers::bitrix24::{
    OpenLine, Read, Transcript, dialog_transcript, entity_ref, history_transcript, owner_type_id,
};
use shared::store::Skipped;

/// Sessions of one entity whose history is read (a lead is normally one chat, one session).
const MAX_SESSIONS: usize = 10;
/// `im.dialog.messages.get` pages (of 50) read when there is no session to ask for.
const MAX_DIALOG_PAGES: usize = 10;

pub async fn entity(
    app: &App,
    integration: &Integration,
    entity: CrmEntity,
    id: u64,
) -> Result<(), Failure> {
    let provider_ref = entity_ref(entity, id);
    match read(app, integration, entity, id).await {
        Ok(Some(reason)) | Err(Failure::GiveUp(reason)) => {
            // Recorded, so reconciliation does not queue it again; a give-up is still parked.
            let skipped = Skipped {
                integration_id: integration.id.clone(),
                entity_ref: provider_ref.clone(),
                reason: reason.clone(),
                at: Utc::now(),
            };
            app.store
                .skip_entity(&skipped)
                .await
                .map_err(|e| Failure::Retry(e.to_string()))?;
            tracing::info!(integration_id = %integration.id, entity = %provider_ref, reason = %reason, "Bitrix24 entity skipped");
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(other) => Err(other),
    }
}

/// Makes the appeal of an entity; `Some(reason)` when it is none.
async fn read(
    app: &App,
    integration: &Integration,
    entity: CrmEntity,
    id: u64,
) -> Result<Option<String>, Failure> {
    let portal = Portal::new(app, integration)
        .ok_or_else(|| Failure::GiveUp("not a Bitrix24 integration".into()))?;
    let settings = integration
        .bitrix24
        .as_ref()
        .ok_or_else(|| Failure::GiveUp("not a Bitrix24 integration".into()))?;
    let kind = entity.as_str();
    let batch = portal
        .batch(&[
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
        ])
        .await
        .map_err(failure)?;
    let fields = match batch.get("entity") {
        Ok(fields) if fields.is_object() => fields.clone(),
        Ok(_) | Err(CallError::NotFound(_)) => {
            return Ok(Some(format!(
                "{kind} {id} does not exist in Bitrix24 (deleted?)"
            )));
        }
        Err(e) => return Err(failure(ConnectedError::Call(e))),
    };
    let chats = batch
        .get("chats")
        .map_err(|e| failure(ConnectedError::Call(e)))?
        .clone();
    let sessions = batch
        .get("sessions")
        .map_err(|e| failure(ConnectedError::Call(e)))?
        .clone();
    let mut read = Read {
        entity,
        id,
        fields: &fields,
        contact: None,
        chats: &chats,
        sessions: &sessions,
    };
    let Some(line) = read.open_line() else {
        return Ok(Some(format!(
            "{kind} {id} was not made by an open line (no chat, no session, no OPENLINE value)"
        )));
    };
    let contact = match read.contact_to_read() {
        Some(contact_id) => match portal
            .call("crm.contact.get", json!({"id": contact_id}))
            .await
        {
            Ok(body) => Some(body["result"].clone()),
            // A deleted contact: the entity's own fields still name the person.
            Err(ConnectedError::Call(CallError::NotFound(_))) => None,
            Err(e) => return Err(failure(e)),
        },
        None => None,
    };
    read.contact = contact.as_ref();
    let transcript = transcript(&portal, &line).await?;
    let facts = read.facts(&line, transcript, settings);
    let appeal = ingest::apply(app, integration, &facts, Utc::now())
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?;
    tracing::info!(integration_id = %integration.id, appeal_id = %appeal.id, entity = %facts.provider_ref, channel = %facts.channel.as_str(), "Bitrix24 open-line chat read");
    Ok(None)
}

/// The chat's messages: each session's history (it needs the session id, else ACCESS_DENIED),
/// else the chat's own messages.
async fn transcript(portal: &Portal<'_>, line: &OpenLine) -> Result<Transcript, Failure> {
    let mut out = Transcript::default();
    for session in line.session_ids.iter().take(MAX_SESSIONS) {
        let mut params = json!({"SESSION_ID": session});
        if let Some(chat) = line.chat_id {
            params["CHAT_ID"] = json!(chat);
        }
        match portal.call("imopenlines.session.history.get", params).await {
            Ok(body) => out.extend(history_transcript(&body["result"])),
            // Without the rights to this session, the chat's messages may still be readable.
            Err(ConnectedError::Call(CallError::Refused(_) | CallError::NotFound(_))) => {}
            Err(e) => return Err(failure(e)),
        }
    }
    if !out.messages.is_empty() {
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
        let body = match portal.call("im.dialog.messages.get", params).await {
            Ok(body) => body,
            // No `im` scope: the appeal is made without its transcript rather than not at all.
            Err(ConnectedError::Call(CallError::Refused(reason))) => {
                tracing::warn!(chat, reason = %reason, "the chat's messages could not be read");
                break;
            }
            Err(e) => return Err(failure(e)),
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

fn failure(e: ConnectedError) -> Failure {
    crate::connected_failure("Bitrix24", e)
}
