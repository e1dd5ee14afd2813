//! The appeal (one chat or request, normalized and attributed) and the facts that build it.
//!
//! Field names here are the contract of the appeals API (DESIGN.md, "An appeal"): add freely,
//! never rename.

use crate::domain::contact::Contact;
use crate::domain::ids::{
    AccountId, AppealId, CampaignId, EmployeeId, IntegrationId, SiteId, SourceId,
};
use crate::domain::limits::{self, cut};
use crate::domain::utm::{ClickIds, Utm};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Jivo,
    Verbox,
    Amocrm,
    Bitrix24,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::Jivo,
        Provider::Verbox,
        Provider::Amocrm,
        Provider::Bitrix24,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Jivo => "jivo",
            Provider::Verbox => "verbox",
            Provider::Amocrm => "amocrm",
            Provider::Bitrix24 => "bitrix24",
        }
    }

    pub fn parse(s: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The provider's name as people write it, for messages.
    pub fn title(self) -> &'static str {
        match self {
            Provider::Jivo => "Jivo",
            Provider::Verbox => "Verbox",
            Provider::Amocrm => "amoCRM",
            Provider::Bitrix24 => "Bitrix24",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Chat,
    /// A question left in an offline form.
    OfflineRequest,
    /// A "call me back" request left through a widget.
    CallbackRequest,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Chat, Kind::OfflineRequest, Kind::CallbackRequest];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Chat => "chat",
            Kind::OfflineRequest => "offline_request",
            Kind::CallbackRequest => "callback_request",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where the conversation happened: `site` for the web widget, else the messenger
/// (`telegram`, `whatsapp`, `vk`...). A lower-case token, so mappings match exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Channel(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a channel: use 1-32 lower-case letters, digits or `_` (site, telegram, whatsapp, vk...)"
)]
pub struct InvalidChannel(pub String);

impl Channel {
    pub fn site() -> Channel {
        Channel("site".into())
    }

    pub fn parse(s: &str) -> Result<Channel, InvalidChannel> {
        let token = s.trim().to_ascii_lowercase();
        let ok = !token.is_empty()
            && token.len() <= 32
            && token
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Channel(token))
        } else {
            Err(InvalidChannel(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_site(&self) -> bool {
        self.0 == "site"
    }
}

impl TryFrom<String> for Channel {
    type Error = InvalidChannel;
    fn try_from(s: String) -> Result<Self, InvalidChannel> {
        Channel::parse(&s)
    }
}

impl From<Channel> for String {
    fn from(c: Channel) -> String {
        c.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Author {
    Visitor,
    Employee,
    Bot,
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub at: DateTime<Utc>,
    pub author: Author,
    pub author_name: Option<String>,
    pub text: String,
}

/// The provider's operator as the provider names them; resolved to an [`EmployeeRef`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmployeeMatch {
    /// The agent's provider id is listed on the employee.
    ExternalId,
    /// The agent's e-mail is the employee's.
    Email,
    /// No agent matched: the integration's default employee.
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmployeeRef {
    pub id: EmployeeId,
    pub name: String,
    pub matched_by: EmployeeMatch,
}

/// What is known of the visit behind the appeal: from our session store when the session id
/// was found, else what the payload itself said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The session id the payload carried (ours, or whatever the site set in the widget).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_id: Option<SiteId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landing_page: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// The page the chat was started on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
    #[serde(default)]
    pub utm: Utm,
    #[serde(default, skip_serializing_if = "ClickIds::is_empty")]
    pub click_ids: ClickIds,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visitor_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// The visitor's Yandex Metrika ClientID, as our site script found it (offline conversions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrika_client_id: Option<String>,
    /// The visitor's Google Analytics client id (`123.456`), as our site script found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ga_client_id: Option<String>,
}

impl SessionInfo {
    /// Bounds what a payload put here (`limits`).
    pub fn bound(&mut self) {
        let urls = [
            &mut self.landing_page,
            &mut self.referrer,
            &mut self.page_url,
        ];
        for url in urls.into_iter().flatten() {
            *url = cut(url, limits::URL_CHARS);
        }
        let ids = [
            &mut self.id,
            &mut self.visitor_id,
            &mut self.metrika_client_id,
            &mut self.ga_client_id,
        ];
        for id in ids.into_iter().flatten() {
            *id = cut(id, limits::ID_CHARS);
        }
        let tags = [
            &mut self.utm.source,
            &mut self.utm.medium,
            &mut self.utm.campaign,
            &mut self.utm.content,
            &mut self.utm.term,
        ];
        for tag in tags.into_iter().flatten() {
            *tag = cut(tag, limits::TAG_CHARS);
        }
        let kept: ClickIds = std::mem::take(&mut self.click_ids)
            .into_iter()
            .filter(|(k, _)| k.len() <= limits::TAG_CHARS)
            .take(limits::CLICK_IDS)
            .map(|(k, v)| (k, cut(&v, limits::TAG_CHARS)))
            .collect();
        self.click_ids = kept;
    }

    /// Fills what this one lacks from `other`; what is known stays (first touch wins).
    pub fn fill_from(&mut self, other: &SessionInfo) {
        fn fill<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
        fill(&mut self.id, &other.id);
        fill(&mut self.site_id, &other.site_id);
        fill(&mut self.landing_page, &other.landing_page);
        fill(&mut self.referrer, &other.referrer);
        fill(&mut self.page_url, &other.page_url);
        fill(&mut self.visitor_id, &other.visitor_id);
        fill(&mut self.started_at, &other.started_at);
        fill(&mut self.metrika_client_id, &other.metrika_client_id);
        fill(&mut self.ga_client_id, &other.ga_client_id);
        // A tag set is taken whole or not at all: filling one's gaps from another would make a
        // set neither visit had (a session's source with a payload's campaign).
        if self.utm.is_empty() {
            self.utm.clone_from(&other.utm);
        }
        for (k, v) in &other.click_ids {
            self.click_ids.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Session,
    Utm,
    ClickId,
    MessengerMapping,
    Default,
}

impl Via {
    /// Every step, in the order attribution tries them (reports show one column each).
    pub const ALL: [Via; 5] = [
        Via::Session,
        Via::Utm,
        Via::ClickId,
        Via::MessengerMapping,
        Via::Default,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Via::Session => "session",
            Via::Utm => "utm",
            Via::ClickId => "click_id",
            Via::MessengerMapping => "messenger_mapping",
            Via::Default => "default",
        }
    }

    pub fn parse(s: &str) -> Option<Via> {
        Via::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    pub via: Via,
    pub campaign_id: Option<CampaignId>,
    pub source_id: Option<SourceId>,
    pub site_id: Option<SiteId>,
    /// The session id looked for, where it came from, and whether it was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_lookup: Option<SessionLookup>,
    /// One sentence on how the decision was made, for the person reading the report.
    pub detail: String,
    /// What decided inside the step `via` names (a session's UTM tags, its click ids or its
    /// referrer); `None` for a mapping or a default, and for answers made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

/// The piece of evidence that decided an attribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    Utm,
    ClickId,
    Referrer,
}

impl Evidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Evidence::Utm => "utm",
            Evidence::ClickId => "click_id",
            Evidence::Referrer => "referrer",
        }
    }
}

/// How the visit's traffic is grouped, the way web analytics groups it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelGroup {
    Paid,
    Organic,
    Social,
    Referral,
    Direct,
    Messenger,
    Email,
}

impl ChannelGroup {
    pub const ALL: [ChannelGroup; 7] = [
        ChannelGroup::Paid,
        ChannelGroup::Organic,
        ChannelGroup::Social,
        ChannelGroup::Referral,
        ChannelGroup::Direct,
        ChannelGroup::Messenger,
        ChannelGroup::Email,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelGroup::Paid => "paid",
            ChannelGroup::Organic => "organic",
            ChannelGroup::Social => "social",
            ChannelGroup::Referral => "referral",
            ChannelGroup::Direct => "direct",
            ChannelGroup::Messenger => "messenger",
            ChannelGroup::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<ChannelGroup> {
        ChannelGroup::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupSource {
    /// A field of the provider's payload (Jivo `user_token`, a CRM field).
    Payload,
    /// A messenger deep-link code in the chat (`/start CS...`).
    DeepLink,
    /// Our session id written into the chat by a widget (Bitrix24 custom data).
    Message,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLookup {
    /// The session id, or the deep-link code, that was looked up.
    pub id: String,
    pub source: LookupSource,
    pub found: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The chat is still going; later events complete it.
    InProgress,
    /// Waiting for the enrichment worker to fetch what the webhook did not carry.
    PendingEnrichment,
    Complete,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Appeal {
    pub id: AppealId,
    pub account_id: AccountId,
    pub integration_id: IntegrationId,
    pub provider: Provider,
    pub kind: Kind,
    pub provider_ref: String,
    pub channel: Channel,
    /// How its visit's traffic is grouped (`None`: made before groups existed, until a run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_group: Option<ChannelGroup>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub contact: Contact,
    pub employee: Option<EmployeeRef>,
    /// The provider's operator as the provider named them.
    pub agent: Option<Agent>,
    pub messages: Vec<Message>,
    pub session: SessionInfo,
    pub attribution: Attribution,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The provider's id for the visitor (Jivo `visitor.number`): later contact edits find the
    /// appeal by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visitor_ref: Option<String>,
    /// Messages dropped to keep the appeal storable; the raw event still has them all.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub messages_omitted: usize,
    /// The same person (by phone or e-mail) made another appeal within the repeat window
    /// before this one; decided when the person first becomes known, against the appeals
    /// known then (a re-attribution run decides it again).
    #[serde(default)]
    pub repeat: bool,
    /// Earlier answers of the attribution, oldest first: what it was, when and why it changed.
    #[serde(default)]
    pub attribution_history: Vec<AttributionChange>,
}

/// One change of an appeal's attribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributionChange {
    pub at: DateTime<Utc>,
    /// The answer it replaced.
    pub previous: Decided,
    /// Why it changed, in a sentence.
    pub reason: String,
    /// The re-attribution run that changed it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// An attribution's answer, without its explanation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Decided {
    pub via: Via,
    pub campaign_id: Option<CampaignId>,
    pub source_id: Option<SourceId>,
    pub site_id: Option<SiteId>,
}

impl Attribution {
    pub fn decided(&self) -> Decided {
        Decided {
            via: self.via,
            campaign_id: self.campaign_id.clone(),
            source_id: self.source_id.clone(),
            site_id: self.site_id.clone(),
        }
    }
}

/// An appeal keeps this many earlier answers; older ones are dropped (the raw events and the
/// runs' records remain).
pub const HISTORY_KEPT: usize = 20;

impl Appeal {
    /// Takes `next` as the attribution; when its answer differs from the one it replaces,
    /// the old answer goes into the history with `reason`.
    pub fn reattribute(
        &mut self,
        next: Attribution,
        reason: &str,
        run_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> bool {
        let moved = next.decided() != self.attribution.decided();
        if moved {
            self.attribution_history.push(AttributionChange {
                at: now,
                previous: self.attribution.decided(),
                reason: cut(reason, limits::REASON_CHARS),
                run_id: run_id.map(str::to_owned),
            });
            let excess = self.attribution_history.len().saturating_sub(HISTORY_KEPT);
            self.attribution_history.drain(..excess);
        }
        self.attribution = next;
        moved
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What one provider event says about one appeal. Normalizers produce these; merging them in
/// any order and any number of times gives the same appeal.
#[derive(Debug, Clone, PartialEq)]
pub struct AppealFacts {
    pub kind: Kind,
    pub provider_ref: String,
    pub channel: Channel,
    /// The earliest moment the event proves (first message); `None`: when we received it.
    pub occurred_at: Option<DateTime<Utc>>,
    pub contact: Contact,
    pub agent: Option<Agent>,
    /// `Some`: the whole transcript, replacing what was there.
    pub messages: Option<Vec<Message>>,
    pub session: SessionInfo,
    pub visitor_ref: Option<String>,
    pub status: Status,
}

impl Appeal {
    /// A new appeal from its first facts; attribution and employee are settled by the caller.
    pub fn new(
        id: AppealId,
        account_id: AccountId,
        integration_id: IntegrationId,
        provider: Provider,
        facts: &AppealFacts,
        now: DateTime<Utc>,
    ) -> Appeal {
        let mut appeal = Appeal {
            id,
            account_id,
            integration_id,
            provider,
            kind: facts.kind,
            provider_ref: facts.provider_ref.clone(),
            channel: facts.channel.clone(),
            channel_group: None,
            created_at: facts.occurred_at.unwrap_or(now),
            updated_at: now,
            contact: Contact::default(),
            employee: None,
            agent: None,
            messages: Vec::new(),
            session: SessionInfo::default(),
            attribution: Attribution {
                via: Via::Default,
                campaign_id: None,
                source_id: None,
                site_id: None,
                session_lookup: None,
                detail: String::new(),
                evidence: None,
            },
            status: facts.status,
            status_reason: None,
            visitor_ref: None,
            messages_omitted: 0,
            repeat: false,
            attribution_history: Vec::new(),
        };
        appeal.absorb(facts, now);
        appeal
    }

    /// Merges one event's facts in. Idempotent, and order only matters where newer should win
    /// (the contact's name, the agent).
    pub fn absorb(&mut self, facts: &AppealFacts, now: DateTime<Utc>) {
        self.channel = facts.channel.clone();
        if let Some(at) = facts.occurred_at {
            self.created_at = self.created_at.min(at);
        }
        self.contact.merge(&facts.contact);
        if facts.agent.is_some() {
            self.agent.clone_from(&facts.agent);
        }
        if let Some(messages) = &facts.messages {
            self.set_transcript(messages.clone());
        }
        self.session.fill_from(&facts.session);
        if self.visitor_ref.is_none() {
            self.visitor_ref.clone_from(&facts.visitor_ref);
        }
        // A finished chat stays finished when a late "updated" event arrives.
        if self.status != Status::Complete || facts.status == Status::Complete {
            self.status = facts.status;
            self.status_reason = None;
        }
        self.updated_at = now;
    }

    /// Messages that arrived on their own (collected per conversation): the transcript so far,
    /// whatever the appeal's status.
    pub fn set_messages(&mut self, messages: Vec<Message>, now: DateTime<Utc>) {
        self.set_transcript(messages);
        self.updated_at = now;
    }

    /// The enrichment worker brought what the webhook lacked: the transcript.
    pub fn complete_with(&mut self, messages: Vec<Message>, now: DateTime<Utc>) {
        self.set_transcript(messages);
        if let Some(first) = self.messages.first() {
            self.created_at = self.created_at.min(first.at);
        }
        self.status = Status::Complete;
        self.status_reason = None;
        self.updated_at = now;
    }

    /// Enrichment waits for something only the user can do (connect the CRM again).
    pub fn wait_for(&mut self, reason: &str, now: DateTime<Utc>) {
        self.status = Status::PendingEnrichment;
        self.status_reason = Some(cut(reason, limits::REASON_CHARS));
        self.updated_at = now;
    }

    /// Enrichment was given up: the appeal stays, with what is known and why it is partial.
    pub fn fail(&mut self, reason: &str, now: DateTime<Utc>) {
        self.status = Status::Failed;
        self.status_reason = Some(cut(reason, limits::REASON_CHARS));
        self.updated_at = now;
    }

    /// Keeps the transcript storable: each message's text and author bounded, then as many
    /// messages, from the start (where deep-link codes and the question are), as fit
    /// [`limits::TRANSCRIPT_BYTES`] of stored JSON. The rest are counted in
    /// `messages_omitted`; the raw event still holds them.
    fn set_transcript(&mut self, mut messages: Vec<Message>) {
        messages.sort_by_key(|m| m.at);
        let mut total = 0;
        let mut keep = 0;
        for m in &mut messages {
            m.text = cut(&m.text, limits::MESSAGE_CHARS);
            m.author_name = m.author_name.as_deref().map(|n| cut(n, limits::NAME_CHARS));
            total += serde_json::to_string(m).map_or(0, |j| j.len() + 1);
            if total > limits::TRANSCRIPT_BYTES {
                break;
            }
            keep += 1;
        }
        self.messages_omitted = messages.len() - keep;
        messages.truncate(keep);
        self.messages = messages;
    }

    /// Bounds every text the appeal keeps from a payload (`limits`), so it always fits one
    /// store item. Idempotent; run before every write.
    pub fn bound(&mut self) {
        let name = |n: &mut Option<String>| {
            if let Some(v) = n {
                *v = cut(v, limits::NAME_CHARS);
            }
        };
        name(&mut self.contact.name);
        self.contact.phones.truncate(limits::CONTACTS);
        self.contact.emails.truncate(limits::CONTACTS);
        if let Some(agent) = &mut self.agent {
            name(&mut agent.name);
            name(&mut agent.email);
            agent.id = agent
                .id
                .take()
                .filter(|i| limits::whole(i, limits::ID_CHARS).is_some());
        }
        self.session.bound();
        self.visitor_ref = self
            .visitor_ref
            .take()
            .filter(|v| limits::whole(v, limits::ID_CHARS).is_some());
        if let Some(reason) = &mut self.status_reason {
            *reason = cut(reason, limits::REASON_CHARS);
        }
        self.attribution.detail = cut(&self.attribution.detail, limits::REASON_CHARS);
        if let Some(lookup) = &mut self.attribution.session_lookup {
            lookup.id = cut(&lookup.id, limits::ID_CHARS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    fn facts(status: Status) -> AppealFacts {
        AppealFacts {
            kind: Kind::Chat,
            provider_ref: "w:1".into(),
            channel: Channel::site(),
            occurred_at: None,
            contact: Contact::default(),
            agent: None,
            messages: None,
            session: SessionInfo::default(),
            visitor_ref: None,
            status,
        }
    }

    fn new_appeal(f: &AppealFacts, now: DateTime<Utc>) -> Appeal {
        Appeal::new(
            AppealId::parse("apl_1").unwrap(),
            AccountId::parse("acc_1").unwrap(),
            IntegrationId::parse("int_1").unwrap(),
            Provider::Jivo,
            f,
            now,
        )
    }

    fn message(secs: i64, text: &str) -> Message {
        Message {
            at: at(secs),
            author: Author::Visitor,
            author_name: None,
            text: text.into(),
        }
    }

    #[test]
    fn created_at_is_the_earliest_moment_any_event_proves() {
        let mut appeal = new_appeal(&facts(Status::InProgress), at(1000));
        assert_eq!(appeal.created_at, at(1000));
        let mut finished = facts(Status::Complete);
        finished.occurred_at = Some(at(900));
        appeal.absorb(&finished, at(2000));
        assert_eq!(appeal.created_at, at(900));
        assert_eq!(appeal.updated_at, at(2000));
    }

    #[test]
    fn a_complete_appeal_stays_complete_when_a_late_update_arrives() {
        let mut appeal = new_appeal(&facts(Status::Complete), at(1));
        appeal.absorb(&facts(Status::InProgress), at(2));
        assert_eq!(appeal.status, Status::Complete);
    }

    #[test]
    fn absorbing_the_same_facts_twice_changes_nothing_but_the_clock() {
        let mut f = facts(Status::Complete);
        f.contact = Contact::from_raw(Some("Мария"), ["+79161234567"], []);
        f.messages = Some(vec![message(5, "b"), message(3, "a")]);
        let mut appeal = new_appeal(&f, at(10));
        let once = appeal.clone();
        appeal.absorb(&f, at(10));
        assert_eq!(appeal, once);
        assert_eq!(
            appeal.messages[0].text, "a",
            "messages are kept in time order"
        );
    }

    #[test]
    fn oversized_transcripts_are_cut_by_their_stored_size_and_say_so() {
        let mut f = facts(Status::Complete);
        // A long text is cut to its bound; what is kept is measured as it is stored.
        let big = "x".repeat(limits::MESSAGE_CHARS * 3);
        f.messages = Some(vec![message(1, &big), message(2, "tail")]);
        let appeal = new_appeal(&f, at(10));
        assert_eq!(appeal.messages.len(), 2);
        assert_eq!(
            appeal.messages[0].text.chars().count(),
            limits::MESSAGE_CHARS
        );
        // Thousands of short messages (a reviewer's 379 KB Jivo chat): counted by their JSON,
        // not their text, so the appeal stays storable.
        f.messages = Some((0..6000).map(|i| message(i, "ok")).collect());
        let appeal = new_appeal(&f, at(10));
        let stored = serde_json::to_string(&appeal.messages).unwrap().len();
        assert!(stored <= limits::TRANSCRIPT_BYTES, "{stored}");
        assert!(appeal.messages_omitted > 0);
        assert_eq!(appeal.messages.len() + appeal.messages_omitted, 6000);
        assert_eq!(
            appeal.messages[0].at,
            at(0),
            "the start of the chat is kept"
        );
    }

    #[test]
    fn every_text_from_a_payload_is_bounded() {
        let mut appeal = new_appeal(&facts(Status::Complete), at(1));
        appeal.contact.name = Some("я".repeat(100_000));
        appeal.visitor_ref = Some("v".repeat(1_000));
        appeal.session.landing_page = Some(format!("https://x.ru/?{}", "a".repeat(50_000)));
        appeal.session.utm.source = Some("s".repeat(10_000));
        appeal.status_reason = Some("r".repeat(10_000));
        appeal.bound();
        assert_eq!(
            appeal.contact.name.as_ref().unwrap().chars().count(),
            limits::NAME_CHARS
        );
        assert_eq!(
            appeal.visitor_ref, None,
            "an id cut short would name another"
        );
        assert!(appeal.session.landing_page.as_ref().unwrap().len() <= limits::URL_CHARS * 4);
        assert!(serde_json::to_string(&appeal).unwrap().len() < 20_000);
        let once = appeal.clone();
        appeal.bound();
        assert_eq!(appeal, once);
    }

    #[test]
    fn channels_are_lower_case_tokens() {
        assert_eq!(Channel::parse(" Telegram ").unwrap().as_str(), "telegram");
        assert!(Channel::parse("tele gram").is_err());
        assert!(Channel::parse("").is_err());
    }
}
