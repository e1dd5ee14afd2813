//! A big account for the report benchmarks: the demo account of `chatsource serve` with a
//! realistic directory and `n` appeals over `days` days, written as ingestion writes them
//! (each appeal item and its counter deltas in one transaction, through the store's own
//! `Kv::transact`), only batched: `BATCH` appeals per transaction, deltas of one counter item
//! merged.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shared::app::demo;
use shared::domain::appeal::{
    Agent, Appeal, Attribution, Author, Channel, EmployeeMatch, EmployeeRef, Kind, Message,
    Provider, SessionInfo, Status, Via,
};
use shared::domain::contact::Contact;
use shared::domain::directory::{Campaign, Employee, Site, Source};
use shared::domain::ids::{
    AccountId, AppealId, CampaignId, EmployeeId, IntegrationId, SiteId, SourceId,
};
use shared::domain::rollup::Cell;
use shared::domain::utm::Utm;
use shared::store::record::encode;
use shared::store::{Condition, Key, Store, StoreError, StoredAppeal, Write};
use std::collections::BTreeMap;

/// Appeals per transaction: ~50 items plus the one or two counter items of their hours, far
/// inside DynamoDB's 100 items and 4 MB.
pub const BATCH: usize = 50;
pub const SITES: usize = 5;
pub const SOURCES: usize = 15;
pub const CAMPAIGNS: usize = 200;
pub const EMPLOYEES: usize = 30;
pub const CHANNELS: [&str; 8] = [
    "site",
    "telegram",
    "whatsapp",
    "vk",
    "instagram",
    "viber",
    "avito",
    "max",
];

/// The seed the benchmark's figures were made with, and the demo account's key.
pub const SEED: u64 = 20_261_201;
pub const API_KEY: &str = "report_bench_key_0123456789";

/// Where the seeded data ends, kept beside the store (reports are dated from it).
pub fn write_end(dir: &std::path::Path, end: DateTime<Utc>) {
    let _ = std::fs::write(dir.join("seed-end"), end.to_rfc3339());
}

#[allow(dead_code)] // the example seeds, the bench reads
pub fn read_end(dir: &std::path::Path) -> Option<DateTime<Utc>> {
    let text = std::fs::read_to_string(dir.join("seed-end")).ok()?;
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.to_utc())
}

/// What was written.
#[allow(dead_code)] // the example prints it all, the bench none of it
pub struct Seeded {
    pub account: AccountId,
    pub api_key: String,
    pub appeals: usize,
    pub counter_deltas: usize,
    pub transactions: usize,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

/// The account's directory, as the generator picks from it.
struct Dir {
    sites: Vec<SiteId>,
    sources: Vec<SourceId>,
    /// Each with its source and site.
    campaigns: Vec<Campaign>,
    employees: Vec<(EmployeeId, String)>,
    integrations: Vec<(IntegrationId, Provider)>,
}

/// Seeds an empty store: the demo account (key `api_key`), then the directory and `n` appeals
/// over the `days` days before `end`, from `seed` (the same seed writes the same appeals).
pub async fn seed(
    store: &Store,
    api_key: &str,
    n: usize,
    days: i64,
    end: DateTime<Utc>,
    seed: u64,
    progress: impl Fn(usize),
) -> Result<Seeded, StoreError> {
    let seeded = demo::seed(store, Some(api_key.to_owned()), end).await?;
    let account = seeded.account_id.clone();
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = directory(store, &account, end).await?;
    let start = rollup_hour(end - Duration::days(days));
    let hours = hourly_counts(&mut rng, start, days * 24, n);
    let mut batch: Vec<StoredAppeal> = Vec::with_capacity(BATCH);
    let (mut written, mut deltas, mut transactions) = (0, 0, 0);
    let mut last = start;
    for (h, count) in hours.iter().enumerate() {
        let hour = start + Duration::hours(h as i64);
        for _ in 0..*count {
            let at = hour + Duration::seconds(rng.random_range(0..3600));
            last = last.max(at);
            batch.push(appeal(&mut rng, &dir, &account, written + batch.len(), at));
            if batch.len() == BATCH {
                deltas += write(store, &account, &batch).await?;
                transactions += 1;
                written += batch.len();
                batch.clear();
                if written % 100_000 == 0 {
                    progress(written);
                }
            }
        }
    }
    if !batch.is_empty() {
        deltas += write(store, &account, &batch).await?;
        transactions += 1;
        written += batch.len();
    }
    Ok(Seeded {
        account,
        api_key: seeded.api_key,
        appeals: written,
        counter_deltas: deltas,
        transactions,
        first: start,
        last,
    })
}

fn rollup_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    shared::domain::rollup::hour_of(t)
}

/// Appeals per hour: a working-day curve (Moscow time, busiest 10-18), quieter weekends, a
/// slow growth over the period and noise; scaled to `n` in all.
fn hourly_counts(rng: &mut StdRng, start: DateTime<Utc>, hours: i64, n: usize) -> Vec<usize> {
    let weights: Vec<f64> = (0..hours)
        .map(|h| {
            let t = start + Duration::hours(h) + Duration::hours(3);
            let hour = f64::from(t.hour());
            let day = 0.15 + (-((hour - 14.0) / 5.0).powi(2)).exp();
            let week = if t.weekday().num_days_from_monday() >= 5 {
                0.6
            } else {
                1.0
            };
            let growth = 0.8 + 0.4 * h as f64 / hours as f64;
            day * week * growth * rng.random_range(0.8..1.2)
        })
        .collect();
    let sum: f64 = weights.iter().sum();
    let mut counts: Vec<usize> = weights
        .iter()
        .map(|w| (w / sum * n as f64) as usize)
        .collect();
    let mut short = n - counts.iter().sum::<usize>();
    let len = counts.len();
    while short > 0 {
        counts[rng.random_range(0..len)] += 1;
        short -= 1;
    }
    counts
}

/// 1-based Zipf-like pick among `len`: the first few take most (ads budgets, busy operators).
fn skewed(rng: &mut StdRng, len: usize) -> usize {
    let u: f64 = rng.random_range(0.0..1.0);
    ((len as f64).powf(u) - 1.0).floor().min(len as f64 - 1.0) as usize
}

fn pick<T: Copy>(rng: &mut StdRng, weighted: &[(T, u32)]) -> T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut r = rng.random_range(0..total);
    for (v, w) in weighted {
        if r < *w {
            return *v;
        }
        r -= w;
    }
    weighted[0].0
}

/// The demo account's directory grown to 5 sites, 15 sources, 200 campaigns and 30 employees
/// (the demo's own records among them), written as the API writes them.
async fn directory(
    store: &Store,
    account: &AccountId,
    now: DateTime<Utc>,
) -> Result<Dir, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("the demo has no {what}"));
    let site: Site = store
        .entity("site_demo_shop")
        .await?
        .ok_or_else(|| corrupt("site"))?;
    let source: Source = store
        .entity("src_demo_yandex")
        .await?
        .ok_or_else(|| corrupt("source"))?;
    let campaign: Campaign = store
        .entity("cmp_demo_spring")
        .await?
        .ok_or_else(|| corrupt("campaign"))?;
    let employee: Employee = store
        .entity("emp_demo_oleg")
        .await?
        .ok_or_else(|| corrupt("employee"))?;
    let id = |prefix: &str, i: usize| format!("{prefix}_bench_{i:03}");
    let mut sites = vec![site.id.clone()];
    for i in 1..SITES {
        let s = Site {
            id: SiteId::parse(&id("site", i)).expect("valid id"),
            name: format!("Shop {i}"),
            domain: format!("shop{i}.example.ru"),
            created_at: now,
            ..site.clone()
        };
        store.put_entity(&s).await?;
        sites.push(s.id);
    }
    let mut sources: Vec<SourceId> = [
        "src_demo_yandex",
        "src_demo_google",
        "src_demo_telegram",
        "src_demo_organic",
    ]
    .iter()
    .map(|s| SourceId::parse(s).expect("valid id"))
    .collect();
    for i in sources.len()..SOURCES {
        let s = Source {
            id: SourceId::parse(&id("src", i)).expect("valid id"),
            name: format!("Source {i}"),
            utm_sources: vec![format!("source{i}")],
            click_ids: Vec::new(),
            referrer_domains: Vec::new(),
            ..source.clone()
        };
        store.put_entity(&s).await?;
        sources.push(s.id);
    }
    let mut campaigns = Vec::new();
    for i in 0..CAMPAIGNS {
        let c = Campaign {
            id: CampaignId::parse(&id("cmp", i)).expect("valid id"),
            account_id: account.clone(),
            name: format!("Campaign {i}"),
            source_id: Some(sources[i % SOURCES].clone()),
            site_id: Some(sites[i % SITES].clone()),
            utm: Utm {
                source: Some(format!("source{}", i % SOURCES)),
                campaign: Some(format!("c{i}")),
                ..Utm::default()
            },
            ..campaign.clone()
        };
        store.put_entity(&c).await?;
        campaigns.push(c);
    }
    let mut employees = vec![(employee.id.clone(), employee.name.clone())];
    for i in 1..EMPLOYEES {
        let e = Employee {
            id: EmployeeId::parse(&id("emp", i)).expect("valid id"),
            name: format!("Operator {i}"),
            email: Some(format!("op{i}@shop.example.ru")),
            ..employee.clone()
        };
        store.put_entity(&e).await?;
        employees.push((e.id, e.name));
    }
    let integrations = [
        (demo::JIVO_INTEGRATION_ID, Provider::Jivo),
        (demo::VERBOX_INTEGRATION_ID, Provider::Verbox),
        (demo::AMOCRM_INTEGRATION_ID, Provider::Amocrm),
        (demo::BITRIX24_INTEGRATION_ID, Provider::Bitrix24),
    ]
    .iter()
    .map(|(id, p)| (IntegrationId::parse(id).expect("valid id"), *p))
    .collect();
    Ok(Dir {
        sites,
        sources,
        campaigns,
        employees,
        integrations,
    })
}

/// One appeal, as a webhook and attribution would have made it.
fn appeal(
    rng: &mut StdRng,
    dir: &Dir,
    account: &AccountId,
    n: usize,
    at: DateTime<Utc>,
) -> StoredAppeal {
    let (integration, provider) =
        dir.integrations[pick(rng, &[(0usize, 45), (1, 20), (2, 20), (3, 15)])].clone();
    let channel = CHANNELS[pick(
        rng,
        &[
            (0usize, 40),
            (1, 20),
            (2, 15),
            (3, 8),
            (4, 7),
            (5, 4),
            (6, 4),
            (7, 2),
        ],
    )];
    let kind = pick(
        rng,
        &[
            (Kind::Chat, 80),
            (Kind::OfflineRequest, 14),
            (Kind::CallbackRequest, 6),
        ],
    );
    let via = if channel == "site" {
        pick(
            rng,
            &[(Via::Session, 60), (Via::Utm, 20), (Via::Default, 20)],
        )
    } else {
        pick(
            rng,
            &[
                (Via::Session, 20),
                (Via::MessengerMapping, 50),
                (Via::Default, 30),
            ],
        )
    };
    let (campaign, source, site) = match via {
        // (The generator draws no click-id answers: the data predates that step.)
        Via::Session | Via::Utm | Via::ClickId => {
            let c = &dir.campaigns[skewed(rng, dir.campaigns.len())];
            (Some(c.id.clone()), c.source_id.clone(), c.site_id.clone())
        }
        Via::MessengerMapping => {
            // One campaign per messenger, as mappings are set up.
            let c = &dir.campaigns[CHANNELS.iter().position(|c| *c == channel).unwrap_or(0) * 7];
            (Some(c.id.clone()), c.source_id.clone(), c.site_id.clone())
        }
        Via::Default => (
            None,
            Some(dir.sources[3].clone()),
            Some(dir.sites[rng.random_range(0..dir.sites.len())].clone()),
        ),
    };
    let employee = (rng.random_range(0..10) > 0).then(|| {
        let (id, name) = &dir.employees[skewed(rng, dir.employees.len())];
        EmployeeRef {
            id: id.clone(),
            name: name.clone(),
            matched_by: EmployeeMatch::ExternalId,
        }
    });
    let provider_ref = format!("bench-{n}");
    let phone = format!("+7916{:07}", rng.random_range(0..10_000_000));
    let repeat = rng.random_range(0..5) == 0;
    let appeal = Appeal {
        id: AppealId::derive(&integration, provider.as_str(), &provider_ref),
        account_id: account.clone(),
        integration_id: integration,
        provider,
        kind,
        provider_ref,
        channel: Channel::parse(channel).expect("valid channel"),
        channel_group: None,
        created_at: at,
        updated_at: at + Duration::minutes(12),
        contact: Contact {
            name: Some("Анна".into()),
            phones: vec![phone],
            emails: Vec::new(),
        },
        employee: employee.clone(),
        agent: employee.as_ref().map(|e| Agent {
            id: Some(e.id.as_str().to_owned()),
            name: Some(e.name.clone()),
            email: None,
        }),
        messages: vec![
            Message {
                at,
                author: Author::Visitor,
                author_name: None,
                text: "Здравствуйте! Есть доставка в выходные?".into(),
            },
            Message {
                at: at + Duration::minutes(1),
                author: Author::Employee,
                author_name: employee.as_ref().map(|e| e.name.clone()),
                text: "Добрый день! Да, в субботу с 10 до 18.".into(),
            },
        ],
        session: SessionInfo {
            id: (via == Via::Session).then(|| format!("ses_bench_{n}")),
            site_id: site.clone(),
            landing_page: Some("https://shop.example.ru/catalog?utm_source=yandex".into()),
            ..SessionInfo::default()
        },
        attribution: Attribution {
            via,
            campaign_id: campaign,
            source_id: source,
            site_id: site,
            session_lookup: None,
            detail: "Generated for the report benchmark.".into(),
            evidence: None,
        },
        status: Status::Complete,
        status_reason: None,
        visitor_ref: None,
        messages_omitted: 0,
        repeat,
        attribution_history: Vec::new(),
    };
    let counted = Cell::counted(&appeal);
    StoredAppeal {
        counted: Some(counted),
        repeat_decided: true,
        ..StoredAppeal::new(appeal)
    }
}

/// One transaction: the appeals (each new: `NotExists`, as ingestion creates them) and their
/// counter deltas, merged per counter item. Returns the number of deltas.
async fn write(
    store: &Store,
    account: &AccountId,
    batch: &[StoredAppeal],
) -> Result<usize, StoreError> {
    let mut counts: BTreeMap<Key, BTreeMap<String, i64>> = BTreeMap::new();
    let mut writes = Vec::with_capacity(batch.len() + 2);
    let mut deltas = 0;
    for stored in batch {
        let counted = stored.counted.as_ref().expect("counted");
        for d in store.rollup_deltas(account, &stored.appeal.id, None, counted) {
            *counts.entry(d.key).or_default().entry(d.name).or_default() += d.by;
            deltas += 1;
        }
        writes.push(Write::Put {
            item: encode(stored)?,
            condition: Condition::NotExists,
        });
    }
    writes.extend(counts.into_iter().map(|(key, deltas)| Write::Count {
        key,
        deltas: deltas.into_iter().collect(),
    }));
    store.kv().transact(&writes).await?;
    Ok(deltas)
}
