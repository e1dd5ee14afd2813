//! The request plan: which bodies to post, in which order, and which of them are repeats.

use crate::bodies;
use rand::Rng;
use rand::rngs::StdRng;

/// Every order of a chat's three events but Jivo's own; `chat_finished` first in two.
const OTHER_ORDERS: [[usize; 3]; 5] = [[2, 0, 1], [2, 1, 0], [1, 0, 2], [0, 2, 1], [1, 2, 0]];

/// Why a request is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A chat's event, sent once.
    Original,
    /// The same bytes again right behind the first: both in flight at once.
    RacingCopy,
    /// The same bytes again much later, typically after the chat's later events (a stale
    /// `chat_accepted` arriving after `chat_finished`).
    LateCopy,
    /// The same event in other bytes (keys reordered, spaced out).
    Reserialized,
}

#[derive(Clone)]
pub struct Request {
    pub chat_id: u64,
    /// Index into [`bodies::EVENTS`].
    pub event: usize,
    pub body: Vec<u8>,
    pub kind: Kind,
}

pub struct Plan {
    pub requests: Vec<Request>,
    pub chats: usize,
    /// Chats whose own three events go out in another order than Jivo's.
    pub reordered_chats: usize,
}

impl Plan {
    /// `total` requests of which `duplicate_share` are repeats; chat ids start at `first_chat`.
    pub fn new(total: usize, duplicate_share: f64, first_chat: u64, rng: &mut StdRng) -> Plan {
        let chats = ((total as f64 * (1.0 - duplicate_share)) / 3.0).floor() as usize;
        let duplicates = total - chats * 3;
        let span = total as f64;
        // Each request gets a position; sorting by it interleaves the chats. A chat's events
        // are 0-200 positions apart, so some go out together (racing) and some far apart.
        let mut placed: Vec<(f64, Request)> = Vec::with_capacity(total);
        let mut reordered_chats = 0;
        for n in 0..chats {
            let chat_id = first_chat + n as u64;
            // A third of the chats go out in another order, each of the other five in turn.
            let order = if n % 3 == 2 {
                reordered_chats += 1;
                OTHER_ORDERS[(n / 3) % OTHER_ORDERS.len()]
            } else {
                [0, 1, 2]
            };
            let mut at = rng.random_range(0.0..span);
            for event in order {
                placed.push((at, original(chat_id, event)));
                at += rng.random_range(0.0..200.0);
            }
        }
        for d in 0..duplicates {
            let pick = rng.random_range(0..chats * 3);
            let (at, first) = (placed[pick].0, &placed[pick].1);
            let (kind, body, later) = match d % 3 {
                0 => (
                    Kind::RacingCopy,
                    first.body.clone(),
                    rng.random_range(0.0..2.0),
                ),
                1 => (
                    Kind::LateCopy,
                    first.body.clone(),
                    rng.random_range(200.0..2000.0),
                ),
                _ => (
                    Kind::Reserialized,
                    bodies::reserialized(&first.body),
                    rng.random_range(0.0..500.0),
                ),
            };
            let (chat_id, event) = (first.chat_id, first.event);
            let request = Request {
                chat_id,
                event,
                body,
                kind,
            };
            placed.push((at + later, request));
        }
        placed.sort_by(|a, b| a.0.total_cmp(&b.0));
        Plan {
            requests: placed.into_iter().map(|(_, r)| r).collect(),
            chats,
            reordered_chats,
        }
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.requests.iter().filter(|r| r.kind == kind).count()
    }
}

fn original(chat_id: u64, event: usize) -> Request {
    Request {
        chat_id,
        event,
        body: bodies::event(chat_id, event),
        kind: Kind::Original,
    }
}

impl Request {
    /// How a report names it: enough to find and resend the body.
    pub fn describe(&self) -> String {
        format!(
            "{:?} {} of chat {}",
            self.kind,
            bodies::EVENTS[self.event],
            self.chat_id
        )
    }
}
