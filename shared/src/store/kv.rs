//! The storage port: items with a primary key, two secondary indexes, a version for
//! conditional writes and an expiry. DynamoDB implements it natively; SQLite emulates it.
//!
//! The contract (held by both adapters, checked by the contract suite):
//! - `put` with [`Condition::NotExists`] or [`Condition::Version`] fails with
//!   [`StoreError::ConditionFailed`] when the stored item does not match, atomically;
//! - queries return items in byte order of the sort key (ascending or descending), at most
//!   `limit` of them, and `next` to continue after the last one returned;
//! - items whose `expires_at` has passed are never returned, even before they are purged;
//! - an item's encoded size may not exceed [`MAX_ITEM_BYTES`] (DynamoDB's 400 KB, with room
//!   for the key attributes), so an oversize write fails on the laptop as it would on AWS;
//! - a key longer than DynamoDB's bounds is never found, and writing one fails as too large
//!   (an id of 2 KB in a URL is an unknown id, not a store outage);
//! - `transact` applies all its writes or none: when a put's condition fails, or (DynamoDB) the
//!   transaction collided with another on one of its items, it fails with
//!   [`StoreError::ConditionFailed`] and nothing is written, so a fresh read and a retry is
//!   always safe. A plain conditional `put` that collides with a transaction on its item
//!   (DynamoDB) fails the same way;
//! - a [`Write::Count`] adds its deltas in the store itself, so racing writers lose no
//!   increment; a counter nobody wrote reads as 0 and may go below 0. Counter items live under
//!   partition keys of their own and are read only with `counters` (never `get` or `query`);
//! - a transaction names at most [`MAX_TRANSACTION_ITEMS`] items, each once (the deltas of one
//!   counter item are merged first), of [`MAX_TRANSACTION_BYTES`] in all and at most
//!   [`MAX_COUNTERS_PER_WRITE`] counters per item: DynamoDB's bounds, refused beforehand on
//!   both adapters, so a transaction too big for AWS fails on the laptop too.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub const MAX_ITEM_BYTES: usize = 390 * 1024;
/// DynamoDB's bounds on key attributes: a partition key of 2,048 bytes, a sort key of 1,024.
/// A key past them names nothing: reading it finds nothing, writing it is refused.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
pub const MAX_SORT_KEY_BYTES: usize = 1024;
/// DynamoDB's bounds on one `TransactWriteItems`: 100 items, 4 MB in all.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;
/// Counters one write may change on one item: keeps DynamoDB's update expression
/// (`ADD #n0 :v0, ...`) well inside its 4 KB.
pub const MAX_COUNTERS_PER_WRITE: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Key {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    Primary,
    Gsi1,
    Gsi2,
}

impl Index {
    /// The names of the index's partition and sort key attributes, as in the template.
    pub fn attributes(self) -> (&'static str, &'static str) {
        match self {
            Index::Primary => ("pk", "sk"),
            Index::Gsi1 => ("gsi1pk", "gsi1sk"),
            Index::Gsi2 => ("gsi2pk", "gsi2sk"),
        }
    }

    pub fn name(self) -> Option<&'static str> {
        match self {
            Index::Primary => None,
            Index::Gsi1 => Some("gsi1"),
            Index::Gsi2 => Some("gsi2"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub key: Key,
    pub gsi1: Option<Key>,
    pub gsi2: Option<Key>,
    /// Bumped by every write of the item; conditional writes compare it.
    pub version: u64,
    /// Unix seconds after which the item is gone.
    pub expires_at: Option<i64>,
    pub data: Value,
}

impl Item {
    pub fn new(key: Key, data: Value) -> Item {
        Item {
            key,
            gsi1: None,
            gsi2: None,
            version: 1,
            expires_at: None,
            data,
        }
    }

    pub fn index_key(&self, index: Index) -> Option<&Key> {
        match index {
            Index::Primary => Some(&self.key),
            Index::Gsi1 => self.gsi1.as_ref(),
            Index::Gsi2 => self.gsi2.as_ref(),
        }
    }

    /// Bytes the item takes, counted as DynamoDB roughly does: names plus values.
    pub fn encoded_size(&self) -> usize {
        self.size_with_data(self.data.to_string().len())
    }

    /// As [`Item::encoded_size`], with `data` already encoded to `data_bytes` (an adapter that
    /// stores the encoding need not serialize the item twice).
    pub fn size_with_data(&self, data_bytes: usize) -> usize {
        let keys = [Some(&self.key), self.gsi1.as_ref(), self.gsi2.as_ref()]
            .into_iter()
            .flatten()
            .map(|k| k.pk.len() + k.sk.len() + 12)
            .sum::<usize>();
        keys + 40 + data_bytes
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// No item with this key may exist (an expired one does not count).
    NotExists,
    /// The stored item must have this version.
    Version(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    Any,
    BeginsWith(String),
    /// Inclusive on both ends.
    Between(String, String),
}

/// Where the previous page stopped: the last item's primary key and, on an index, its index
/// key. Opaque to callers; serialized into API cursors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub key: Key,
    pub index_key: Option<Key>,
}

#[derive(Debug, Clone)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub sort: SortKey,
    pub descending: bool,
    pub limit: usize,
    pub after: Option<Position>,
}

impl Query {
    pub fn new(index: Index, pk: impl Into<String>) -> Query {
        Query {
            index,
            pk: pk.into(),
            sort: SortKey::Any,
            descending: false,
            limit: 100,
            after: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Set when more items may follow.
    pub next: Option<Position>,
}

impl Page {
    /// The position after a given item of a query on `index`.
    pub fn position_of(item: &Item, index: Index) -> Position {
        Position {
            key: item.key.clone(),
            index_key: match index {
                Index::Primary => None,
                other => item.index_key(other).cloned(),
            },
        }
    }
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// As [`Kv::put`].
    Put { item: Item, condition: Condition },
    /// Adds each delta to the named counter of the counter item at `key` (a missing item or
    /// counter starts at 0). Counter items live under their own partition keys, never mixed
    /// with record items (their data is the counters, not a JSON `data`).
    Count {
        key: Key,
        deltas: Vec<(String, i64)>,
    },
}

/// One page of counter items, as [`Page`] is of items.
#[derive(Debug, Clone, Default)]
pub struct CounterPage {
    pub items: Vec<(Key, Counters)>,
    /// Set when more items may follow.
    pub next: Option<Position>,
}

/// The counters of one counter item, in name order. The names share one buffer: a report
/// reads a million counters, and a string of its own for each was a third of its time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    names: String,
    /// Where each name ends in `names`, and its value.
    ends: Vec<(usize, i64)>,
}

impl Counters {
    /// Adds a counter; names must come in increasing order (as both adapters read them).
    pub fn push(&mut self, name: &str, value: i64) {
        self.names.push_str(name);
        self.ends.push((self.names.len(), value));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&(end, value)| {
            let name = &self.names[start..end];
            start = end;
            (name, value)
        })
    }

    pub fn get(&self, name: &str) -> Option<i64> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// As a map (tests, small items).
    pub fn to_map(&self) -> BTreeMap<String, i64> {
        self.iter().map(|(n, v)| (n.to_owned(), v)).collect()
    }
}

impl<S: AsRef<str>> FromIterator<(S, i64)> for Counters {
    /// In any order: sorted by name here.
    fn from_iter<I: IntoIterator<Item = (S, i64)>>(pairs: I) -> Counters {
        let sorted: BTreeMap<String, i64> = pairs
            .into_iter()
            .map(|(n, v)| (n.as_ref().to_owned(), v))
            .collect();
        let mut counters = Counters::default();
        for (name, value) in &sorted {
            counters.push(name, value.to_owned());
        }
        counters
    }
}

/// What [`Kv::write`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// Every write landed.
    Done,
    /// Nothing landed: a condition failed, or (DynamoDB) the transaction collided with another.
    /// When the first write is a put whose condition failed on an item that exists, that item,
    /// so a create-if-absent that finds one needs no second read; else `None` (read it if
    /// needed).
    Refused(Option<Item>),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the stored item changed or exists already")]
    ConditionFailed,
    /// An item over [`MAX_ITEM_BYTES`] or with a key past DynamoDB's bounds (its size), or a
    /// transaction past the bounds of one (its size, or its number of items or counters).
    #[error("the write is over the store's limits ({0} bytes, items or counters)")]
    TooLarge(usize),
    /// The store could not be reached or refused for a passing reason; worth retrying.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// Data in the store that we cannot read back: a bug or a hand edit, not retryable. Also a
    /// transaction that writes one item twice (a bug in the caller).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

#[async_trait]
pub trait Kv: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    async fn put(&self, item: &Item, condition: Condition) -> Result<(), StoreError>;
    async fn delete(&self, key: &Key) -> Result<(), StoreError>;
    async fn query(&self, query: &Query) -> Result<Page, StoreError>;
    /// All the writes, or none: `ConditionFailed` when a put's condition fails or (DynamoDB) the
    /// transaction collided with another on one of its items (both are worth a fresh read and a
    /// retry). An empty transaction, or one of counts without deltas, writes nothing.
    async fn transact(&self, writes: &[Write]) -> Result<(), StoreError>;
    /// The counter items of `query` (primary index only, in sort-key order, paged like `query`),
    /// each with its counters. On a secondary index there are none: counter items have no
    /// index keys.
    async fn counters(&self, query: &Query) -> Result<CounterPage, StoreError>;
    /// As `transact` (one put alone is one conditional put), but a refusal is an answer, not
    /// an error, and carries the item that refused the first write when the store can say
    /// (DynamoDB returns it with the refusal: `ReturnValuesOnConditionCheckFailure`). This is
    /// how a write is tried first and a read paid only when it is refused. The default reads
    /// the item after a refusal.
    async fn write(&self, writes: &[Write]) -> Result<Written, StoreError> {
        match self.transact(writes).await {
            Ok(()) => Ok(Written::Done),
            Err(StoreError::ConditionFailed) => {
                let first = match writes.first() {
                    Some(Write::Put { item, .. }) => Some(&item.key),
                    _ => None,
                };
                let found = match first {
                    Some(key) => self.get(key).await?,
                    None => None,
                };
                Ok(Written::Refused(found))
            }
            Err(e) => Err(e),
        }
    }
    /// Into how many counter items one hot counter is spread: on DynamoDB concurrent
    /// transactions on one item cancel each other, so a busy account's counters are split
    /// (see `keys.rs`); a store that serializes its writes anyway needs one.
    fn counter_shards(&self) -> u32 {
        1
    }
}

/// A transaction as the adapters apply it: its puts, and per counter item the merged deltas
/// (DynamoDB refuses a transaction that names one item twice, and an update expression that
/// names one attribute twice).
#[cfg(any(feature = "sqlite", feature = "aws"))]
pub(crate) struct Plan<'a> {
    pub puts: Vec<(&'a Item, Condition)>,
    pub counts: BTreeMap<Key, BTreeMap<String, i64>>,
}

/// Merges and checks a transaction against DynamoDB's bounds before either adapter writes.
#[cfg(feature = "aws")]
pub(crate) fn plan(writes: &[Write]) -> Result<Plan<'_>, StoreError> {
    plan_sized(writes, Item::encoded_size)
}

/// As `plan`, with each put's size told by `size` (called once per put, in order): an adapter
/// that encodes the items anyway sizes its encoding instead of serializing each item again.
#[cfg(any(feature = "sqlite", feature = "aws"))]
pub(crate) fn plan_sized<'a>(
    writes: &'a [Write],
    mut size: impl FnMut(&'a Item) -> usize,
) -> Result<Plan<'a>, StoreError> {
    let mut plan = Plan {
        puts: Vec::new(),
        counts: BTreeMap::new(),
    };
    let mut bytes = 0;
    for write in writes {
        match write {
            Write::Put { item, condition } => {
                let item_bytes = size(item);
                check_size_of(item, item_bytes)?;
                bytes += item_bytes;
                plan.puts.push((item, *condition));
            }
            Write::Count { key, deltas } => {
                if !key_fits(key) {
                    return Err(StoreError::TooLarge(key.pk.len() + key.sk.len()));
                }
                if deltas.is_empty() {
                    continue;
                }
                let counters = plan.counts.entry(key.clone()).or_default();
                for (name, by) in deltas {
                    let sum = counters.entry(name.clone()).or_default();
                    *sum = sum.saturating_add(*by);
                }
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for key in plan.puts.iter().map(|(item, _)| &item.key) {
        // Two writes of one item have no order inside a transaction; and a record item is
        // never a counter item. Either is a bug in the caller, so it is not worth a retry.
        if !seen.insert(key) || plan.counts.contains_key(key) {
            return Err(StoreError::Corrupt(format!(
                "one transaction writes {} {} twice",
                key.pk, key.sk
            )));
        }
    }
    for (key, counters) in &plan.counts {
        if counters.len() > MAX_COUNTERS_PER_WRITE {
            return Err(StoreError::TooLarge(counters.len()));
        }
        // Names and numbers as DynamoDB counts them, numbers at their widest.
        bytes += key.pk.len() + key.sk.len() + 12;
        bytes += counters
            .keys()
            .map(|name| name.len() + 2 + 21)
            .sum::<usize>();
    }
    let items = plan.puts.len() + plan.counts.len();
    if items > MAX_TRANSACTION_ITEMS {
        return Err(StoreError::TooLarge(items));
    }
    if bytes > MAX_TRANSACTION_BYTES {
        return Err(StoreError::TooLarge(bytes));
    }
    Ok(plan)
}

#[cfg(feature = "aws")]
pub(crate) fn check_size(item: &Item) -> Result<(), StoreError> {
    check_size_of(item, item.encoded_size())
}

/// As `check_size`, for an item of `size` encoded bytes.
#[cfg(any(feature = "sqlite", feature = "aws"))]
pub(crate) fn check_size_of(item: &Item, size: usize) -> Result<(), StoreError> {
    let keys = [Some(&item.key), item.gsi1.as_ref(), item.gsi2.as_ref()];
    if size > MAX_ITEM_BYTES || !keys.into_iter().flatten().all(key_fits) {
        Err(StoreError::TooLarge(size))
    } else {
        Ok(())
    }
}

/// Whether a key is within the bounds every adapter keeps (a path segment a caller made up
/// can be far longer).
#[cfg(any(feature = "sqlite", feature = "aws"))]
pub(crate) fn key_fits(key: &Key) -> bool {
    key.pk.len() <= MAX_PARTITION_KEY_BYTES && key.sk.len() <= MAX_SORT_KEY_BYTES
}

#[cfg(any(feature = "sqlite", feature = "aws"))]
pub(crate) fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}
