//! amoCRM: a closed talk completed from the API (providers.md 3.6): the talk, its lead (UTM
//! fields, the session field chosen in the settings, the responsible user) and its contact
//! (name, phones, e-mails), with the messages collected from `message[add]` hooks.
//!
//! Every request, refreshes included, takes a turn of the account's rate limit (7/s, shared
//! by all workers). A 401 gets one refresh and one retry; a refused refresh or a second 401
//! sets the job aside until the user connects again.

use crate::Failure;
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use serde_json::Value;
use shared::app::App;
use shared::app::ingest;
use shared::clients::CallError;
use shared::clients::amocrm::{Amocrm, REQUESTS_PER_SECOND};
use shared::crm::connections::with_token;
use shared::domain::appeal::{Agent, Appeal, SessionInfo};
use shared::domain::contact::{Contact, normalize_email, normalize_name};
use shared::domain::integration::Integration;
use shared::domain::oauth::{Grant, RefreshError, Refresher};
use shared::domain::providers::amocrm::{channel, talk_ref};
use shared::domain::providers::lenient::as_string;
use shared::domain::secret::Secret;
use shared::domain::utm::{CLICK_ID_KEYS, ClickIds, Utm};

pub struct Talk {
    pub talk_id: u64,
    pub lead_id: Option<u64>,
    pub contact_id: Option<u64>,
}

pub async fn talk(
    http: &reqwest::Client,
    app: &App,
    integration: &Integration,
    appeal: &Appeal,
    job: Talk,
) -> Result<(), Failure> {
    let settings = integration
        .amocrm
        .as_ref()
        .ok_or_else(|| Failure::GiveUp("not an amoCRM integration".into()))?;
    let api = Api {
        app,
        integration,
        client: Amocrm { http, settings },
        turn_key: settings.rate_key(),
    };
    let talk = api.get(&format!("talks/{}", job.talk_id)).await?;
    let lead_id = job
        .lead_id
        .or_else(|| id_at(&talk, "/_embedded/leads/0/id"));
    let lead = match lead_id {
        Some(id) => Some(api.get(&format!("leads/{id}?with=contacts")).await?),
        None => None,
    };
    let contact_id = job
        .contact_id
        .or_else(|| id_at(&talk, "/contact_id"))
        .or_else(|| {
            lead.as_ref()
                .and_then(|l| id_at(l, "/_embedded/contacts/0/id"))
        });
    let contact = match contact_id {
        Some(id) => Some(api.get(&format!("contacts/{id}")).await?),
        None => None,
    };
    let responsible = lead
        .as_ref()
        .and_then(|l| id_at(l, "/responsible_user_id"))
        .filter(|id| *id > 0);
    let user = match responsible {
        Some(id) => match api.get(&format!("users/{id}")).await {
            Ok(user) => Some(user),
            // A deleted user: the appeal keeps the id, and the default employee answers.
            Err(Failure::GiveUp(_)) => None,
            Err(e) => return Err(e),
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
    let messages = app
        .store
        .collected_messages(&integration.id, &talk_ref(job.talk_id))
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?;
    let created = id_at(&talk, "/created_at").and_then(|t| Utc.timestamp_opt(t as i64, 0).single());
    let origin = as_string(&talk["origin"]);
    let now = Utc::now();
    ingest::update_appeal(app, integration, &appeal.id, now, |a| {
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
        a.complete_with(messages.clone(), now);
    })
    .await
    .map(|_| ())
    .map_err(|e| Failure::Retry(e.to_string()))
}

/// API calls under the account's rate limit and the connection's tokens.
struct Api<'a> {
    app: &'a App,
    integration: &'a Integration,
    client: Amocrm<'a>,
    turn_key: String,
}

impl Api<'_> {
    async fn get(&self, path: &str) -> Result<Value, Failure> {
        let refresher = Paced { api: self };
        with_token(self.app, self.integration, &refresher, |token| async move {
            self.turn().await?;
            self.client.get(&token, path).await
        })
        .await
        .map_err(|e| crate::connected_failure("amoCRM", e))
    }

    async fn turn(&self) -> Result<(), CallError> {
        self.app
            .store
            .take_turn(&self.turn_key, REQUESTS_PER_SECOND)
            .await
            .map_err(|e| CallError::Unavailable(e.to_string()))
    }
}

/// The token endpoint, taking a turn of the rate limit like every other request.
struct Paced<'a> {
    api: &'a Api<'a>,
}

#[async_trait]
impl Refresher for Paced<'_> {
    async fn refresh(&self, refresh_token: &Secret) -> Result<Grant, RefreshError> {
        self.api
            .turn()
            .await
            .map_err(|e| RefreshError::Unavailable(e.to_string()))?;
        self.api.client.refresh(refresh_token).await
    }
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
