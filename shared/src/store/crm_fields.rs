//! A CRM's list of custom fields, kept ten minutes after it is read. The integration form shows
//! the list on every view, and amoCRM restricts an IP that asks for the same data again and
//! again (providers.md 3.8): one read serves every view for a while. The list is kept with the
//! CRM account it was read from, so connecting another account reads afresh.

use super::Store;
use super::kv::{Condition, Key, StoreError};
use super::record::Record;
use crate::domain::ids::IntegrationId;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long a list read from the CRM is shown before it is read again.
pub const FIELDS_KEPT: Duration = Duration::minutes(10);

#[derive(Serialize, Deserialize)]
struct FieldList {
    integration_id: IntegrationId,
    /// The CRM account the list was read from (its pace key).
    crm_account: String,
    items: Vec<Value>,
    read_at: DateTime<Utc>,
}

fn key(integration: &IntegrationId) -> Key {
    Key::new(format!("CRMFIELDS#{}", integration.as_str()), "CRMFIELDS")
}

impl Record for FieldList {
    fn key(&self) -> Key {
        key(&self.integration_id)
    }
    fn expires_at(&self) -> Option<i64> {
        Some((self.read_at + FIELDS_KEPT).timestamp())
    }
}

impl Store {
    /// The field list of `crm_account` read for `integration` within [`FIELDS_KEPT`] of `now`,
    /// and when it was read.
    pub async fn crm_fields(
        &self,
        integration: &IntegrationId,
        crm_account: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Vec<Value>, DateTime<Utc>)>, StoreError> {
        let list: Option<FieldList> = self.get_record(&key(integration)).await?;
        Ok(list
            .filter(|l| l.crm_account == crm_account && now - l.read_at < FIELDS_KEPT)
            .map(|l| (l.items, l.read_at)))
    }

    /// Keeps the field list just read.
    pub async fn keep_crm_fields(
        &self,
        integration: &IntegrationId,
        crm_account: &str,
        items: Vec<Value>,
        read_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let list = FieldList {
            integration_id: integration.clone(),
            crm_account: crm_account.to_owned(),
            items,
            read_at,
        };
        self.put_record(&list, Condition::Always).await
    }
}
