//! A visit recorded by our site script: the ad session a later chat is tied to.

use crate::appeal::SessionInfo;
use crate::ids::{AccountId, SessionId, SiteId};
use crate::utm::{ClickIds, Utm};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub account_id: AccountId,
    pub site_id: SiteId,
    pub visitor_id: String,
    pub landing_page: Option<String>,
    pub referrer: Option<String>,
    #[serde(default)]
    pub utm: Utm,
    #[serde(default)]
    pub click_ids: ClickIds,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

impl Session {
    /// The session as the appeal shows it; what our script recorded wins over what the chat
    /// payload said, which only fills the gaps.
    pub fn overlay(&self, from_payload: &SessionInfo) -> SessionInfo {
        let mut info = SessionInfo {
            id: Some(self.id.to_string()),
            site_id: Some(self.site_id.clone()),
            landing_page: self.landing_page.clone(),
            referrer: self.referrer.clone(),
            page_url: None,
            utm: self.utm.clone(),
            click_ids: self.click_ids.clone(),
            visitor_id: Some(self.visitor_id.clone()),
            started_at: Some(self.started_at),
        };
        info.fill_from(from_payload);
        info
    }
}
