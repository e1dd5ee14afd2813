//! The key-value port on DynamoDB: one table (`template.yaml`, resource `Table`) with the
//! attributes of [`super::keys`]. SDK types and errors stop here.
//!
//! DynamoDB deletes expired items lazily (within days), so reads filter on `expires_at` as the
//! contract requires. Secondary indexes are eventually consistent on AWS (moto answers them at
//! once): a record is readable by id at once, in listings a moment later.

use super::kv::{
    Condition, Index, Item, Key, Kv, Page, Position, Query, SortKey, StoreError, check_size,
    key_fits, now_unix,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

type Attrs = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct DynamoKv {
    client: Client,
    table: String,
}

impl DynamoKv {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoKv {
        DynamoKv {
            client,
            table: table.into(),
        }
    }
}

/// Maps an SDK failure to the port's error: the one place that knows DynamoDB error codes.
fn store_error<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = e.code().unwrap_or_default().to_owned();
    let message = e.message().unwrap_or_default().to_owned();
    match code.as_str() {
        "ConditionalCheckFailedException" => StoreError::ConditionFailed,
        "ValidationException" if message.contains("size") => StoreError::TooLarge(0),
        "" => StoreError::Unavailable(format!(
            "dynamodb: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        )),
        _ => StoreError::Unavailable(format!("dynamodb {code}: {message}")),
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key_attrs(key: &Key) -> Attrs {
    HashMap::from([("pk".into(), s(&key.pk)), ("sk".into(), s(&key.sk))])
}

fn to_attrs(item: &Item) -> Attrs {
    let mut a = key_attrs(&item.key);
    for (index, key) in [(Index::Gsi1, &item.gsi1), (Index::Gsi2, &item.gsi2)] {
        if let Some(key) = key {
            let (pkn, skn) = index.attributes();
            a.insert(pkn.into(), s(&key.pk));
            a.insert(skn.into(), s(&key.sk));
        }
    }
    a.insert("version".into(), n(item.version as i64));
    if let Some(at) = item.expires_at {
        a.insert("expires_at".into(), n(at));
    }
    a.insert("data".into(), s(&item.data.to_string()));
    a
}

fn text(a: &Attrs, name: &str) -> Option<String> {
    a.get(name)?.as_s().ok().cloned()
}

fn number(a: &Attrs, name: &str) -> Option<i64> {
    a.get(name)?.as_n().ok()?.parse().ok()
}

fn index_key(a: &Attrs, index: Index) -> Option<Key> {
    let (pkn, skn) = index.attributes();
    Some(Key {
        pk: text(a, pkn)?,
        sk: text(a, skn)?,
    })
}

fn from_attrs(a: &Attrs) -> Result<Item, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("item without {what}"));
    let key = index_key(a, Index::Primary).ok_or_else(|| corrupt("pk/sk"))?;
    let data = text(a, "data").ok_or_else(|| corrupt("data"))?;
    let data = serde_json::from_str(&data)
        .map_err(|e| StoreError::Corrupt(format!("{} {}: {e}", key.pk, key.sk)))?;
    Ok(Item {
        gsi1: index_key(a, Index::Gsi1),
        gsi2: index_key(a, Index::Gsi2),
        version: number(a, "version").unwrap_or(0) as u64,
        expires_at: number(a, "expires_at"),
        key,
        data,
    })
}

fn live(item: &Item) -> bool {
    item.expires_at.is_none_or(|at| at > now_unix())
}

/// A DynamoDB `LastEvaluatedKey` as a port position, and back.
fn position(a: &Attrs, index: Index) -> Option<Position> {
    Some(Position {
        key: index_key(a, Index::Primary)?,
        index_key: match index {
            Index::Primary => None,
            other => index_key(a, other),
        },
    })
}

fn start_key(p: &Position, index: Index) -> Attrs {
    let mut a = key_attrs(&p.key);
    if let (Some(k), Some(_)) = (&p.index_key, index.name()) {
        let (pkn, skn) = index.attributes();
        a.insert(pkn.into(), s(&k.pk));
        a.insert(skn.into(), s(&k.sk));
    }
    a
}

const LIVE: &str = "(attribute_not_exists(expires_at) OR expires_at > :now)";

#[async_trait]
impl Kv for DynamoKv {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        if !key_fits(key) {
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        match out.item {
            Some(a) => Ok(Some(from_attrs(&a)?).filter(live)),
            None => Ok(None),
        }
    }

    async fn put(&self, item: &Item, condition: Condition) -> Result<(), StoreError> {
        check_size(item)?;
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attrs(item)));
        let request = match condition {
            Condition::Always => request,
            // An expired item that DynamoDB has not deleted yet counts as absent.
            Condition::NotExists => request
                .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
                .expression_attribute_values(":now", n(now_unix())),
            Condition::Version(v) => request
                .condition_expression(format!("version = :v AND {LIVE}"))
                .expression_attribute_values(":v", n(v as i64))
                .expression_attribute_values(":now", n(now_unix())),
        };
        request.send().await.map_err(store_error)?;
        Ok(())
    }

    async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        if !key_fits(key) {
            return Ok(());
        }
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        if query.pk.len() > super::kv::MAX_PARTITION_KEY_BYTES {
            return Ok(Page::default());
        }
        // DynamoDB refuses an empty string in a key condition and a BETWEEN whose bounds are
        // reversed; the port allows both. No key is empty, so "" bounds nothing from below,
        // and nothing is at most "" or within reversed bounds.
        let sort = match &query.sort {
            SortKey::BeginsWith(prefix) if prefix.is_empty() => &SortKey::Any,
            SortKey::Between(lo, hi) if hi.is_empty() || lo > hi => return Ok(Page::default()),
            sort => sort,
        };
        let (pkn, skn) = query.index.attributes();
        let mut condition = "#pk = :pk".to_owned();
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(query.index.name().map(str::to_owned))
            .expression_attribute_names("#pk", pkn)
            .expression_attribute_values(":pk", s(&query.pk))
            .expression_attribute_values(":now", n(now_unix()))
            .filter_expression(LIVE)
            .scan_index_forward(!query.descending);
        match sort {
            SortKey::Any => {}
            SortKey::BeginsWith(prefix) => {
                condition.push_str(" AND begins_with(#sk, :lo)");
                request = request
                    .expression_attribute_names("#sk", skn)
                    .expression_attribute_values(":lo", s(prefix));
            }
            SortKey::Between(lo, hi) if lo.is_empty() => {
                condition.push_str(" AND #sk <= :hi");
                request = request
                    .expression_attribute_names("#sk", skn)
                    .expression_attribute_values(":hi", s(hi));
            }
            SortKey::Between(lo, hi) => {
                condition.push_str(" AND #sk BETWEEN :lo AND :hi");
                request = request
                    .expression_attribute_names("#sk", skn)
                    .expression_attribute_values(":lo", s(lo))
                    .expression_attribute_values(":hi", s(hi));
            }
        }
        let request = request.key_condition_expression(condition);

        // DynamoDB applies `Limit` before the filter that drops expired items, and stops at
        // 1 MB: a page can come back short, even empty, with more to read. Reading on until
        // the page is full keeps the port's promise that `next` follows the last item returned.
        let mut items = Vec::new();
        let mut start = query.after.as_ref().map(|p| start_key(p, query.index));
        loop {
            let wanted = query.limit.saturating_sub(items.len()).clamp(1, 1000);
            let out = request
                .clone()
                .limit(wanted as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(store_error)?;
            for a in out.items() {
                items.push(from_attrs(a)?);
            }
            match out.last_evaluated_key {
                Some(last) if items.len() < query.limit => start = Some(last),
                last => {
                    let next = last.and_then(|a| position(&a, query.index));
                    return Ok(Page { items, next });
                }
            }
        }
    }
}
