//! A re-attribution run: every appeal of a period (and the journal's filters) attributed again
//! with today's settings, in pages, by queued jobs. The run keeps its progress and what moved
//! where; each moved appeal keeps, in its history, what it was and which run moved it, so a
//! page done twice (a job retried after a crash) counts each move once.

use crate::domain::appeal::{Channel, ChannelGroup, Decided, Provider, Status, Via};
use crate::domain::ids::{AccountId, CampaignId, IntegrationId, RunId, SourceId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a run does to each appeal it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// Attribution and repeat decided again with today's settings.
    Reattribute,
    /// Appeals made before the reports and the person index existed get counted and indexed:
    /// first every appeal's person keys (phase 0), then each one's repeat and its counter
    /// (phase 1), so a repeat is decided against the whole index. Safe to run twice.
    Backfill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Done,
    /// Given up (its reason in `error`); the appeals it moved stay moved, and a new run
    /// takes them all again.
    Failed,
}

/// Which appeals a run takes: made in `[from, to)`, and matching the journal's filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<CampaignId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<SourceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_id: Option<IntegrationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The journal's search (a phone, an e-mail or a name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_group: Option<ChannelGroup>,
}

/// How many appeals moved from one answer to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    pub from: Decided,
    pub to: Decided,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub id: RunId,
    pub account_id: AccountId,
    pub kind: RunKind,
    /// A backfill's pass (see [`RunKind::Backfill`]); 0 for a re-attribution.
    #[serde(default)]
    pub phase: u8,
    pub scope: Scope,
    pub status: RunStatus,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Appeals looked at so far.
    pub examined: u64,
    pub moved: Vec<Moved>,
    /// Where the next page starts (a store cursor); `None` before the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Pages done, over both passes (the guard against counting one page twice).
    #[serde(default)]
    pub pages: u64,
}

impl Run {
    pub fn new(
        id: RunId,
        account_id: AccountId,
        kind: RunKind,
        scope: Scope,
        now: DateTime<Utc>,
    ) -> Run {
        Run {
            id,
            account_id,
            kind,
            phase: 0,
            scope,
            status: RunStatus::Running,
            created_at: now,
            finished_at: None,
            examined: 0,
            moved: Vec::new(),
            cursor: None,
            error: None,
            pages: 0,
        }
    }

    /// Adds one page's outcome: `examined` appeals, the moves among them, and where the next
    /// page starts (`None`: that was the last).
    pub fn add_page(
        &mut self,
        examined: u64,
        moves: &[(Decided, Decided)],
        next: Option<String>,
        now: DateTime<Utc>,
    ) {
        self.examined += examined;
        for (from, to) in moves {
            match self
                .moved
                .iter_mut()
                .find(|m| &m.from == from && &m.to == to)
            {
                Some(m) => m.count += 1,
                None => self.moved.push(Moved {
                    from: from.clone(),
                    to: to.clone(),
                    count: 1,
                }),
            }
        }
        self.moved.sort_by_key(|m| std::cmp::Reverse(m.count));
        self.pages += 1;
        self.cursor = next;
        if self.cursor.is_some() {
            return;
        }
        if self.kind == RunKind::Backfill && self.phase == 0 {
            // The index is whole: the second pass decides repeats against it.
            self.phase = 1;
            return;
        }
        self.status = RunStatus::Done;
        self.finished_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(campaign: &str) -> Decided {
        Decided {
            via: Via::MessengerMapping,
            campaign_id: Some(CampaignId::parse(campaign).unwrap()),
            source_id: None,
            site_id: None,
        }
    }

    #[test]
    fn pages_add_up_and_the_last_ends_the_run() {
        let now = Utc::now();
        let mut run = Run::new(
            RunId::generate(),
            AccountId::parse("acc_a").unwrap(),
            RunKind::Reattribute,
            Scope::default(),
            now,
        );
        run.add_page(
            100,
            &[(to("cmp_a"), to("cmp_b")), (to("cmp_a"), to("cmp_b"))],
            Some("c1".into()),
            now,
        );
        run.add_page(3, &[(to("cmp_a"), to("cmp_c"))], None, now);
        assert_eq!(run.examined, 103);
        assert_eq!(run.status, RunStatus::Done);
        assert_eq!(run.moved[0].count, 2, "the biggest move first");
        assert_eq!(run.moved.iter().map(|m| m.count).sum::<u64>(), 3);
    }

    #[test]
    fn a_backfill_takes_every_appeal_twice_before_it_is_done() {
        let now = Utc::now();
        let mut run = Run::new(
            RunId::generate(),
            AccountId::parse("acc_a").unwrap(),
            RunKind::Backfill,
            Scope::default(),
            now,
        );
        run.add_page(10, &[], None, now);
        assert_eq!((run.phase, run.status), (1, RunStatus::Running));
        run.add_page(10, &[], None, now);
        assert_eq!(run.status, RunStatus::Done);
    }
}
