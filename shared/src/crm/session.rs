//! One session with a CRM: given an integration and a deadline, it hands out a valid access
//! token and paced calls. Every code path that talks to a CRM (the worker, the API's field
//! lists and OAuth callback, maintenance, reconciliation) goes through one, so three promises
//! hold everywhere:
//!
//! - **One refresh per single-use chain.** A refresh takes the pace turn first, then a lease
//!   (one conditional write), and starts only with time enough to finish; its result is
//!   stored only by the lease's holder (the fence). Whoever finds a lease that lapsed with no
//!   result cannot know whether the CRM consumed the refresh token, and spending it again
//!   would revoke the connection: the connection says `needs_reauth` with that reason, and
//!   the holder, if it comes back with the new pair, may still store it.
//! - **One pace per CRM account**, refreshes included, keyed by the account itself
//!   (`pace_key`): turns are reserved in order, so every caller is served fairly.
//! - **Deadlines.** No wait (a pace turn, another's lease, an HTTP request) outlives the
//!   session's deadline; what cannot be done in time fails as [`SessionError::OutOfTime`],
//!   before the CRM was asked, so the job can go back to the queue intact.

use crate::app::App;
use crate::clients::CallError;
use crate::clients::amocrm::Amocrm;
use crate::clients::bitrix24::Bitrix24;
use crate::domain::appeal::Provider;
use crate::domain::integration::Integration;
use crate::domain::net::check_provider_url;
use crate::domain::oauth::{Connection, Grant, Lease, Refresh, RefreshError, TokenError, Tokens};
use crate::domain::secret::{Secret, random_token};
use crate::store::StoreError;
use chrono::Utc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// When the caller's time is up (a Lambda invocation's deadline, a worker's batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(d: Duration) -> Deadline {
        Deadline(Instant::now() + d)
    }

    /// A deadline in Unix milliseconds, as the Lambda runtime gives it.
    pub fn at_unix_millis(ms: u64) -> Deadline {
        let left = ms.saturating_sub(unix_millis() as u64);
        Deadline::after(Duration::from_millis(left))
    }

    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// This deadline, `margin` sooner: time kept back to report or acknowledge.
    pub fn sooner_by(self, margin: Duration) -> Deadline {
        Deadline(self.0.checked_sub(margin).unwrap_or(self.0))
    }

    fn unix_millis(&self) -> i64 {
        unix_millis() + self.remaining().as_millis() as i64
    }
}

fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The session's time budget. The defaults suit the template's timeouts (API 10 s, worker
/// 30 s); tests shorten the lease to watch it lapse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The longest one CRM request may take (less when the deadline is nearer).
    pub request: Duration,
    /// No request is started with less time than this left.
    pub least_request: Duration,
    /// The longest a token refresh request may take.
    pub refresh: Duration,
    /// How long a refresh lease lasts: longer than a live holder can take to refresh and
    /// store the pair (the refresh request, then at most a few store writes), so it lapses
    /// only when its holder stopped.
    pub lease: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            request: Duration::from_secs(15),
            least_request: Duration::from_secs(2),
            refresh: Duration::from_secs(5),
            lease: Duration::from_secs(30),
        }
    }
}

/// Storing a refreshed pair takes a few store writes at most; a refresh is started only
/// with this much time left after its request.
const STORING: Duration = Duration::from_secs(2);
/// How often a waiting caller looks whether another's refresh has finished.
const LEASE_POLL: Duration = Duration::from_millis(150);
/// amoCRM's documented limit per account, for every request (the token endpoint included).
pub const AMOCRM_PER_SECOND: u32 = 7;
/// A standard portal's leaky bucket drains 2 requests a second (providers.md 4.7); Enterprise
/// portals drain faster, but nothing says which one a portal is.
pub const BITRIX24_PER_SECOND: u32 = 2;

/// Why a session could not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The CRM failed or refused the call itself.
    #[error(transparent)]
    Call(CallError),
    /// There is no token to call with: not connected, refused for good (the user must
    /// connect again), or its refresh cannot happen now.
    #[error(transparent)]
    Token(TokenError),
    /// The deadline leaves no room for the next step; nothing was spent on it.
    #[error("{0}")]
    OutOfTime(String),
    /// Our own store failed.
    #[error("{0}")]
    Unavailable(String),
}

pub struct Session<'a> {
    app: &'a App,
    integration: &'a Integration,
    deadline: Deadline,
    timing: Timing,
    /// Who this session is when it holds a refresh lease.
    holder: String,
    /// The access token last handed out, so a run of calls reads the store once.
    token: Mutex<Option<Secret>>,
}

impl<'a> Session<'a> {
    pub fn new(app: &'a App, integration: &'a Integration, deadline: Deadline) -> Session<'a> {
        Session {
            app,
            integration,
            deadline,
            timing: Timing::default(),
            holder: random_token(12),
            token: Mutex::new(None),
        }
    }

    pub fn with_timing(mut self, timing: Timing) -> Session<'a> {
        self.timing = timing;
        self
    }

    pub fn integration(&self) -> &'a Integration {
        self.integration
    }

    pub fn app(&self) -> &'a App {
        self.app
    }

    pub fn http(&self) -> &'a reqwest::Client {
        &self.app.http
    }

    pub fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// Makes `call` with a valid access token, at the account's pace, within the deadline.
    /// A refused token (401) is refreshed once, unless another worker already did, and the
    /// call repeated; refused again, the connection needs the user.
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, SessionError>
    where
        F: Fn(Secret, Duration) -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let token = self.token(Refresh::IfExpiring).await?;
        let refused = match self.paced(|timeout| call(token.clone(), timeout)).await {
            Err(SessionError::Call(CallError::Unauthorized(_))) if self.is_oauth() => token,
            other => return other,
        };
        let fresh = self.token(Refresh::Refused(&refused)).await?;
        match self.paced(|timeout| call(fresh.clone(), timeout)).await {
            Err(SessionError::Call(CallError::Unauthorized(reason))) => {
                let reason = format!(
                    "{} refused a fresh token: {reason}",
                    self.integration.provider.title()
                );
                // Kept even if this write fails: the next call finds out the same way.
                let _ = self
                    .app
                    .store
                    .needs_reauth(&self.integration.id, &reason, Utc::now())
                    .await;
                self.forget_token();
                Err(SessionError::Token(TokenError::NeedsReauth(reason)))
            }
            other => other,
        }
    }

    /// Makes `call` (one that needs no stored token: a code exchange, a first read with a new
    /// grant) at the account's pace, within the deadline; it gets its request timeout.
    pub async fn paced<T, F, Fut>(&self, call: F) -> Result<T, SessionError>
    where
        F: FnOnce(Duration) -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        self.check_addresses()?;
        self.turn(self.timing.least_request).await?;
        let timeout = self.request_timeout()?;
        match call(timeout).await {
            Ok(value) => Ok(value),
            // The deadline cut this request's timeout short: not the CRM's fault, and reads are
            // safe to make again in a later invocation.
            Err(CallError::TimedOut(_)) if timeout < self.timing.request => {
                Err(SessionError::OutOfTime(format!(
                    "{} did not answer before the deadline",
                    self.integration.provider.title()
                )))
            }
            Err(e) => Err(SessionError::Call(e)),
        }
    }

    /// Whether `calls` more requests can be had before the deadline at the account's pace as
    /// it stands: a job that cannot finish is better not started.
    pub async fn can_make(&self, calls: u32) -> Result<(), SessionError> {
        let Some((key, per_second)) = self.pace() else {
            return Ok(());
        };
        let next = self
            .app
            .store
            .next_free_turn(&key)
            .await
            .map_err(|e| SessionError::Unavailable(e.to_string()))?;
        let wait = Duration::from_millis((next - unix_millis()).max(0) as u64);
        let needed = wait + spacing(per_second) * calls + self.timing.least_request;
        if needed > self.deadline.remaining() {
            return Err(SessionError::OutOfTime(format!(
                "{}'s pace has no room for {calls} more requests before the deadline",
                self.integration.provider.title()
            )));
        }
        Ok(())
    }

    /// An access token to call with, refreshed first when `when` asks for it.
    pub async fn token(&self, when: Refresh<'_>) -> Result<Secret, SessionError> {
        if let Refresh::IfExpiring = when
            && let Some(token) = self.token.lock().ok().and_then(|t| t.clone())
        {
            return Ok(token);
        }
        let token = match self.integration.provider {
            Provider::Amocrm | Provider::Bitrix24 => self.oauth_token(when).await?,
            Provider::Verbox => self
                .integration
                .verbox
                .as_ref()
                .and_then(|v| v.rest_token.clone())
                .ok_or_else(|| {
                    SessionError::Call(CallError::Refused(
                        "the integration has no Verbox REST token; set one and replay".into(),
                    ))
                })?,
            Provider::Jivo => {
                return Err(SessionError::Call(CallError::Refused(
                    "Jivo has no API to call".into(),
                )));
            }
        };
        if let Ok(mut cached) = self.token.lock() {
            *cached = Some(token.clone());
        }
        Ok(token)
    }

    fn forget_token(&self) {
        if let Ok(mut cached) = self.token.lock() {
            *cached = None;
        }
    }

    fn is_oauth(&self) -> bool {
        matches!(
            self.integration.provider,
            Provider::Amocrm | Provider::Bitrix24
        )
    }

    /// The pace the CRM keeps for this integration's account.
    fn pace(&self) -> Option<(String, u32)> {
        pace_of(self.integration)
    }

    /// Waits for this caller's turn of the account's pace, if the turn leaves `then` before
    /// the deadline for what it is taken for.
    async fn turn(&self, then: Duration) -> Result<(), SessionError> {
        let Some((key, per_second)) = self.pace() else {
            return Ok(());
        };
        let latest = self.deadline.unix_millis() - then.as_millis() as i64;
        let turn = self
            .app
            .store
            .reserve_turn(&key, spacing(per_second), unix_millis, latest)
            .await
            .map_err(|e| SessionError::Unavailable(e.to_string()))?
            .ok_or_else(|| {
                SessionError::OutOfTime(format!(
                    "{}'s pace has no free turn before the deadline",
                    self.integration.provider.title()
                ))
            })?;
        let wait = turn.at_ms - unix_millis();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        Ok(())
    }

    /// A request's timeout: what the deadline leaves, at most [`Timing::request`].
    fn request_timeout(&self) -> Result<Duration, SessionError> {
        let left = self.deadline.remaining();
        if left < self.timing.least_request {
            return Err(SessionError::OutOfTime(format!(
                "too little time left to ask {}",
                self.integration.provider.title()
            )));
        }
        Ok(left.min(self.timing.request))
    }

    /// The stored tokens, refreshed under the protocol above when `when` asks for it.
    async fn oauth_token(&self, when: Refresh<'_>) -> Result<Secret, SessionError> {
        let store = &self.app.store;
        let id = &self.integration.id;
        let unavailable = |e: crate::store::StoreError| SessionError::Unavailable(e.to_string());
        let mut had_turn = false;
        loop {
            // A turn counts only for the look that follows it.
            let turn_taken = std::mem::take(&mut had_turn);
            let Some((version, tokens)) = store.tokens_versioned(id).await.map_err(unavailable)?
            else {
                return Err(SessionError::Token(TokenError::NotConnected));
            };
            if let Connection::NeedsReauth { reason, .. } = &tokens.state {
                return Err(SessionError::Token(TokenError::NeedsReauth(reason.clone())));
            }
            let now = Utc::now();
            if !tokens.wants_refresh(when, now) {
                return Ok(tokens.access_token);
            }
            let Some(refresh_token) = tokens.refresh_token.clone() else {
                return self.long_lived(when, tokens).await;
            };
            match &tokens.lease {
                Some(lease) if lease.until > now => {
                    // Another worker refreshes: wait for its pair, as long as we can afford.
                    if self.deadline.remaining() < self.timing.least_request + LEASE_POLL {
                        return Err(SessionError::OutOfTime(
                            "another worker's token refresh had not finished before the deadline"
                                .into(),
                        ));
                    }
                    tokio::time::sleep(jitter(LEASE_POLL)).await;
                    continue;
                }
                Some(_) => match self.lapsed(version, tokens).await? {
                    Some(reason) => {
                        return Err(SessionError::Token(TokenError::NeedsReauth(reason)));
                    }
                    None => continue,
                },
                None => {}
            }
            // Our refresh: only with time to finish it, after our turn of the pace.
            let needed = self.timing.refresh + STORING;
            if !turn_taken {
                if self.deadline.remaining() < needed {
                    return Err(SessionError::OutOfTime(
                        "too little time left to refresh the token".into(),
                    ));
                }
                self.turn(needed).await?;
                had_turn = true;
                continue;
            }
            let mut leased = tokens.clone();
            leased.lease = Some(Lease {
                holder: self.holder.clone(),
                until: now + chrono::Duration::from_std(self.timing.lease).unwrap_or_default(),
            });
            match store.replace_tokens(&leased, version).await {
                Ok(_) => {}
                // Someone else took the lease (or changed the tokens): look again.
                Err(crate::store::StoreError::ConditionFailed) => continue,
                Err(e) => return Err(unavailable(e)),
            }
            let result = self.spend(&refresh_token).await;
            return self.store_refresh(result).await;
        }
    }

    /// A long-lived token cannot be refreshed: refused means revoked.
    async fn long_lived(&self, when: Refresh<'_>, tokens: Tokens) -> Result<Secret, SessionError> {
        match when {
            Refresh::Refused(_) => {
                let reason = format!(
                    "{} refused the long-lived token",
                    self.integration.provider.title()
                );
                self.app
                    .store
                    .needs_reauth(&self.integration.id, &reason, Utc::now())
                    .await
                    .map_err(|e| SessionError::Unavailable(e.to_string()))?;
                Err(SessionError::Token(TokenError::NeedsReauth(reason)))
            }
            _ => Ok(tokens.access_token),
        }
    }

    /// A lease that lapsed with no result: its holder stopped after taking it, perhaps after
    /// the CRM consumed the refresh token. Spending the token again could revoke the
    /// connection, so it is not spent: the connection needs the user, honestly. The lease
    /// stays, so a holder that was only slow can still store its pair. `None`: the tokens
    /// changed meanwhile; look again.
    async fn lapsed(&self, version: u64, tokens: Tokens) -> Result<Option<String>, SessionError> {
        let reason = format!(
            "a token refresh stopped half-way (the worker making it ended before storing the \
             new tokens); {} may have used up the refresh token, so it is not spent again: \
             connect the integration again",
            self.integration.provider.title()
        );
        let mut dead = tokens;
        dead.state = Connection::NeedsReauth {
            since: Utc::now(),
            reason: reason.clone(),
        };
        match self.app.store.replace_tokens(&dead, version).await {
            Ok(_) => {
                tracing::warn!(integration_id = %self.integration.id, "a refresh lease lapsed; the connection needs the user");
                Ok(Some(reason))
            }
            Err(crate::store::StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(SessionError::Unavailable(e.to_string())),
        }
    }

    /// The integration's provider addresses, checked again at each request (settings saved
    /// before a rule existed, or by hand, are held to it too); names are checked by the
    /// client's resolver as it connects.
    fn check_addresses(&self) -> Result<(), SessionError> {
        let i = self.integration;
        let addresses = [
            i.verbox.as_ref().map(|v| v.rest_url.as_str()),
            i.amocrm.as_ref().map(|a| a.base_url.as_str()),
            i.bitrix24.as_ref().map(|b| b.portal_url.as_str()),
            i.bitrix24.as_ref().map(|b| b.oauth_url.as_str()),
        ];
        for url in addresses.into_iter().flatten() {
            check_provider_url(url, self.app.url_policy)
                .map_err(|e| SessionError::Call(CallError::Refused(e.to_string())))?;
        }
        Ok(())
    }

    /// Spends the refresh token at the provider's token endpoint.
    async fn spend(&self, refresh_token: &Secret) -> Result<Grant, RefreshError> {
        if let Err(SessionError::Call(e)) = self.check_addresses() {
            return Err(RefreshError::Unavailable(e.to_string()));
        }
        let (http, timeout) = (&self.app.http, self.timing.refresh);
        if let Some(settings) = &self.integration.amocrm {
            let client = Amocrm {
                http,
                settings,
                timeout,
            };
            return client.refresh(refresh_token).await;
        }
        if let Some(settings) = &self.integration.bitrix24 {
            let client = Bitrix24 {
                http,
                settings,
                timeout,
            };
            return client.refresh(refresh_token).await;
        }
        Err(RefreshError::Revoked(
            "the integration has no OAuth connection".into(),
        ))
    }

    /// Stores what the refresh gave, fenced on our lease: only while the stored tokens still
    /// carry it (lapsed or not) is the result ours to write. The new pair is written before it
    /// is handed out: losing it would leave a used refresh token behind.
    async fn store_refresh(
        &self,
        result: Result<Grant, RefreshError>,
    ) -> Result<Secret, SessionError> {
        let store = &self.app.store;
        let mut last = None;
        for attempt in 0..5u64 {
            let current = match store.tokens_versioned(&self.integration.id).await {
                Ok(current) => current,
                Err(e) => {
                    last = Some(e.to_string());
                    tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
                    continue;
                }
            };
            let Some((version, tokens)) = current.filter(|(_, t)| t.leased_to(&self.holder)) else {
                // The user connected again (or the integration was deleted) meanwhile: their
                // connection stands, and this result is not theirs.
                tracing::warn!(integration_id = %self.integration.id, "a refresh finished after its connection was replaced; its result is dropped");
                return Err(SessionError::Token(TokenError::Unavailable(
                    "the connection changed while its token was being refreshed".into(),
                )));
            };
            let now = Utc::now();
            let (next, outcome) = match &result {
                Ok(grant) => {
                    let fresh = Tokens::connected(
                        tokens.integration_id.clone(),
                        tokens.account_id.clone(),
                        grant.clone(),
                        now,
                    );
                    (fresh, Ok(grant.access_token.clone()))
                }
                Err(RefreshError::Revoked(reason)) => {
                    let mut dead = tokens.clone();
                    dead.lease = None;
                    dead.state = Connection::NeedsReauth {
                        since: now,
                        reason: reason.clone(),
                    };
                    (dead, Err(TokenError::NeedsReauth(reason.clone())))
                }
                // Not consumed as far as we know (an error answer, or no answer: then the new
                // pair is lost to us anyway, and a later try with the same token is the only
                // chance left): the lease is given back.
                Err(RefreshError::Unavailable(reason)) => {
                    let mut released = tokens.clone();
                    released.lease = None;
                    (released, Err(TokenError::Unavailable(reason.clone())))
                }
            };
            match store.replace_tokens(&next, version).await {
                Ok(_) => {
                    return match outcome {
                        Ok(token) => {
                            tracing::info!(integration_id = %self.integration.id, "token refreshed");
                            if let Ok(mut cached) = self.token.lock() {
                                *cached = Some(token.clone());
                            }
                            Ok(token)
                        }
                        Err(e) => Err(SessionError::Token(e)),
                    };
                }
                // Someone marked the connection meanwhile; our lease is still there: again.
                Err(crate::store::StoreError::ConditionFailed) => {}
                Err(e) => {
                    last = Some(e.to_string());
                    tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
                }
            }
        }
        tracing::error!(integration_id = %self.integration.id, error = ?last, "a refreshed token pair could not be stored");
        Err(SessionError::Token(TokenError::Unavailable(
            "the refreshed tokens could not be stored".into(),
        )))
    }
}

/// Turns this far apart keep every one-second window within `per_second`, with a little room
/// for clocks that disagree by a few milliseconds with the provider's.
/// The pace the CRM keeps for an integration's account: its key and requests a second.
fn pace_of(integration: &Integration) -> Option<(String, u32)> {
    if let Some(settings) = &integration.amocrm {
        return Some((settings.pace_key(), AMOCRM_PER_SECOND));
    }
    if let Some(settings) = &integration.bitrix24 {
        return Some((settings.pace_key(), BITRIX24_PER_SECOND));
    }
    // Verbox publishes no limit (providers.md: unknown); its calls are one per dialog.
    None
}

/// Connecting taught the CRM account's id, which keys its pace from now on: the turns taken
/// under the address before (the code exchange, the account read) carry over, or the first
/// calls after connecting would add a second budget to the first and run past the limit.
pub(crate) async fn carry_pace(
    app: &App,
    before: &Integration,
    after: &Integration,
) -> Result<(), StoreError> {
    let (Some((old, _)), Some((new, _))) = (pace_of(before), pace_of(after)) else {
        return Ok(());
    };
    if old == new {
        return Ok(());
    }
    let taken_until = app.store.next_free_turn(&old).await?;
    // A zero-width turn at that moment: the new key's next turn is no earlier than the old's.
    app.store
        .reserve_turn(&new, Duration::ZERO, || taken_until, i64::MAX)
        .await
        .map(|_| ())
}

fn spacing(per_second: u32) -> Duration {
    Duration::from_millis(1000 / u64::from(per_second.max(1)) + 15)
}

fn jitter(around: Duration) -> Duration {
    let ms = around.as_millis() as u64;
    Duration::from_millis(rand::random_range(ms / 2..=ms + ms / 2))
}
