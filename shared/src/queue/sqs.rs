//! The queue port on SQS: `EnrichmentQueue` and its dead-letter queue (`template.yaml`).
//! SDK types and errors stop here.
//!
//! The redrive policy (`maxReceiveCount`) moves a message received too often to the
//! dead-letter queue; this adapter only reads it there. Receives are short polls: they answer
//! at once, and on AWS a short poll samples some of the queue's servers, so an empty answer
//! does not prove an empty queue (a worker polls again).

use super::{Delivery, MAX_DELAY, Parked, Queue, QueueError};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};
use std::time::Duration;

/// SQS hides a received message at most this long (and `retry_later` is bounded alike).
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

/// The message attribute that carries a parked message's reason.
const REASON: &str = "reason";

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dead_letter_url: String,
}

impl SqsQueue {
    pub fn new(
        client: Client,
        queue_url: impl Into<String>,
        dead_letter_url: impl Into<String>,
    ) -> SqsQueue {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
            dead_letter_url: dead_letter_url.into(),
        }
    }
}

/// Whole seconds, rounded up (a message must not show before it was asked to), at most `cap`.
fn seconds(d: Duration, cap: Duration) -> i32 {
    let d = d.min(cap);
    let whole = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(whole).unwrap_or(i32::MAX)
}

/// Maps an SDK failure to the port's error: the one place that knows SQS error codes.
fn queue_error<E, R>(e: SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match e.code() {
        Some(code) => classify(code, e.message().unwrap_or_default()),
        None => QueueError::Unavailable(format!(
            "sqs: {}",
            aws_sdk_sqs::error::DisplayErrorContext(&e)
        )),
    }
}

/// SQS answers a bad receipt three ways: `ReceiptHandleIsInvalid` for a string that was never
/// a receipt, `InvalidParameterValue` naming the `ReceiptHandle` parameter for one that
/// expired or was superseded by a later receive, and `MessageNotInflight` when the message is
/// no longer hidden. Query-compatible codes may carry the `AWS.SimpleQueueService.` prefix.
fn classify(code: &str, message: &str) -> QueueError {
    let bare = code.strip_prefix("AWS.SimpleQueueService.").unwrap_or(code);
    match bare {
        "ReceiptHandleIsInvalid" | "MessageNotInflight" => QueueError::UnknownReceipt,
        "InvalidParameterValue" if message.contains("ReceiptHandle") => QueueError::UnknownReceipt,
        _ => QueueError::Unavailable(format!("sqs {code}: {message}")),
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(seconds(delay, MAX_DELAY))
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(seconds(visibility, MAX_VISIBILITY))
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                Some(Delivery {
                    message_id: m.message_id?,
                    receipt: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect())
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }

    async fn retry_later(&self, receipt: &str, after: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds(after, MAX_VISIBILITY))
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }

    async fn park(&self, body: &str, reason: &str) -> Result<(), QueueError> {
        let reason = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(|e| QueueError::Unavailable(format!("sqs: {e}")))?;
        self.client
            .send_message()
            .queue_url(&self.dead_letter_url)
            .message_body(body)
            .message_attributes(REASON, reason)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }

    /// A peek: a receive with visibility 0, so the messages stay visible (each peek counts as
    /// a receive of theirs, which nothing on the dead-letter queue acts on). At most 10, and
    /// on AWS a sample of them (a short poll).
    async fn parked(&self, max: usize) -> Result<Vec<Parked>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.dead_letter_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(0)
            .wait_time_seconds(0)
            .message_attribute_names(REASON)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let reason = m
                    .message_attributes()
                    .and_then(|a| a.get(REASON))
                    .and_then(|v| v.string_value())
                    .map(str::to_owned);
                Some(Parked {
                    message_id: m.message_id?,
                    body: m.body.unwrap_or_default(),
                    reason,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_up_to_whole_seconds_within_the_cap() {
        let cap = Duration::from_secs(900);
        assert_eq!(seconds(Duration::ZERO, cap), 0);
        assert_eq!(seconds(Duration::from_millis(1), cap), 1);
        assert_eq!(seconds(Duration::from_secs(2), cap), 2);
        assert_eq!(seconds(Duration::from_millis(2001), cap), 3);
        assert_eq!(seconds(Duration::from_secs(3600), cap), 900);
    }

    #[test]
    fn bad_receipts_are_unknown_and_other_failures_unavailable() {
        let unknown = [
            (
                "ReceiptHandleIsInvalid",
                "The input receipt handle is invalid.",
            ),
            (
                "InvalidParameterValue",
                "Value AQEB for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.",
            ),
            ("AWS.SimpleQueueService.MessageNotInflight", ""),
        ];
        for (code, message) in unknown {
            assert!(
                matches!(classify(code, message), QueueError::UnknownReceipt),
                "{code}"
            );
        }
        let other = [
            (
                "InvalidParameterValue",
                "Value 99 for parameter MaxNumberOfMessages is invalid.",
            ),
            ("AWS.SimpleQueueService.NonExistentQueue", "no queue"),
            ("ThrottlingException", "slow down"),
        ];
        for (code, message) in other {
            match classify(code, message) {
                QueueError::Unavailable(text) => assert!(text.contains(code), "{text}"),
                e => panic!("{code}: {e:?}"),
            }
        }
    }
}
