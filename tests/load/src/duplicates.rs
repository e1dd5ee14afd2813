//! Proof 1: repeats and reorders, many in flight, make one appeal per chat and no error answer.

use crate::plan::{Kind, Plan};
use crate::{Common, api, check, fire, server::Server};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Instant;

/// Runs the proof; `Ok(false)` when a violation was found (and printed).
pub async fn run(common: &Common, requests: usize) -> Result<bool, String> {
    let mut rng = StdRng::seed_from_u64(common.seed);
    let plan = Plan::new(requests, common.duplicate_share, 1_000_000, &mut rng);
    let work = common.workdir()?;
    let log = work.path().join("serve.log");
    let server = Server::start(&common.binary, &work.path().join("data"), &log).await?;

    let started = Instant::now();
    let outcomes = fire::run(&server.base, &plan.requests, 0, common.in_flight, None).await;
    let seconds = started.elapsed().as_secs_f64();
    let kept = api::settled(&server.base).await?;
    let index = check::index(&kept);
    drop(server);

    println!(
        "duplicates: {} requests, {} in flight: {} chats ({} sent out of order), {} repeats \
         ({} racing copies, {} late copies, {} reserialized)",
        plan.requests.len(),
        common.in_flight,
        plan.chats,
        plan.reordered_chats,
        plan.requests.len() - plan.chats * 3,
        plan.count(Kind::RacingCopy),
        plan.count(Kind::LateCopy),
        plan.count(Kind::Reserialized),
    );
    let acknowledged = outcomes.iter().filter(|o| o.acknowledged()).count();
    println!(
        "  {acknowledged} answered 2xx, {} not, in {seconds:.1} s: {:.0} requests/s, \
         latency p50 {:.1} ms, p99 {:.1} ms",
        outcomes.len() - acknowledged,
        outcomes.len() as f64 / seconds,
        fire::quantile_ms(&outcomes, 0.50),
        fire::quantile_ms(&outcomes, 0.99),
    );
    println!(
        "  kept: {} appeals for {} chats, {} raw events",
        index.appeals.len(),
        plan.chats,
        index.raw_events.len()
    );

    let refused: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.acknowledged())
        .map(|o| {
            let status = o.status.map_or("no answer".into(), |s| s.to_string());
            format!(
                "{} -> {status} {}",
                plan.requests[o.index].describe(),
                o.detail.trim()
            )
        })
        .collect();
    let mut violations = Vec::new();
    check::name(&mut violations, "valid bodies not answered 2xx", &refused);
    violations.extend(check::converged(&plan, &index));
    Ok(common.verdict(work, &violations))
}
