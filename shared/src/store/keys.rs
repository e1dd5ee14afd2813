//! The key design: every record of chatsource in one table, and the access pattern each
//! key serves. `template.yaml` declares the same attributes and indexes.
//!
//! | record | pk | sk | gsi1pk / gsi1sk | gsi2pk / gsi2sk | expires |
//! |---|---|---|---|---|---|
//! | account | `ACCOUNT#<id>` | `ACCOUNT` | `ACCOUNTS` / `<id>` | | |
//! | API key (by hash) | `APIKEY#<sha256>` | `APIKEY` | `KEYS#<account>` / `<created_at>#<sha256>` | | |
//! | console session (by hash of its cookie) | `CONSOLE#<sha256>` | `CONSOLE` | `KEYSESSIONS#<key sha256>` / `<sha256>` | | its expiry (idle) |
//! | site, source, campaign, employee, integration | `<KIND>#<id>` | `<KIND>` | `DIR#<account>` / `<KIND>#<id>` | | |
//! | appeal | `APPEAL#<id>` | `APPEAL` | `APPEALS#<account>` / `<created_at>#<id>` | `VISITOR#<integration>#<visitor>` / `<id>` | |
//! | session | `SESSION#<id>` | `SESSION` | | | last seen + 90 days |
//! | raw event | `RAW#<id>` | `RAW` | `RAWS#<integration>` / `<received_at>#<id>` | `QUARANTINE#<account>` / `<received_at>#<id>` while quarantined; `UNFINISHED#<account>` / `<received_at>#<id>` while `received` | received + 30 days unless quarantined |
//! | raw body part | `RAW#<id>` | `PART#<n>` | | | as its event |
//! | queued message (embedded queue) | `QMSG#<queue>#<id>` | `QMSG` | `QUEUE#<queue>` / `<visible_at>#<id>` | | sent + 14 days |
//! | dead-lettered message (embedded queue) | `QMSG#<queue>#<id>` | `QMSG` | `DLQ#<queue>` / `<parked_at>#<id>` | | sent + 14 days |
//! | deep-link code | `CODE#<code>` | `CODE` | | | as its session |
//! | OAuth tokens of a connection (and the refresh lease) | `TOKENS#<integration>` | `TOKENS` | `TOKENS` / `<obtained_at>#<integration>` | | |
//! | OAuth state (single use) | `OAUTHSTATE#<nonce>` | `OAUTHSTATE` | | | issued + its lifetime |
//! | the key OAuth states are signed with | `META#oauth-signing-key` | `META` | | | |
//! | pace of a CRM account (next free turn) | `RATE#amocrm#account#<account id>`, `RATE#bitrix24#member#<member id>` (before connecting: `RATE#<provider>#<host>`) | `RATE` | | | an hour idle |
//! | job waiting for a connection | `WAITJOB#<id>` | `WAITJOB` | `WAITING#<integration>` / `<since>#<id>` | | |
//! | a message collected for a conversation | `CONVO#<integration>#<conversation>` | `MSG#<at>#<id>` | | | kept + 90 days |
//! | CRM entity read and skipped | `SKIPPED#<integration>#<entity>` | `SKIPPED` | `SKIPPEDS#<integration>` / `<at>#<entity>` | | skipped + 90 days |
//! | reconciliation watermark | `WATERMARK#<integration>` | `WATERMARK` | | | |
//! | integration health: last appeal made, last job given up (written blind) | `HEALTH#<integration>` | `APPEAL`, `ERROR` | | | |
//! | a CRM's custom field list, as last read | `CRMFIELDS#<integration>` | `CRMFIELDS` | | | read + 10 minutes |
//!
//! Access patterns: an API key by digest (every API call), an account's keys (the keys page),
//! a console session by its cookie's digest (every page), a key's sessions (ended with it);
//! an integration, site or session by id (every webhook and tracker call);
//! the whole directory of an account in one query (attribution, settings API); an appeal by id
//! (conditional upsert); an account's appeals by creation time (listing, reports); a visitor's
//! appeals (Jivo `client_updated`); raw events of an integration by time; an account's
//! quarantined events, and its events whose handling did not finish (the hourly run finishes
//! them); the embedded queue's messages visible now, oldest first, and its
//! dead-letter queue (`shared::queue::embedded`; SQS holds them on AWS); every connection (the
//! hourly maintenance); the jobs waiting for one connection; a conversation's collected
//! messages; an integration's skipped CRM entities, newest first; an integration's health
//! marks in one query. Every index sort key
//! ends in a unique id, so cursors are exact.

use chrono::{DateTime, Utc};

/// Fixed-width UTC time, so byte order is time order.
pub fn time_key(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub fn entity(kind: &str, id: &str) -> super::Key {
    super::Key::new(format!("{kind}#{id}"), kind)
}

pub fn directory(account: &str) -> String {
    format!("DIR#{account}")
}

pub fn appeals(account: &str) -> String {
    format!("APPEALS#{account}")
}

pub fn visitor(integration: &str, visitor_ref: &str) -> String {
    format!("VISITOR#{integration}#{visitor_ref}")
}

pub fn raws(integration: &str) -> String {
    format!("RAWS#{integration}")
}

pub fn quarantine(account: &str) -> String {
    format!("QUARANTINE#{account}")
}

pub fn unfinished(account: &str) -> String {
    format!("UNFINISHED#{account}")
}

pub fn health(integration: &str) -> String {
    format!("HEALTH#{integration}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn time_keys_sort_as_times_do() {
        let a = Utc.timestamp_opt(999_999_999, 5_000).unwrap();
        let b = Utc.timestamp_opt(1_000_000_000, 0).unwrap();
        assert!(time_key(a) < time_key(b));
        assert_eq!(time_key(b), "2001-09-09T01:46:40.000000Z");
    }
}
