//! What every write of an appeal decides besides its facts, in one place for the webhook path,
//! the enrichment worker, re-attribution runs and the backfill: its session, employee and
//! attribution, whether it is a repeat, and where the reports count it.
//!
//! Attribution is decided when the appeal is made and then only again when its evidence
//! changes (a session found later, tags that arrived with a later event) or when a
//! re-attribution run asks; either change is recorded in the appeal's history. A later event
//! that brings nothing new never moves an old appeal with today's settings.

use crate::app::App;
use crate::domain::appeal::{Appeal, Author, LookupSource, SessionLookup};
use crate::domain::attribution::{attribute, evidence, why_again};
use crate::domain::channel_group;
use crate::domain::deeplink::{Code, find_session_id};
use crate::domain::directory::Directory;
use crate::domain::integration::Integration;
use crate::domain::rollup::Cell;
use crate::domain::session::Session;
use crate::store::{Delta, Store, StoreError, StoredAppeal};
use chrono::{DateTime, Duration, Utc};

/// Why a write settles the appeal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occasion<'a> {
    /// The appeal is being made: everything is decided.
    Made,
    /// A later event or an enrichment changed its facts: attribution is decided again only on
    /// new evidence.
    Changed,
    /// A re-attribution run: attribution and repeat are decided again with today's settings,
    /// the change recorded under the run's id.
    Run(&'a str),
    /// Someone replayed a kept webhook body: attribution is decided again with today's
    /// settings, the change recorded.
    Replay,
}

/// Sessions looked up for one write of an appeal, by what was looked up: the write may be
/// attempted again (a create that found the appeal, a lost race), and a session read in the
/// first attempt a few milliseconds before is as good in the next.
#[derive(Default)]
pub struct Looked(std::sync::Mutex<std::collections::HashMap<(bool, String), Option<Session>>>);

impl Looked {
    fn get(&self, code: bool, key: &str) -> Option<Option<Session>> {
        self.0.lock().ok()?.get(&(code, key.to_owned())).cloned()
    }

    fn keep(&self, code: bool, key: &str, found: &Option<Session>) {
        if let Ok(mut map) = self.0.lock() {
            map.insert((code, key.to_owned()), found.clone());
        }
    }
}

/// Settles `stored` for this write (it may run more than once per write: see
/// `update_record`; its only writes, the person index, are idempotent). `looked` carries the
/// sessions read by earlier attempts of the same write.
pub async fn settle(
    app: &App,
    integration: &Integration,
    dir: &Directory,
    stored: &mut StoredAppeal,
    occasion: Occasion<'_>,
    now: DateTime<Utc>,
    looked: &Looked,
) -> Result<(), StoreError> {
    let appeal = &mut stored.appeal;
    let (session, lookup) = find_session(app, appeal, looked).await?;
    if let Some(session) = &session {
        appeal.session = session.overlay(&appeal.session);
    }
    appeal.employee = dir.employee_for(
        appeal.provider,
        appeal.agent.as_ref(),
        integration.default_employee_id.as_ref(),
    );
    let basis = evidence(appeal, lookup.as_ref());
    // Whether to decide again, and (for a change of an existing answer) why and by which run.
    let again: Option<(Option<String>, Option<&str>)> = match (occasion, stored.evidence.as_deref())
    {
        (Occasion::Made, _) => Some((None, None)),
        (Occasion::Run(run), _) => Some((Some(String::new()), Some(run))),
        (Occasion::Replay, _) => Some((
            Some("A kept webhook body was replayed with the settings of the day".to_owned()),
            None,
        )),
        (Occasion::Changed, Some(before)) if before != basis => Some((
            Some(why_again(
                appeal.attribution.session_lookup.as_ref(),
                lookup.as_ref(),
            )),
            None,
        )),
        // Nothing new; or an appeal made before evidence was kept, whose answer stands
        // until a run decides it again.
        (Occasion::Changed, _) => None,
    };
    if let Some((reason, run)) = again {
        let next = attribute(appeal, lookup.as_ref(), dir, integration);
        match reason {
            None => appeal.attribution = next,
            Some(reason) => {
                // A run's reason is what today's settings say, in the new answer's words.
                let reason = match reason.is_empty() {
                    true => format!(
                        "Re-attributed with the settings of the day: {}",
                        next.detail
                    ),
                    false => reason,
                };
                appeal.reattribute(next, &reason, run, now);
            }
        }
    }
    stored.evidence = Some(basis);
    let own_hosts: Vec<&str> = dir.sites.iter().map(|s| s.domain.as_str()).collect();
    appeal.channel_group = Some(channel_group::of(
        &appeal.session,
        &appeal.channel,
        &own_hosts,
    ));
    appeal.bound();
    match occasion {
        // Decided once the appeal exists: see `after_made`.
        Occasion::Made => {
            let keys = stored.appeal.contact.person_keys();
            stored.appeal.repeat = false;
            stored.repeat_decided = !keys.is_empty();
            stored.people = keys;
        }
        _ => repeat(app, dir, stored, matches!(occasion, Occasion::Run(_))).await?,
    }
    stored.counted = Some(Cell::counted(&stored.appeal));
    Ok(())
}

/// Decides whether an appeal just made is a repeat, now that it exists: its person keys into
/// the index (one write), then each person's appeals read (one query each); a repeat is
/// written back (one more write, with its counters moved). Done after the appeal's own write,
/// not inside it, so an event that only updates an appeal pays none of this, and an appeal's
/// index entries precede its decision: of two appeals of one person made at once, each sees
/// the other and the earlier one stays the first. A process killed between the two writes
/// leaves a repeat counted as a first one (a re-attribution run decides it again).
pub async fn after_made(
    app: &App,
    dir: &Directory,
    stored: StoredAppeal,
) -> Result<StoredAppeal, StoreError> {
    let a = &stored.appeal;
    if stored.people.is_empty() {
        return Ok(stored);
    }
    app.store
        .index_people(&a.account_id, &stored.people, &a.id, a.created_at)
        .await?;
    if !is_repeat(app, dir, a, &stored.people).await? {
        return Ok(stored);
    }
    let key = crate::store::keys::entity("APPEAL", a.id.as_str());
    app.store
        .update_record_counted(
            &key,
            |current: Option<StoredAppeal>| async move {
                let mut stored = current
                    .ok_or_else(|| StoreError::Corrupt("an appeal just made vanished".into()))?;
                stored.appeal.repeat = true;
                stored.repeat_decided = true;
                stored.counted = Some(Cell::counted(&stored.appeal));
                Ok(stored)
            },
            counts(&app.store),
        )
        .await
}

/// Whether another appeal of one of `people` was made within the window before `a`.
async fn is_repeat(
    app: &App,
    dir: &Directory,
    a: &Appeal,
    people: &[String],
) -> Result<bool, StoreError> {
    let account_days = app
        .account(&a.account_id)
        .await?
        .map_or(crate::domain::account::DEFAULT_REPEAT_WINDOW_DAYS, |a| {
            a.repeat_window_days
        });
    let days = dir.repeat_window_days(a.attribution.site_id.as_ref(), account_days);
    let since = a.created_at - Duration::days(i64::from(days));
    for key in people {
        for (id, at) in app.store.person_appeals(&a.account_id, key).await? {
            if id != a.id && at < a.created_at && at >= since {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// A backfill's first pass: the appeal's person keys into the index, nothing else.
pub async fn index_people(app: &App, stored: &mut StoredAppeal) -> Result<(), StoreError> {
    let a = &stored.appeal;
    let fresh: Vec<String> = a
        .contact
        .person_keys()
        .into_iter()
        .filter(|k| !stored.people.contains(k))
        .collect();
    if !fresh.is_empty() {
        app.store
            .index_people(&a.account_id, &fresh, &a.id, a.created_at)
            .await?;
        stored.people.extend(fresh);
    }
    Ok(())
}

/// A backfill's second pass: the repeat of an appeal that never had one decided (against the
/// whole index, which the first pass completed), and its counter.
pub async fn backfill(
    app: &App,
    dir: &Directory,
    stored: &mut StoredAppeal,
) -> Result<(), StoreError> {
    repeat(app, dir, stored, false).await?;
    stored.counted = Some(Cell::counted(&stored.appeal));
    Ok(())
}

/// Indexes the appeal under its person keys and, once the person is known, decides whether it
/// is a repeat: another appeal of the same person made within the window before it. Decided
/// once (when the person first becomes known), against the appeals known then; `again` (a run)
/// decides it anew.
async fn repeat(
    app: &App,
    dir: &Directory,
    stored: &mut StoredAppeal,
    again: bool,
) -> Result<(), StoreError> {
    let a = &stored.appeal;
    let keys = a.contact.person_keys();
    let fresh: Vec<&String> = keys.iter().filter(|k| !stored.people.contains(k)).collect();
    // Blind, idempotent writes: an attempt that loses its race leaves an entry the winner
    // writes too. An index entry precedes the decision, so of two appeals of one person made
    // at once, each sees the other (and the earlier one is the first).
    if !fresh.is_empty() {
        let fresh: Vec<String> = fresh.iter().map(|k| (*k).clone()).collect();
        app.store
            .index_people(&a.account_id, &fresh, &a.id, a.created_at)
            .await?;
    }
    if keys.is_empty() || (stored.repeat_decided && !again) {
        stored.people.extend(fresh.into_iter().cloned());
        return Ok(());
    }
    let repeat = is_repeat(app, dir, a, &keys).await?;
    stored.people.extend(fresh.into_iter().cloned());
    stored.appeal.repeat = repeat;
    stored.repeat_decided = true;
    Ok(())
}

/// The counter changes of a write of an appeal: out of where it was counted, into where it is.
/// Given to `update_record_counted`, so they land in the same transaction as the appeal.
pub fn counts(store: &Store) -> impl Fn(Option<&StoredAppeal>, &StoredAppeal) -> Vec<Delta> + '_ {
    move |before, after| match &after.counted {
        Some(now) => store.rollup_deltas(
            &after.appeal.account_id,
            &after.appeal.id,
            before.and_then(|b| b.counted.as_ref()),
            now,
        ),
        None => Vec::new(),
    }
}

/// Messages searched for a deep-link code or a session id: the start of the conversation,
/// where `/start <code>`, a prefilled WhatsApp text or a widget's custom data appear.
const MESSAGES_SEARCHED: usize = 10;

/// The session a chat belongs to: the one found before (a later event must not lose it),
/// else the id its payload carried, else a deep-link code or one of our session ids in its
/// first messages. Sessions of other accounts are never found.
async fn find_session(
    app: &App,
    appeal: &Appeal,
    looked: &Looked,
) -> Result<(Option<Session>, Option<SessionLookup>), StoreError> {
    let mut tries: Vec<(String, LookupSource)> = Vec::new();
    if let Some(previous) = appeal
        .attribution
        .session_lookup
        .as_ref()
        .filter(|l| l.found)
    {
        tries.push((previous.id.clone(), previous.source));
    }
    if let Some(id) = &appeal.session.id {
        tries.push((id.clone(), LookupSource::Payload));
    }
    for message in appeal
        .messages
        .iter()
        .filter(|m| m.author != Author::Employee)
        .take(MESSAGES_SEARCHED)
    {
        if let Some(code) = Code::find_in(&message.text) {
            tries.push((code.to_string(), LookupSource::DeepLink));
        }
        if let Some(id) = find_session_id(&message.text) {
            tries.push((id.to_owned(), LookupSource::Message));
        }
    }
    // The same id may come from the previous lookup and the payload: look it up once.
    let mut seen = std::collections::HashSet::new();
    tries.retain(|(key, _)| seen.insert(key.clone()));
    let mut first_miss = None;
    for (key, source) in tries {
        let code = source == LookupSource::DeepLink;
        let session = match looked.get(code, &key) {
            Some(found) => found,
            None => {
                let found = match source {
                    LookupSource::DeepLink => match Code::parse(&key) {
                        Some(code) => app.store.session_for_code(&code).await?,
                        None => None,
                    },
                    LookupSource::Payload | LookupSource::Message => {
                        app.store.session(&key).await?
                    }
                };
                looked.keep(code, &key, &found);
                found
            }
        }
        .filter(|s| s.account_id == appeal.account_id);
        let found = session.is_some();
        let lookup = SessionLookup {
            id: key,
            source,
            found,
        };
        if found {
            return Ok((session, Some(lookup)));
        }
        first_miss.get_or_insert(lookup);
    }
    Ok((None, first_miss))
}
