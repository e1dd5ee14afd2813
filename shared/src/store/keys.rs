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
//! | a CRM entity as last read (its `DATE_MODIFY`: reconciliation by modification) | `SEEN#<integration>#<entity>` | `SEEN` | | | read + 90 days |
//! | integration health: last appeal made, last job given up (written blind) | `HEALTH#<integration>` | `APPEAL`, `ERROR` | | | |
//! | a CRM's custom field list, as last read | `CRMFIELDS#<integration>` | `CRMFIELDS` | | | read + 10 minutes |
//! | a CSV export made by a job (its filters, progress, outcome) | `EXPORT#<id>` | `EXPORT` | | | created + 2 days (its file: 1 day, the bucket's lifecycle) |
//! | report counters of an account's UTC hour (a counter item: one number per cell, see below) | `ROLLUP#<account>` | `<YYYY-MM-DDTHH>#<shard>` | | | |
//! | a person's appeal (phone or e-mail -> appeal, for repeats) | `PERSON#<account>#tel:+7...` or `#mailto:...` | `<appeal id>` | | | |
//! | a re-attribution run or backfill (scope, progress, moves) | `RUN#<account>` | `<run id>` (time-ordered) | | | |
//!
//! **Report counters.** Each appeal adds one to exactly one counter: its cell (campaign,
//! source, site, channel, provider, employee, kind, integration, `via`, first or repeat; see
//! `domain::rollup`) in the UTC hour it was made; hours give exact days in every whole-hour
//! zone. The counters change **in the same transaction as the appeal** (`TransactWriteItems`:
//! the appeal's conditional put and an `ADD` on the counter item), and the appeal keeps where
//! it was counted, so a retry, a duplicate or a lost race counts nothing twice (the losing
//! transaction writes nothing), and a move (re-attribution) takes one from exactly the counter
//! that got it. A change stream was the other way: it needs a second Lambda, its retries
//! need a guard per appeal version, and reports would lag; a transaction of two items costs
//! two writes and nothing else. A report reads the counter items of its hours
//! (`24 x shards` per day: O(days), never the appeals).
//!
//! Limits, at 50 new chats a second on one account (180,000 an hour):
//! - *Hot item.* DynamoDB cancels concurrent transactions on one item
//!   (`TransactionConflict`), and one item takes at most 1,000 writes a second. An hour's
//!   counters are spread over `shards` items by the appeal's id (4 on DynamoDB, so ~12.5
//!   counts a second each; a cancelled transaction is retried from a fresh read by
//!   `update_record_counted`, up to 32 times with jittered backoff). Only writes that change a
//!   cell touch a counter (a new appeal, a move): the many later events of a chat are plain
//!   puts. SQLite serializes its writers anyway: one shard.
//! - *Item size.* A counter is its cell's name (~100 bytes of ids) and a number, so one item
//!   holds ~3,500 distinct cells of one hour; an hour of 45,000 appeals per shard repeats far
//!   fewer combinations of campaign x source x site x channel x employee than that. An
//!   account whose hours would not fit (thousands of campaigns all active each hour) needs
//!   more shards: the count of shards is one constant, and reading merges them.
//! - *Transaction size.* An appeal's write is 1 put + at most 2 counter items (out of the old
//!   hour's shard, into the new one's): far under 100 items and 4 MB.
//!
//! **Person index.** One small item per (person key, appeal), written blind before the
//! repeat decision reads the person's partition, so of two appeals of one person made at once
//! each sees the other and the earlier is the first. A person's partition is read up to 500
//! items (in appeal-id order, which is not time order): a shop's own test phone with more
//! appeals than that may be called first where it is a repeat.
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
//! marks in one query; an account's report counters over a period (one query per period);
//! a person's appeals (the repeat decision); an account's runs, newest first. Every index sort key
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
