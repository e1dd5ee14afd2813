//! One round of the crash proof: the load, and a `kill -9` of the server at a random moment of it.

use crate::Common;
use crate::fire::{self, Outcome, Tripwire};
use crate::plan::Request;
use crate::server::Server;
use rand::Rng;
use rand::rngs::StdRng;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Posts `chunk` (plan indexes from `first`) and kills the server while requests are in
/// flight; answers the outcomes of what was sent before dispatching stopped.
pub async fn mid_load(
    mut server: Server,
    chunk: &[Request],
    first: usize,
    common: &Common,
    rng: &mut StdRng,
) -> Vec<Outcome> {
    // After an answer count in the middle 80% of the round, then up to 20 ms more, so the
    // kill lands at any point of a request's handling, not just between two answers.
    let tripwire = Tripwire {
        after: rng
            .random_range(chunk.len() / 10..=chunk.len() * 9 / 10)
            .max(1),
        ..Tripwire::default()
    };
    let jitter = Duration::from_micros(rng.random_range(0..20_000));
    let base = server.base.clone();
    let load = fire::run(&base, chunk, first, common.in_flight, Some(&tripwire));
    let killer = async {
        tripwire.reached.notified().await;
        tokio::time::sleep(jitter).await;
        server.kill();
        // Only after the kill, so it hits the server with a full set of requests in flight.
        tripwire.stop.store(true, Ordering::SeqCst);
    };
    let (answers, ()) = tokio::join!(load, killer);
    answers
}
