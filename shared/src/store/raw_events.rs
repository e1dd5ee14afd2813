//! Raw events and their bodies. A body too big for one item (DynamoDB: 400 KB; we accept
//! 1 MiB) is split into parts stored under the same partition, written before the event
//! itself, so an event that exists always has its whole body.

use super::kv::{
    Condition, Index, Item, Key, Position, Query, SortKey, StoreError, Write, Written,
};
use super::record::{Record, decode, encode};
use super::{Store, keys};
use crate::domain::ids::{AccountId, IntegrationId};
use crate::domain::raw_event::{RawEvent, RawStatus};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Handled events are kept this long for audit, as are ones whose handling never finished
/// (the hourly run finishes those long before); quarantined ones until replayed.
const KEEP_HANDLED_DAYS: i64 = 30;
/// Body bytes per item, well inside the item limit once JSON-escaped.
const PART_BYTES: usize = 96 * 1024;

/// The event as stored: with its body inline when it fits (the usual case: one item per
/// delivery), else with the body in parts.
#[derive(Serialize, Deserialize)]
struct StoredRaw {
    #[serde(flatten)]
    event: RawEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inline: Option<Part>,
}

fn head_key(id: &str) -> Key {
    Key::new(format!("RAW#{id}"), "RAW")
}

impl Record for StoredRaw {
    fn key(&self) -> Key {
        head_key(&self.event.id)
    }
    fn gsi1(&self) -> Option<Key> {
        let e = &self.event;
        Some(Key::new(
            keys::raws(e.integration_id.as_str()),
            format!("{}#{}", keys::time_key(e.received_at), e.id),
        ))
    }
    /// The account's quarantined events, and apart from them its events whose handling has
    /// not finished (yet, or ever: a process killed half-way), which the hourly run finishes.
    fn gsi2(&self) -> Option<Key> {
        let e = &self.event;
        let partition = match e.status {
            RawStatus::Quarantined => keys::quarantine(e.account_id.as_str()),
            RawStatus::Received => keys::unfinished(e.account_id.as_str()),
            RawStatus::Processed | RawStatus::Ignored => return None,
        };
        Some(Key::new(
            partition,
            format!("{}#{}", keys::time_key(e.received_at), e.id),
        ))
    }
    fn expires_at(&self) -> Option<i64> {
        let e = &self.event;
        (e.status != RawStatus::Quarantined)
            .then(|| (e.received_at + Duration::days(KEEP_HANDLED_DAYS)).timestamp())
    }
}

/// A piece of a body: UTF-8 text as is, anything else base64.
#[derive(Serialize, Deserialize)]
struct Part {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base64: Option<String>,
}

impl Part {
    /// Text when that is not bigger than base64 once JSON-escaped; base64 for binary, for
    /// text full of control characters, and for a piece that splitting cut mid-character.
    fn of(bytes: &[u8]) -> Part {
        match std::str::from_utf8(bytes) {
            Ok(text) if json_len(text) <= bytes.len() / 3 * 4 + 8 => Part {
                text: Some(text.into()),
                base64: None,
            },
            _ => Part {
                text: None,
                base64: Some(STANDARD.encode(bytes)),
            },
        }
    }

    fn bytes(self) -> Result<Vec<u8>, StoreError> {
        match (self.text, self.base64) {
            (Some(text), _) => Ok(text.into_bytes()),
            (None, Some(b64)) => STANDARD
                .decode(b64)
                .map_err(|e| StoreError::Corrupt(format!("raw body part: {e}"))),
            (None, None) => Ok(Vec::new()),
        }
    }
}

/// The length of `text` as a JSON string, as serde_json writes it, counted rather than
/// written (every webhook body passes here).
fn json_len(text: &str) -> usize {
    let escapes: usize = text
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\t' | b'\r' | 0x08 | 0x0c => 1,
            0..=0x1f => 5,
            _ => 0,
        })
        .sum();
    text.len() + 2 + escapes
}

/// Whether [`Store::keep_raw_event`] stored a new event or found the same delivery.
#[derive(Debug)]
pub enum Kept {
    New(RawEvent),
    Existing(RawEvent),
}

impl Store {
    pub async fn keep_raw_event(&self, event: &RawEvent, body: &[u8]) -> Result<Kept, StoreError> {
        let inline = (body.len() <= PART_BYTES).then(|| Part::of(body));
        if inline.is_none() {
            for (n, chunk) in body.chunks(PART_BYTES).enumerate() {
                let key = Key::new(format!("RAW#{}", event.id), format!("PART#{n:04}"));
                // The id comes from the body, so an existing part is this very part; writing
                // it only once keeps the expiry its event gave it.
                match self
                    .kv
                    .put(
                        &Item::new(key, json!(Part::of(chunk))),
                        Condition::NotExists,
                    )
                    .await
                {
                    Ok(()) | Err(StoreError::ConditionFailed) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let stored = StoredRaw {
            event: event.clone(),
            inline,
        };
        // One write: a repeat delivery is answered from the refusal itself (the store hands
        // the kept event back), so an exact duplicate costs one request.
        let put = Write::Put {
            item: encode(&stored)?,
            condition: Condition::NotExists,
        };
        match self.kv.write(&[put]).await? {
            Written::Done => Ok(Kept::New(event.clone())),
            Written::Refused(Some(existing)) => {
                Ok(Kept::Existing(decode::<StoredRaw>(existing)?.event))
            }
            // Refused without the item (a collision): read it.
            Written::Refused(None) => match self.raw_event(&event.id).await? {
                Some(existing) => Ok(Kept::Existing(existing)),
                None => Err(StoreError::Unavailable(
                    "raw event vanished while kept".into(),
                )),
            },
        }
    }

    /// The write of a handled event's outcome when it can go in the same transaction as what
    /// the event changed (its body inline, so the whole item is known without a read): the
    /// event as handled, with the body it was kept with. `None` for a body kept in parts: use
    /// [`Store::save_raw_outcome`].
    pub fn raw_outcome_write(
        &self,
        event: &RawEvent,
        body: &[u8],
    ) -> Result<Option<Write>, StoreError> {
        if body.len() > PART_BYTES {
            return Ok(None);
        }
        let stored = StoredRaw {
            event: event.clone(),
            inline: Some(Part::of(body)),
        };
        // Unconditional: whoever handles an event writes the same outcome of the same body.
        Ok(Some(Write::Put {
            item: encode(&stored)?,
            condition: Condition::Always,
        }))
    }

    pub async fn raw_event(&self, id: &str) -> Result<Option<RawEvent>, StoreError> {
        Ok(self
            .get_record::<StoredRaw>(&head_key(id))
            .await?
            .map(|s| s.event))
    }

    pub async fn raw_body(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(stored) = self.get_record::<StoredRaw>(&head_key(id)).await? else {
            return Ok(None);
        };
        if let Some(inline) = stored.inline {
            return inline.bytes().map(Some);
        }
        let mut query = Query::new(Index::Primary, format!("RAW#{id}"));
        query.sort = SortKey::BeginsWith("PART#".into());
        let mut body = Vec::new();
        loop {
            let page = self.kv.query(&query).await?;
            for item in page.items {
                let part: Part = serde_json::from_value(item.data)
                    .map_err(|e| StoreError::Corrupt(format!("raw body part: {e}")))?;
                body.extend(part.bytes()?);
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(Some(body)),
            }
        }
    }

    /// Records how handling went (status, reason, appeals, attempts). Parts of a big body
    /// follow the event's expiry.
    pub async fn save_raw_outcome(&self, event: &RawEvent) -> Result<(), StoreError> {
        let stored: StoredRaw = self
            .update_record(&head_key(&event.id), |current: Option<StoredRaw>| {
                let inline = current.and_then(|c| c.inline);
                std::future::ready(Ok::<_, StoreError>(StoredRaw {
                    event: event.clone(),
                    inline,
                }))
            })
            .await?;
        if let (None, Some(expires)) = (&stored.inline, stored.expires_at()) {
            let mut query = Query::new(Index::Primary, format!("RAW#{}", event.id));
            query.sort = SortKey::BeginsWith("PART#".into());
            for mut item in self.kv.query(&query).await?.items {
                item.expires_at = Some(expires);
                self.kv.put(&item, Condition::Always).await?;
            }
        }
        Ok(())
    }

    /// Raw events of an integration, newest first.
    pub async fn integration_raw_events(
        &self,
        integration: &IntegrationId,
        limit: usize,
        after: Option<Position>,
    ) -> Result<(Vec<RawEvent>, Option<Position>), StoreError> {
        self.raw_page(Index::Gsi1, keys::raws(integration.as_str()), limit, after)
            .await
    }

    /// An account's quarantined events, newest first.
    pub async fn quarantined(
        &self,
        account: &AccountId,
        limit: usize,
        after: Option<Position>,
    ) -> Result<(Vec<RawEvent>, Option<Position>), StoreError> {
        self.raw_page(
            Index::Gsi2,
            keys::quarantine(account.as_str()),
            limit,
            after,
        )
        .await
    }

    /// An account's events whose handling has not finished, newest first.
    pub async fn unfinished(
        &self,
        account: &AccountId,
        limit: usize,
        after: Option<Position>,
    ) -> Result<(Vec<RawEvent>, Option<Position>), StoreError> {
        self.raw_page(
            Index::Gsi2,
            keys::unfinished(account.as_str()),
            limit,
            after,
        )
        .await
    }

    /// An account's events received before `before` whose handling has not finished, oldest
    /// first: what the hourly run finishes.
    pub async fn unfinished_before(
        &self,
        account: &AccountId,
        before: chrono::DateTime<chrono::Utc>,
        limit: usize,
        after: Option<Position>,
    ) -> Result<(Vec<RawEvent>, Option<Position>), StoreError> {
        let mut query = Query::new(Index::Gsi2, keys::unfinished(account.as_str()));
        query.sort = SortKey::Between(String::new(), keys::time_key(before));
        query.limit = limit;
        query.after = after;
        let page = self.kv.query(&query).await?;
        let events = page
            .items
            .into_iter()
            .map(|i| decode::<StoredRaw>(i).map(|s| s.event))
            .collect::<Result<_, _>>()?;
        Ok((events, page.next))
    }

    async fn raw_page(
        &self,
        index: Index,
        pk: String,
        limit: usize,
        after: Option<Position>,
    ) -> Result<(Vec<RawEvent>, Option<Position>), StoreError> {
        let mut query = Query::new(index, pk);
        query.descending = true;
        query.limit = limit.clamp(1, 200);
        query.after = after;
        let page = self.kv.query(&query).await?;
        let events = page
            .items
            .into_iter()
            .map(|i| decode::<StoredRaw>(i).map(|s| s.event))
            .collect::<Result<_, _>>()?;
        Ok((events, page.next))
    }
}

#[cfg(test)]
mod tests {
    use super::json_len;

    #[test]
    fn a_json_string_is_counted_as_serde_json_writes_it() {
        let mut every_control: String = (0u8..0x20).map(char::from).collect();
        every_control.push_str("\"\\/ \u{7f} ё 😀");
        for text in [
            "",
            "plain",
            "Мария \"К\"\n\tC:\\path",
            every_control.as_str(),
        ] {
            assert_eq!(
                json_len(text),
                serde_json::json!(text).to_string().len(),
                "{text:?}"
            );
        }
    }
}
