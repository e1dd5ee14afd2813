//! Persistence: the key-value port ([`kv`]), the key design ([`keys`]), typed repositories on
//! top (one file per record family), and the adapters (DynamoDB, embedded SQLite).

mod accounts;
mod appeals;
mod conversations;
mod crm_fields;
mod crm_sync;
mod csv_exports;
mod directory;
mod health;
pub mod keys;
pub mod kv;
mod oauth_states;
pub mod objects;
mod people;
mod ratelimit;
mod raw_events;
pub mod record;
mod rollups;
mod runs;
mod sessions;
mod tokens;
mod waiting;

#[cfg(feature = "aws")]
pub mod dynamodb;
#[cfg(feature = "test-support")]
pub mod gate;
#[cfg(feature = "aws")]
pub mod s3;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use appeals::{AppealFilter, AppealPage, Search, StoredAppeal};
pub use crm_fields::FIELDS_KEPT;
pub use crm_sync::{SkipKind, Skipped};
pub use csv_exports::{CsvExport, CsvExportState, CsvProgress};
pub use directory::DirectoryEntity;
pub use health::{Health, HealthError};
pub use kv::{
    Condition, CounterPage, Counters, Index, Item, Key, Kv, Page, Position, Query, SortKey,
    StoreError, Write, Written,
};
pub use oauth_states::StateError;
pub use raw_events::Kept;
pub use record::Delta;
pub use waiting::WaitingJob;

use std::sync::Arc;

/// The repositories, over whichever adapter the process was wired with.
#[derive(Clone)]
pub struct Store {
    kv: Arc<dyn Kv>,
}

impl Store {
    pub fn new(kv: Arc<dyn Kv>) -> Store {
        Store { kv }
    }

    pub fn kv(&self) -> &Arc<dyn Kv> {
        &self.kv
    }
}

/// Cursors handed to API clients: a store position, base64url JSON. Opaque to them.
pub mod cursor {
    use super::Position;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    pub fn encode(position: &Position) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
    }

    pub fn decode(cursor: &str) -> Option<Position> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}
