//! The job queue: slow provider work (fetching a transcript, a CRM lead) runs out of the
//! webhook's path, in the enrichment worker. SQS on AWS ([`sqs`]), the embedded queue on the
//! local store ([`embedded`]); both with the same semantics, held by one contract suite:
//!
//! - a received message is hidden for its visibility timeout and counted (`receive_count`);
//! - `delete` ends it; `retry_later` shows it again after a delay (the retry schedule);
//! - a message received more than `max_receives` times without being deleted goes to the
//!   dead-letter queue by itself (SQS: the redrive policy), so a crashing worker loses nothing;
//! - `park` puts a message in the dead-letter queue with the reason it was given up.

#[cfg(feature = "sqlite")]
pub mod embedded;
#[cfg(feature = "aws")]
pub mod sqs;

use async_trait::async_trait;
use std::time::Duration;

/// SQS holds a delayed message at most this long.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

/// A message as the worker receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message_id: String,
    /// What `delete` and `retry_later` take; it changes with every receive.
    pub receipt: String,
    pub body: String,
    /// 1 on the first receive.
    pub receive_count: u32,
}

/// A message in the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    pub message_id: String,
    pub body: String,
    /// Why it was given up; `None` when the queue moved it (received too often).
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached or refused for a passing reason; worth retrying.
    #[error("the queue is unavailable: {0}")]
    Unavailable(String),
    /// The receipt is unknown or stale (the message was received again, or deleted). The
    /// embedded queue always tells; SQS tells only on `retry_later` (its DeleteMessage with an
    /// old receipt succeeds without deleting), so callers never rely on it for correctness.
    #[error("no message with that receipt")]
    UnknownReceipt,
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues a message, visible after `delay` (at most [`MAX_DELAY`]).
    async fn send(&self, body: &str, delay: Duration) -> Result<(), QueueError>;

    /// Up to `max` (1 to 10) visible messages, each hidden for `visibility` and counted.
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError>;

    /// Handled: the message is gone.
    async fn delete(&self, receipt: &str) -> Result<(), QueueError>;

    /// Not now: the message shows again after `after` (at most 12 hours).
    async fn retry_later(&self, receipt: &str, after: Duration) -> Result<(), QueueError>;

    /// Given up: a message with this body and the reason goes to the dead-letter queue. The
    /// caller then deletes (or, on Lambda, acknowledges) the original.
    async fn park(&self, body: &str, reason: &str) -> Result<(), QueueError>;

    /// What the dead-letter queue holds, without taking it out.
    async fn parked(&self, max: usize) -> Result<Vec<Parked>, QueueError>;
}
