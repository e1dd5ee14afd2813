//! Verbox webhooks (Verbox, Talk-Me and Me-Talk are one platform) to appeal facts.
//!
//! **Verbox publishes no webhook format.** Everything below is assumed from the sibling
//! Talk-Me's webhooks and REST API (providers.md section 2) and is written down here, in one
//! place, so the first real sample can correct it in minutes. Each assumption is numbered;
//! the tests name the numbers they pin.
//!
//! 1. Transport: a POST with a JSON body; a form body with bracketed keys is read the same.
//! 2. Envelope: Talk-Me's `{"secretKey", "event"?, "data": {...}}`; the dialog may also sit
//!    in `data.dialog`, `dialog`, or at the top level. The first of those holding a `client`
//!    or `messages` is the dialog. `secretKey` is not checked: our URL's secret authenticates.
//! 3. Client: `client` with `clientId` (string) and/or `searchId` (number), `name`, `phone`,
//!    `email` (single values or lists), and `customData` (an object of the site's values).
//! 4. Messages: a list `messages` of `{whoSend, text, dateTime | dateTimeUTC, messageType,
//!    operator}`. `whoSend`: `client` (or `visitor`, `user`) is the visitor, `operator` (or
//!    `agent`) the employee, `bot`/`system` themselves; `messageType: "autoMessage"` is the
//!    bot. Times are UTC, as `YYYY-MM-DD HH:MM:SS`, RFC 3339, or Unix seconds/milliseconds.
//! 5. The operator: `operator {login, name, email}` on the dialog, else the first operator
//!    message's `operator`.
//! 6. Channel: the first of `channel`, `messenger`, `source` (on the dialog or the client,
//!    strings or `{type}`/`{name}` objects) naming a messenger (telegram, whatsapp, vk,
//!    viber, instagram, facebook, ok, avito, max) is that messenger; otherwise the widget.
//! 7. Session: our session id in `customData` (our script sets `chatsource_session`; any
//!    value that is one of our ids counts), else a deep-link code in the first messages.
//! 8. Identity of a dialog (one appeal per dialog, however often the hook repeats):
//!    `dialogId` / `dialog.id` / `id`; else the client (`clientId`, else `searchId`) and the
//!    first message's time; else the client and the finish time (`dateTime`, `finishedAt`,
//!    `dateFinish`); else the client and the day it reached us.
//! 9. A dialog without messages is completed over REST when the integration has a token:
//!    `chat/message/getClientMessageList` returns the client's whole history, so the worker
//!    keeps the messages of the 24 hours up to the finish.
//! 10. Offline requests (their own URL): the question is `message.text`, `text`, `question`,
//!     `message` (a string) or `comment`; the contact as in 3, or at the top level; the
//!     request's identity is `id` / `requestId` / `questionId`, else the body's hash.
//! 11. Per-message events (`event` naming a message, with one `message` and no list) are
//!     acknowledged and ignored: chatsource takes finished dialogs.
//!
//! Unknown fields are never an error; the raw event keeps everything.

use super::lenient::as_string;
use super::{Decision, Unreadable, form};
use crate::domain::appeal::{
    Agent, AppealFacts, Author, Channel, Kind, Message, SessionInfo, Status,
};
use crate::domain::contact::{Contact, normalize_email, normalize_name};
use crate::domain::deeplink::find_session_id;
use crate::domain::integration::Integration;
use crate::domain::job::Task;
use crate::domain::secret::sha256_hex;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// Messengers a Verbox channel field may name, as our channel tokens.
const MESSENGERS: [&str; 9] = [
    "telegram",
    "whatsapp",
    "vk",
    "viber",
    "instagram",
    "facebook",
    "ok",
    "avito",
    "max",
];

/// Decides what a Verbox webhook body means. `hook` is `chats` or `offline` (the URL).
pub fn decide(
    body: &[u8],
    hook: &str,
    integration: &Integration,
    received_at: DateTime<Utc>,
) -> Result<Decision, Unreadable> {
    let root = parse(body)?;
    if hook == "offline" {
        return offline(&root, body, received_at);
    }
    let dialog = dialog(&root);
    let event = text(&root, "event")
        .or_else(|| text(dialog, "event"))
        .unwrap_or_default();
    if event.to_ascii_lowercase().contains("message") && dialog.get("messages").is_none() {
        return Ok(Decision::Ignore(format!(
            "Verbox event `{event}` is about one message; chatsource takes finished dialogs (assumption 11)"
        )));
    }
    let client = object(dialog, "client").ok_or_else(|| {
        Unreadable("no `client` in the body: not a Verbox dialog (assumptions 2, 3)".into())
    })?;
    let client_ref = text(client, "clientId").or_else(|| text(client, "searchId"));
    let messages = messages(dialog, client);
    let finished_at = ["dateTime", "finishedAt", "dateFinish"]
        .iter()
        .find_map(|k| dialog.get(*k).and_then(time));
    let provider_ref = match (dialog_id(dialog), &client_ref) {
        (Some(id), _) => format!("dialog:{id}"),
        (None, Some(c)) => match (messages.first(), finished_at) {
            (Some(first), _) => format!("client:{c}:{}", first.at.timestamp()),
            (None, Some(at)) => format!("client:{c}:finished:{}", at.timestamp()),
            (None, None) => format!("client:{c}:day:{}", received_at.format("%Y-%m-%d")),
        },
        (None, None) => {
            return Err(Unreadable(
                "the dialog names neither itself (dialogId) nor its client (clientId, searchId) (assumption 8)".into(),
            ));
        }
    };
    let mut facts = AppealFacts {
        kind: Kind::Chat,
        provider_ref,
        channel: channel(dialog, client),
        occurred_at: messages.first().map(|m| m.at),
        contact: contact(client),
        agent: operator(dialog),
        messages: None,
        session: SessionInfo {
            id: session_id(client),
            ..SessionInfo::default()
        },
        visitor_ref: client_ref.clone(),
        status: Status::Complete,
    };
    let token = integration
        .verbox
        .as_ref()
        .and_then(|v| v.rest_token.as_ref());
    if !messages.is_empty() || token.is_none() {
        facts.messages = Some(messages);
        return Ok(Decision::Appeal(Box::new(facts)));
    }
    facts.status = Status::PendingEnrichment;
    let task = Task::VerboxTranscript {
        client_id: text(client, "clientId"),
        search_id: client
            .get("searchId")
            .and_then(|v| as_string(v)?.parse().ok()),
        finished_at: finished_at.unwrap_or(received_at),
    };
    Ok(Decision::Enrich(Box::new(facts), task))
}

fn offline(root: &Value, body: &[u8], received_at: DateTime<Utc>) -> Result<Decision, Unreadable> {
    let data = object(root, "data").unwrap_or(root);
    let client = object(data, "client").unwrap_or(data);
    let question = object(data, "message")
        .and_then(|m| text(m, "text"))
        .or_else(|| {
            ["text", "question", "message", "comment"]
                .iter()
                .find_map(|k| text(data, k))
        });
    let contact = contact(client);
    if question.is_none() && contact.is_empty() {
        return Err(Unreadable(
            "an offline request without a question or a contact (assumption 10)".into(),
        ));
    }
    let id = ["id", "requestId", "questionId"]
        .iter()
        .find_map(|k| text(data, k))
        .unwrap_or_else(|| sha256_hex(body)[..24].to_owned());
    let facts = AppealFacts {
        kind: Kind::OfflineRequest,
        provider_ref: format!("offline:{id}"),
        channel: channel(data, client),
        occurred_at: Some(received_at),
        messages: Some(
            question
                .into_iter()
                .map(|text| Message {
                    at: received_at,
                    author: Author::Visitor,
                    author_name: contact.name.clone(),
                    text,
                })
                .collect(),
        ),
        contact,
        agent: None,
        session: SessionInfo {
            id: session_id(client),
            ..SessionInfo::default()
        },
        visitor_ref: text(client, "clientId"),
        status: Status::Complete,
    };
    Ok(Decision::Appeal(Box::new(facts)))
}

/// Assumption 1: JSON, or a bracketed form.
fn parse(body: &[u8]) -> Result<Value, Unreadable> {
    if form::looks_like_form(body) {
        return form::decode(body);
    }
    super::json_object(body).map(Value::Object)
}

/// Assumption 2: the first of `data.dialog`, `data`, `dialog`, the root holding a dialog.
fn dialog(root: &Value) -> &Value {
    let data = object(root, "data");
    [
        data.and_then(|d| object(d, "dialog")),
        data,
        object(root, "dialog"),
        Some(root),
    ]
    .into_iter()
    .flatten()
    .find(|v| v.get("client").is_some() || v.get("messages").is_some())
    .unwrap_or(root)
}

fn dialog_id(dialog: &Value) -> Option<String> {
    text(dialog, "dialogId").or_else(|| text(dialog, "id"))
}

/// Assumption 3.
fn contact(client: &Value) -> Contact {
    let many = |key: &str| -> Vec<String> {
        match client.get(key) {
            Some(Value::Array(items)) => items.iter().filter_map(as_string).collect(),
            Some(v) => as_string(v).into_iter().collect(),
            None => Vec::new(),
        }
    };
    let phones = [many("phone"), many("phones")].concat();
    let emails = [many("email"), many("emails")].concat();
    Contact::from_raw(
        text(client, "name").as_deref(),
        phones.iter().map(String::as_str),
        emails.iter().map(String::as_str),
    )
}

/// Assumption 7: ours by key, else any custom value that is one of our ids.
fn session_id(client: &Value) -> Option<String> {
    let custom = object(client, "customData")?;
    text(custom, "chatsource_session").or_else(|| {
        custom
            .as_object()?
            .values()
            .filter_map(as_string)
            .find_map(|v| find_session_id(&v).map(str::to_owned))
    })
}

/// Assumption 6.
fn channel(dialog: &Value, client: &Value) -> Channel {
    let named = |v: &Value| -> Option<String> {
        match v {
            Value::Object(_) => text(v, "type").or_else(|| text(v, "name")),
            other => as_string(other),
        }
    };
    [dialog, client]
        .into_iter()
        .flat_map(|o| ["channel", "messenger", "source"].map(|k| o.get(k)))
        .flatten()
        .filter_map(named)
        .find_map(|name| {
            let name = name.to_ascii_lowercase();
            MESSENGERS
                .iter()
                .find(|m| name.contains(*m))
                .and_then(|m| Channel::parse(m).ok())
        })
        .unwrap_or_else(Channel::site)
}

/// Assumption 5.
fn operator(dialog: &Value) -> Option<Agent> {
    let from_message = || {
        dialog.get("messages")?.as_array()?.iter().find_map(|m| {
            (text(m, "whoSend").as_deref() == Some("operator"))
                .then(|| object(m, "operator"))
                .flatten()
        })
    };
    let op = object(dialog, "operator").or_else(from_message)?;
    Some(Agent {
        id: text(op, "login").or_else(|| text(op, "id")),
        name: text(op, "name")
            .or_else(|| text(op, "login"))
            .as_deref()
            .and_then(normalize_name),
        email: text(op, "email").as_deref().and_then(normalize_email),
    })
}

/// Assumption 4, for the dialog's `messages`.
fn messages(dialog: &Value, client: &Value) -> Vec<Message> {
    let visitor = text(client, "name");
    parse_messages(dialog.get("messages"), visitor.as_deref())
}

/// Assumption 4: a message list (the webhook's, or the REST API's `items`), in time order;
/// messages without text or time are left out.
pub fn parse_messages(list: Option<&Value>, visitor_name: Option<&str>) -> Vec<Message> {
    let Some(Value::Array(items)) = list else {
        return Vec::new();
    };
    let mut out: Vec<Message> = items
        .iter()
        .filter_map(|m| {
            let body = text(m, "text").or_else(|| text(m, "message"))?;
            let at = ["dateTimeUTC", "dateTime", "date", "timestamp"]
                .iter()
                .find_map(|k| m.get(*k).and_then(time))?;
            let who = text(m, "whoSend").unwrap_or_default().to_ascii_lowercase();
            let auto =
                text(m, "messageType").is_some_and(|t| t.eq_ignore_ascii_case("autoMessage"));
            let (author, author_name) = match who.as_str() {
                _ if auto => (Author::Bot, None),
                "client" | "visitor" | "user" => {
                    (Author::Visitor, visitor_name.and_then(normalize_name))
                }
                "operator" | "agent" => (
                    Author::Employee,
                    object(m, "operator")
                        .and_then(|o| text(o, "name").or_else(|| text(o, "login")))
                        .or_else(|| text(m, "operatorName")),
                ),
                "bot" => (Author::Bot, None),
                _ => (Author::System, None),
            };
            Some(Message {
                at,
                author,
                author_name,
                text: body,
            })
        })
        .collect();
    out.sort_by_key(|m| m.at);
    out
}

/// Assumption 4: a UTC time in any of the forms seen (and of this century).
pub fn time(v: &Value) -> Option<DateTime<Utc>> {
    any_time(v).and_then(crate::domain::limits::plausible)
}

fn any_time(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => {
            let n = n.as_i64()?;
            // Milliseconds once past the year 2286 in seconds.
            let secs = if n > 10_000_000_000 { n / 1000 } else { n };
            Utc.timestamp_opt(secs, 0).single()
        }
        Value::String(s) => {
            let s = s.trim();
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .or_else(|| {
                    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                        .ok()
                        .map(|t| t.and_utc())
                })
                .or_else(|| {
                    s.parse::<i64>()
                        .ok()
                        .and_then(|n| any_time(&Value::from(n)))
                })
        }
        _ => None,
    }
}

fn object<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|o| o.is_object())
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(as_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{AccountId, IntegrationId};
    use crate::domain::integration::VerboxSettings;
    use crate::domain::secret::Secret;

    macro_rules! sample {
        ($name:literal) => {
            include_bytes!(concat!("../../../../events/verbox/bodies/", $name))
        };
    }

    fn integration(token: bool) -> Integration {
        Integration {
            verbox: Some(VerboxSettings {
                offline_requests: true,
                rest_token: token.then(|| Secret::new("t")),
                ..VerboxSettings::default()
            }),
            ..Integration::new(
                IntegrationId::parse("int_v").unwrap(),
                AccountId::parse("acc_1").unwrap(),
                crate::domain::appeal::Provider::Verbox,
                "Verbox",
                now(),
            )
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_717_500_000, 0).unwrap()
    }

    fn facts(body: &[u8], hook: &str) -> AppealFacts {
        match decide(body, hook, &integration(false), now()).unwrap() {
            Decision::Appeal(f) => *f,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_finished_widget_dialog_has_contact_transcript_operator_and_session_assumptions_2_to_8() {
        let f = facts(sample!("chat_finished.json"), "chats");
        assert_eq!(f.kind, Kind::Chat);
        assert_eq!(f.provider_ref, "dialog:d-5501-7731");
        assert_eq!(f.channel, Channel::site());
        assert_eq!(f.contact.name.as_deref(), Some("Анна Петрова"));
        assert_eq!(f.contact.phones, ["+79031234567"]);
        assert_eq!(f.contact.emails, ["anna.petrova@example.com"]);
        assert_eq!(
            f.session.id.as_deref(),
            Some("ses_00000000000000000000000000000000")
        );
        assert_eq!(
            f.agent.unwrap().email.as_deref(),
            Some("oleg@shop.example.ru")
        );
        let m = f.messages.unwrap();
        assert_eq!(
            m.iter().map(|m| m.author).collect::<Vec<_>>(),
            [Author::Visitor, Author::Employee, Author::Visitor]
        );
        assert_eq!(m[1].author_name.as_deref(), Some("Олег"));
        assert_eq!(
            m[0].at,
            Utc.with_ymd_and_hms(2024, 6, 3, 10, 58, 40).unwrap()
        );
        assert_eq!(
            f.visitor_ref.as_deref(),
            Some("4f1e7a9c2b8d4e6fa1c3b5d7e9f20413")
        );
    }

    #[test]
    fn a_messenger_dialog_takes_its_channel_and_auto_messages_are_the_bot_assumption_6() {
        let f = facts(sample!("telegram_dialog.json"), "chats");
        assert_eq!(f.channel.as_str(), "telegram");
        assert_eq!(f.messages.unwrap()[1].author, Author::Bot);
        assert_eq!(f.agent.unwrap().name.as_deref(), Some("Олег"));
    }

    #[test]
    fn a_dialog_without_messages_waits_for_the_worker_only_when_a_rest_token_exists_assumption_9() {
        let with_token = decide(
            sample!("no_transcript.json"),
            "chats",
            &integration(true),
            now(),
        )
        .unwrap();
        let Decision::Enrich(
            facts,
            Task::VerboxTranscript {
                client_id,
                search_id,
                finished_at,
            },
        ) = with_token
        else {
            panic!("{with_token:?}")
        };
        assert_eq!(facts.status, Status::PendingEnrichment);
        assert_eq!(
            client_id.as_deref(),
            Some("0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f")
        );
        assert_eq!(search_id, Some(70402));
        assert_eq!(
            finished_at,
            Utc.with_ymd_and_hms(2024, 6, 3, 15, 30, 0).unwrap()
        );
        assert_eq!(
            facts.provider_ref,
            format!(
                "client:0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f:finished:{}",
                finished_at.timestamp()
            )
        );
        let without = facts_without_token();
        assert_eq!(without.status, Status::Complete);
        assert_eq!(without.messages, Some(vec![]));
    }

    fn facts_without_token() -> AppealFacts {
        facts(sample!("no_transcript.json"), "chats")
    }

    #[test]
    fn an_offline_question_is_a_request_of_its_own_assumption_10() {
        let f = facts(sample!("offline.json"), "offline");
        assert_eq!(f.kind, Kind::OfflineRequest);
        assert_eq!(f.provider_ref, "offline:q-88120");
        assert_eq!(f.contact.phones, ["+79161112233"]);
        assert!(f.messages.unwrap()[0].text.starts_with("Есть ли самовывоз"));
    }

    #[test]
    fn form_bodies_read_like_json_assumption_1() {
        let f = facts(sample!("dialog_form.form"), "chats");
        assert_eq!(f.provider_ref, "dialog:d-5501-7801");
        assert_eq!(f.contact.name.as_deref(), Some("Марина"));
        assert_eq!(f.contact.phones, ["+79031234567"]);
        assert_eq!(f.messages.unwrap().len(), 1);
    }

    #[test]
    fn per_message_events_are_ignored_and_junk_is_unreadable_assumptions_2_and_11() {
        let ignored = decide(
            sample!("message_event.json"),
            "chats",
            &integration(false),
            now(),
        )
        .unwrap();
        assert!(matches!(ignored, Decision::Ignore(r) if r.contains("clientSendMessage")));
        let reason = |b: &[u8]| {
            decide(b, "chats", &integration(false), now())
                .unwrap_err()
                .0
        };
        assert!(reason(sample!("malformed.json")).contains("not JSON"));
        assert!(reason(br#"{"data": {"something": 1}}"#).contains("no `client`"));
        assert!(reason(br#"{"client": {"name": "x"}}"#).contains("neither itself"));
    }

    #[test]
    fn times_come_in_every_form_seen_assumption_4() {
        let t = Utc.with_ymd_and_hms(2024, 6, 3, 10, 20, 0).unwrap();
        for v in [
            serde_json::json!("2024-06-03 10:20:00"),
            serde_json::json!("2024-06-03T10:20:00Z"),
            serde_json::json!("2024-06-03T13:20:00+03:00"),
            serde_json::json!(1717410000),
            serde_json::json!(1717410000000u64),
            serde_json::json!("1717410000"),
        ] {
            assert_eq!(time(&v), Some(t), "{v}");
        }
        assert_eq!(time(&serde_json::json!("yesterday")), None);
    }

    #[test]
    fn a_session_id_anywhere_in_custom_data_is_ours_assumption_7() {
        let client = serde_json::json!({"customData": {"ref": "visit ses_0123456789abcdef0123456789abcdef"}});
        assert_eq!(
            session_id(&client).as_deref(),
            Some("ses_0123456789abcdef0123456789abcdef")
        );
        assert_eq!(
            session_id(&serde_json::json!({"customData": {"a": "b"}})),
            None
        );
    }
}
