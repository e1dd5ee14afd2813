//! The CPU work of one webhook, without I/O: decoding a Jivo `chat_finished`, building the
//! appeal, attributing it; checking and deciding a Bitrix24 lead event, and turning what the
//! worker reads of the lead into the appeal. Run: `cargo bench -p shared --bench webhook`.

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use shared::domain::appeal::{Appeal, Provider};
use shared::domain::attribution::attribute;
use shared::domain::directory::{Campaign, Directory};
use shared::domain::ids::{AccountId, AppealId, CampaignId, IntegrationId};
use shared::domain::integration::{Bitrix24Settings, CrmEntity, Integration};
use shared::domain::providers::{Decision, bitrix24, jivo};
use shared::domain::secret::Secret;
use shared::domain::utm::Utm;
use std::hint::black_box;

const CHAT_FINISHED: &[u8] = include_bytes!("../../events/jivo/bodies/chat_finished.json");
const LEAD_ADD: &[u8] = include_bytes!("../../events/bitrix24/bodies/lead_add.form");

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
    // The bare parse is the yardstick of issue 14: decide + appeal + attribute should cost at
    // most twice reading the same body into a `Value`; one group keeps the three comparable.
    let mut group = c.benchmark_group("jivo chat_finished");
    group.bench_function("bare parse (Value)", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(CHAT_FINISHED)).unwrap())
    });
    group.bench_function("decide", |b| {
        b.iter(|| jivo::decide(black_box(CHAT_FINISHED), &integration, Utc::now()).unwrap())
    });
    group.bench_function("decide + appeal + attribute (200 campaigns)", |b| {
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
    });
    group.finish();
}

/// What the worker reads of an open-line lead: the lead, its chat and session, and a history
/// of 20 messages.
fn bitrix24_read() -> (Value, Value, Value, Value) {
    let lead = json!({
        "ID": "48211", "NAME": "Павел", "LAST_NAME": "Петров", "DATE_CREATE": "2026-11-20T12:40:00+03:00",
        "ASSIGNED_BY_ID": "9", "UTM_SOURCE": "yandex", "UTM_MEDIUM": "cpc", "UTM_CAMPAIGN": "spring_sale",
        "PHONE": [{"ID": "901", "VALUE_TYPE": "MOBILE", "VALUE": "+7 903 123-45-67", "TYPE_ID": "PHONE"}],
        "EMAIL": [{"ID": "902", "VALUE_TYPE": "WORK", "VALUE": "Pavel@Example.com", "TYPE_ID": "EMAIL"}],
        "IM": [{"ID": "903", "VALUE_TYPE": "OPENLINE", "VALUE": "imol|telegrambot|2|581001982|450", "TYPE_ID": "IM"}]
    });
    let chats =
        json!([{"CHAT_ID": "1982", "CONNECTOR_ID": "telegrambot", "CONNECTOR_TITLE": "Telegram"}]);
    let sessions = json!([{"ID": "3101", "ASSOCIATED_ENTITY_ID": "771",
                           "PROVIDER_PARAMS": {"USER_CODE": "imol|telegrambot|2|581001982|450"}}]);
    let messages: serde_json::Map<String, Value> = (0..20)
        .map(|i| {
            let sender = if i % 2 == 0 { "450" } else { "9" };
            let message = json!({"id": 19000 + i, "chatid": 1982, "senderid": sender,
                                 "date": format!("2026-11-20T12:{:02}:00+03:00", 40 + i),
                                 "text": format!("[b]Сообщение[/b] номер {i}[br]про доставку дивана")});
            ((19000 + i).to_string(), message)
        })
        .collect();
    let history = json!({"message": messages, "users": {
        "450": {"id": "450", "name": "Павел Петров", "connector": true},
        "9": {"id": "9", "name": "Ольга Смирнова", "connector": false, "bot": false}
    }});
    (lead, chats, sessions, history)
}

fn bitrix24(c: &mut Criterion) {
    let integration = Integration {
        bitrix24: Some(Bitrix24Settings {
            portal_url: "https://b24.shop.example.ru".into(),
            client_id: None,
            client_secret: None,
            application_token: Some(Secret::new("demo_bitrix24_application_token")),
            entity: CrmEntity::Lead,
            session_field: None,
            oauth_url: Bitrix24Settings::DEFAULT_OAUTH_URL.into(),
            member_id: Some("5c0b9d3e2f4a61b7c8d9e0f1a2b3c4d5".into()),
            domain: None,
        }),
        ..Integration::new(
            IntegrationId::parse("int_bench").unwrap(),
            AccountId::parse("acc_bench").unwrap(),
            Provider::Bitrix24,
            "bench",
            Utc::now(),
        )
    };
    c.bench_function("bitrix24 lead event: verify + decide", |b| {
        b.iter(|| {
            shared::domain::providers::verify(black_box(LEAD_ADD), &integration).unwrap();
            bitrix24::decide(black_box(LEAD_ADD), &integration).unwrap()
        })
    });
    let dir = directory();
    let (lead, chats, sessions, history) = bitrix24_read();
    let settings = integration.bitrix24.clone().unwrap();
    c.bench_function(
        "bitrix24 lead read: 20-message history + facts + appeal + attribute (200 campaigns)",
        |b| {
            b.iter(|| {
                let read = bitrix24::Read {
                    entity: CrmEntity::Lead,
                    id: 48211,
                    fields: black_box(&lead),
                    contact: None,
                    chats: &chats,
                    sessions: &sessions,
                };
                let line = read.open_line().unwrap();
                let conversations = line.conversations(CrmEntity::Lead, 48211);
                let facts = read.facts(
                    &line,
                    &conversations[0],
                    bitrix24::history_transcript(black_box(&history)),
                    &settings,
                );
                let id = AppealId::derive(&integration.id, "bitrix24", &facts.provider_ref);
                let mut appeal = Appeal::new(
                    id,
                    integration.account_id.clone(),
                    integration.id.clone(),
                    Provider::Bitrix24,
                    &facts,
                    Utc::now(),
                );
                appeal.attribution = attribute(&appeal, None, &dir, &integration);
                black_box(appeal)
            })
        },
    );
}

criterion_group!(benches, webhook, bitrix24);
criterion_main!(benches);
