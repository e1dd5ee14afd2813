//! Provider normalizers: a webhook body in, a [`Decision`] about appeals out.

pub mod amocrm;
pub mod bitrix24;
pub mod form;
pub mod jivo;
pub mod lenient;
pub mod verbox;

use crate::domain::appeal::{Agent, AppealFacts, Message};
use crate::domain::contact::Contact;
use crate::domain::job::Task;

/// What a provider event means for our appeals.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Facts about one appeal: creates it or merges into it.
    Appeal(Box<AppealFacts>),
    /// Facts about one appeal that a provider API call must complete: the appeal is kept as
    /// `pending_enrichment` and the task queued for the enrichment worker.
    Enrich(Box<AppealFacts>, Task),
    /// New contact data for the appeals of one visitor (found by the provider's visitor id).
    VisitorContact {
        visitor_ref: String,
        contact: Contact,
        agent: Option<Agent>,
    },
    /// One message of a conversation that arrives alone (amoCRM `message[add]`): kept with
    /// the conversation, and added to its appeal's transcript once the appeal exists.
    Collect {
        provider_ref: String,
        message_id: String,
        message: Message,
    },
    /// An entity the provider only names (a Bitrix24 lead): whether it is an appeal at all is
    /// for the enrichment worker to find out. `provider_ref` names the appeal it would make.
    Fetch { provider_ref: String, task: Task },
    /// Several items in one hook, each decided on its own.
    Many(Vec<Decision>),
    /// An event we acknowledge and do not use, and why.
    Ignore(String),
}

impl Decision {
    /// The decision with every provider reference usable as an identity (`limits::reference`):
    /// a payload cannot make a key or an item too large through an id.
    pub fn bounded(self) -> Decision {
        use crate::domain::limits::{ID_CHARS, reference, whole};
        let facts = |mut f: Box<AppealFacts>| {
            f.provider_ref = reference(&f.provider_ref);
            f.visitor_ref = f.visitor_ref.filter(|v| whole(v, ID_CHARS).is_some());
            f
        };
        match self {
            Decision::Appeal(f) => Decision::Appeal(facts(f)),
            Decision::Enrich(f, task) => Decision::Enrich(facts(f), task),
            Decision::VisitorContact {
                visitor_ref,
                contact,
                agent,
            } => Decision::VisitorContact {
                visitor_ref: reference(&visitor_ref),
                contact,
                agent,
            },
            Decision::Collect {
                provider_ref,
                message_id,
                message,
            } => Decision::Collect {
                provider_ref: reference(&provider_ref),
                message_id: reference(&message_id),
                message,
            },
            Decision::Fetch { provider_ref, task } => Decision::Fetch {
                provider_ref: reference(&provider_ref),
                task,
            },
            Decision::Many(items) => {
                Decision::Many(items.into_iter().map(Decision::bounded).collect())
            }
            Decision::Ignore(reason) => Decision::Ignore(crate::domain::limits::cut(
                &reason,
                crate::domain::limits::REASON_CHARS,
            )),
        }
    }
}

/// A body we cannot understand, with the reason; it is quarantined for replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// Refuses a body sent as something no provider sends (an image, XML...): it is kept, and not
/// read. JSON and forms are what they send (`text/plain` too, from some proxies); a body with
/// no type at all is read for what it looks like.
pub fn check_content_type(
    provider: crate::domain::appeal::Provider,
    content_type: Option<&str>,
) -> Result<(), Unreadable> {
    let Some(content_type) = content_type else {
        return Ok(());
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let read = matches!(
        essence.as_str(),
        "" | "application/json" | "application/x-www-form-urlencoded" | "text/plain"
    ) || essence.ends_with("+json");
    if read {
        Ok(())
    } else {
        Err(Unreadable(format!(
            "the body is sent as `{}`; {} sends JSON or a form",
            crate::domain::limits::cut(&essence, 100),
            provider.title()
        )))
    }
}

/// The body as a JSON object, or why it is not one.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, Unreadable> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(Unreadable("the body is JSON but not an object".into())),
        Err(e) => Err(Unreadable(format!("the body is not JSON: {e}"))),
    }
}

/// Why a delivery was refused before anything of it was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It is not the integration's own: another CRM account, a wrong application token.
    NotOurs(String),
    /// It cannot even be read far enough to tell whose it is.
    Unreadable(String),
}

/// Checks, before anything is kept, that a delivery is the integration's own: a hook of
/// another CRM account (or with the wrong application token) is refused with nothing stored.
pub fn verify(
    body: &[u8],
    integration: &crate::domain::integration::Integration,
) -> Result<(), Refusal> {
    let form = || form::decode(body).map_err(|e| Refusal::Unreadable(e.0));
    match integration.provider {
        crate::domain::appeal::Provider::Amocrm => {
            amocrm::verify(&form()?, integration).map_err(Refusal::NotOurs)
        }
        crate::domain::appeal::Provider::Bitrix24 => {
            bitrix24::verify(&form()?, integration).map_err(Refusal::NotOurs)
        }
        _ => Ok(()),
    }
}
