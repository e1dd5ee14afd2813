//! Appeals: by id, an account's by creation time with filters and cursors, a visitor's.

use super::kv::{Index, Key, Page, Position, Query, SortKey, StoreError};
use super::record::{Record, decode};
use super::{Store, keys};
use crate::domain::appeal::{Appeal, Channel, ChannelGroup, Provider, Status, Via};
use crate::domain::contact::{Contact, normalize_phone};
use crate::domain::ids::{AccountId, AppealId, CampaignId, IntegrationId, SourceId};
use crate::domain::rollup::Counted;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An appeal as stored: the appeal (what the API shows) and what keeping reports and
/// attribution right needs to remember about it, which the API does not show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAppeal {
    #[serde(flatten)]
    pub appeal: Appeal,
    /// Where the reports count it (`None`: not counted yet: made before counting began, and
    /// left to the backfill).
    #[serde(default, rename = "_counted", skip_serializing_if = "Option::is_none")]
    pub counted: Option<Counted>,
    /// What its attribution was decided on (`attribution::evidence`): decided again only when
    /// this changes, or by a re-attribution run.
    #[serde(default, rename = "_evidence", skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// The person keys (phones, e-mails) it is indexed under, and whether `repeat` is decided.
    #[serde(default, rename = "_people", skip_serializing_if = "Vec::is_empty")]
    pub people: Vec<String>,
    #[serde(default, rename = "_repeat_decided", skip_serializing_if = "is_false")]
    pub repeat_decided: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl StoredAppeal {
    /// A new appeal, nothing remembered yet.
    pub fn new(appeal: Appeal) -> StoredAppeal {
        StoredAppeal {
            appeal,
            counted: None,
            evidence: None,
            people: Vec::new(),
            repeat_decided: false,
        }
    }
}

impl Record for StoredAppeal {
    fn key(&self) -> Key {
        keys::entity("APPEAL", self.appeal.id.as_str())
    }
    fn gsi1(&self) -> Option<Key> {
        let a = &self.appeal;
        Some(Key::new(
            keys::appeals(a.account_id.as_str()),
            format!("{}#{}", keys::time_key(a.created_at), a.id),
        ))
    }
    fn gsi2(&self) -> Option<Key> {
        let a = &self.appeal;
        let visitor = a.visitor_ref.as_deref()?;
        Some(Key::new(
            keys::visitor(a.integration_id.as_str(), visitor),
            a.id.as_str(),
        ))
    }
}

/// Serializable, so a queued export carries the filters it was asked with (`exports`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
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
    pub via: Option<Via>,
    pub status: Option<Status>,
    /// `q=`: a phone, an e-mail or part of a name.
    pub search: Option<Search>,
    /// `repeat=`: only repeat appeals (`true`) or only first ones (`false`).
    pub repeat: Option<bool>,
    /// `channel_group=`: only appeals of this group of traffic.
    pub channel_group: Option<ChannelGroup>,
}

impl AppealFilter {
    /// `q=` as a search (`None` when blank).
    pub fn search_for(q: &str) -> Option<Search> {
        Search::parse(q)
    }

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
            && self.via.is_none_or(|v| v == a.attribution.via)
            && self.status.is_none_or(|s| s == a.status)
            && self.search.as_ref().is_none_or(|s| s.matches(&a.contact))
            && self.repeat.is_none_or(|r| r == a.repeat)
            && self
                .channel_group
                .is_none_or(|g| a.channel_group == Some(g))
    }
}

/// What a search looks for in the contact. A phone is found however it is typed: as the
/// E.164 number it normalizes to, or by its digits inside a stored number (a partial number,
/// or one that was kept as written because it did not parse).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Search {
    Phone {
        e164: Option<String>,
        /// The digits as typed, and with a leading Russian trunk `8` read as `7`.
        digits: Vec<String>,
    },
    /// Lower-cased, found inside an e-mail.
    Email(String),
    /// Folded (lower case, `ё` as `е`), found inside the name.
    Name(String),
}

/// Fewer digits than this are too few to tell a phone by (and match half the journal).
const PHONE_DIGITS: usize = 4;

impl Search {
    /// `None` for a blank query.
    pub fn parse(q: &str) -> Option<Search> {
        let q = q.trim();
        if q.is_empty() {
            return None;
        }
        if q.contains('@') {
            return Some(Search::Email(q.to_lowercase()));
        }
        let digits: String = q.chars().filter(char::is_ascii_digit).collect();
        let phone_like = digits.len() >= PHONE_DIGITS
            && q.chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        if phone_like {
            let mut all = vec![digits.clone()];
            if let Some(rest) = digits.strip_prefix('8') {
                all.push(format!("7{rest}"));
            }
            return Some(Search::Phone {
                e164: normalize_phone(q).filter(|p| p.starts_with('+')),
                digits: all,
            });
        }
        Some(Search::Name(fold(q)))
    }

    pub fn matches(&self, contact: &Contact) -> bool {
        match self {
            Search::Phone { e164, digits } => contact.phones.iter().any(|p| {
                let stored: String = p.chars().filter(char::is_ascii_digit).collect();
                e164.as_ref() == Some(p) || digits.iter().any(|d| stored.contains(d.as_str()))
            }),
            Search::Email(e) => contact.emails.iter().any(|m| m.to_lowercase().contains(e)),
            Search::Name(n) => contact
                .name
                .as_deref()
                .is_some_and(|name| fold(name).contains(n)),
        }
    }
}

/// Case-folded, Cyrillic included, with `ё` as `е` (people type one for the other).
fn fold(s: &str) -> String {
    s.to_lowercase().replace('ё', "е")
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
        Ok(self.stored_appeal(id).await?.map(|s| s.appeal))
    }

    /// The appeal with what the store remembers about it.
    pub async fn stored_appeal(&self, id: &AppealId) -> Result<Option<StoredAppeal>, StoreError> {
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
                let appeal = decode::<StoredAppeal>(item)?.appeal;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn maria() -> Contact {
        Contact::from_raw(
            Some("Мария Ковалёва"),
            ["+7 (916) 123-45-67", "12-34"],
            ["M.Kovaleva@Example.org"],
        )
    }

    fn finds(q: &str) -> bool {
        Search::parse(q).expect("a search").matches(&maria())
    }

    #[test]
    fn a_phone_is_found_in_every_usual_spelling_and_by_part_of_its_digits() {
        for q in [
            "+79161234567",
            "8 916 123-45-67",
            "8(916)1234567",
            "9161234567",
            "916 123 45 67",
            "123-45-67",
            "89161",
            "1234",
        ] {
            assert!(finds(q), "{q}");
        }
        for q in ["+7 916 123-45-68", "8 903 123-45-67", "5555"] {
            assert!(!finds(q), "{q}");
        }
    }

    #[test]
    fn an_email_is_found_lower_cased_and_a_name_case_insensitively_with_cyrillic() {
        assert!(finds("m.kovaleva@example.org"));
        assert!(finds(" M.KOVALEVA@EXAMPLE.ORG "));
        assert!(finds("@example.org"));
        assert!(!finds("oleg@example.org"));
        assert!(finds("мария"));
        assert!(finds("КОВАЛЁВА"));
        assert!(finds("ковалева"), "ё and е are one letter to people");
        assert!(!finds("Олег"));
        assert_eq!(Search::parse("   "), None);
    }

    #[test]
    fn a_query_with_letters_or_few_digits_is_a_name_not_a_phone() {
        assert!(matches!(Search::parse("ad42"), Some(Search::Name(_))));
        assert!(matches!(Search::parse("+7 9"), Some(Search::Name(_))));
        assert!(matches!(
            Search::parse("+7 916"),
            Some(Search::Phone { .. })
        ));
    }
}
