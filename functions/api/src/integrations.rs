//! Integrations as API resources: settings, validation, and the webhook URLs to hand out.
//! The webhook secret is part of those URLs and is never shown as a field of its own.

use crate::call::Call;
use crate::resources::{Resource, get, must_exist, name};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::crm::{self, Session};
use shared::domain::appeal::{Channel, Provider};
use shared::domain::directory::{Directory, Site};
use shared::domain::ids::{CampaignId, EmployeeId, IntegrationId, SiteId, SourceId};
use shared::domain::integration::{
    AmocrmSettings, Bitrix24Settings, Integration, JivoSettings, MappingTarget, TrafficType,
    VerboxSettings,
};
use shared::domain::net::{UrlPolicy, check_provider_url};
use shared::domain::secret::Secret;
use shared::edge::web::{ApiError, Invalid};
use shared::store::record::Record;
use std::collections::BTreeMap;

fn yes() -> bool {
    true
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationInput {
    provider: Provider,
    name: String,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_employee_id: Option<EmployeeId>,
    /// Unset: the provider's usual default (`TrafficType::default_for`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traffic_type: Option<TrafficType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_campaign_id: Option<CampaignId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_source_id: Option<SourceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_site_id: Option<SiteId>,
    #[serde(default)]
    messenger_mapping: BTreeMap<Channel, MappingTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jivo: Option<JivoSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verbox: Option<VerboxSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    amocrm: Option<AmocrmSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bitrix24: Option<Bitrix24Settings>,
    /// Where every webhook body is relayed verbatim (a bot platform on the same channel).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    forward_urls: Vec<String>,
}

impl Resource for Integration {
    const NOUN: &'static str = "integration";
    type Input = IntegrationInput;

    fn input(&self) -> IntegrationInput {
        IntegrationInput {
            provider: self.provider,
            name: self.name.clone(),
            active: self.active,
            default_employee_id: self.default_employee_id.clone(),
            traffic_type: Some(self.traffic_type),
            default_campaign_id: self.default_campaign_id.clone(),
            default_source_id: self.default_source_id.clone(),
            default_site_id: self.default_site_id.clone(),
            messenger_mapping: self.messenger_mapping.clone(),
            jivo: self.jivo.clone(),
            verbox: self.verbox.clone(),
            amocrm: self.amocrm.clone(),
            bitrix24: self.bitrix24.clone(),
            forward_urls: self.forward_urls.clone(),
        }
    }

    fn build(
        call: &Call<'_>,
        dir: &Directory,
        input: IntegrationInput,
        existing: Option<&Integration>,
    ) -> Result<Integration, ApiError> {
        if let Some(e) = existing
            && e.provider != input.provider
        {
            return Err(ApiError::bad_request(
                "An integration's provider cannot change; create another integration.",
            ));
        }
        for (block, provider) in [
            (input.jivo.is_some(), Provider::Jivo),
            (input.verbox.is_some(), Provider::Verbox),
            (input.amocrm.is_some(), Provider::Amocrm),
            (input.bitrix24.is_some(), Provider::Bitrix24),
        ] {
            if block && provider != input.provider {
                return Err(ApiError::bad_request(format!(
                    "A {} integration takes no `{provider}` settings.",
                    input.provider
                )));
            }
        }
        let verbox = match input.verbox {
            Some(v) => Some(verbox_settings(
                v,
                existing.and_then(|e| e.verbox.as_ref()),
                call.app.url_policy,
            )?),
            None if input.provider == Provider::Verbox => Some(VerboxSettings::default()),
            None => None,
        };
        let amocrm = match input.amocrm {
            Some(a) => Some(amocrm_settings(
                a,
                existing.and_then(|e| e.amocrm.as_ref()),
                call.app.url_policy,
            )?),
            None if input.provider == Provider::Amocrm => {
                return Err(ApiError::bad_request(
                    "An amocrm integration needs its block: {\"amocrm\": {\"base_url\": \"https://<account>.amocrm.ru\", ...}}.",
                ));
            }
            None => None,
        };
        let bitrix24 = match input.bitrix24 {
            Some(b) => Some(bitrix24_settings(
                b,
                existing.and_then(|e| e.bitrix24.as_ref()),
                call.app.url_policy,
            )?),
            None if input.provider == Provider::Bitrix24 => {
                return Err(ApiError::bad_request(
                    "A bitrix24 integration needs its block: {\"bitrix24\": {\"portal_url\": \"https://<portal>.bitrix24.ru\", \"client_id\": ..., \"client_secret\": ..., \"application_token\": ...}}.",
                ));
            }
            None => None,
        };
        if let Some(id) = &input.default_employee_id {
            must_exist(dir.employee(id), "default_employee_id", "employee", id)?;
        }
        check_target(
            dir,
            "default",
            &MappingTarget {
                campaign_id: input.default_campaign_id.clone(),
                source_id: input.default_source_id.clone(),
                site_id: input.default_site_id.clone(),
            },
        )?;
        for (channel, target) in &input.messenger_mapping {
            let at = format!("messenger_mapping.{}", channel.as_str());
            if target.campaign_id.is_none() && target.source_id.is_none() {
                return Err(ApiError::invalid(
                    at,
                    Invalid::Required,
                    "Each messenger mapping names a campaign_id, or a source_id (with a site_id).",
                ));
            }
            check_target(dir, &at, target)?;
        }
        Ok(Integration {
            id: existing.map_or_else(IntegrationId::generate, |e| e.id.clone()),
            account_id: call.account.id.clone(),
            provider: input.provider,
            name: name(&input.name, "integration")?,
            active: input.active,
            secret: existing.map_or_else(Secret::generate, |e| e.secret.clone()),
            default_employee_id: input.default_employee_id,
            traffic_type: input
                .traffic_type
                .unwrap_or_else(|| TrafficType::default_for(input.provider)),
            default_campaign_id: input.default_campaign_id,
            default_source_id: input.default_source_id,
            default_site_id: input.default_site_id,
            messenger_mapping: input.messenger_mapping,
            jivo: match input.provider {
                Provider::Jivo => input.jivo.or_else(|| Some(JivoSettings::default())),
                _ => None,
            },
            verbox,
            amocrm,
            bitrix24,
            forward_urls: forward_urls(input.forward_urls, call.app.url_policy)?,
            created_at: existing.map_or(call.now, |e| e.created_at),
            updated_at: call.now,
        })
    }

    /// A long-lived amoCRM token connects the integration when it is set (and is refused at
    /// once if amoCRM refuses it); removing it disconnects.
    async fn saved(&self, call: &Call<'_>, previous: Option<&Self>) -> Result<Self, ApiError> {
        let token = self
            .amocrm
            .as_ref()
            .and_then(|a| a.long_lived_token.clone());
        let before = previous
            .and_then(|p| p.amocrm.as_ref())
            .and_then(|a| a.long_lived_token.clone());
        match (token, before) {
            (Some(token), before) if before.as_ref() != Some(&token) => {
                let session = Session::new(call.app, self, call.deadline);
                match crm::amocrm::connect_long_lived(&session, token, call.now).await {
                    Ok(saved) => Ok(saved),
                    Err(e) => {
                        // Not kept: a token amoCRM refuses would only fail later, quietly.
                        match previous {
                            Some(p) => call.app.store.put_entity(p).await?,
                            None => {
                                call.app
                                    .store
                                    .delete_entity::<Integration>(self.id.as_str())
                                    .await?
                            }
                        }
                        call.app.forget(&call.account.id);
                        Err(ApiError::connect(
                            Provider::Amocrm,
                            "the long-lived token",
                            e,
                        ))
                    }
                }
            }
            (None, Some(_)) => {
                call.app.store.disconnect(&self.id).await?;
                Ok(self.clone())
            }
            _ => Ok(self.clone()),
        }
    }

    /// Every provider address must resolve, and only to public addresses (unless the server
    /// allows private ones): the name rules alone cannot see where a name points.
    async fn checked(self, call: &Call<'_>) -> Result<Self, ApiError> {
        let addresses = [
            ("verbox.rest_url", self.verbox.as_ref().map(|v| &v.rest_url)),
            ("amocrm.base_url", self.amocrm.as_ref().map(|a| &a.base_url)),
            (
                "bitrix24.portal_url",
                self.bitrix24.as_ref().map(|b| &b.portal_url),
            ),
            (
                "bitrix24.oauth_url",
                self.bitrix24.as_ref().map(|b| &b.oauth_url),
            ),
        ];
        for (field, url) in addresses {
            if let Some(url) = url {
                shared::clients::guard::check_address(url, call.app.url_policy)
                    .await
                    .map_err(|e| ApiError::address(field, e))?;
            }
        }
        for (i, url) in self.forward_urls.iter().enumerate() {
            shared::clients::guard::check_address(url, call.app.url_policy)
                .await
                .map_err(|e| ApiError::address(&format!("forward_urls[{i}]"), e))?;
        }
        Ok(self)
    }

    /// A deleted integration's connection goes with it: live tokens of a CRM account nobody
    /// uses any more are not kept (nor refreshed every month by maintenance), and the jobs
    /// that waited for it are dropped.
    async fn deleted(&self, call: &Call<'_>) -> Result<(), ApiError> {
        call.app.store.disconnect(&self.id).await?;
        call.app.store.forget_health(&self.id).await?;
        loop {
            let waiting = call.app.store.waiting_jobs(&self.id, 100).await?;
            if waiting.is_empty() {
                return Ok(());
            }
            for job in &waiting {
                call.app.store.forget_waiting(job).await?;
            }
        }
    }

    /// Without the secret; with the webhook URLs, and the script tags of the account's sites
    /// ("after saving, install the script on every page of the site").
    async fn view(&self, call: &Call<'_>) -> Result<Value, ApiError> {
        let sites: Vec<Site> = call.app.store.entities(&call.account.id).await?;
        let scripts: Vec<Value> = sites
            .iter()
            .map(|s| json!({"site_id": s.id, "domain": s.domain, "script": tracker::script_tag(&call.base_url, s.id.as_str())}))
            .collect();
        // The integration's own site, else the account's only one.
        let main = self
            .default_site_id
            .as_ref()
            .and_then(|id| sites.iter().find(|s| &s.id == id))
            .or(if sites.len() == 1 {
                sites.first()
            } else {
                None
            })
            .map(|s| tracker::script_tag(&call.base_url, s.id.as_str()));
        let mut view = serde_json::to_value(self).unwrap_or_default(); // Secrets are write-only: shown as set or unset.
        for (block, secret) in [
            ("verbox", "rest_token"),
            ("amocrm", "client_secret"),
            ("amocrm", "long_lived_token"),
            ("bitrix24", "client_secret"),
            ("bitrix24", "application_token"),
        ] {
            if let Some(settings) = view.get_mut(block).and_then(Value::as_object_mut) {
                let set = settings.contains_key(secret);
                settings.insert(secret.into(), json!(if set { "set" } else { "unset" }));
            }
        }
        if matches!(self.provider, Provider::Amocrm | Provider::Bitrix24) {
            let tokens = call.app.store.tokens(&self.id).await?;
            let mut connection = tokens
                .map(|t| t.view())
                .unwrap_or_else(|| json!({"status": "not_connected"}));
            // What connecting (again) will set going: jobs set aside for the connection.
            let waiting = call.app.store.waiting_jobs(&self.id, 1000).await?.len();
            connection["waiting_jobs"] = json!(waiting);
            if let Some(map) = view.as_object_mut() {
                map.insert("connection".into(), connection);
                if self.provider == Provider::Bitrix24 {
                    let watermark = call.app.store.watermark(&self.id).await?;
                    map.insert(
                        "reconciliation".into(),
                        json!({"created_up_to": watermark.unwrap_or(self.created_at)}),
                    );
                }
                // Register this in the CRM: amoCRM's redirect URI, the handler path of
                // Bitrix24's local application.
                map.insert(
                    "oauth_redirect_uri".into(),
                    json!(crate::oauth::redirect_uri(call, self.provider)),
                );
            }
        }
        if let Some(map) = view.as_object_mut() {
            map.remove("secret");
            map.insert("webhook_urls".into(), webhook_urls(self, &call.base_url));
            map.insert("site_script".into(), json!(main));
            map.insert("site_scripts".into(), json!(scripts));
            map.insert("health".into(), health(self, call).await?);
        }
        Ok(view)
    }
}

/// Quarantined events of the account looked through for one integration's count: a view
/// stays a few queries however much is quarantined; past this the count says "at least".
const QUARANTINE_SCAN: usize = 1000;

/// At a glance, whether the integration works: the last event received (its newest raw
/// event), the last appeal made and the last job given up (its health marks), the last body
/// that could not be read and how many wait in quarantine. Read when shown, so the webhook
/// path writes nothing for it beyond one mark per appeal made.
async fn health(integration: &Integration, call: &Call<'_>) -> Result<Value, ApiError> {
    let store = &call.app.store;
    let (newest, _) = store
        .integration_raw_events(&integration.id, 1, None)
        .await?;
    let marks = store.health(&integration.id).await?;
    let (mut quarantined, mut scanned, mut after) = (0usize, 0usize, None);
    let mut last_quarantined = None;
    let more = loop {
        let (page, next) = store.quarantined(&call.account.id, 200, after).await?;
        scanned += page.len();
        for event in page
            .into_iter()
            .filter(|e| e.integration_id == integration.id)
        {
            quarantined += 1;
            last_quarantined.get_or_insert(event);
        }
        match next {
            Some(next) if scanned < QUARANTINE_SCAN => after = Some(next),
            next => break next.is_some(),
        }
    };
    let unreadable = last_quarantined.map(|e| shared::store::HealthError {
        at: e.handled_at.unwrap_or(e.received_at),
        reason: e.reason.unwrap_or_default(),
    });
    let last_error = [unreadable, marks.last_error]
        .into_iter()
        .flatten()
        .max_by_key(|e| e.at);
    let mut health = json!({
        "last_event_at": newest.first().map(|e| e.received_at),
        "last_appeal_at": marks.last_appeal_at,
        "last_error": last_error,
        "quarantined": quarantined,
    });
    if more {
        // More quarantined events than were looked through: the count is a floor.
        health["quarantined_more"] = json!(true);
    }
    Ok(health)
}

/// Validates the Verbox block. The token reads back as "set": sending that (or leaving the
/// token out of a PATCH) keeps the stored one; "unset" or null removes it.
/// Forward URLs follow the provider address rules (https, public); at most a few, no repeats.
fn forward_urls(urls: Vec<String>, policy: UrlPolicy) -> Result<Vec<String>, ApiError> {
    if urls.len() > Integration::MAX_FORWARD_URLS {
        return Err(ApiError::invalid(
            "forward_urls",
            Invalid::TooLong,
            format!(
                "forward_urls: at most {} URLs; each body is relayed to every one.",
                Integration::MAX_FORWARD_URLS
            ),
        ));
    }
    let mut checked: Vec<String> = Vec::with_capacity(urls.len());
    for (i, url) in urls.iter().enumerate() {
        let field = format!("forward_urls[{i}]");
        let url = check_provider_url(url.trim(), policy)
            .map_err(|e| ApiError::address(&field, e))?
            .to_string();
        if checked.contains(&url) {
            return Err(ApiError::invalid(
                field,
                Invalid::InvalidValue,
                format!("forward_urls: {url} is listed twice."),
            ));
        }
        checked.push(url);
    }
    Ok(checked)
}

fn verbox_settings(
    mut v: VerboxSettings,
    existing: Option<&VerboxSettings>,
    policy: UrlPolicy,
) -> Result<VerboxSettings, ApiError> {
    v.rest_token = keep_secret(v.rest_token, existing.and_then(|e| e.rest_token.as_ref()));
    check_provider_url(&v.rest_url, policy).map_err(|e| ApiError::address("verbox.rest_url", e))?;
    v.rest_url = v.rest_url.trim_end_matches('/').to_owned();
    Ok(v)
}

/// Validates the amoCRM block. Secrets read back as "set": sending that (or leaving them out of
/// a PATCH) keeps the stored ones. The account id is learned on connecting, never written.
fn amocrm_settings(
    mut a: AmocrmSettings,
    existing: Option<&AmocrmSettings>,
    policy: UrlPolicy,
) -> Result<AmocrmSettings, ApiError> {
    a.client_secret = keep_secret(
        a.client_secret,
        existing.and_then(|e| e.client_secret.as_ref()),
    );
    a.long_lived_token = keep_secret(
        a.long_lived_token,
        existing.and_then(|e| e.long_lived_token.as_ref()),
    );
    a.account_id = existing.and_then(|e| e.account_id);
    a.redirect_uri = a
        .redirect_uri
        .or_else(|| existing.and_then(|e| e.redirect_uri.clone()));
    let url = check_provider_url(&a.base_url, policy)
        .map_err(|e| ApiError::address("amocrm.base_url", e))?;
    a.base_url = url.origin().ascii_serialization();
    Ok(a)
}

/// Validates the Bitrix24 block. Secrets read back as "set": sending that (or leaving them out
/// of a PATCH) keeps the stored ones. The portal's member id and domain are learned on
/// connecting, never written.
fn bitrix24_settings(
    mut b: Bitrix24Settings,
    existing: Option<&Bitrix24Settings>,
    policy: UrlPolicy,
) -> Result<Bitrix24Settings, ApiError> {
    b.client_secret = keep_secret(
        b.client_secret,
        existing.and_then(|e| e.client_secret.as_ref()),
    );
    b.application_token = keep_secret(
        b.application_token,
        existing.and_then(|e| e.application_token.as_ref()),
    );
    // A portal moved to another address is another portal until it connects again.
    let url = check_provider_url(&b.portal_url, policy)
        .map_err(|e| ApiError::address("bitrix24.portal_url", e))?;
    b.portal_url = url.origin().ascii_serialization();
    let same_portal = existing.is_some_and(|e| e.portal_url == b.portal_url);
    b.member_id = existing
        .filter(|_| same_portal)
        .and_then(|e| e.member_id.clone());
    b.domain = existing
        .filter(|_| same_portal)
        .and_then(|e| e.domain.clone());
    let oauth = check_provider_url(&b.oauth_url, policy)
        .map_err(|e| ApiError::address("bitrix24.oauth_url", e))?;
    b.oauth_url = oauth.origin().ascii_serialization();
    if let Some(field) = &b.session_field {
        let field = field.trim().to_ascii_uppercase();
        if !field.starts_with("UF_") || field.len() > 64 {
            return Err(ApiError::invalid(
                "bitrix24.session_field",
                Invalid::InvalidValue,
                "bitrix24.session_field is the code of a user field, like UF_CRM_CS_SESSION.",
            ));
        }
        b.session_field = Some(field);
    }
    b.client_id = b
        .client_id
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    Ok(b)
}

/// A write-only value: "set" keeps the stored one, "unset" (or nothing) removes it.
fn keep_secret(sent: Option<Secret>, stored: Option<&Secret>) -> Option<Secret> {
    match sent.as_ref().map(|t| t.expose().trim()) {
        Some("set") => stored.cloned(),
        Some("unset" | "") | None => None,
        Some(value) => Some(Secret::new(value)),
    }
}

/// The campaign, source and site a target names exist; `at` is where it stands in the input
/// (`default` for the integration's own defaults: `default_campaign_id`...).
fn check_target(dir: &Directory, at: &str, target: &MappingTarget) -> Result<(), ApiError> {
    let field = |name: &str| match at {
        "default" => format!("default_{name}"),
        _ => format!("{at}.{name}"),
    };
    if let Some(id) = &target.campaign_id {
        must_exist(dir.campaign(id), &field("campaign_id"), "campaign", id)?;
    }
    if let Some(id) = &target.source_id {
        must_exist(dir.source(id), &field("source_id"), "source", id)?;
    }
    if let Some(id) = &target.site_id {
        must_exist(dir.site(id), &field("site_id"), "site", id)?;
    }
    Ok(())
}

/// The URLs to paste into the provider's settings; the secret is their last segment.
pub fn webhook_urls(i: &Integration, base: &str) -> Value {
    let url = format!("{base}/hooks/{}/{}/{}", i.provider, i.id, i.secret.expose());
    let urls: serde_json::Map<String, Value> = i
        .hooks()
        .iter()
        .map(|hook| {
            // Only Verbox has two URLs, told apart by their last segment (DESIGN.md).
            let url = match i.provider {
                Provider::Verbox => format!("{url}/{hook}"),
                _ => url.clone(),
            };
            ((*hook).to_owned(), json!(url))
        })
        .collect();
    Value::Object(urls)
}

/// `POST /api/integrations/{id}/rotate-secret`: a new secret; the old URLs stop working.
pub async fn rotate_secret(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    let key = get::<Integration>(call, id).await?.key();
    let now = call.now;
    let rotated = call
        .app
        .store
        .update_record(&key, |current: Option<Integration>| {
            std::future::ready(
                current
                    .map(|mut i| {
                        i.secret = Secret::generate();
                        i.updated_at = now;
                        i
                    })
                    .ok_or_else(|| ApiError::not_found(format!("No integration {id}."))),
            )
        })
        .await?;
    call.app.forget(&call.account.id);
    rotated.view(call).await
}
