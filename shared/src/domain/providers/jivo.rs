//! Jivo chat webhooks (providers.md section 1) to appeal facts.
//!
//! One URL per integration receives every event of the channels pointed at it; `event_name`
//! tells them apart. `chat_accepted` and `chat_updated` describe a running chat, `chat_finished`
//! brings the transcript and completes it, `offline_message` is an offline-form request,
//! `call_event` of type `callback` is a callback request, `client_updated` edits a visitor's
//! contacts outside any chat. Everything else is acknowledged and ignored.
//!
//! Jivo's own samples disagree on types (`visitor.number` is `"2198"` or `1217`, agent ids are
//! strings or numbers, `analytics` is `{}` or `null`), so every field is read leniently.

use super::lenient;
use super::{Decision, Unreadable};
use crate::domain::appeal::{Agent, AppealFacts, Author, Kind, Message, SessionInfo, Status};
use crate::domain::contact::{Contact, normalize_email, normalize_name};
use crate::domain::integration::Integration;
use crate::domain::utm::{self, Utm};
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
struct Event {
    #[serde(default, deserialize_with = "lenient::string")]
    event_name: Option<String>,
    /// Present in Jivo's CRM webhooks, which are not chat events.
    #[serde(default, deserialize_with = "lenient::string")]
    event_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    widget_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    user_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    chat_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    client_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    offline_message_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    message: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    visitor: Option<Visitor>,
    #[serde(default, deserialize_with = "lenient::object")]
    agent: Option<JivoAgent>,
    #[serde(default, deserialize_with = "lenient::object")]
    assigned_agent: Option<JivoAgent>,
    #[serde(default, deserialize_with = "lenient::list")]
    agents: Vec<JivoAgent>,
    #[serde(default, deserialize_with = "lenient::object")]
    session: Option<JivoSession>,
    #[serde(default, deserialize_with = "lenient::object")]
    page: Option<Page>,
    #[serde(default, deserialize_with = "lenient::object")]
    chat: Option<Chat>,
    #[serde(default, deserialize_with = "lenient::object")]
    call: Option<Call>,
}

#[derive(Debug, Default, Deserialize)]
struct Visitor {
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    email: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    phone: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    number: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
struct JivoAgent {
    #[serde(default, deserialize_with = "lenient::string")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    email: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct JivoSession {
    #[serde(default, deserialize_with = "lenient::string")]
    utm: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    utm_json: Option<UtmJson>,
}

#[derive(Debug, Default, Deserialize)]
struct UtmJson {
    #[serde(default, deserialize_with = "lenient::string")]
    source: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    medium: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    campaign: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    content: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    term: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Page {
    #[serde(default, deserialize_with = "lenient::string")]
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Chat {
    #[serde(default, deserialize_with = "lenient::list")]
    messages: Vec<ChatMessage>,
}

#[derive(Debug, Default, Deserialize)]
struct ChatMessage {
    #[serde(default, deserialize_with = "lenient::string")]
    message: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    timestamp: Option<i64>,
    #[serde(default, rename = "type", deserialize_with = "lenient::string")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    agent_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Call {
    #[serde(default, rename = "type", deserialize_with = "lenient::string")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    phone: Option<String>,
}

/// Decides what a Jivo webhook body means; `received_at` stands in for times Jivo omits.
pub fn decide(
    body: &[u8],
    integration: &Integration,
    received_at: DateTime<Utc>,
) -> Result<Decision, Unreadable> {
    decide_event(read(body)?, integration, received_at)
}

fn decide_event(
    event: Event,
    integration: &Integration,
    received_at: DateTime<Utc>,
) -> Result<Decision, Unreadable> {
    if event.event_type.is_some() {
        return Ok(Decision::Ignore(
            "a Jivo CRM webhook, not a chat event: set this URL in the channel's settings, not under CRM Webhooks".into(),
        ));
    }
    let Some(name) = event.event_name.clone() else {
        return Err(Unreadable("no event_name: not a Jivo chat event".into()));
    };
    let widget = event.widget_id.clone().unwrap_or_default();
    let chat_id = || {
        event
            .chat_id
            .as_deref()
            .ok_or_else(|| Unreadable(format!("{name} without chat_id")))
    };
    let decision = match name.as_str() {
        "chat_accepted" | "chat_updated" => {
            let provider_ref = format!("{widget}:{}", chat_id()?);
            Decision::Appeal(Box::new(event.facts(
                Kind::Chat,
                provider_ref,
                Status::InProgress,
                integration,
            )))
        }
        "chat_finished" => {
            let provider_ref = format!("{widget}:{}", chat_id()?);
            let messages = event.transcript(received_at);
            let mut facts = event.facts(Kind::Chat, provider_ref, Status::Complete, integration);
            facts.occurred_at = messages.iter().map(|m| m.at).min();
            facts.agent = event.answering_agent().map(agent);
            facts.messages = Some(messages);
            Decision::Appeal(Box::new(facts))
        }
        "offline_message" => {
            let id = event
                .offline_message_id
                .as_deref()
                .or(event.chat_id.as_deref())
                .ok_or_else(|| {
                    Unreadable("offline_message without offline_message_id or chat_id".into())
                })?;
            let mut facts = event.facts(
                Kind::OfflineRequest,
                format!("{widget}:offline:{id}"),
                Status::Complete,
                integration,
            );
            facts.occurred_at = Some(received_at);
            facts.messages = Some(
                event
                    .message
                    .iter()
                    .map(|text| Message {
                        at: received_at,
                        author: Author::Visitor,
                        author_name: facts.contact.name.clone(),
                        text: text.clone(),
                    })
                    .collect(),
            );
            Decision::Appeal(Box::new(facts))
        }
        "call_event" => match event.call.as_ref().and_then(|c| c.kind.as_deref()) {
            Some("callback") => {
                let provider_ref = format!("{widget}:call:{}", chat_id()?);
                let mut facts = event.facts(
                    Kind::CallbackRequest,
                    provider_ref,
                    Status::Complete,
                    integration,
                );
                let call_phone = event.call.as_ref().and_then(|c| c.phone.as_deref());
                facts
                    .contact
                    .merge(&Contact::from_raw(None, call_phone, []));
                facts.occurred_at = Some(received_at);
                Decision::Appeal(Box::new(facts))
            }
            other => Decision::Ignore(format!(
                "call_event of type {}: a call, not a callback request",
                other.unwrap_or("unknown")
            )),
        },
        "client_updated" => {
            let visitor_ref = event
                .visitor
                .as_ref()
                .and_then(|v| v.number.clone())
                .or_else(|| event.client_id.clone());
            match visitor_ref {
                Some(visitor_ref) => Decision::VisitorContact {
                    visitor_ref,
                    contact: event.contact(),
                    agent: event.assigned_agent.clone().map(agent),
                },
                None => Decision::Ignore("client_updated without a visitor number".into()),
            }
        }
        other => Decision::Ignore(format!("{other} carries nothing for an appeal")),
    };
    Ok(decision)
}

/// The event, read straight from the bytes (issue 14: a `Value` first cost more than the rest
/// of the webhook); a body that way cannot vouch for (`lenient::from_body`) is read through a
/// `Value` as before, which gives the same event or says why there is none.
fn read(body: &[u8]) -> Result<Event, Unreadable> {
    match lenient::from_body(body) {
        Some(event) => Ok(event),
        None => read_value(body),
    }
}

/// The event read through a `Value`: the one way before issue 14, and the reference the
/// direct read is tested against.
fn read_value(body: &[u8]) -> Result<Event, Unreadable> {
    let object = super::json_object(body)?;
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| Unreadable(format!("not a Jivo event: {e}")))
}

impl Event {
    fn facts(
        &self,
        kind: Kind,
        provider_ref: String,
        status: Status,
        integration: &Integration,
    ) -> AppealFacts {
        AppealFacts {
            kind,
            provider_ref,
            channel: integration.jivo_channel(self.widget_id.as_deref()),
            occurred_at: None,
            contact: self.contact(),
            agent: self.agent.clone().map(agent),
            messages: None,
            session: self.session_info(),
            visitor_ref: self.visitor.as_ref().and_then(|v| v.number.clone()),
            status,
        }
    }

    fn contact(&self) -> Contact {
        let v = self.visitor.as_ref();
        Contact::from_raw(
            v.and_then(|v| v.name.as_deref()),
            v.and_then(|v| v.phone.as_deref()),
            v.and_then(|v| v.email.as_deref()),
        )
    }

    fn session_info(&self) -> SessionInfo {
        let page_url = self.page.as_ref().and_then(|p| p.url.clone());
        // The session's tags as one set, the first a field carries: `utm_json`, else the `utm`
        // pipe list, else the page URL's. Each decoded and trimmed by `Utm::set`, since Jivo
        // passes on what the landing URL had (`%20YANDEX%20`, `spring+sale`).
        let from_json = |j: &UtmJson| {
            let mut tags = Utm::default();
            for (key, value) in [
                ("source", &j.source),
                ("medium", &j.medium),
                ("campaign", &j.campaign),
                ("content", &j.content),
                ("term", &j.term),
            ] {
                tags.set(key, value.as_deref().unwrap_or_default());
            }
            tags
        };
        let session = self.session.as_ref();
        let (page_tags, click_ids) = page_url.as_deref().map(utm::from_url).unwrap_or_default();
        let tags = session
            .and_then(|s| s.utm_json.as_ref())
            .map(from_json)
            .filter(|tags| !tags.is_empty())
            .or_else(|| {
                session
                    .and_then(|s| s.utm.as_deref())
                    .map(Utm::from_pipe_list)
                    .filter(|tags| !tags.is_empty())
            })
            .unwrap_or(page_tags);
        SessionInfo {
            id: self.user_token.clone(),
            page_url,
            utm: tags,
            click_ids,
            ..SessionInfo::default()
        }
    }

    /// The agent who answered first, else the first one listed.
    fn answering_agent(&self) -> Option<JivoAgent> {
        let first_reply = self.chat.as_ref().and_then(|c| {
            c.messages
                .iter()
                .filter(|m| m.kind.as_deref() == Some("agent"))
                .min_by_key(|m| m.timestamp)
                .and_then(|m| m.agent_id.as_deref())
        });
        first_reply
            .and_then(|id| self.agents.iter().find(|a| a.id.as_deref() == Some(id)))
            .or(self.agents.first())
            .cloned()
    }

    fn transcript(&self, received_at: DateTime<Utc>) -> Vec<Message> {
        let visitor_name = self
            .visitor
            .as_ref()
            .and_then(|v| v.name.as_deref())
            .and_then(normalize_name);
        let Some(chat) = &self.chat else {
            return Vec::new();
        };
        chat.messages
            .iter()
            .filter_map(|m| {
                let text = m.message.clone()?;
                let (author, author_name) = match m.kind.as_deref() {
                    Some("visitor" | "client") => (Author::Visitor, visitor_name.clone()),
                    Some("agent") => (
                        Author::Employee,
                        m.agent_id
                            .as_deref()
                            .and_then(|id| self.agents.iter().find(|a| a.id.as_deref() == Some(id)))
                            .and_then(|a| a.name.clone()),
                    ),
                    Some("bot") => (Author::Bot, None),
                    _ => (Author::System, None),
                };
                let at = m
                    .timestamp
                    .and_then(|t| Utc.timestamp_opt(t, 0).single())
                    .and_then(crate::domain::limits::plausible)
                    .unwrap_or(received_at);
                Some(Message {
                    at,
                    author,
                    author_name,
                    text,
                })
            })
            .collect()
    }
}

fn agent(a: JivoAgent) -> Agent {
    Agent {
        id: a.id,
        name: a.name.as_deref().and_then(normalize_name),
        email: a.email.as_deref().and_then(normalize_email),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::appeal::Channel;
    use crate::domain::ids::{AccountId, IntegrationId};
    use crate::domain::integration::JivoSettings;

    macro_rules! sample {
        ($name:literal) => {
            include_bytes!(concat!("../../../../events/jivo/bodies/", $name, ".json"))
        };
    }

    fn integration() -> Integration {
        let mut channels = std::collections::BTreeMap::new();
        channels.insert("7700001".to_string(), Channel::parse("telegram").unwrap());
        Integration {
            jivo: Some(JivoSettings { channels }),
            ..Integration::new(
                IntegrationId::parse("int_1").unwrap(),
                AccountId::parse("acc_1").unwrap(),
                crate::domain::appeal::Provider::Jivo,
                "Jivo",
                now(),
            )
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_717_500_000, 0).unwrap()
    }

    fn facts(body: &[u8]) -> AppealFacts {
        match decide(body, &integration(), now()).unwrap() {
            Decision::Appeal(f) => *f,
            other => panic!("expected appeal facts, got {other:?}"),
        }
    }

    #[test]
    fn chat_finished_brings_the_contact_the_transcript_in_order_and_the_tags() {
        let f = facts(sample!("chat_finished"));
        assert_eq!(f.kind, Kind::Chat);
        assert_eq!(f.provider_ref, "5501234:90817");
        assert_eq!(f.status, Status::Complete);
        assert_eq!(f.channel, Channel::site());
        assert_eq!(f.contact.name.as_deref(), Some("Мария Ковалёва"));
        assert_eq!(f.contact.phones, ["+79161234567"]);
        assert_eq!(f.contact.emails, ["m.kovaleva@example.org"]);
        let messages = f.messages.unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(
            f.occurred_at,
            Some(Utc.timestamp_opt(1717410000, 0).unwrap())
        );
        let agent_msg = messages
            .iter()
            .find(|m| m.author == Author::Employee)
            .unwrap();
        assert_eq!(agent_msg.author_name.as_deref(), Some("Олег"));
        assert_eq!(
            f.agent.unwrap().email.as_deref(),
            Some("oleg@shop.example.ru")
        );
        assert_eq!(f.session.id.as_deref(), Some("sess_7f3c2a9e41b0"));
        assert_eq!(f.session.utm.campaign.as_deref(), Some("spring_sale"));
        assert_eq!(f.session.utm.term.as_deref(), Some("купить диван"));
        assert_eq!(
            f.session.click_ids.get("yclid").map(String::as_str),
            Some("7315542")
        );
        assert_eq!(f.visitor_ref.as_deref(), Some("48213"));
    }

    #[test]
    fn accepted_and_updated_describe_a_running_chat_of_the_same_ref() {
        let accepted = facts(sample!("chat_accepted"));
        let updated = facts(sample!("chat_updated"));
        assert_eq!(accepted.status, Status::InProgress);
        assert_eq!(accepted.provider_ref, updated.provider_ref);
        assert!(accepted.contact.is_empty());
        assert_eq!(updated.contact.phones, ["+79161234567"]);
        assert_eq!(accepted.agent.unwrap().id.as_deref(), Some("731"));
    }

    #[test]
    fn a_messenger_widget_is_its_mapped_channel_and_numeric_strings_are_times() {
        let f = facts(sample!("telegram_chat_finished"));
        assert_eq!(f.channel.as_str(), "telegram");
        assert!(f.session.utm.is_empty());
        assert_eq!(
            f.occurred_at,
            Some(Utc.timestamp_opt(1717420000, 0).unwrap())
        );
        assert_eq!(f.agent.unwrap().name.as_deref(), Some("Олег"));
    }

    #[test]
    fn offline_messages_and_callbacks_are_requests_of_their_own() {
        let offline = facts(sample!("offline_message"));
        assert_eq!(offline.kind, Kind::OfflineRequest);
        assert_eq!(offline.provider_ref, "5501234:offline:1717412345678");
        assert_eq!(offline.contact.phones, ["+79035550101"]);
        assert_eq!(
            offline.messages.unwrap()[0].author_name.as_deref(),
            Some("Игорь")
        );
        let call = facts(sample!("call_event"));
        assert_eq!(call.kind, Kind::CallbackRequest);
        assert_eq!(call.provider_ref, "5501234:call:90901");
        assert_eq!(call.contact.phones, ["+79260001122"]);
        assert_eq!(call.session.utm.source.as_deref(), Some("google"));
    }

    #[test]
    fn client_updated_addresses_the_visitor_by_number() {
        match decide(sample!("client_updated"), &integration(), now()).unwrap() {
            Decision::VisitorContact {
                visitor_ref,
                contact,
                agent,
            } => {
                assert_eq!(visitor_ref, "48213");
                assert_eq!(contact.emails, ["maria.k@example.org"]);
                assert_eq!(agent.unwrap().id.as_deref(), Some("731"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn events_without_appeal_data_are_ignored_with_a_reason() {
        let d = decide(sample!("client_attribute_updated"), &integration(), now()).unwrap();
        assert!(matches!(d, Decision::Ignore(r) if r.contains("client_attribute_updated")));
        let incoming = br#"{"event_name":"call_event","chat_id":1,"call":{"type":"incoming"}}"#;
        assert!(matches!(
            decide(incoming, &integration(), now()).unwrap(),
            Decision::Ignore(_)
        ));
        let crm = br#"{"event_type":"deal","event_name":"created"}"#;
        let d = decide(crm, &integration(), now()).unwrap();
        assert!(matches!(d, Decision::Ignore(r) if r.contains("CRM webhook")));
    }

    #[test]
    fn bodies_we_cannot_read_say_why() {
        let reason = |b: &[u8]| decide(b, &integration(), now()).unwrap_err().0;
        assert!(reason(sample!("malformed")).contains("not JSON"));
        assert!(reason(b"[1,2]").contains("not an object"));
        assert!(reason(b"{}").contains("no event_name"));
        assert!(reason(br#"{"event_name":"chat_finished"}"#).contains("without chat_id"));
    }

    #[test]
    fn odd_shapes_cost_a_field_not_the_event() {
        let body = br#"{"event_name":"chat_updated","chat_id":"12","visitor":[],"agents":{},
            "session":"x","page":{"url":7},"agent":{"id":5,"name":" Ann  Lee "}}"#;
        let f = facts(body);
        assert!(f.contact.is_empty());
        assert_eq!(f.agent.unwrap().name.as_deref(), Some("Ann Lee"));
        assert_eq!(f.provider_ref, ":12");
    }

    /// Decides a body read straight from its bytes, when that read vouches for it, and read
    /// through a `Value`; panics when the two differ.
    fn both_ways(body: &[u8]) {
        let through_value = read_value(body);
        let Some(direct) = lenient::from_body::<Event>(body) else {
            return;
        };
        let through_value = through_value.unwrap_or_else(|e| {
            panic!(
                "{e}: read directly, refused through a Value: {}",
                String::from_utf8_lossy(body)
            )
        });
        assert_eq!(format!("{direct:?}"), format!("{through_value:?}"));
        let decide = |e| decide_event(e, &integration(), now());
        assert_eq!(
            decide(direct),
            decide(through_value),
            "{}",
            String::from_utf8_lossy(body)
        );
    }

    const SAMPLES: [&[u8]; 9] = [
        sample!("call_event"),
        sample!("chat_accepted"),
        sample!("chat_finished"),
        sample!("chat_updated"),
        sample!("client_attribute_updated"),
        sample!("client_updated"),
        sample!("malformed"),
        sample!("offline_message"),
        sample!("telegram_chat_finished"),
    ];

    /// What a provider may put where we expect something else.
    fn odd_values() -> Vec<serde_json::Value> {
        use serde_json::json;
        vec![
            json!(null),
            json!(""),
            json!("  "),
            json!(" 42 "),
            json!("1717410042"),
            json!(42),
            json!(-7),
            json!(1.5),
            json!(18446744073709551615u64),
            json!(true),
            json!([]),
            json!({}),
            json!([1, "a", null]),
            json!(["Ann", "a@b.c", "+7 916 123-45-67"]),
            json!([{"id": 5}, [731, "Олег"], "x"]),
            json!({"id": 5, "name": ["x"]}),
            json!("Ретаргетинг Σ 😀"),
        ]
    }

    /// Every path of a JSON document to a value.
    fn paths(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => map
                .iter()
                .for_each(|(k, v)| paths(v, format!("{at}/{k}"), out)),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| paths(v, format!("{at}/{i}"), out)),
            _ => {}
        }
        out.push(at);
    }

    #[test]
    fn reading_the_bytes_directly_decides_as_reading_a_value_first() {
        for body in SAMPLES {
            both_ways(body);
            let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
                continue;
            };
            assert!(
                lenient::from_body::<Event>(body).is_some(),
                "a sample takes the short way"
            );
            let mut all = Vec::new();
            paths(&doc, String::new(), &mut all);
            for path in all.iter().filter(|p| !p.is_empty()) {
                for odd in odd_values() {
                    let mut changed = doc.clone();
                    *changed.pointer_mut(path).unwrap() = odd;
                    both_ways(&serde_json::to_vec(&changed).unwrap());
                }
            }
        }
    }

    #[test]
    fn bodies_a_value_reads_otherwise_are_read_through_a_value() {
        let finished = std::str::from_utf8(sample!("chat_finished")).unwrap();
        let first = |field: &str| finished.replacen('{', &format!("{{{field},"), 1);
        let raw_visitor = |key: &str| {
            finished
                .replacen(r#""visitor": {"#, r#""old_visitor": {"#, 1)
                .replacen(
                    '{',
                    &format!(r#"{{"visitor": {{{key}: "{{\"name\": \"Ann\"}}"}},"#),
                    1,
                )
        };
        let cases = [
            // A key twice: a `Value` keeps the last, a struct refuses both.
            first(r#""chat_id": 1"#),
            first(r#""event_name": "chat_updated""#),
            finished.replacen(r#""name": "Мария"#, r#""name": "Анна", "name": "Мария"#, 1),
            finished.replacen(r#""utm_json": {"#, r#""utm_json": {"source": "vk","#, 1),
            // What skipping an unknown field lets by and a `Value` refuses.
            first(r#""x": "\ud800""#),
            first(r#""x": "\udc00\ud83d\ude00""#),
            first(r#""x": 1e400"#),
            first(&format!(r#""x": {}1{}"#, "[".repeat(130), "]".repeat(130))),
            first(&format!(r#""x": {}"#, "9".repeat(400))),
            // serde_json's raw-value key: a `Value` reads the object as the JSON it holds.
            raw_visitor(r#""$serde_json::private::RawValue""#),
            raw_visitor(r#""\u0024serde_json::private::Raw\u0056alue""#),
            // And what both accept.
            first(r#""x": "\ud83d\ude00", "y": 1e5, "z": [[[[1]]]]"#),
            first(r#""visitor": ["Ann", "a@b.c", "+79161234567", "77"]"#).replacen(
                r#""visitor": {"#,
                r#""old_visitor": {"#,
                1,
            ),
        ];
        for case in &cases {
            both_ways(case.as_bytes());
            assert_eq!(
                decide(case.as_bytes(), &integration(), now()),
                read_value(case.as_bytes()).and_then(|e| decide_event(e, &integration(), now())),
                "{case}"
            );
        }
        for refused in &cases[4..9] {
            assert!(
                decide(refused.as_bytes(), &integration(), now()).is_err(),
                "{refused}"
            );
        }
        let mut invalid = first(r#""x": "é""#).into_bytes();
        let at = invalid.iter().position(|&b| b == 0xc3).unwrap();
        invalid[at] = 0xff;
        assert!(lenient::from_body::<Event>(&invalid).is_none());
        let refusal = decide(&invalid, &integration(), now()).unwrap_err().0;
        assert!(refusal.contains("not JSON"), "{refusal}");
        // A key twice: the `Value`'s last one decides.
        let twice = decide(cases[1].as_bytes(), &integration(), now()).unwrap();
        assert!(matches!(twice, Decision::Appeal(f) if f.status == Status::Complete));
        for raw in &cases[9..11] {
            let read = decide(raw.as_bytes(), &integration(), now()).unwrap();
            let Decision::Appeal(f) = read else {
                panic!("{read:?}")
            };
            assert_eq!(f.contact.name.as_deref(), Some("Ann"), "{raw}");
        }
        let sequence = decide(cases[12].as_bytes(), &integration(), now()).unwrap();
        assert!(matches!(sequence, Decision::Appeal(f) if f.contact.emails == ["a@b.c"]));
    }

    proptest::proptest! {
        #[test]
        fn any_shape_of_event_reads_the_same_both_ways(doc in event_shape()) {
            both_ways(doc.to_string().as_bytes());
        }
    }

    /// Objects made of Jivo's keys and odd values, a few levels deep.
    fn event_shape() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        const KEYS: [&str; 24] = [
            "event_name",
            "event_type",
            "widget_id",
            "user_token",
            "chat_id",
            "client_id",
            "offline_message_id",
            "message",
            "visitor",
            "agent",
            "assigned_agent",
            "agents",
            "session",
            "page",
            "chat",
            "call",
            "name",
            "email",
            "phone",
            "number",
            "id",
            "utm_json",
            "messages",
            "timestamp",
        ];
        let object = |m: std::collections::BTreeMap<&str, serde_json::Value>| {
            serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        };
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            (-1e6f64..1e6).prop_map(serde_json::Value::from),
            "[ a-zA-Z0-9_|=:+%.@-]{0,12}".prop_map(serde_json::Value::from),
            prop::sample::select(
                &[
                    "chat_finished",
                    "chat_updated",
                    "offline_message",
                    "call_event",
                    "client_updated",
                    "callback",
                    "agent",
                    "visitor",
                    "bot",
                ][..]
            )
            .prop_map(serde_json::Value::from),
        ];
        let tree = leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(prop::sample::select(&KEYS[..]), inner, 0..6)
                    .prop_map(object),
            ]
        });
        prop::collection::btree_map(prop::sample::select(&KEYS[..]), tree, 0..10).prop_map(object)
    }

    #[test]
    fn turns_the_payload_marks_as_a_bot_s_are_the_bot_s() {
        // A bot platform answering on the channel (Metabot24 through Jivo's Bot API).
        let mut doc: serde_json::Value = serde_json::from_slice(sample!("chat_finished")).unwrap();
        let bot = "Здравствуйте! Я бот магазина.";
        doc["chat"]["messages"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(
            {"message": bot, "timestamp": 1717410001, "type": "bot"}));
        let messages = facts(&serde_json::to_vec(&doc).unwrap()).messages.unwrap();
        let turn = messages.iter().find(|m| m.text == bot).unwrap();
        assert_eq!(
            (turn.author, turn.author_name.as_deref()),
            (Author::Bot, None)
        );
        assert!(messages.iter().any(|m| m.author == Author::Employee));
    }
}
