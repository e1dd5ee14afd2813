//! The demo account `chatsource serve` seeds into an empty store: a shop with sources,
//! campaigns with UTM rules, an employee, and Jivo, Verbox, amoCRM and Bitrix24 integrations.
//! Its ids are fixed so the samples in `events/` reach it (`chatsource invoke jivo-webhook
//! events/jivo/...`).

use crate::domain::appeal::{Channel, Provider};
use crate::domain::directory::{Campaign, Employee, Site, Source};
use crate::domain::ids::{AccountId, CampaignId, EmployeeId, IntegrationId, SiteId, SourceId};
use crate::domain::integration::{
    AmocrmSettings, Bitrix24Settings, CrmEntity, Integration, JivoSettings, MappingTarget,
    TrafficType, VerboxSettings,
};
use crate::domain::secret::Secret;
use crate::domain::utm::Utm;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

pub const ACCOUNT_ID: &str = "acc_demo";
pub const JIVO_INTEGRATION_ID: &str = "int_demo_jivo";
/// Public on purpose: the demo lives on a laptop. Real integrations get random secrets.
pub const JIVO_SECRET: &str = "demo_jivo_secret";
/// The Jivo widget that stands for a Telegram bot in the samples.
pub const JIVO_TELEGRAM_WIDGET: &str = "7700001";
pub const VERBOX_INTEGRATION_ID: &str = "int_demo_verbox";
pub const VERBOX_SECRET: &str = "demo_verbox_secret";
pub const AMOCRM_INTEGRATION_ID: &str = "int_demo_amocrm";
pub const AMOCRM_SECRET: &str = "demo_amocrm_secret";
pub const BITRIX24_INTEGRATION_ID: &str = "int_demo_bitrix24";
pub const BITRIX24_SECRET: &str = "demo_bitrix24_secret";
/// The demo's integrations, and their public secrets.
pub const INTEGRATION_IDS: [&str; 4] = [
    JIVO_INTEGRATION_ID,
    VERBOX_INTEGRATION_ID,
    AMOCRM_INTEGRATION_ID,
    BITRIX24_INTEGRATION_ID,
];
pub const SECRETS: [&str; 4] = [JIVO_SECRET, VERBOX_SECRET, AMOCRM_SECRET, BITRIX24_SECRET];
/// The `auth[application_token]` the samples in `events/bitrix24/` carry.
pub const BITRIX24_APPLICATION_TOKEN: &str = "demo_bitrix24_application_token";

pub struct Seeded {
    pub account_id: AccountId,
    pub api_key: String,
}

fn id<T, E: std::fmt::Debug>(parse: fn(&str) -> Result<T, E>, s: &str) -> T {
    parse(s).expect("demo ids are valid")
}

/// Seeds the demo account; `api_key` fixes its key (else a random one is made).
pub async fn seed(
    store: &Store,
    api_key: Option<String>,
    now: DateTime<Utc>,
) -> Result<Seeded, StoreError> {
    let account = id(AccountId::parse, ACCOUNT_ID);
    let site = Site {
        id: id(SiteId::parse, "site_demo_shop"),
        account_id: account.clone(),
        name: "Demo shop".into(),
        domain: "shop.example.ru".into(),
        repeat_window_days: None,
        created_at: now,
    };
    let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let source = |sid: &str, name: &str, utm: &[&str]| Source {
        id: id(SourceId::parse, sid),
        account_id: account.clone(),
        name: name.into(),
        utm_sources: list(utm),
        click_ids: Vec::new(),
        referrer_domains: Vec::new(),
        created_at: now,
    };
    // What a careful marketer's account holds: the ad platforms' click ids (a visit with no
    // tags but a `gclid` is still a Google Ads click), the search engines and social networks
    // whose untagged visits are organic or social traffic; what is left is direct or unknown.
    let sources = [
        Source {
            click_ids: list(&["yclid"]),
            ..source("src_demo_yandex", "Yandex Direct", &["yandex"])
        },
        Source {
            click_ids: list(&["gclid", "gbraid", "wbraid"]),
            ..source("src_demo_google", "Google Ads", &["google"])
        },
        source("src_demo_telegram", "Telegram", &[]),
        source("src_demo_organic", "Direct and unknown", &[]),
        Source {
            referrer_domains: list(&[
                "yandex.ru",
                "ya.ru",
                "google.com",
                "google.ru",
                "bing.com",
                "duckduckgo.com",
                "go.mail.ru",
            ]),
            ..source("src_demo_search", "Organic search", &[])
        },
        Source {
            referrer_domains: list(&[
                "vk.com",
                "ok.ru",
                "t.me",
                "facebook.com",
                "instagram.com",
                "dzen.ru",
            ]),
            ..source("src_demo_social", "Social", &[])
        },
    ];
    let campaign = |cid: &str, name: &str, src: &str, tags: &str| Campaign {
        id: id(CampaignId::parse, cid),
        account_id: account.clone(),
        name: name.into(),
        source_id: Some(id(SourceId::parse, src)),
        site_id: Some(site.id.clone()),
        utm: Utm::from_pipe_list(tags),
        created_at: now,
    };
    let campaigns = [
        campaign(
            "cmp_demo_spring",
            "Spring sale (Yandex Direct)",
            "src_demo_yandex",
            "source=yandex|medium=cpc|campaign=spring_sale",
        ),
        campaign(
            "cmp_demo_google",
            "Google search",
            "src_demo_google",
            "source=google|medium=cpc",
        ),
        campaign(
            "cmp_demo_telegram",
            "Telegram channel",
            "src_demo_telegram",
            "",
        ),
        campaign(
            "cmp_demo_default",
            "Chats without a source",
            "src_demo_organic",
            "",
        ),
    ];
    let employee = Employee {
        id: id(EmployeeId::parse, "emp_demo_oleg"),
        account_id: account.clone(),
        name: "Олег".into(),
        email: Some("oleg@shop.example.ru".into()),
        external_ids: BTreeMap::new(),
        created_at: now,
    };
    let telegram = Channel::parse("telegram").expect("valid channel");
    let integration = Integration {
        secret: Secret::new(JIVO_SECRET),
        default_employee_id: Some(employee.id.clone()),
        traffic_type: TrafficType::Campaign,
        default_campaign_id: Some(id(CampaignId::parse, "cmp_demo_default")),
        messenger_mapping: BTreeMap::from([(
            telegram.clone(),
            MappingTarget {
                campaign_id: Some(id(CampaignId::parse, "cmp_demo_telegram")),
                ..MappingTarget::default()
            },
        )]),
        jivo: Some(JivoSettings {
            channels: BTreeMap::from([(JIVO_TELEGRAM_WIDGET.to_owned(), telegram)]),
        }),
        ..Integration::new(
            id(IntegrationId::parse, JIVO_INTEGRATION_ID),
            account.clone(),
            Provider::Jivo,
            "Jivo on the demo shop",
            now,
        )
    };

    // Offline requests on; no REST token, since no real Verbox answers on a laptop: dialogs
    // arrive complete with what their webhook carried.
    let verbox = Integration {
        secret: Secret::new(VERBOX_SECRET),
        verbox: Some(VerboxSettings {
            offline_requests: true,
            ..VerboxSettings::default()
        }),
        jivo: None,
        ..Integration::new(
            id(IntegrationId::parse, VERBOX_INTEGRATION_ID),
            account.clone(),
            Provider::Verbox,
            "Verbox on the demo shop",
            now,
        )
        .with_settings_of(&integration)
    };

    // Not connected (there is no amoCRM account on a laptop): its closed talks wait, visibly,
    // until someone connects it.
    let amocrm = Integration {
        secret: Secret::new(AMOCRM_SECRET),
        amocrm: Some(AmocrmSettings {
            base_url: "https://demo-shop.amocrm.ru".into(),
            client_id: None,
            client_secret: None,
            session_field_id: None,
            long_lived_token: None,
            account_id: None,
            redirect_uri: None,
        }),
        jivo: None,
        ..Integration::new(
            id(IntegrationId::parse, AMOCRM_INTEGRATION_ID),
            account.clone(),
            Provider::Amocrm,
            "amoCRM of the demo shop",
            now,
        )
        .with_settings_of(&integration)
    };

    // Not connected either: its leads wait for a connection. Source-first, as Bitrix24 setups are.
    let bitrix24 = Integration {
        secret: Secret::new(BITRIX24_SECRET),
        bitrix24: Some(Bitrix24Settings {
            portal_url: "https://b24.shop.example.ru".into(),
            client_id: None,
            client_secret: None,
            application_token: Some(Secret::new(BITRIX24_APPLICATION_TOKEN)),
            entity: CrmEntity::Lead,
            session_field: None,
            oauth_url: Bitrix24Settings::DEFAULT_OAUTH_URL.into(),
            member_id: None,
            domain: None,
        }),
        jivo: None,
        ..Integration::new(
            id(IntegrationId::parse, BITRIX24_INTEGRATION_ID),
            account.clone(),
            Provider::Bitrix24,
            "Bitrix24 open lines of the demo shop",
            now,
        )
        .with_settings_of(&integration)
    };
    let bitrix24 = Integration {
        traffic_type: TrafficType::Source,
        default_source_id: Some(id(SourceId::parse, "src_demo_organic")),
        default_site_id: Some(site.id.clone()),
        ..bitrix24
    };

    store.put_entity(&site).await?;
    for s in &sources {
        store.put_entity(s).await?;
    }
    for c in &campaigns {
        store.put_entity(c).await?;
    }
    store.put_entity(&employee).await?;
    store.put_entity(&integration).await?;
    store.put_entity(&verbox).await?;
    store.put_entity(&amocrm).await?;
    store.put_entity(&bitrix24).await?;
    // The account last: a store with an account is a seeded store.
    let (account, api_key) = store.create_account(account, "Demo", api_key, now).await?;
    Ok(Seeded {
        account_id: account.id,
        api_key,
    })
}

/// A store on an SQLite file in `dir`, with the demo account seeded: what the handler tests of
/// every function start from.
#[cfg(feature = "sqlite")]
pub async fn seeded_sqlite(
    dir: &std::path::Path,
    api_key: Option<String>,
) -> Result<Store, StoreError> {
    let kv = crate::store::sqlite::SqliteKv::open(&dir.join("chatsource.db"))?;
    let store = Store::new(std::sync::Arc::new(kv));
    seed(&store, api_key, chrono::Utc::now()).await?;
    Ok(store)
}
