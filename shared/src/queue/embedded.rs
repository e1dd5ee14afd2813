//! The queue port on the store ([`Kv`]): the local twin of SQS for `chatsource serve`, with
//! the same semantics, so the embedded SQLite store needs no queue server beside it.
//!
//! Every message is one record, in the place it is now (see the table in
//! [`crate::store::keys`]):
//!
//! | message | pk | sk | gsi1pk / gsi1sk | expires |
//! |---|---|---|---|---|
//! | in the queue (waiting, delayed or in flight) | `QMSG#<queue>#<id>` | `QMSG` | `QUEUE#<queue>` / `<visible_at>#<id>` | sent + 14 days |
//! | in the dead-letter queue | `QMSG#<queue>#<id>` | `QMSG` | `DLQ#<queue>` / `<parked_at>#<id>` | sent + 14 days |
//!
//! `receive` reads gsi1 of `QUEUE#<queue>` up to "now" (fixed-width times sort as times do),
//! oldest visible first, and claims each message by writing its next state (hidden until
//! `now + visibility`, counted) conditionally on the version it read: of two receivers that
//! read the same message, one write fails and that receiver skips it. Moving a message to the
//! dead-letter queue only changes its gsi1 key, so it is the same single conditional write.
//! A receipt is `<id>:<receive_count>`: it names one receive, and stops working at the next.
//! `delete` first writes an already-expired tombstone on the version it checked (invisible to
//! every read at once), then removes the item. Messages expire as SQS's do
//! (`MessageRetentionPeriod` of both queues in `template.yaml`, counted from sending).

use super::{Delivery, MAX_DELAY, Parked, Queue, QueueError};
use crate::store::keys::time_key;
use crate::store::record::{Record, decode, encode};
use crate::store::{Condition, Index, Item, Key, Query, SortKey, Store, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// As `MessageRetentionPeriod` in `template.yaml`.
const RETENTION: Duration = Duration::from_secs(14 * 24 * 60 * 60);
/// As SQS: a message is hidden at most this long, and `retry_later` waits at most this long.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
/// Visible messages read per receive beyond those wanted, so that receivers racing for the
/// oldest ones still find others to claim.
const SPARE_CANDIDATES: usize = 16;
/// A receipt's message changes only by its holder or by a receive that makes the receipt
/// stale, so a few re-reads settle any race.
const ATTEMPTS: u32 = 5;

#[derive(Clone)]
pub struct EmbeddedQueue {
    store: Store,
    name: String,
    max_receives: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Message {
    queue: String,
    id: String,
    body: String,
    sent_at: DateTime<Utc>,
    receive_count: u32,
    place: Place,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "in", rename_all = "snake_case")]
enum Place {
    /// Received only once `visible_at` has passed.
    Queue { visible_at: DateTime<Utc> },
    /// `reason` is `None` when the queue moved it (received too often).
    DeadLetter {
        parked_at: DateTime<Utc>,
        reason: Option<String>,
    },
}

fn message_key(queue: &str, id: &str) -> Key {
    Key::new(format!("QMSG#{queue}#{id}"), "QMSG")
}

fn queue_pk(queue: &str) -> String {
    format!("QUEUE#{queue}")
}

fn dead_letter_pk(queue: &str) -> String {
    format!("DLQ#{queue}")
}

impl Record for Message {
    fn key(&self) -> Key {
        message_key(&self.queue, &self.id)
    }

    fn gsi1(&self) -> Option<Key> {
        Some(match &self.place {
            Place::Queue { visible_at } => Key::new(
                queue_pk(&self.queue),
                format!("{}#{}", time_key(*visible_at), self.id),
            ),
            Place::DeadLetter { parked_at, .. } => Key::new(
                dead_letter_pk(&self.queue),
                format!("{}#{}", time_key(*parked_at), self.id),
            ),
        })
    }

    fn expires_at(&self) -> Option<i64> {
        Some(later(self.sent_at, RETENTION).timestamp())
    }
}

impl Message {
    fn receipt(&self) -> String {
        format!("{}:{}", self.id, self.receive_count)
    }
}

fn later(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// `(id, receive_count)` of a receipt; a message never received has no receipt.
fn parse_receipt(receipt: &str) -> Option<(&str, u32)> {
    let (id, count) = receipt.rsplit_once(':')?;
    let count: u32 = count.parse().ok()?;
    (count > 0 && !id.is_empty()).then_some((id, count))
}

fn unavailable(e: StoreError) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

impl EmbeddedQueue {
    /// The queue `name` on `store`; a message received more than `max_receives` times without
    /// being deleted goes to its dead-letter queue (as SQS's `maxReceiveCount`).
    pub fn new(store: Store, name: &str, max_receives: u32) -> EmbeddedQueue {
        EmbeddedQueue {
            store,
            name: name.to_owned(),
            max_receives,
        }
    }

    /// The enrichment job queue, with the redrive limit of the template's `EnrichmentQueue`
    /// (`maxReceiveCount: 8`): what `chatsource serve` and every test of the worker use.
    pub fn enrichment(store: Store) -> EmbeddedQueue {
        EmbeddedQueue::new(store, "enrichment", 8)
    }

    /// Messages in the queue, visible or not (waiting, delayed, in flight); parked ones are not
    /// counted. Reads them all: for a local worker's status and for tests, not a hot path.
    pub async fn len(&self) -> Result<usize, QueueError> {
        let mut query = Query::new(Index::Gsi1, queue_pk(&self.name));
        query.limit = 500;
        let mut count = 0;
        loop {
            let page = self.store.kv().query(&query).await.map_err(unavailable)?;
            count += page.items.len();
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(count),
            }
        }
    }

    pub async fn is_empty(&self) -> Result<bool, QueueError> {
        Ok(self.len().await? == 0)
    }

    /// Writes `message` over the stored item if that is still at `version`; `false` when
    /// someone wrote in between.
    async fn replace(&self, message: &Message, version: u64) -> Result<bool, QueueError> {
        let mut item = encode(message).map_err(unavailable)?;
        item.version = version + 1;
        self.put(&item, Condition::Version(version)).await
    }

    async fn put(&self, item: &Item, condition: Condition) -> Result<bool, QueueError> {
        match self.store.kv().put(item, condition).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The message a receipt names, with its version, if the receipt is still its latest.
    async fn held(&self, receipt: &str) -> Result<(Message, u64), QueueError> {
        let (id, count) = parse_receipt(receipt).ok_or(QueueError::UnknownReceipt)?;
        let key = message_key(&self.name, id);
        let item = self.store.kv().get(&key).await.map_err(unavailable)?;
        let item = item.ok_or(QueueError::UnknownReceipt)?;
        let version = item.version;
        let message: Message = decode(item).map_err(unavailable)?;
        match message.place {
            Place::Queue { .. } if message.receive_count == count => Ok((message, version)),
            _ => Err(QueueError::UnknownReceipt),
        }
    }

    async fn enqueue(&self, body: &str, place: Place) -> Result<(), QueueError> {
        let message = Message {
            queue: self.name.clone(),
            id: uuid::Uuid::now_v7().simple().to_string(),
            body: body.to_owned(),
            sent_at: Utc::now(),
            receive_count: 0,
            place,
        };
        let item = encode(&message).map_err(unavailable)?;
        match self.put(&item, Condition::NotExists).await? {
            true => Ok(()),
            false => Err(QueueError::Unavailable(format!(
                "message id {} taken",
                message.id
            ))),
        }
    }
}

fn raced() -> QueueError {
    QueueError::Unavailable("the message kept changing under us".into())
}

#[async_trait]
impl Queue for EmbeddedQueue {
    async fn send(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        let visible_at = later(Utc::now(), delay.min(MAX_DELAY));
        self.enqueue(body, Place::Queue { visible_at }).await
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        let max = max.clamp(1, 10);
        let now = Utc::now();
        // Every gsi1 key of a message visible now is below this one: `$` follows `#`.
        let visible = SortKey::Between(String::new(), format!("{}$", time_key(now)));
        let query = Query {
            sort: visible,
            limit: max + SPARE_CANDIDATES,
            ..Query::new(Index::Gsi1, queue_pk(&self.name))
        };
        let page = self.store.kv().query(&query).await.map_err(unavailable)?;
        let mut out = Vec::new();
        for item in page.items {
            if out.len() == max {
                break;
            }
            let version = item.version;
            let mut message: Message = decode(item).map_err(unavailable)?;
            match message.place {
                Place::Queue { visible_at } if visible_at <= now => {}
                _ => continue,
            }
            if message.receive_count >= self.max_receives {
                message.place = Place::DeadLetter {
                    parked_at: now,
                    reason: None,
                };
                // Lost race or not, the message is not ours to deliver.
                self.replace(&message, version).await?;
                continue;
            }
            message.receive_count += 1;
            message.place = Place::Queue {
                visible_at: later(now, visibility.min(MAX_VISIBILITY)),
            };
            if self.replace(&message, version).await? {
                out.push(Delivery {
                    receipt: message.receipt(),
                    message_id: message.id,
                    body: message.body,
                    receive_count: message.receive_count,
                });
            }
        }
        Ok(out)
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        for _ in 0..ATTEMPTS {
            let (message, version) = self.held(receipt).await?;
            let mut tombstone = encode(&message).map_err(unavailable)?;
            tombstone.version = version + 1;
            tombstone.expires_at = Some(Utc::now().timestamp() - 1);
            if self.put(&tombstone, Condition::Version(version)).await? {
                // Already invisible; should this fail, the store's expiry purge reclaims it.
                let _ = self.store.kv().delete(&tombstone.key).await;
                return Ok(());
            }
        }
        Err(raced())
    }

    async fn retry_later(&self, receipt: &str, after: Duration) -> Result<(), QueueError> {
        for _ in 0..ATTEMPTS {
            let (mut message, version) = self.held(receipt).await?;
            message.place = Place::Queue {
                visible_at: later(Utc::now(), after.min(MAX_VISIBILITY)),
            };
            if self.replace(&message, version).await? {
                return Ok(());
            }
        }
        Err(raced())
    }

    async fn park(&self, body: &str, reason: &str) -> Result<(), QueueError> {
        let place = Place::DeadLetter {
            parked_at: Utc::now(),
            reason: Some(reason.to_owned()),
        };
        self.enqueue(body, place).await
    }

    /// Oldest first, at most 10 (as SQS answers), untouched.
    async fn parked(&self, max: usize) -> Result<Vec<Parked>, QueueError> {
        let query = Query {
            limit: max.clamp(1, 10),
            ..Query::new(Index::Gsi1, dead_letter_pk(&self.name))
        };
        let page = self.store.kv().query(&query).await.map_err(unavailable)?;
        page.items
            .into_iter()
            .map(|item| {
                let message: Message = decode(item).map_err(unavailable)?;
                let reason = match message.place {
                    Place::DeadLetter { reason, .. } => reason,
                    Place::Queue { .. } => None,
                };
                Ok(Parked {
                    message_id: message.id,
                    body: message.body,
                    reason,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_names_a_message_and_one_of_its_receives() {
        assert_eq!(parse_receipt("0190abc:3"), Some(("0190abc", 3)));
        assert_eq!(parse_receipt("a:b:2"), Some(("a:b", 2)));
        for bad in ["", "abc", "abc:", ":1", "abc:0", "abc:-1", "abc:x"] {
            assert_eq!(parse_receipt(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_message_sorts_in_its_queue_by_when_it_shows() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let message = Message {
            queue: "enrichment".into(),
            id: "m1".into(),
            body: "{}".into(),
            sent_at: t,
            receive_count: 0,
            place: Place::Queue { visible_at: t },
        };
        assert_eq!(message.key(), Key::new("QMSG#enrichment#m1", "QMSG"));
        assert_eq!(
            message.gsi1(),
            Some(Key::new(
                "QUEUE#enrichment",
                "2023-11-14T22:13:20.000000Z#m1"
            ))
        );
        assert_eq!(message.expires_at(), Some(1_700_000_000 + 14 * 24 * 3600));
    }
}
