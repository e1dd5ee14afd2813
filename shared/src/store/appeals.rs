//! Appeals: by id, an account's by creation time with filters and cursors, a visitor's.

use super::kv::{Index, Key, Page, Position, Query, SortKey, StoreError};
use super::record::{Record, decode};
use super::{Store, keys};
use crate::domain::appeal::{Appeal, Channel, Provider};
use crate::domain::ids::{AccountId, AppealId, CampaignId, IntegrationId, SourceId};
use chrono::{DateTime, Utc};

impl Record for Appeal {
    fn key(&self) -> Key {
        keys::entity("APPEAL", self.id.as_str())
    }
    fn gsi1(&self) -> Option<Key> {
        Some(Key::new(
            keys::appeals(self.account_id.as_str()),
            format!("{}#{}", keys::time_key(self.created_at), self.id),
        ))
    }
    fn gsi2(&self) -> Option<Key> {
        let visitor = self.visitor_ref.as_deref()?;
        Some(Key::new(
            keys::visitor(self.integration_id.as_str(), visitor),
            self.id.as_str(),
        ))
    }
}

#[derive(Debug, Clone, Default)]
pub struct AppealFilter {
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    pub provider: Option<Provider>,
    pub channel: Option<Channel>,
    pub campaign_id: Option<CampaignId>,
    pub source_id: Option<SourceId>,
    pub integration_id: Option<IntegrationId>,
}

impl AppealFilter {
    fn accepts(&self, a: &Appeal) -> bool {
        self.provider.is_none_or(|p| p == a.provider)
            && self.channel.as_ref().is_none_or(|c| c == &a.channel)
            && self
                .campaign_id
                .as_ref()
                .is_none_or(|c| a.attribution.campaign_id.as_ref() == Some(c))
            && self
                .source_id
                .as_ref()
                .is_none_or(|s| a.attribution.source_id.as_ref() == Some(s))
            && self
                .integration_id
                .as_ref()
                .is_none_or(|i| i == &a.integration_id)
    }
}

#[derive(Debug, Clone, Default)]
pub struct AppealPage {
    pub items: Vec<Appeal>,
    pub next: Option<Position>,
}

/// At most this many appeals are read per listing call; a sparse filter answers a short page
/// with a cursor rather than scanning an account's whole history in one request.
const SCAN_BUDGET: usize = 2000;

impl Store {
    pub async fn appeal(&self, id: &AppealId) -> Result<Option<Appeal>, StoreError> {
        self.get_record(&keys::entity("APPEAL", id.as_str())).await
    }

    /// An account's appeals, newest first.
    pub async fn appeals(
        &self,
        account: &AccountId,
        filter: &AppealFilter,
        limit: usize,
        after: Option<Position>,
    ) -> Result<AppealPage, StoreError> {
        let limit = limit.clamp(1, 200);
        let lo = filter.from.map(keys::time_key).unwrap_or_default();
        // '~' sorts after every digit, so no upper bound means "all".
        let hi = filter.to.map(keys::time_key).unwrap_or_else(|| "~".into());
        let mut query = Query::new(Index::Gsi1, keys::appeals(account.as_str()));
        query.sort = SortKey::Between(lo, hi);
        query.descending = true;
        query.limit = limit.max(50);
        query.after = after;

        let mut out = AppealPage::default();
        let mut scanned = 0;
        loop {
            let page = self.kv.query(&query).await?;
            let more_in_store = page.next.is_some();
            let count = page.items.len();
            for (i, item) in page.items.into_iter().enumerate() {
                scanned += 1;
                let position = Page::position_of(&item, Index::Gsi1);
                let appeal: Appeal = decode(item)?;
                if filter.accepts(&appeal) {
                    out.items.push(appeal);
                }
                let last_in_store = i + 1 == count && !more_in_store;
                if (out.items.len() == limit || scanned >= SCAN_BUDGET) && !last_in_store {
                    out.next = Some(position);
                    return Ok(out);
                }
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// Appeals of one visitor of an integration (at most 50, which no real visitor reaches).
    pub async fn visitor_appeals(
        &self,
        integration: &IntegrationId,
        visitor_ref: &str,
    ) -> Result<Vec<AppealId>, StoreError> {
        let mut query = Query::new(
            Index::Gsi2,
            keys::visitor(integration.as_str(), visitor_ref),
        );
        query.limit = 50;
        let page = self.kv.query(&query).await?;
        page.items
            .iter()
            .filter_map(|item| item.gsi2.as_ref())
            .map(|k| AppealId::parse(&k.sk).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }
}
