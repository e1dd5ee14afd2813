//! Bitrix24 Open Lines (providers.md section 4): outbound events to decisions, and what the
//! enrichment worker reads (a lead or deal, the open-line chat behind it, the chat's history)
//! to the facts of an appeal.
//!
//! An event names only the new lead's (or deal's) id, and many leads are no chat (a form, a
//! call, a manager's typing). So the event queues a read ([`Decision::Fetch`]); the worker
//! makes the appeal when an open line made the entity, and records it as skipped otherwise.

use super::lenient::as_string;
use super::{Decision, Unreadable, form};
use crate::domain::appeal::{
    Agent, AppealFacts, Author, Channel, Kind, Message, SessionInfo, Status,
};
use crate::domain::contact::{Contact, normalize_name};
use crate::domain::integration::{Bitrix24Settings, CrmEntity, Integration};
use crate::domain::job::Task;
use crate::domain::utm::Utm;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Checks, before anything is kept, that the event is the portal's own: its application token
/// (compared in constant time), and its member id once connecting told us the portal's (a
/// portal keeps it when its address changes), else its domain.
pub fn verify(root: &Value, integration: &Integration) -> Result<(), String> {
    let Some(settings) = &integration.bitrix24 else {
        return Err("the integration has no Bitrix24 settings".into());
    };
    let Some(expected) = &settings.application_token else {
        return Err(
            "set bitrix24.application_token (shown with the outbound webhook in Bitrix24) to receive its events"
                .into(),
        );
    };
    let auth = |k: &str| root.get("auth").and_then(|a| a.get(k)).and_then(as_string);
    let Some(token) = auth("application_token") else {
        return Err("the event carries no auth[application_token]".into());
    };
    if !expected.verify(&token) {
        return Err("auth[application_token] is not this integration's application token".into());
    }
    if let Some(expected) = &settings.member_id {
        return match auth("member_id") {
            Some(got) if got.eq_ignore_ascii_case(expected) => Ok(()),
            Some(got) => Err(format!(
                "the event comes from portal member {got}, not {expected}"
            )),
            None => Err("the event carries no auth[member_id]".into()),
        };
    }
    let known = [settings.host(), settings.domain.clone()];
    match auth("domain") {
        Some(domain)
            if known
                .iter()
                .flatten()
                .any(|d| d.eq_ignore_ascii_case(&domain)) =>
        {
            Ok(())
        }
        Some(domain) => Err(format!(
            "the event comes from portal `{domain}`, not `{}`",
            settings.host().unwrap_or_default()
        )),
        None => Err("the event carries no auth[domain]".into()),
    }
}

pub fn decide(body: &[u8], integration: &Integration) -> Result<Decision, Unreadable> {
    if !form::looks_like_form(body) {
        return Err(Unreadable(
            "a Bitrix24 event is a form (event=...&data[FIELDS][ID]=...), this body is not".into(),
        ));
    }
    let entity = integration
        .bitrix24
        .as_ref()
        .map(|s| s.entity)
        .unwrap_or_default();
    let root = form::decode(body)?;
    let event = text(&root, "event")
        .ok_or_else(|| Unreadable("the event has no `event` name".into()))?
        .to_ascii_uppercase();
    // An update names an entity a returning visitor may have written into again (a new
    // session): the worker reads it as it reads a new one, and makes only what is new.
    if event != entity.add_event() && event != update_event(entity) {
        let wanted = format!("{} and {}", entity.add_event(), update_event(entity));
        return Ok(Decision::Ignore(match event.as_str() {
            "ONCRMLEADADD" | "ONCRMDEALADD" | "ONCRMLEADUPDATE" | "ONCRMDEALUPDATE" => format!(
                "{event}: this integration makes appeals from the {}s its open lines create (bitrix24.entity); send {wanted}",
                entity.as_str()
            ),
            _ => format!("{event} carries nothing for an appeal; send {wanted}"),
        }));
    }
    let id = root
        .pointer("/data/FIELDS/ID")
        .and_then(as_string)
        .and_then(|id| id.parse::<u64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| Unreadable(format!("{event} without a numeric data[FIELDS][ID]")))?;
    Ok(Decision::Fetch {
        provider_ref: entity_ref(entity, id),
        task: Task::Bitrix24Entity { entity, id },
    })
}

/// The event Bitrix24 sends on every change of an entity (a new open-line session in it too).
pub fn update_event(entity: CrmEntity) -> &'static str {
    match entity {
        CrmEntity::Lead => "ONCRMLEADUPDATE",
        CrmEntity::Deal => "ONCRMDEALUPDATE",
    }
}

/// The entity, and the appeal of its first conversation: `lead:48211`.
pub fn entity_ref(entity: CrmEntity, id: u64) -> String {
    format!("{}:{id}", entity.as_str())
}

/// The appeal of a later conversation (an Open Lines session) in the entity:
/// `lead:48211:session:775`. The first keeps [`entity_ref`], as appeals made before
/// conversations were told apart did.
pub fn session_ref(entity: CrmEntity, id: u64, session_id: u64) -> String {
    format!("{}:session:{session_id}", entity_ref(entity, id))
}

/// The entity an [`entity_ref`] names.
pub fn parse_entity_ref(entity_ref: &str) -> Option<(CrmEntity, u64)> {
    let (kind, id) = entity_ref.split_once(':')?;
    let entity = match kind {
        "lead" => CrmEntity::Lead,
        "deal" => CrmEntity::Deal,
        _ => return None,
    };
    Some((entity, id.parse().ok()?))
}

/// `OWNER_TYPE_ID` of CRM activities, and `CRM_ENTITY_TYPE` of open-line chats.
pub fn owner_type_id(entity: CrmEntity) -> u8 {
    match entity {
        CrmEntity::Lead => 1,
        CrmEntity::Deal => 2,
    }
}

/// An open line's connector (`imconnector.list`) as our channel: the site widget is `site`,
/// messengers by name; a custom connector keeps its own id.
pub fn channel(connector: &str) -> Channel {
    let connector = connector.trim().to_ascii_lowercase();
    let known = [
        ("livechat", "site"),
        ("telegram", "telegram"),
        ("whatsapp", "whatsapp"),
        ("vkgroup", "vk"),
        ("viber", "viber"),
        ("avito", "avito"),
        ("instagram", "instagram"),
        ("facebook", "facebook"),
        ("imessage", "imessage"),
        // Bitrix24's own SMS and WhatsApp notifications.
        ("notifications", "whatsapp"),
    ];
    let named = if connector == "ok" {
        Some("ok")
    } else if connector.starts_with("fbinstagram") {
        Some("instagram")
    } else {
        known
            .iter()
            .find(|(needle, _)| connector.contains(needle))
            .map(|(_, channel)| *channel)
    };
    named
        .map(str::to_owned)
        .or_else(|| {
            let token: String = connector
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(32)
                .collect();
            (!token.is_empty()).then_some(token)
        })
        .and_then(|c| Channel::parse(&c).ok())
        .unwrap_or_else(Channel::site)
}

/// The connector of an open-line code: `imol|telegrambot|2|581234567|77` (an `IM` value, a
/// session's `USER_CODE`) or `livechat|58|1981|450` (a chat's entity id).
pub fn connector_of(code: &str) -> Option<String> {
    let mut parts = code.split('|');
    let first = parts.next()?.trim();
    let connector = if first.eq_ignore_ascii_case("imol") {
        parts.next()?.trim()
    } else {
        first
    };
    // A lone word is no code (an `IM` value may be a plain Skype name).
    (code.contains('|') && !connector.is_empty()).then(|| connector.to_ascii_lowercase())
}

/// What the worker read of one lead or deal.
#[derive(Debug, Clone, Copy)]
pub struct Read<'a> {
    pub entity: CrmEntity,
    pub id: u64,
    /// `crm.lead.get` / `crm.deal.get`.
    pub fields: &'a Value,
    /// `crm.contact.get` of its contact, when read.
    pub contact: Option<&'a Value>,
    /// `imopenlines.crm.chat.get`: `[{CHAT_ID, CONNECTOR_ID}]`.
    pub chats: &'a Value,
    /// `crm.activity.list` of its `IMOPENLINES_SESSION` activities.
    pub sessions: &'a Value,
}

/// The open-line chat that made an entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenLine {
    pub connector: String,
    pub chat_id: Option<u64>,
    /// Its sessions, oldest first: each is a conversation, read on its own.
    pub sessions: Vec<LineSession>,
}

/// One Open Lines session of the entity (`IMOPENLINES_SESSION` activity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineSession {
    pub id: u64,
    /// From its `USER_CODE`: a returning visitor may write from another messenger.
    pub connector: Option<String>,
    /// The chat of its connector, when the entity has several.
    pub chat_id: Option<u64>,
}

/// One conversation of an entity, and so one appeal: the first (with its session, if the
/// portal lists one) or a later session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub provider_ref: String,
    pub first: bool,
    pub session: Option<LineSession>,
}

impl OpenLine {
    /// The entity's conversations, oldest first: the first is the entity's own appeal.
    pub fn conversations(&self, entity: CrmEntity, id: u64) -> Vec<Conversation> {
        let mut out = vec![Conversation {
            provider_ref: entity_ref(entity, id),
            first: true,
            session: self.sessions.first().cloned(),
        }];
        out.extend(self.sessions.iter().skip(1).map(|s| Conversation {
            provider_ref: session_ref(entity, id, s.id),
            first: false,
            session: Some(s.clone()),
        }));
        out
    }
}

impl Read<'_> {
    /// The open line behind the entity, if one made it: a chat bound to it, a session
    /// activity, or an `OPENLINE` value among its (or its contact's) messenger fields.
    pub fn open_line(&self) -> Option<OpenLine> {
        let chats = rows(self.chats);
        let chat = chats.first().copied();
        let mut sessions: Vec<(u64, Option<String>)> = rows(self.sessions)
            .into_iter()
            .filter_map(|a| {
                let id = number(a, "ASSOCIATED_ENTITY_ID")?;
                let code = a.pointer("/PROVIDER_PARAMS/USER_CODE").and_then(as_string);
                Some((id, code))
            })
            .collect();
        sessions.sort_by_key(|(id, _)| *id);
        sessions.dedup_by_key(|(id, _)| *id);
        let im = [Some(self.fields), self.contact]
            .into_iter()
            .flatten()
            .flat_map(|f| rows(&f["IM"]))
            .filter(|v| text(v, "VALUE_TYPE").is_some_and(|t| t.eq_ignore_ascii_case("OPENLINE")))
            .find_map(|v| text(v, "VALUE"));
        let connector = chat
            .and_then(|c| text(c, "CONNECTOR_ID"))
            .or_else(|| {
                sessions
                    .iter()
                    .find_map(|(_, code)| connector_of(code.as_deref()?))
            })
            .or_else(|| connector_of(im.as_deref()?))?;
        let chat_id = chat.and_then(|c| number(c, "CHAT_ID"));
        let sessions = sessions
            .into_iter()
            .map(|(id, code)| {
                let connector = code.as_deref().and_then(connector_of);
                let own_chat = connector.as_deref().and_then(|wanted| {
                    chats
                        .iter()
                        .filter(|c| {
                            text(c, "CONNECTOR_ID").is_some_and(|c| c.eq_ignore_ascii_case(wanted))
                        })
                        .find_map(|c| number(c, "CHAT_ID"))
                });
                LineSession {
                    id,
                    connector,
                    chat_id: own_chat.or(chat_id),
                }
            })
            .collect();
        Some(OpenLine {
            connector: connector.to_ascii_lowercase(),
            chat_id,
            sessions,
        })
    }

    /// The facts of one conversation's appeal, with the transcript the worker read. The
    /// entity's tags and session field describe the visit that made it, so only its first
    /// conversation carries them; a later one is dated by its own first message.
    pub fn facts(
        &self,
        line: &OpenLine,
        conversation: &Conversation,
        transcript: Transcript,
        settings: &Bitrix24Settings,
    ) -> AppealFacts {
        // A deal's person is its contact; a lead's own fields win over its contact's.
        let mut contact = self.contact.map(person).unwrap_or_default();
        contact.merge(&person(self.fields));
        if contact.name.is_none() {
            contact.name = transcript.client_name.as_deref().and_then(normalize_name);
        }
        let first = conversation.first;
        let session_id = settings
            .session_field
            .as_deref()
            .filter(|_| first)
            .and_then(|field| first_text(&self.fields[field]));
        let mut utm = Utm::default();
        for key in ["source", "medium", "campaign", "content", "term"]
            .into_iter()
            .filter(|_| first)
        {
            if let Some(value) = text(self.fields, &format!("UTM_{}", key.to_uppercase())) {
                utm.set(key, &value);
            }
        }
        let connector = conversation
            .session
            .as_ref()
            .and_then(|s| s.connector.as_deref())
            .filter(|_| !first)
            .unwrap_or(&line.connector);
        let occurred_at = if first {
            time(self.fields, "DATE_CREATE")
        } else {
            transcript.messages.first().map(|m| m.at)
        };
        // The operator who answered; else the entity's responsible user.
        let agent = transcript.agent.clone().or_else(|| {
            number(self.fields, "ASSIGNED_BY_ID").map(|id| Agent {
                id: Some(id.to_string()),
                name: None,
                email: None,
            })
        });
        AppealFacts {
            kind: Kind::Chat,
            provider_ref: conversation.provider_ref.clone(),
            channel: channel(connector),
            occurred_at,
            contact,
            agent,
            messages: Some(transcript.messages),
            session: SessionInfo {
                id: session_id,
                utm,
                ..SessionInfo::default()
            },
            visitor_ref: None,
            status: Status::Complete,
        }
    }

    /// The contact a deal (or a lead without phones and e-mails of its own) points to.
    pub fn contact_to_read(&self) -> Option<u64> {
        let id = number(self.fields, "CONTACT_ID").filter(|id| *id > 0)?;
        let own = |k: &str| !rows(&self.fields[k]).is_empty();
        match self.entity {
            CrmEntity::Deal => Some(id),
            CrmEntity::Lead => (!own("PHONE") && !own("EMAIL")).then_some(id),
        }
    }
}

/// A chat's messages, who answered, and the client's name as the chat knows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    pub messages: Vec<Message>,
    pub agent: Option<Agent>,
    pub client_name: Option<String>,
}

impl Transcript {
    /// Adds another read (a session, a page) to this one.
    pub fn extend(&mut self, other: Transcript) {
        self.messages.extend(other.messages);
        self.messages.sort_by_key(|m| m.at);
        self.messages.dedup();
        self.agent = self.agent.take().or(other.agent);
        self.client_name = self.client_name.take().or(other.client_name);
    }
}

/// `imopenlines.session.history.get`: `message{id → {senderid, date, text}}` and `users{id →
/// {name, connector, bot}}`; sender `0` is the system.
pub fn history_transcript(history: &Value) -> Transcript {
    let users = &history["users"];
    read_messages(rows(&history["message"]), "senderid", |id| {
        users.get(id).or_else(|| {
            rows(users)
                .into_iter()
                .find(|u| text(u, "id").as_deref() == Some(id))
        })
    })
}

/// `im.dialog.messages.get`: `messages[{author_id, date, text}]` (newest first) and `users[]`.
pub fn dialog_transcript(dialog: &Value) -> Transcript {
    let users = rows(&dialog["users"]);
    read_messages(rows(&dialog["messages"]), "author_id", |id| {
        users
            .iter()
            .copied()
            .find(|u| text(u, "id").as_deref() == Some(id))
    })
}

fn read_messages<'a>(
    messages: Vec<&Value>,
    sender_key: &str,
    user: impl Fn(&str) -> Option<&'a Value>,
) -> Transcript {
    let mut out = Transcript::default();
    for m in messages {
        let Some(at) = time(m, "date") else { continue };
        let body = text(m, "text").map(|t| plain(&t)).unwrap_or_default();
        if body.trim().is_empty() {
            continue;
        }
        let sender = text(m, sender_key).unwrap_or_else(|| "0".into());
        let who = (sender != "0").then(|| user(&sender)).flatten();
        let flag = |k: &str| {
            who.is_some_and(|u| {
                matches!(&u[k], Value::Bool(true)) || text(u, k).as_deref() == Some("Y")
            })
        };
        // The client is a connector's user: flagged, or authenticated by `imconnector`.
        let external = who.is_some_and(|u| {
            ["externalAuthId", "external_auth_id"]
                .iter()
                .any(|k| text(u, k).as_deref() == Some("imconnector"))
        });
        let author = match who {
            None => Author::System,
            Some(_) if flag("connector") || external => Author::Visitor,
            Some(_) if flag("bot") => Author::Bot,
            Some(_) => Author::Employee,
        };
        let name = who
            .and_then(|u| text(u, "name"))
            .as_deref()
            .and_then(normalize_name);
        match author {
            Author::Employee if out.agent.is_none() => {
                out.agent = Some(Agent {
                    id: Some(sender.clone()),
                    name: name.clone(),
                    email: None,
                });
            }
            Author::Visitor if out.client_name.is_none() => out.client_name.clone_from(&name),
            _ => {}
        }
        out.messages.push(Message {
            at,
            author,
            author_name: name,
            text: body,
        });
    }
    out.messages.sort_by_key(|m| m.at);
    out
}

/// Message text without Bitrix24's BB-code (`[b]`, `[url=...]`, `[br]`...): what was said.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let tag = &rest[open..];
        let Some(close) = tag.find(']') else {
            out.push_str(tag);
            return out;
        };
        let name = tag[1..close]
            .trim_start_matches('/')
            .split(['=', ' '])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match name.as_str() {
            "br" => out.push('\n'),
            "b" | "i" | "u" | "s" | "url" | "user" | "color" | "size" | "quote" | "code"
            | "chat" | "icon" | "send" | "put" | "b24" => {}
            // Not ours to strip: a bracket the person typed.
            _ => out.push_str(&tag[..=close]),
        }
        rest = &tag[close + 1..];
    }
    out.push_str(rest);
    out.trim().to_owned()
}

/// Name, phones and e-mails of a lead or contact (its multifields).
fn person(fields: &Value) -> Contact {
    let name: Vec<String> = ["NAME", "SECOND_NAME", "LAST_NAME"]
        .iter()
        .filter_map(|k| text(fields, k))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let values = |k: &str| -> Vec<String> {
        rows(&fields[k])
            .into_iter()
            .filter_map(|v| text(v, "VALUE"))
            .collect()
    };
    let (phones, emails) = (values("PHONE"), values("EMAIL"));
    Contact::from_raw(
        (!name.is_empty()).then(|| name.join(" ")).as_deref(),
        phones.iter().map(String::as_str),
        emails.iter().map(String::as_str),
    )
}

/// An array's items, or an object's values (Bitrix24 answers either, by method and version).
fn rows(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => map.values().filter(|v| v.is_object()).collect(),
        _ => Vec::new(),
    }
}

fn first_text(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) => items.iter().find_map(as_string),
        other => as_string(other),
    }
    .map(|s| s.trim().to_owned())
    .filter(|s| !s.is_empty())
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(as_string)
        .filter(|s| !s.trim().is_empty())
}

fn number(v: &Value, key: &str) -> Option<u64> {
    text(v, key)?.trim().parse().ok()
}

/// Bitrix24 times are ISO 8601 with the portal's offset.
fn time(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text(v, key)?.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .and_then(crate::domain::limits::plausible)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::appeal::Provider;
    use crate::domain::ids::{AccountId, IntegrationId};
    use crate::domain::secret::Secret;
    use serde_json::json;

    fn integration(entity: CrmEntity) -> Integration {
        Integration {
            bitrix24: Some(Bitrix24Settings {
                portal_url: "https://b24.example.ru".into(),
                client_id: None,
                client_secret: None,
                application_token: Some(Secret::new("app-token")),
                entity,
                session_field: Some("UF_CRM_CS_SESSION".into()),
                oauth_url: Bitrix24Settings::DEFAULT_OAUTH_URL.into(),
                member_id: Some("m1".into()),
                domain: Some("acme.bitrix24.ru".into()),
            }),
            ..Integration::new(
                IntegrationId::parse("int_b24").unwrap(),
                AccountId::parse("acc_1").unwrap(),
                Provider::Bitrix24,
                "B24",
                Utc::now(),
            )
        }
    }

    fn event(event: &str, id: &str, token: &str, domain: &str, member: &str) -> Vec<u8> {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("event", event)
            .append_pair("data[FIELDS][ID]", id)
            .append_pair("ts", "1717411200")
            .append_pair("auth[domain]", domain)
            .append_pair("auth[member_id]", member)
            .append_pair("auth[application_token]", token)
            .finish()
            .into_bytes()
    }

    fn verify(body: &[u8], integration: &Integration) -> Result<(), String> {
        super::verify(&form::decode(body).unwrap(), integration)
    }

    #[test]
    fn events_are_verified_by_token_domain_and_member() {
        let connected = integration(CrmEntity::Lead);
        let mut fresh = integration(CrmEntity::Lead);
        fresh.bitrix24.as_mut().unwrap().member_id = None;
        let ok = event("ONCRMLEADADD", "5", "app-token", "b24.example.ru", "m1");
        assert_eq!(verify(&ok, &connected), Ok(()));
        assert_eq!(verify(&ok, &fresh), Ok(()));
        let renamed = event("ONCRMLEADADD", "5", "app-token", "acme.bitrix24.ru", "m1");
        assert_eq!(
            verify(&renamed, &connected),
            Ok(()),
            "the member id decides"
        );
        for (body, i, why) in [
            (
                event("ONCRMLEADADD", "5", "app-token2", "b24.example.ru", "m1"),
                &connected,
                "application token",
            ),
            (
                event("ONCRMLEADADD", "5", "app-token", "b24.example.ru", "m2"),
                &connected,
                "member",
            ),
            (
                event("ONCRMLEADADD", "5", "app-token", "evil.bitrix24.ru", "m1"),
                &fresh,
                "portal",
            ),
            (b"event=ONCRMLEADADD".to_vec(), &connected, "no auth"),
        ] {
            let e = verify(&body, i).unwrap_err();
            assert!(e.contains(why), "{e}");
            assert!(!e.contains("app-token"), "the token is never echoed: {e}");
        }
    }

    #[test]
    fn the_configured_entity_event_is_fetched_and_others_ignored() {
        let body = event("ONCRMLEADADD", "48211", "t", "d", "m");
        assert_eq!(
            decide(&body, &integration(CrmEntity::Lead)).unwrap(),
            Decision::Fetch {
                provider_ref: "lead:48211".into(),
                task: Task::Bitrix24Entity {
                    entity: CrmEntity::Lead,
                    id: 48211
                },
            }
        );
        let Decision::Ignore(why) = decide(&body, &integration(CrmEntity::Deal)).unwrap() else {
            panic!("a lead event for a deal integration is ignored");
        };
        assert!(why.contains("ONCRMDEALADD"), "{why}");
        assert!(
            decide(
                &event("ONCRMLEADADD", "x", "t", "d", "m"),
                &integration(CrmEntity::Lead)
            )
            .is_err()
        );
        assert!(decide(b"{\"event\": 1}", &integration(CrmEntity::Lead)).is_err());
    }

    #[test]
    fn connectors_become_channels() {
        for (connector, expected) in [
            ("livechat", "site"),
            ("telegrambot", "telegram"),
            ("whatsappbyedna", "whatsapp"),
            ("whatsappbytwilio", "whatsapp"),
            ("vkgroup", "vk"),
            ("viber", "viber"),
            ("avito", "avito"),
            ("fbinstagramdirect", "instagram"),
            ("facebook", "facebook"),
            ("ok", "ok"),
            ("my.custom-connector", "mycustomconnector"),
        ] {
            assert_eq!(channel(connector).as_str(), expected, "{connector}");
        }
        assert_eq!(
            connector_of("imol|telegrambot|2|581234567|77").as_deref(),
            Some("telegrambot")
        );
        assert_eq!(
            connector_of("livechat|58|1981|450").as_deref(),
            Some("livechat")
        );
        assert_eq!(connector_of("skype.name"), None);
    }

    #[test]
    fn a_lead_and_its_chat_become_facts() {
        let fields = json!({
            "ID": "48211", "NAME": "Павел", "LAST_NAME": "", "DATE_CREATE": "2024-06-03T12:40:00+03:00",
            "ASSIGNED_BY_ID": "7", "UTM_SOURCE": "yandex", "UTM_MEDIUM": "cpc", "UTM_CAMPAIGN": null,
            "UF_CRM_CS_SESSION": "s_abc",
            "PHONE": [{"ID": "901", "VALUE_TYPE": "MOBILE", "VALUE": "+7 903 123-45-67", "TYPE_ID": "PHONE"}],
            "IM": [{"ID": "902", "VALUE_TYPE": "OPENLINE", "VALUE": "imol|telegrambot|2|581234567|77", "TYPE_ID": "IM"}]
        });
        let none = json!([]);
        let read = Read {
            entity: CrmEntity::Lead,
            id: 48211,
            fields: &fields,
            contact: None,
            chats: &none,
            sessions: &none,
        };
        let line = read.open_line().expect("the IM value names the open line");
        assert_eq!(line.connector, "telegrambot");
        let history = json!({
            "message": {
                "3": {"id": 3, "senderid": "9", "date": "2024-06-03T12:41:00+03:00", "text": "[b]Здравствуйте[/b], Павел![br]Чем помочь?"},
                "1": {"id": 1, "senderid": "0", "date": "2024-06-03T12:40:00+03:00", "text": "Новый диалог"},
                "2": {"id": 2, "senderid": "21", "date": "2024-06-03T12:40:30+03:00", "text": "Сколько стоит доставка? [1]"}
            },
            "users": {
                "21": {"id": 21, "name": "Павел", "connector": true},
                "9": {"id": 9, "name": "Ольга Смирнова", "connector": false, "bot": false}
            }
        });
        let transcript = history_transcript(&history);
        let authors: Vec<Author> = transcript.messages.iter().map(|m| m.author).collect();
        assert_eq!(authors, [Author::System, Author::Visitor, Author::Employee]);
        assert_eq!(transcript.messages[1].text, "Сколько стоит доставка? [1]");
        assert_eq!(
            transcript.messages[2].text,
            "Здравствуйте, Павел!\nЧем помочь?"
        );
        let settings = integration(CrmEntity::Lead).bitrix24.unwrap();
        let conversations = line.conversations(CrmEntity::Lead, 48211);
        assert_eq!(
            conversations.len(),
            1,
            "no session listed: one conversation"
        );
        let facts = read.facts(&line, &conversations[0], transcript, &settings);
        assert_eq!(facts.provider_ref, "lead:48211");
        assert_eq!(facts.channel.as_str(), "telegram");
        assert_eq!(facts.contact.name.as_deref(), Some("Павел"));
        assert_eq!(facts.contact.phones, ["+79031234567"]);
        assert_eq!(facts.session.id.as_deref(), Some("s_abc"));
        assert_eq!(facts.session.utm.source.as_deref(), Some("yandex"));
        assert_eq!(
            facts.agent.unwrap().id.as_deref(),
            Some("9"),
            "the operator who answered"
        );
        assert_eq!(
            facts.occurred_at.unwrap().to_rfc3339(),
            "2024-06-03T09:40:00+00:00"
        );
    }

    #[test]
    fn a_lead_from_no_open_line_has_none() {
        let fields =
            json!({"ID": "5", "NAME": "Form", "IM": [{"VALUE_TYPE": "SKYPE", "VALUE": "x"}]});
        let none = json!([]);
        let read = Read {
            entity: CrmEntity::Lead,
            id: 5,
            fields: &fields,
            contact: None,
            chats: &none,
            sessions: &none,
        };
        assert_eq!(read.open_line(), None);
    }

    #[test]
    fn dialog_messages_read_newest_first() {
        let dialog = json!({
            "messages": [
                {"id": 2, "author_id": 9, "date": "2024-06-03T12:41:00+03:00", "text": "Ответ"},
                {"id": 1, "author_id": 21, "date": "2024-06-03T12:40:00+03:00", "text": "Вопрос"}
            ],
            "users": [{"id": 21, "name": "Павел", "connector": true}, {"id": 9, "name": "Ольга"}]
        });
        let t = dialog_transcript(&dialog);
        assert_eq!(t.messages[0].text, "Вопрос");
        assert_eq!(t.messages[0].author, Author::Visitor);
        assert_eq!(t.agent.unwrap().name.as_deref(), Some("Ольга"));
        assert_eq!(t.client_name.as_deref(), Some("Павел"));
    }

    #[test]
    fn an_update_event_is_read_like_a_new_entity() {
        let body = event("ONCRMLEADUPDATE", "48211", "t", "d", "m");
        assert_eq!(
            decide(&body, &integration(CrmEntity::Lead)).unwrap(),
            Decision::Fetch {
                provider_ref: "lead:48211".into(),
                task: Task::Bitrix24Entity {
                    entity: CrmEntity::Lead,
                    id: 48211
                },
            }
        );
        let deal = event("ONCRMDEALUPDATE", "7301", "t", "d", "m");
        assert!(matches!(
            decide(&deal, &integration(CrmEntity::Lead)).unwrap(),
            Decision::Ignore(_)
        ));
        assert!(matches!(
            decide(&deal, &integration(CrmEntity::Deal)).unwrap(),
            Decision::Fetch { .. }
        ));
    }

    #[test]
    fn each_session_is_a_conversation_and_the_first_keeps_the_entity_ref() {
        let fields = json!({"ID": "48211", "UTM_SOURCE": "yandex", "UF_CRM_CS_SESSION": "s_abc",
                            "DATE_CREATE": "2024-06-03T12:40:00+03:00"});
        let chats = json!([{"CHAT_ID": "1981", "CONNECTOR_ID": "livechat"},
                           {"CHAT_ID": "1990", "CONNECTOR_ID": "telegrambot"}]);
        let sessions = json!([
            {"ASSOCIATED_ENTITY_ID": "780", "PROVIDER_PARAMS": {"USER_CODE": "imol|telegrambot|2|5|77"}},
            {"ASSOCIATED_ENTITY_ID": "771", "PROVIDER_PARAMS": {"USER_CODE": "imol|livechat|1|5|77"}}
        ]);
        let read = Read {
            entity: CrmEntity::Lead,
            id: 48211,
            fields: &fields,
            contact: None,
            chats: &chats,
            sessions: &sessions,
        };
        let line = read.open_line().unwrap();
        let conversations = line.conversations(CrmEntity::Lead, 48211);
        let refs: Vec<&str> = conversations
            .iter()
            .map(|c| c.provider_ref.as_str())
            .collect();
        assert_eq!(refs, ["lead:48211", "lead:48211:session:780"]);
        assert_eq!(
            conversations[0].session.as_ref().unwrap().chat_id,
            Some(1981)
        );
        assert_eq!(
            conversations[1].session.as_ref().unwrap().chat_id,
            Some(1990)
        );
        assert_eq!(parse_entity_ref("lead:48211:session:780"), None);
        let settings = integration(CrmEntity::Lead).bitrix24.unwrap();
        let later = Transcript {
            messages: vec![Message {
                at: "2024-07-01T10:00:00Z".parse().unwrap(),
                author: Author::Visitor,
                author_name: None,
                text: "Снова я".into(),
            }],
            ..Transcript::default()
        };
        let facts = read.facts(&line, &conversations[1], later, &settings);
        assert_eq!(facts.provider_ref, "lead:48211:session:780");
        assert_eq!(
            facts.channel.as_str(),
            "telegram",
            "the session's own messenger"
        );
        assert_eq!(
            facts.session.id, None,
            "the lead's session field is the first visit's"
        );
        assert_eq!(facts.session.utm, Utm::default());
        assert_eq!(
            facts.occurred_at.unwrap().to_rfc3339(),
            "2024-07-01T10:00:00+00:00"
        );
        let first = read.facts(&line, &conversations[0], Transcript::default(), &settings);
        assert_eq!(first.channel.as_str(), "site");
        assert_eq!(first.session.id.as_deref(), Some("s_abc"));
    }
}
