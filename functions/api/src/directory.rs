//! Sites, sources, campaigns and employees as API resources: their inputs and validation.

use crate::call::Call;
use crate::resources::{Resource, must_exist, name};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::domain::account::REPEAT_WINDOW_DAYS;
use shared::domain::contact::normalize_email;
use shared::domain::directory::{
    Campaign, Directory, Employee, MAX_SOURCE_RULES, Site, Source, click_id_name, host_of,
    referrer_domain,
};
use shared::domain::ids::{CampaignId, EmployeeId, SiteId, SourceId};
use shared::domain::utm::{self, Utm};
use shared::edge::web::{ApiError, Invalid};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteInput {
    name: String,
    domain: String,
    /// Days (1 to 365) within which a person's next appeal on this site is a repeat; absent or
    /// `null`: the account's `repeat_window_days`. Taken as it came, checked in `build`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    repeat_window_days: Option<Value>,
}

impl Resource for Site {
    const NOUN: &'static str = "site";
    type Input = SiteInput;

    fn input(&self) -> SiteInput {
        SiteInput {
            name: self.name.clone(),
            domain: self.domain.clone(),
            repeat_window_days: self.repeat_window_days.map(Value::from),
        }
    }

    /// With the script tag to paste on every page of the site.
    async fn view(&self, call: &Call<'_>) -> Result<Value, ApiError> {
        let mut view = serde_json::to_value(self).unwrap_or_default();
        view["script"] = json!(tracker::script_tag(&call.base_url, self.id.as_str()));
        Ok(view)
    }

    fn build(
        call: &Call<'_>,
        _: &Directory,
        input: SiteInput,
        existing: Option<&Site>,
    ) -> Result<Site, ApiError> {
        let domain = host_of(&input.domain).ok_or_else(|| {
            ApiError::invalid(
                "domain",
                Invalid::InvalidValue,
                format!(
                    "`{}` is not a domain: give the site's host, like shop.example.ru.",
                    input.domain
                ),
            )
        })?;
        let repeat_window_days = match &input.repeat_window_days {
            None | Some(Value::Null) => None,
            Some(days) => Some(repeat_window(days)?),
        };
        Ok(Site {
            id: existing.map_or_else(SiteId::generate, |e| e.id.clone()),
            account_id: call.account.id.clone(),
            name: name(&input.name, "site")?,
            domain,
            repeat_window_days,
            created_at: existing.map_or(call.now, |e| e.created_at),
        })
    }
}

/// A site's repeat window: whole days within the account's bounds, as a number or (from a
/// form) its digits.
fn repeat_window(days: &Value) -> Result<u16, ApiError> {
    let whole = match days {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    whole
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| REPEAT_WINDOW_DAYS.contains(n))
        .ok_or_else(|| {
            ApiError::invalid(
                "repeat_window_days",
                Invalid::InvalidValue,
                format!(
                    "repeat_window_days is a whole number of days from {} to {}, or null for the account's.",
                    REPEAT_WINDOW_DAYS.start(),
                    REPEAT_WINDOW_DAYS.end()
                ),
            )
        })
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    name: String,
    #[serde(default)]
    utm_sources: Vec<String>,
    /// URL parameters naming a paid click of this source (`gclid`, `yclid`).
    #[serde(default)]
    click_ids: Vec<String>,
    /// Hosts whose visits without tags come from this source; subdomains match.
    #[serde(default)]
    referrer_domains: Vec<String>,
}

impl Resource for Source {
    const NOUN: &'static str = "source";
    type Input = SourceInput;

    fn input(&self) -> SourceInput {
        SourceInput {
            name: self.name.clone(),
            utm_sources: self.utm_sources.clone(),
            click_ids: self.click_ids.clone(),
            referrer_domains: self.referrer_domains.clone(),
        }
    }

    fn build(
        call: &Call<'_>,
        _: &Directory,
        input: SourceInput,
        existing: Option<&Source>,
    ) -> Result<Source, ApiError> {
        // utm_source values stay as typed (matching folds case); a repeat is dropped.
        let mut utm_sources: Vec<String> = Vec::new();
        for value in input.utm_sources.iter().map(|s| s.trim()) {
            if !value.is_empty() && !utm_sources.iter().any(|v| utm::same(v, value)) {
                utm_sources.push(value.to_owned());
            }
        }
        let click_ids = rule_list(&input.click_ids, "click_ids", click_id_name, |typed| {
            format!(
                "click_ids names `{typed}`: use click ids the pages' addresses carry: {}.",
                shared::domain::utm::CLICK_ID_KEYS.join(", ")
            )
        })?;
        let referrer_domains = rule_list(
            &input.referrer_domains,
            "referrer_domains",
            referrer_domain,
            |typed| {
                format!(
                    "referrer_domains names `{typed}`: give a site's host, like vk.com or yandex.ru."
                )
            },
        )?;
        Ok(Source {
            id: existing.map_or_else(SourceId::generate, |e| e.id.clone()),
            account_id: call.account.id.clone(),
            name: name(&input.name, "source")?,
            utm_sources,
            click_ids,
            referrer_domains,
            created_at: existing.map_or(call.now, |e| e.created_at),
        })
    }
}

/// A source's list of rules, each normalised by `norm` (blank items dropped, repeats once, in
/// the order typed); the first item `norm` refuses, or a list over `MAX_SOURCE_RULES`, is a
/// 400 naming `field`.
fn rule_list(
    typed: &[String],
    field: &str,
    norm: fn(&str) -> Option<String>,
    refusal: impl Fn(&str) -> String,
) -> Result<Vec<String>, ApiError> {
    let mut list: Vec<String> = Vec::new();
    for item in typed.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        // What was typed is echoed in the message, cut short: a list item may be any size.
        let shown = |item: &str| item.chars().take(80).collect::<String>();
        let value = norm(item).ok_or_else(|| {
            ApiError::invalid(field, Invalid::InvalidValue, refusal(&shown(item)))
        })?;
        if !list.contains(&value) {
            list.push(value);
        }
    }
    if list.len() > MAX_SOURCE_RULES {
        return Err(ApiError::invalid(
            field,
            Invalid::TooLong,
            format!("{field} holds at most {MAX_SOURCE_RULES} values."),
        ));
    }
    Ok(list)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_id: Option<SourceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    site_id: Option<SiteId>,
    /// Tags the campaign matches; none: only a default or a mapping target.
    #[serde(default)]
    utm: Utm,
}

impl Resource for Campaign {
    const NOUN: &'static str = "campaign";
    type Input = CampaignInput;

    fn input(&self) -> CampaignInput {
        CampaignInput {
            name: self.name.clone(),
            source_id: self.source_id.clone(),
            site_id: self.site_id.clone(),
            utm: self.utm.clone(),
        }
    }

    fn build(
        call: &Call<'_>,
        dir: &Directory,
        input: CampaignInput,
        existing: Option<&Campaign>,
    ) -> Result<Campaign, ApiError> {
        if let Some(id) = &input.source_id {
            must_exist(dir.source(id), "source_id", "source", id)?;
        }
        if let Some(id) = &input.site_id {
            must_exist(dir.site(id), "site_id", "site", id)?;
        }
        // Blank tags are no tags: a rule naming `"medium": ""` must not match everything.
        let mut utm = Utm::default();
        for (key, value) in input.utm.fields() {
            utm.set(key, value.unwrap_or_default());
        }
        Ok(Campaign {
            id: existing.map_or_else(CampaignId::generate, |e| e.id.clone()),
            account_id: call.account.id.clone(),
            name: name(&input.name, "campaign")?,
            source_id: input.source_id,
            site_id: input.site_id,
            utm,
            created_at: existing.map_or(call.now, |e| e.created_at),
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmployeeInput {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    /// The employee's ids at providers, to recognise agents without an e-mail.
    #[serde(default)]
    external_ids: BTreeMap<String, Vec<String>>,
}

impl Resource for Employee {
    const NOUN: &'static str = "employee";
    type Input = EmployeeInput;

    fn input(&self) -> EmployeeInput {
        EmployeeInput {
            name: self.name.clone(),
            email: self.email.clone(),
            external_ids: self.external_ids.clone(),
        }
    }

    fn build(
        call: &Call<'_>,
        _: &Directory,
        input: EmployeeInput,
        existing: Option<&Employee>,
    ) -> Result<Employee, ApiError> {
        let email = match input.email.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(normalize_email(raw).ok_or_else(|| {
                ApiError::invalid(
                    "email",
                    Invalid::InvalidValue,
                    format!("`{raw}` is not an e-mail address."),
                )
            })?),
        };
        for provider in input.external_ids.keys() {
            if shared::domain::appeal::Provider::parse(provider).is_none() {
                return Err(ApiError::invalid(
                    "external_ids",
                    Invalid::InvalidValue,
                    format!(
                        "external_ids names `{provider}`: use jivo, verbox, amocrm or bitrix24."
                    ),
                ));
            }
        }
        Ok(Employee {
            id: existing.map_or_else(EmployeeId::generate, |e| e.id.clone()),
            account_id: call.account.id.clone(),
            name: name(&input.name, "employee")?,
            email,
            external_ids: input.external_ids,
            created_at: existing.map_or(call.now, |e| e.created_at),
        })
    }
}
