//! Proof 2: `kill -9` mid-load, restarts on the same data dir: every 2xx'd webhook survives.

use crate::fire::{self, Outcome};
use crate::plan::{Plan, Request};
use crate::{Common, api, check, kill, server::Server};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub async fn run(common: &Common, kills: usize, per_kill: usize) -> Result<bool, String> {
    let mut rng = StdRng::seed_from_u64(common.seed);
    let plan = Plan::new(
        kills * per_kill,
        common.duplicate_share,
        2_000_000,
        &mut rng,
    );
    let work = common.workdir()?;
    let (data, log) = (work.path().join("data"), work.path().join("serve.log"));
    println!(
        "crash: {} requests for {} chats in {kills} rounds of {per_kill}, {} in flight, \
         a kill -9 in each round",
        plan.requests.len(),
        plan.chats,
        common.in_flight
    );

    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut kills_done = 0;
    for (round, chunk) in plan.requests.chunks(per_kill).enumerate() {
        let server = Server::start(&common.binary, &data, &log).await?;
        let answers = kill::mid_load(server, chunk, round * per_kill, common, &mut rng).await;
        kills_done += 1;
        let acked = answers.iter().filter(|o| o.acknowledged()).count();
        let cut = answers.iter().filter(|o| o.status.is_none()).count();
        println!(
            "  round {}: {} sent, {acked} answered 2xx, {cut} cut by the kill, {} never sent",
            round + 1,
            answers.len(),
            chunk.len() - answers.len()
        );
        outcomes.extend(answers);
    }

    // The last restart: what was acknowledged before any kill must be there.
    let server = Server::start(&common.binary, &data, &log).await?;
    let index = check::index(&api::settled(&server.base).await?);
    let acknowledged: Vec<&Outcome> = outcomes.iter().filter(|o| o.acknowledged()).collect();
    let mut violations = Vec::new();
    let lost: Vec<String> = acknowledged
        .iter()
        .flat_map(|o| check::durable(&plan.requests[o.index], &index))
        .collect();
    check::name(
        &mut violations,
        "acknowledged webhooks lost after restart",
        &lost,
    );
    let refused: Vec<String> = outcomes
        .iter()
        .filter(|o| o.status.is_some_and(|s| !(200..300).contains(&s)))
        .map(|o| {
            format!(
                "{} -> {} {}",
                plan.requests[o.index].describe(),
                o.status.unwrap_or(0),
                o.detail.trim()
            )
        })
        .collect();
    check::name(&mut violations, "valid bodies answered non-2xx", &refused);
    if kills_done != kills {
        violations.push(format!("{kills_done} kills done of {kills}"));
    }
    println!(
        "  after {kills_done} kills and a restart: {} sent, {} acknowledged, {} lost, {} answered non-2xx; \
         kept {} raw events ({} cut mid-handling), {} appeals",
        outcomes.len(),
        acknowledged.len(),
        lost.len(),
        refused.len(),
        index.raw_events.len(),
        check::stuck(&index).len(),
        index.appeals.len()
    );

    // Then a provider's redelivery of everything unanswered: the store must converge to one
    // complete appeal per chat, finishing bodies whose handling a kill cut short.
    let answered: std::collections::HashSet<usize> = acknowledged.iter().map(|o| o.index).collect();
    let rest: Vec<Request> = (0..plan.requests.len())
        .filter(|i| !answered.contains(i))
        .map(|i| plan.requests[i].clone())
        .collect();
    let again = fire::run(&server.base, &rest, 0, common.in_flight, None).await;
    let failed: Vec<String> = again
        .iter()
        .filter(|o| !o.acknowledged())
        .map(|o| {
            format!(
                "{} -> {:?} {}",
                rest[o.index].describe(),
                o.status,
                o.detail.trim()
            )
        })
        .collect();
    check::name(
        &mut violations,
        "redelivered bodies not answered 2xx",
        &failed,
    );
    let index = check::index(&api::settled(&server.base).await?);
    violations.extend(check::converged(&plan, &index));
    println!(
        "  redelivered the {} unanswered or unsent: {} appeals for {} chats, {} raw events",
        rest.len(),
        index.appeals.len(),
        plan.chats,
        index.raw_events.len()
    );
    drop(server);
    Ok(common.verdict(work, &violations))
}
