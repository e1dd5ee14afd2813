//! An account's connection to one provider and the settings attribution reads from it.

use crate::appeal::{Channel, Provider};
use crate::ids::{AccountId, CampaignId, EmployeeId, IntegrationId, SiteId, SourceId};
use crate::secret::Secret;
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
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Integration {
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
            traffic_type: TrafficType::default(),
            default_campaign_id: None,
            default_source_id: None,
            default_site_id: None,
            messenger_mapping: BTreeMap::new(),
            jivo: None,
            created_at: now,
            updated_at: now,
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
