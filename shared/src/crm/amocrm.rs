//! amoCRM (Kommo): connecting an account over OAuth (or with a long-lived token), its custom
//! fields for the settings page, and a closed talk completed from the API (providers.md 3.6):
//! the talk, its lead (UTM fields, the session field chosen in the settings, the responsible
//! user) and its contact (name, phones, e-mails), with the messages collected from
//! `message[add]` hooks. Every request goes through the integration's [`Session`].

use super::{ConnectError, Session, SessionError, connected};
use crate::app::{ingest, jobs};
use crate::clients::CallError;
use crate::clients::amocrm::Amocrm;
pub use crate::clients::amocrm::authorize_url;
use crate::domain::appeal::{Agent, SessionInfo};
use crate::domain::contact::{Contact, normalize_email, normalize_name};
use crate::domain::integration::{AmocrmSettings, Integration};
use crate::domain::job::{Failure, Job, Task};
use crate::domain::oauth::Grant;
use crate::domain::providers::amocrm::{channel, talk_ref};
use crate::domain::providers::lenient::as_string;
use crate::domain::secret::Secret;
use crate::domain::utm::{CLICK_ID_KEYS, ClickIds, Utm};
use chrono::{TimeZone, Utc};
use serde_json::Value;
use std::time::Duration;

fn settings(integration: &Integration) -> Result<&AmocrmSettings, CallError> {
    integration
        .amocrm
        .as_ref()
        .ok_or_else(|| CallError::Refused("not an amoCRM integration".into()))
}

fn client<'a>(session: &Session<'a>, timeout: Duration) -> Result<Amocrm<'a>, CallError> {
    Ok(Amocrm {
        http: session.http(),
        settings: settings(session.integration())?,
        timeout,
    })
}

/// The OAuth callback's work: the code (it lives minutes) exchanged at once, the account the
/// token opens learned (its hooks must name it from now on), the pair stored.
pub async fn connect(
    session: &Session<'_>,
    code: &str,
    now: chrono::DateTime<Utc>,
) -> Result<Integration, ConnectError> {
    let grant = session
        .paced(|timeout| async move { client(session, timeout)?.exchange_code(code).await })
        .await?;
    connect_with(session, grant, now).await
}

/// A private integration's long-lived token: checked by reading the account with it, then
/// stored as the connection (it is never refreshed).
pub async fn connect_long_lived(
    session: &Session<'_>,
    token: Secret,
    now: chrono::DateTime<Utc>,
) -> Result<Integration, ConnectError> {
    let grant = Grant {
        access_token: token,
        refresh_token: None,
        expires_in: None,
    };
    connect_with(session, grant, now).await
}

async fn connect_with(
    session: &Session<'_>,
    grant: Grant,
    now: chrono::DateTime<Utc>,
) -> Result<Integration, ConnectError> {
    let token = &grant.access_token;
    let account = session
        .paced(|timeout| async move { client(session, timeout)?.get(token, "account").await })
        .await?;
    let account_id = account["id"].as_u64();
    connected(session.app(), session.integration(), grant, now, |i| {
        if let Some(a) = i.amocrm.as_mut() {
            a.account_id = account_id.or(a.account_id);
        }
    })
    .await
}

/// A custom field of the account, to pick the one our site script fills with the session id.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Field {
    pub entity: &'static str,
    pub id: Value,
    pub name: Value,
    pub code: Value,
    #[serde(rename = "type")]
    pub kind: Value,
}

/// The account's lead and contact custom fields, every page of them.
pub async fn fields(session: &Session<'_>) -> Result<Vec<Field>, SessionError> {
    let mut items = Vec::new();
    for (entity, kind) in [("leads", "lead"), ("contacts", "contact")] {
        // At most 250 per page; 50 pages is far beyond any account's fields.
        for page in 1..=50 {
            let body = get(
                session,
                &format!("{entity}/custom_fields?limit=250&page={page}"),
            )
            .await?;
            for field in body
                .pointer("/_embedded/custom_fields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                items.push(Field {
                    entity: kind,
                    id: field["id"].clone(),
                    name: field["name"].clone(),
                    code: field["code"].clone(),
                    kind: field["type"].clone(),
                });
            }
            if body.pointer("/_links/next/href").is_none() {
                break;
            }
        }
    }
    Ok(items)
}

/// `GET /api/v4/{path}` with the connection's token, at the account's pace.
async fn get(session: &Session<'_>, path: &str) -> Result<Value, SessionError> {
    session
        .call(|token, timeout| async move { client(session, timeout)?.get(&token, path).await })
        .await
}

/// Completes a closed talk's appeal from the API.
pub async fn enrich(session: &Session<'_>, job: &Job) -> Result<(), Failure> {
    let Task::AmocrmTalk {
        talk_id,
        lead_id,
        contact_id,
    } = job.task
    else {
        return Err(Failure::GiveUp("not an amoCRM talk".into()));
    };
    let integration = session.integration();
    let fail = |e| super::failure(integration, e);
    let settings = settings(integration).map_err(|e| fail(SessionError::Call(e)))?;
    let app = session.app();
    let appeal = jobs::appeal_of(app, job, integration).await?;
    let talk = get(session, &format!("talks/{talk_id}"))
        .await
        .map_err(fail)?;
    let lead_id = lead_id.or_else(|| id_at(&talk, "/_embedded/leads/0/id"));
    let lead = match lead_id {
        Some(id) => Some(
            get(session, &format!("leads/{id}?with=contacts"))
                .await
                .map_err(fail)?,
        ),
        None => None,
    };
    let contact_id = contact_id
        .or_else(|| id_at(&talk, "/contact_id"))
        .or_else(|| {
            lead.as_ref()
                .and_then(|l| id_at(l, "/_embedded/contacts/0/id"))
        });
    let contact = match contact_id {
        Some(id) => Some(
            get(session, &format!("contacts/{id}"))
                .await
                .map_err(fail)?,
        ),
        None => None,
    };
    let responsible = lead
        .as_ref()
        .and_then(|l| id_at(l, "/responsible_user_id"))
        .filter(|id| *id > 0);
    let user = match responsible {
        Some(id) => match get(session, &format!("users/{id}")).await {
            Ok(user) => Some(user),
            // A deleted user: the appeal keeps the id, and the default employee answers.
            Err(SessionError::Call(CallError::NotFound(_) | CallError::Refused(_))) => None,
            Err(e) => return Err(fail(e)),
        },
        None => None,
    };

    let session_field = settings.session_field_id;
    let session_id = [lead.as_ref(), contact.as_ref()]
        .into_iter()
        .flatten()
        .find_map(|entity| {
            session_field.and_then(|id| {
                values(entity, |f| f["field_id"].as_u64() == Some(id))
                    .into_iter()
                    .next()
            })
        });
    let (utm, click_ids) = lead.as_ref().map(tags).unwrap_or_default();
    let person = contact.as_ref().map(person).unwrap_or_default();
    let agent = responsible.map(|id| Agent {
        id: Some(id.to_string()),
        name: user
            .as_ref()
            .and_then(|u| as_string(&u["name"]))
            .as_deref()
            .and_then(normalize_name),
        email: user
            .as_ref()
            .and_then(|u| as_string(&u["email"]))
            .as_deref()
            .and_then(normalize_email),
    });
    let created = id_at(&talk, "/created_at").and_then(|t| Utc.timestamp_opt(t as i64, 0).single());
    let origin = as_string(&talk["origin"]);
    let now = Utc::now();
    let conversation = talk_ref(talk_id);
    let id = &appeal.id;
    ingest::update_with_collected(app, integration, id, &conversation, now, |a, messages| {
        a.contact.merge(&person);
        if agent.is_some() {
            a.agent.clone_from(&agent);
        }
        a.session.fill_from(&SessionInfo {
            id: session_id.clone(),
            utm: utm.clone(),
            click_ids: click_ids.clone(),
            ..SessionInfo::default()
        });
        if origin.is_some() {
            a.channel = channel(origin.as_deref());
        }
        if let Some(at) = created {
            a.created_at = a.created_at.min(at);
        }
        a.complete_with(messages, now);
    })
    .await
    .map(|_| ())
    .map_err(|e| Failure::Retry(e.to_string()))
}

fn id_at(v: &Value, pointer: &str) -> Option<u64> {
    as_string(v.pointer(pointer)?)?.parse().ok()
}

/// The values of the entity's custom fields that `pick` chooses.
fn values(entity: &Value, pick: impl Fn(&Value) -> bool) -> Vec<String> {
    entity["custom_fields_values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| pick(f))
        .flat_map(|f| f["values"].as_array().into_iter().flatten())
        .filter_map(|v| as_string(&v["value"]))
        .collect()
}

fn code_is(code: &str) -> impl Fn(&Value) -> bool + '_ {
    move |f| {
        f["field_code"]
            .as_str()
            .is_some_and(|c| c.eq_ignore_ascii_case(code))
    }
}

/// UTM tags and click ids from the lead's `UTM_*` (and `YCLID`...) fields.
fn tags(lead: &Value) -> (Utm, ClickIds) {
    let mut utm = Utm::default();
    for key in ["source", "medium", "campaign", "content", "term"] {
        if let Some(value) = values(lead, code_is(&format!("UTM_{}", key.to_uppercase())))
            .into_iter()
            .next()
        {
            utm.set(key, &value);
        }
    }
    let click_ids = CLICK_ID_KEYS
        .iter()
        .filter_map(|k| {
            Some((
                k.to_string(),
                values(lead, code_is(&k.to_uppercase()))
                    .into_iter()
                    .next()?,
            ))
        })
        .collect();
    (utm, click_ids)
}

fn person(contact: &Value) -> Contact {
    let phones = values(contact, code_is("PHONE"));
    let emails = values(contact, code_is("EMAIL"));
    Contact::from_raw(
        as_string(&contact["name"]).as_deref(),
        phones.iter().map(String::as_str),
        emails.iter().map(String::as_str),
    )
}
