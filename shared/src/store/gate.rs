//! For tests only (feature `test-support`): the key-value port with a gate that holds back the
//! next write of chosen keys until released, so two writers of one record can be made to
//! interleave exactly as a lost update needs (the first reads, the second writes, the first
//! writes last). Races that happen rarely by chance then happen every time.

use super::kv::{Condition, CounterPage, Item, Key, Kv, Page, Query, StoreError, Write, Written};
use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

pub struct Gate {
    inner: Arc<dyn Kv>,
    /// The partition-key prefix whose next write is held, when one is armed.
    armed: Mutex<Option<String>>,
    held: Notify,
    release: Notify,
}

impl Gate {
    pub fn new(inner: Arc<dyn Kv>) -> Arc<Gate> {
        Arc::new(Gate {
            inner,
            armed: Mutex::new(None),
            held: Notify::new(),
            release: Notify::new(),
        })
    }

    /// The next write of a key whose partition starts with `prefix` (`APPEAL#`) waits.
    pub fn hold_next_write(&self, prefix: &str) {
        *self.armed.lock().expect("gate lock") = Some(prefix.to_owned());
    }

    /// Returns once a held write is waiting.
    pub async fn holding(&self) {
        self.held.notified().await;
    }

    /// Lets the held write go on.
    pub fn release(&self) {
        self.release.notify_one();
    }

    async fn wait_for_release(&self) {
        self.held.notify_one();
        self.release.notified().await;
    }

    fn catches_any(&self, writes: &[Write]) -> bool {
        writes.iter().any(|write| match write {
            Write::Put { item, .. } => self.catches(&item.key),
            Write::Count { key, .. } => self.catches(key),
        })
    }

    fn catches(&self, key: &Key) -> bool {
        let mut armed = self.armed.lock().expect("gate lock");
        match armed.as_deref() {
            Some(prefix) if key.pk.starts_with(prefix) => {
                *armed = None;
                true
            }
            _ => false,
        }
    }
}

#[async_trait]
impl Kv for Gate {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn put(&self, item: &Item, condition: Condition) -> Result<(), StoreError> {
        if self.catches(&item.key) {
            self.wait_for_release().await;
        }
        self.inner.put(item, condition).await
    }
    async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
    /// A transaction is a write of each of its items: held whole when one of them is caught.
    async fn transact(&self, writes: &[Write]) -> Result<(), StoreError> {
        if self.catches_any(writes) {
            self.wait_for_release().await;
        }
        self.inner.transact(writes).await
    }
    async fn write(&self, writes: &[Write]) -> Result<Written, StoreError> {
        if self.catches_any(writes) {
            self.wait_for_release().await;
        }
        self.inner.write(writes).await
    }
    async fn counters(&self, query: &Query) -> Result<CounterPage, StoreError> {
        self.inner.counters(query).await
    }
    fn counter_shards(&self) -> u32 {
        self.inner.counter_shards()
    }
}
