//! Messages a provider sends one at a time (amoCRM's `message[add]` hooks), kept per
//! conversation: the appeal is made when the conversation closes, and may be made before or
//! after its messages arrive.

use super::kv::{Condition, Index, Item, Key, Query, SortKey, StoreError};
use super::{Store, keys};
use crate::domain::appeal::Message;
use crate::domain::ids::IntegrationId;
use chrono::Duration;

/// Messages of conversations that never close are dropped after this long.
const KEEP_DAYS: i64 = 90;

fn partition(integration: &IntegrationId, conversation: &str) -> String {
    format!("CONVO#{integration}#{conversation}")
}

impl Store {
    /// Keeps one message of a conversation; the same message twice is kept once.
    pub async fn collect_message(
        &self,
        integration: &IntegrationId,
        conversation: &str,
        message_id: &str,
        message: &Message,
    ) -> Result<(), StoreError> {
        let data = serde_json::to_value(message).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut item = Item::new(
            Key::new(
                partition(integration, conversation),
                format!("MSG#{}#{message_id}", keys::time_key(message.at)),
            ),
            data,
        );
        // Counted from now: the message may be old (a replay, a late hook).
        item.expires_at = Some((chrono::Utc::now() + Duration::days(KEEP_DAYS)).timestamp());
        self.kv.put(&item, Condition::Always).await
    }

    /// The conversation's messages, in time order.
    pub async fn collected_messages(
        &self,
        integration: &IntegrationId,
        conversation: &str,
    ) -> Result<Vec<Message>, StoreError> {
        let mut query = Query::new(Index::Primary, partition(integration, conversation));
        query.sort = SortKey::BeginsWith("MSG#".into());
        query.limit = 1000;
        let mut out = Vec::new();
        loop {
            let page = self.kv.query(&query).await?;
            for item in page.items {
                out.push(
                    serde_json::from_value::<Message>(item.data)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                );
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(out),
            }
        }
    }
}
