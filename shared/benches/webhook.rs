//! The CPU work of one webhook, without I/O: decoding a Jivo `chat_finished`, building the
//! appeal, attributing it. Run: `cargo bench -p shared --bench webhook`.

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use shared::appeal::{Appeal, Provider};
use shared::attribution::attribute;
use shared::directory::{Campaign, Directory};
use shared::ids::{AccountId, AppealId, CampaignId, IntegrationId};
use shared::integration::Integration;
use shared::providers::{Decision, jivo};
use shared::utm::Utm;
use std::hint::black_box;

const CHAT_FINISHED: &[u8] = include_bytes!("../../events/jivo/bodies/chat_finished.json");

fn integration() -> Integration {
    Integration::new(
        IntegrationId::parse("int_bench").unwrap(),
        AccountId::parse("acc_bench").unwrap(),
        Provider::Jivo,
        "bench",
        Utc::now(),
    )
}

/// An account with 200 campaigns, the last of which matches the sample.
fn directory() -> Directory {
    let campaign = |i: usize, tags: &str| Campaign {
        id: CampaignId::parse(&format!("cmp_{i:04}")).unwrap(),
        account_id: AccountId::parse("acc_bench").unwrap(),
        name: format!("campaign {i}"),
        source_id: None,
        site_id: None,
        utm: Utm::from_pipe_list(tags),
        created_at: Utc::now(),
    };
    let mut campaigns: Vec<_> = (0..199)
        .map(|i| campaign(i, &format!("source=yandex|medium=cpc|campaign=other_{i}")))
        .collect();
    campaigns.push(campaign(
        199,
        "source=yandex|medium=cpc|campaign=spring_sale",
    ));
    Directory {
        campaigns,
        ..Directory::default()
    }
}

fn webhook(c: &mut Criterion) {
    let integration = integration();
    let dir = directory();
    c.bench_function("jivo chat_finished: decide", |b| {
        b.iter(|| jivo::decide(black_box(CHAT_FINISHED), &integration, Utc::now()).unwrap())
    });
    c.bench_function(
        "jivo chat_finished: decide + appeal + attribute (200 campaigns)",
        |b| {
            b.iter(|| {
                let Decision::Appeal(facts) =
                    jivo::decide(black_box(CHAT_FINISHED), &integration, Utc::now()).unwrap()
                else {
                    unreachable!()
                };
                let id = AppealId::derive(&integration.id, "jivo", &facts.provider_ref);
                let mut appeal = Appeal::new(
                    id,
                    integration.account_id.clone(),
                    integration.id.clone(),
                    Provider::Jivo,
                    &facts,
                    Utc::now(),
                );
                appeal.attribution = attribute(&appeal, None, &dir, &integration);
                black_box(appeal)
            })
        },
    );
}

criterion_group!(benches, webhook);
criterion_main!(benches);
