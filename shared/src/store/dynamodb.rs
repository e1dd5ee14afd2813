//! The key-value port on DynamoDB: one table (`template.yaml`, resource `Table`) with the
//! attributes of [`super::keys`]. SDK types and errors stop here.
//!
//! A counter item keeps each counter as a top-level number attribute named `c#<name>`: `ADD`
//! works on no nested path, and no other attribute of ours starts so (`pk`, `version`, `data`).
//!
//! DynamoDB deletes expired items lazily (within days), so reads filter on `expires_at` as the
//! contract requires. Secondary indexes are eventually consistent on AWS (moto answers them at
//! once): a record is readable by id at once, in listings a moment later.

use super::kv::{
    Condition, CounterPage, Counters, Index, Item, Key, Kv, Page, Position, Query, SortKey,
    StoreError, Write, Written, check_size, key_fits, now_unix, plan,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use std::collections::{BTreeMap, HashMap};

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

/// A transaction's failure: cancelled for a failed condition, or for a collision with another
/// transaction on one of its items, it is worth a fresh read and a retry like a lost race.
fn transaction_error<R: std::fmt::Debug>(e: SdkError<TransactWriteItemsError, R>) -> StoreError {
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        e.as_service_error()
    {
        let reasons = cancelled.cancellation_reasons();
        if reasons.iter().any(|r| {
            matches!(
                r.code(),
                Some("ConditionalCheckFailed" | "TransactionConflict")
            )
        }) {
            return StoreError::ConditionFailed;
        }
        if reasons
            .iter()
            .any(|r| r.message().is_some_and(|m| m.contains("size")))
        {
            return StoreError::TooLarge(0);
        }
    }
    store_error(e)
}

fn build_error(e: BuildError) -> StoreError {
    StoreError::Unavailable(format!("dynamodb request: {e}"))
}

/// Counter attributes are named with this prefix (see the module's doc).
const COUNTER: &str = "c#";

/// A put's condition expression and the values it names, as `put` and `transact` send it.
fn condition_expression(condition: Condition) -> Option<(String, Attrs)> {
    match condition {
        Condition::Always => None,
        // An expired item that DynamoDB has not deleted yet counts as absent.
        Condition::NotExists => Some((
            "attribute_not_exists(pk) OR expires_at <= :now".into(),
            HashMap::from([(":now".into(), n(now_unix()))]),
        )),
        Condition::Version(v) => Some((
            format!("version = :v AND {LIVE}"),
            HashMap::from([(":v".into(), n(v as i64)), (":now".into(), n(now_unix()))]),
        )),
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

fn counters_of(a: &Attrs) -> Result<(Key, Counters), StoreError> {
    let key = index_key(a, Index::Primary)
        .ok_or_else(|| StoreError::Corrupt("counter item without pk/sk".into()))?;
    let mut counters = BTreeMap::new();
    for (attribute, value) in a {
        if let Some(name) = attribute.strip_prefix(COUNTER) {
            let value = value
                .as_n()
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("{} {}: counter {name} is no i64", key.pk, key.sk))
                })?;
            counters.insert(name.to_owned(), value);
        }
    }
    Ok((key, counters.into_iter().collect()))
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
        let (expression, values) = condition_expression(condition).unzip();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attrs(item)))
            .set_condition_expression(expression)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(|e| match e.code() {
                // The item is in a transaction under way: for a conditional write, as good as
                // a lost race (read again, retry); for an unconditional one, a passing refusal.
                Some("TransactionConflictException") if condition != Condition::Always => {
                    StoreError::ConditionFailed
                }
                _ => store_error(e),
            })?;
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
        let (found, next) = self.query_attrs(query).await?;
        let items = found.iter().map(from_attrs).collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    async fn transact(&self, writes: &[Write]) -> Result<(), StoreError> {
        let items = self.transact_items(writes, false)?;
        if items.is_empty() {
            return Ok(());
        }
        // The SDK gives the request an idempotency token, so its own retry after a lost answer
        // cannot apply the counts twice.
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(transaction_error)?;
        Ok(())
    }

    /// One request whatever it finds: a lone put is a `PutItem`, anything more one
    /// `TransactWriteItems`; either asks for the stored item back when the first put's
    /// condition fails, so the caller's next step needs no `GetItem`.
    async fn write(&self, writes: &[Write]) -> Result<Written, StoreError> {
        if let [Write::Put { item, condition }] = writes {
            check_size(item)?;
            let (expression, values) = condition_expression(*condition).unzip();
            let sent = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_attrs(item)))
                .set_condition_expression(expression)
                .set_expression_attribute_values(values)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            return match sent {
                Ok(_) => Ok(Written::Done),
                Err(e) => match e.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                        let found = failed.item().map(from_attrs).transpose()?;
                        Ok(Written::Refused(found.filter(live)))
                    }
                    _ if e.code() == Some("TransactionConflictException") => {
                        Ok(Written::Refused(None))
                    }
                    _ => Err(store_error(e)),
                },
            };
        }
        let items = self.transact_items(writes, true)?;
        if items.is_empty() {
            return Ok(Written::Done);
        }
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Written::Done),
            Err(e) => {
                // The first reason is the first put's (puts go first, in order).
                let first_refused = match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(cancelled))
                        if matches!(writes.first(), Some(Write::Put { .. })) =>
                    {
                        cancelled
                            .cancellation_reasons()
                            .first()
                            .filter(|r| r.code() == Some("ConditionalCheckFailed"))
                            .and_then(|r| r.item())
                            .map(from_attrs)
                            .transpose()?
                    }
                    _ => None,
                };
                match transaction_error(e) {
                    StoreError::ConditionFailed => Ok(Written::Refused(first_refused.filter(live))),
                    other => Err(other),
                }
            }
        }
    }

    /// See `keys.rs` (ROLLUP#): four items share an hour's counters.
    fn counter_shards(&self) -> u32 {
        4
    }
    async fn counters(&self, query: &Query) -> Result<CounterPage, StoreError> {
        if query.index != Index::Primary {
            return Ok(CounterPage::default());
        }
        let (found, next) = self.query_attrs(query).await?;
        let items = found.iter().map(counters_of).collect::<Result<_, _>>()?;
        Ok(CounterPage { items, next })
    }
}

impl DynamoKv {
    /// A transaction's items, puts first in their order; `return_first`: the first put asks
    /// for the stored item back when its condition fails.
    fn transact_items(
        &self,
        writes: &[Write],
        return_first: bool,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let plan = plan(writes)?;
        let mut items = Vec::with_capacity(plan.puts.len() + plan.counts.len());
        for (i, (item, condition)) in plan.puts.into_iter().enumerate() {
            let (expression, values) = condition_expression(condition).unzip();
            let mut put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_attrs(item)))
                .set_condition_expression(expression)
                .set_expression_attribute_values(values);
            if return_first && i == 0 {
                put = put.return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            }
            items.push(
                TransactWriteItem::builder()
                    .put(put.build().map_err(build_error)?)
                    .build(),
            );
        }
        for (key, counters) in &plan.counts {
            let mut update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key_attrs(key)));
            let mut adds = Vec::with_capacity(counters.len());
            for (i, (name, by)) in counters.iter().enumerate() {
                adds.push(format!("#n{i} :v{i}"));
                update = update
                    .expression_attribute_names(format!("#n{i}"), format!("{COUNTER}{name}"))
                    .expression_attribute_values(format!(":v{i}"), n(*by));
            }
            let update = update
                .update_expression(format!("ADD {}", adds.join(", ")))
                .build()
                .map_err(build_error)?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        Ok(items)
    }

    /// The attributes of the items of one page of `query`, and where to go on from.
    async fn query_attrs(
        &self,
        query: &Query,
    ) -> Result<(Vec<Attrs>, Option<Position>), StoreError> {
        if query.pk.len() > super::kv::MAX_PARTITION_KEY_BYTES {
            return Ok((Vec::new(), None));
        }
        // DynamoDB refuses an empty string in a key condition and a BETWEEN whose bounds are
        // reversed; the port allows both. No key is empty, so "" bounds nothing from below,
        // and nothing is at most "" or within reversed bounds.
        let sort = match &query.sort {
            SortKey::BeginsWith(prefix) if prefix.is_empty() => &SortKey::Any,
            SortKey::Between(lo, hi) if hi.is_empty() || lo > hi => return Ok((Vec::new(), None)),
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
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(last) if items.len() < query.limit => start = Some(last),
                last => {
                    let next = last.and_then(|a| position(&a, query.index));
                    return Ok((items, next));
                }
            }
        }
    }
}
