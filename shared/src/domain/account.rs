//! Accounts (tenants), their settings (time zone, repeat window, Yandex Metrika) and the API keys
//! that reach them. Keys are stored as SHA-256 digests:
//! they are long random tokens, so a fast hash is enough and lookup by digest is exact.

use crate::domain::ids::AccountId;
use crate::domain::secret::{Secret, sha256_hex};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Where the account's days begin and end (reports, exports). Records from before it
    /// existed read as [`DEFAULT_TIME_ZONE`].
    #[serde(default)]
    pub time_zone: TimeZone,
    /// How long after a person's appeal another one of theirs counts as a repeat.
    #[serde(default = "default_repeat_window")]
    pub repeat_window_days: u16,
    #[serde(default)]
    pub metrika: MetrikaSettings,
    /// What the scheduled upload to Metrika has done (written by maintenance only).
    #[serde(default)]
    pub metrika_upload: MetrikaUpload,
    /// Whether the appeals made before reports existed still need counting and indexing.
    #[serde(default)]
    pub backfill: Backfill,
}

/// The one-time backfill of an account's reports and person index (see `app::runs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backfill {
    /// An account stored before reports existed: maintenance starts its backfill.
    #[default]
    Needed,
    /// An account made since: every appeal it has was counted as it was made.
    NotNeeded,
    /// Started by maintenance, as this run.
    Started(crate::domain::ids::RunId),
}

impl Account {
    /// A new account with the default settings.
    pub fn new(id: AccountId, name: &str, now: DateTime<Utc>) -> Account {
        Account {
            id,
            name: name.to_owned(),
            created_at: now,
            time_zone: TimeZone::default(),
            repeat_window_days: DEFAULT_REPEAT_WINDOW_DAYS,
            metrika: MetrikaSettings::default(),
            metrika_upload: MetrikaUpload::default(),
            backfill: Backfill::NotNeeded,
        }
    }
}

/// The zone of accounts that never chose one: most of our users' customers are in Moscow time.
pub const DEFAULT_TIME_ZONE: &str = "Europe/Moscow";
pub const DEFAULT_REPEAT_WINDOW_DAYS: u16 = 30;
/// The repeat window an account may choose, in days.
pub const REPEAT_WINDOW_DAYS: std::ops::RangeInclusive<u16> = 1..=365;

fn default_repeat_window() -> u16 {
    DEFAULT_REPEAT_WINDOW_DAYS
}

/// An IANA time zone, known to exist (`Europe/Moscow`, `Asia/Yekaterinburg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone(chrono_tz::Tz);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IANA time zone name (like Europe/Moscow or Asia/Yekaterinburg)")]
pub struct UnknownTimeZone(pub String);

impl TimeZone {
    pub fn parse(name: &str) -> Result<TimeZone, UnknownTimeZone> {
        name.trim()
            .parse::<chrono_tz::Tz>()
            .map(TimeZone)
            .map_err(|_| UnknownTimeZone(name.to_owned()))
    }

    pub fn tz(self) -> chrono_tz::Tz {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The first moment of `date` in this zone: its midnight, or where a clock change skips
    /// midnight, the first moment of that day that exists.
    pub fn day_start(self, date: chrono::NaiveDate) -> DateTime<Utc> {
        use chrono::TimeZone as _;
        let midnight = date.and_time(chrono::NaiveTime::MIN);
        (0..96)
            .find_map(|quarter| {
                let local = midnight + chrono::Duration::minutes(15 * quarter);
                self.0.from_local_datetime(&local).earliest()
            })
            .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
    }
}

impl Default for TimeZone {
    fn default() -> TimeZone {
        TimeZone(chrono_tz::Europe::Moscow)
    }
}

impl TryFrom<String> for TimeZone {
    type Error = UnknownTimeZone;
    fn try_from(s: String) -> Result<TimeZone, UnknownTimeZone> {
        TimeZone::parse(&s)
    }
}

impl From<TimeZone> for String {
    fn from(tz: TimeZone) -> String {
        tz.name().to_owned()
    }
}

/// The account's Yandex Metrika counter, the goal its chats are sent as, and the OAuth token
/// the scheduled upload uses (write-only: the API shows it as set or unset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetrikaSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter_id: Option<u64>,
    /// The goal's identifier in Metrika (a JavaScript-event goal), the CSV's `Target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// Whether maintenance uploads the chats every hour.
    #[serde(default)]
    pub upload: bool,
}

impl MetrikaSettings {
    /// What an upload needs, when all of it is there.
    pub fn uploadable(&self) -> Option<(u64, &str, &Secret)> {
        Some((
            self.counter_id?,
            self.goal.as_deref()?,
            self.token.as_ref()?,
        ))
    }
}

/// How far the scheduled upload to Metrika has got, and how its last attempt went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetrikaUpload {
    /// Every conversion made before this was sent (or had no id Metrika can match); the next
    /// upload starts here, so none is sent twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_through: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_upload_at: Option<DateTime<Utc>>,
    /// Metrika's number for the last upload (its `uploading.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_upload_id: Option<u64>,
    /// Conversions the last upload carried.
    #[serde(default)]
    pub uploaded: u64,
    /// The last attempt's failure; cleared by the next success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<UploadError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadError {
    pub at: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// SHA-256 of the key, hex.
    pub digest: String,
    pub account_id: AccountId,
    pub created_at: DateTime<Utc>,
    /// What the owner calls it ("CRM sync", "Anna's laptop").
    #[serde(default)]
    pub name: String,
    /// When it last opened the account (kept to the minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// A revoked key opens nothing, and the console sessions it opened end with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn new(key: &str, account_id: AccountId, name: &str, now: DateTime<Utc>) -> ApiKey {
        ApiKey {
            digest: key_digest(key),
            account_id,
            created_at: now,
            name: name.to_owned(),
            last_used_at: None,
            revoked_at: None,
        }
    }

    /// The key's public id: names it in lists and URLs without revealing it.
    pub fn id(&self) -> String {
        format!("key_{}", &self.digest[..16.min(self.digest.len())])
    }

    pub fn is_live(&self) -> bool {
        self.revoked_at.is_none()
    }

    /// Whether its last use is worth writing down now (at most once a minute).
    pub fn stale_use(&self, now: DateTime<Utc>) -> bool {
        self.last_used_at
            .is_none_or(|at| now - at >= chrono::Duration::minutes(1))
    }
}

/// A signed-in browser: opened with an API key, held by an opaque cookie whose digest names
/// this record; it ends with sign-out, with its key's revocation, or after a while idle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSession {
    /// SHA-256 of the cookie's value, hex: the store never holds a usable cookie.
    pub digest: String,
    pub account_id: AccountId,
    /// The key it was opened with.
    pub key_digest: String,
    /// Every form of the session carries it, and every post must send it back.
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Shortest key we accept when a user chooses one (`--api-key`).
pub const MIN_KEY_LEN: usize = 16;

/// `cs_` and 48 hex digits (192 random bits): easy to spot in a config, safe in any header.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("cs_{}", hex::encode(bytes))
}

pub fn key_digest(key: &str) -> String {
    sha256_hex(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_stored_before_its_settings_existed_reads_with_the_defaults() {
        let old = serde_json::json!({"id": "acc_demo", "name": "Shop", "created_at": "2026-01-01T00:00:00Z"});
        let account: Account = serde_json::from_value(old).unwrap();
        assert_eq!(account.time_zone.name(), DEFAULT_TIME_ZONE);
        assert_eq!(account.repeat_window_days, 30);
        assert_eq!(account.metrika, MetrikaSettings::default());
        assert_eq!(account.metrika_upload, MetrikaUpload::default());
    }

    #[test]
    fn time_zones_are_iana_names_and_nothing_else() {
        assert_eq!(
            TimeZone::parse("Asia/Yekaterinburg").unwrap().name(),
            "Asia/Yekaterinburg"
        );
        assert_eq!(TimeZone::parse(" UTC ").unwrap().name(), "UTC");
        for bad in ["", "Moscow", "Europe/Atlantis", "+03:00", "europe/moscow"] {
            assert!(TimeZone::parse(bad).is_err(), "{bad}");
        }
        let stored: Result<Account, _> = serde_json::from_value(serde_json::json!(
            {"id": "acc_demo", "name": "Shop", "created_at": "2026-01-01T00:00:00Z", "time_zone": "Mars/Olympus"}
        ));
        assert!(stored.is_err());
    }

    #[test]
    fn a_day_starts_at_its_local_midnight_or_the_first_moment_after_a_skipped_one() {
        let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let moscow = TimeZone::default();
        assert_eq!(
            moscow.day_start(day("2026-11-03")).to_rfc3339(),
            "2026-11-02T21:00:00+00:00"
        );
        // Santiago moved its clocks from 00:00 to 01:00 on 2022-09-11.
        let santiago = TimeZone::parse("America/Santiago").unwrap();
        assert_eq!(
            santiago.day_start(day("2022-09-11")).to_rfc3339(),
            "2022-09-11T04:00:00+00:00"
        );
    }

    #[test]
    fn the_metrika_token_never_prints() {
        let mut account = Account::new(AccountId::parse("acc_demo").unwrap(), "Shop", Utc::now());
        account.metrika.token = Some(Secret::new("y0_secret"));
        assert!(!format!("{account:?}").contains("y0_secret"));
    }
}
