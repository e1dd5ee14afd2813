//! An account's connection to one provider and the settings attribution reads from it.

use crate::domain::appeal::{Channel, Provider};
use crate::domain::ids::{AccountId, CampaignId, EmployeeId, IntegrationId, SiteId, SourceId};
use crate::domain::secret::Secret;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which kind of default a chat without a session or tags gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrafficType {
    /// The integration's default campaign.
    #[default]
    Campaign,
    /// The integration's default source plus site.
    Source,
}

impl TrafficType {
    /// What a new integration starts with: Bitrix24 leads come from many channels, so their
    /// usual default is a source (UIS's setup does the same); chat widgets default to a campaign.
    pub fn default_for(provider: Provider) -> TrafficType {
        match provider {
            Provider::Bitrix24 => TrafficType::Source,
            _ => TrafficType::Campaign,
        }
    }
}

/// Where messenger chats without a session go: a campaign, or a source plus site.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<CampaignId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<SourceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_id: Option<SiteId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JivoSettings {
    /// Jivo `widget_id` (a channel: the site widget, a Telegram bot...) to our channel; widgets
    /// not listed are the site widget.
    #[serde(default)]
    pub channels: BTreeMap<String, Channel>,
}

/// Verbox (and its twins Talk-Me, Me-Talk): the offline-requests toggle and the REST access
/// the worker uses to fetch transcripts a finished-dialog webhook did not carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerboxSettings {
    /// The `/offline` webhook exists only while this is on.
    #[serde(default)]
    pub offline_requests: bool,
    /// `X-Token` of the cabinet's "Integration and API → REST API".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_token: Option<Secret>,
    #[serde(default = "VerboxSettings::default_rest_url")]
    pub rest_url: String,
}

impl VerboxSettings {
    pub const DEFAULT_REST_URL: &str = "https://admin.verbox.ru/json/v1.0";

    fn default_rest_url() -> String {
        Self::DEFAULT_REST_URL.to_owned()
    }
}

impl Default for VerboxSettings {
    fn default() -> Self {
        VerboxSettings {
            offline_requests: false,
            rest_token: None,
            rest_url: Self::default_rest_url(),
        }
    }
}

/// amoCRM (and Kommo): the account, the OAuth client of the integration the user made there,
/// and the custom field our site script fills with the session id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmocrmSettings {
    /// The account's address: `https://acme.amocrm.ru`, `https://acme.kommo.com`, or a custom one.
    pub base_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// The lead or contact custom field holding our session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_field_id: Option<u64>,
    /// A private integration's long-lived token, instead of OAuth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_lived_token: Option<Secret>,
    /// amoCRM's id of the account, learned when connecting; webhooks must name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<u64>,
    /// Our OAuth callback as registered in the amoCRM integration; token requests repeat it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
}

impl AmocrmSettings {
    /// The key of the pace amoCRM keeps for the account (7 requests a second): the account's
    /// id once a connection has told it, so every integration of any tenant that reaches the
    /// same account shares one budget; before that, its address.
    pub fn pace_key(&self) -> String {
        match self.account_id {
            Some(id) => format!("amocrm#account#{id}"),
            None => format!("amocrm#{}", self.base_url.trim_end_matches('/')),
        }
    }

    /// The account's subdomain (`acme` of `https://acme.amocrm.ru`), as webhooks name it; only
    /// amoCRM's and Kommo's own domains have one (a custom domain is checked by account id).
    pub fn subdomain(&self) -> Option<String> {
        let host = url::Url::parse(&self.base_url)
            .ok()?
            .host_str()?
            .to_ascii_lowercase();
        let (sub, domain) = host.split_once('.')?;
        ["amocrm.ru", "amocrm.com", "kommo.com"]
            .contains(&domain)
            .then(|| sub.to_owned())
    }
}

/// Which Bitrix24 CRM entity an open-line chat creates (the CRM's "create a lead or a deal"
/// setting of the line); its creation event is the one to send us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrmEntity {
    #[default]
    Lead,
    Deal,
}

impl CrmEntity {
    pub fn as_str(self) -> &'static str {
        match self {
            CrmEntity::Lead => "lead",
            CrmEntity::Deal => "deal",
        }
    }

    /// The outbound event Bitrix24 sends when one is created.
    pub fn add_event(self) -> &'static str {
        match self {
            CrmEntity::Lead => "ONCRMLEADADD",
            CrmEntity::Deal => "ONCRMDEALADD",
        }
    }
}

/// Bitrix24: the portal, the local application made there (its OAuth client), the token its
/// events carry, and which CRM entity the open lines create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bitrix24Settings {
    /// The portal's address: `https://acme.bitrix24.ru`, or its own domain (`https://b24.example.ru`).
    pub portal_url: String,
    /// The local application's `client_id` and `client_secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// The "application token" Bitrix24 shows for the outbound webhook (or gives an app on
    /// install); every event carries it in `auth[application_token]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_token: Option<Secret>,
    #[serde(default)]
    pub entity: CrmEntity,
    /// The lead's (or deal's) user field our site script fills with the session id (`UF_CRM_...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_field: Option<String>,
    /// The OAuth server: secrets go only there (providers.md 4.6).
    #[serde(default = "Bitrix24Settings::default_oauth_url")]
    pub oauth_url: String,
    /// The portal's id and domain as its events name them, learned on connecting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

impl Bitrix24Settings {
    pub const DEFAULT_OAUTH_URL: &str = "https://oauth.bitrix.info";

    fn default_oauth_url() -> String {
        Self::DEFAULT_OAUTH_URL.to_owned()
    }

    /// The key of the pace the portal keeps (its leaky bucket): the portal's member id once a
    /// connection has told it, so every integration of any tenant on the same portal shares
    /// one budget (a portal keeps its member id when its address changes); before that, its
    /// host.
    pub fn pace_key(&self) -> String {
        match &self.member_id {
            Some(member) => format!("bitrix24#member#{member}"),
            None => format!("bitrix24#{}", self.host().unwrap_or_default()),
        }
    }

    /// The portal's host (`b24.example.ru`), as `auth[domain]` names it.
    pub fn host(&self) -> Option<String> {
        Some(
            url::Url::parse(&self.portal_url)
                .ok()?
                .host_str()?
                .to_ascii_lowercase(),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    pub id: IntegrationId,
    pub account_id: AccountId,
    pub provider: Provider,
    pub name: String,
    pub active: bool,
    /// The unguessable part of the webhook URL.
    pub secret: Secret,
    pub default_employee_id: Option<EmployeeId>,
    #[serde(default)]
    pub traffic_type: TrafficType,
    pub default_campaign_id: Option<CampaignId>,
    pub default_source_id: Option<SourceId>,
    pub default_site_id: Option<SiteId>,
    #[serde(default)]
    pub messenger_mapping: BTreeMap<Channel, MappingTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jivo: Option<JivoSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbox: Option<VerboxSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amocrm: Option<AmocrmSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrix24: Option<Bitrix24Settings>,
    /// Where every authenticated webhook body is relayed verbatim (a bot platform on the same
    /// Jivo channel, whose one webhook URL field points at us): https, public, the same rules
    /// as provider addresses. See `app::forward`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward_urls: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Integration {
    /// How many forward URLs an integration may list: each body costs one job per URL.
    pub const MAX_FORWARD_URLS: usize = 3;

    /// A switched-on integration with a fresh webhook secret and no defaults or mappings yet.
    pub fn new(
        id: IntegrationId,
        account_id: AccountId,
        provider: Provider,
        name: &str,
        now: DateTime<Utc>,
    ) -> Integration {
        Integration {
            id,
            account_id,
            provider,
            name: name.to_owned(),
            active: true,
            secret: Secret::generate(),
            default_employee_id: None,
            traffic_type: TrafficType::default_for(provider),
            default_campaign_id: None,
            default_source_id: None,
            default_site_id: None,
            messenger_mapping: BTreeMap::new(),
            jivo: None,
            verbox: None,
            amocrm: None,
            bitrix24: None,
            forward_urls: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// This integration with the attribution settings of `other` (default employee, traffic
    /// type, defaults, messenger mapping): one account's integrations usually agree on them.
    pub fn with_settings_of(mut self, other: &Integration) -> Integration {
        self.default_employee_id
            .clone_from(&other.default_employee_id);
        self.traffic_type = other.traffic_type;
        self.default_campaign_id
            .clone_from(&other.default_campaign_id);
        self.default_source_id.clone_from(&other.default_source_id);
        self.default_site_id.clone_from(&other.default_site_id);
        self.messenger_mapping.clone_from(&other.messenger_mapping);
        self
    }

    /// The webhook URLs (their last path segment) this integration answers; others are as
    /// unknown as a wrong secret. Verbox's offline URL exists only while its toggle is on.
    pub fn hooks(&self) -> &'static [&'static str] {
        match self.provider {
            Provider::Jivo => &["chats"],
            Provider::Verbox if self.verbox.as_ref().is_some_and(|v| v.offline_requests) => {
                &["chats", "offline"]
            }
            Provider::Verbox => &["chats"],
            Provider::Amocrm | Provider::Bitrix24 => &["events"],
        }
    }

    /// The channel of a Jivo widget: mapped in the settings, else the site widget.
    pub fn jivo_channel(&self, widget_id: Option<&str>) -> Channel {
        widget_id
            .and_then(|w| self.jivo.as_ref()?.channels.get(w))
            .cloned()
            .unwrap_or_else(Channel::site)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crm_account_is_paced_by_its_own_id_once_known_whatever_address_reaches_it() {
        let amo = |base: &str, id: Option<u64>| AmocrmSettings {
            base_url: base.into(),
            client_id: None,
            client_secret: None,
            session_field_id: None,
            long_lived_token: None,
            account_id: id,
            redirect_uri: None,
        };
        assert_eq!(
            amo("https://acme.amocrm.ru", None).pace_key(),
            "amocrm#https://acme.amocrm.ru"
        );
        assert_eq!(
            amo("https://acme.amocrm.ru", Some(7)).pace_key(),
            amo("https://crm.acme.example", Some(7)).pace_key()
        );
        let b24 = |portal: &str, member: Option<&str>| Bitrix24Settings {
            portal_url: portal.into(),
            client_id: None,
            client_secret: None,
            application_token: None,
            entity: CrmEntity::Lead,
            session_field: None,
            oauth_url: Bitrix24Settings::DEFAULT_OAUTH_URL.into(),
            member_id: member.map(str::to_owned),
            domain: None,
        };
        assert_eq!(
            b24("https://acme.bitrix24.ru", None).pace_key(),
            "bitrix24#acme.bitrix24.ru"
        );
        assert_eq!(
            b24("https://acme.bitrix24.ru", Some("m1")).pace_key(),
            b24("https://b24.acme.example", Some("m1")).pace_key()
        );
    }
}
