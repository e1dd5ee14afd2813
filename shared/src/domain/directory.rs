//! An account's directories (sites, sources, campaigns, employees) and the lookups on them.

use crate::domain::account::REPEAT_WINDOW_DAYS;
use crate::domain::appeal::{Agent, EmployeeMatch, EmployeeRef, Provider};
use crate::domain::ids::{AccountId, CampaignId, EmployeeId, SiteId, SourceId};
use crate::domain::utm::{self, ClickIds, Utm};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    pub id: SiteId,
    pub account_id: AccountId,
    pub name: String,
    /// Host name without scheme, lower-case (`shop.example.ru`).
    pub domain: String,
    /// The site's own repeat window in days (`REPEAT_WINDOW_DAYS`); `None`: the account's.
    /// Sites stored before it existed read as `None`.
    #[serde(default)]
    pub repeat_window_days: Option<u16>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub id: SourceId,
    pub account_id: AccountId,
    pub name: String,
    /// `utm_source` values that mean this source (`yandex`, `ya-direct`); matched when no
    /// campaign matches.
    #[serde(default)]
    pub utm_sources: Vec<String>,
    /// Click-id parameters that mean a paid click of this source (`gclid`, `gbraid`,
    /// `wbraid` for Google Ads; `yclid` for Yandex Direct), lower-case.
    #[serde(default)]
    pub click_ids: Vec<String>,
    /// Referrer domains that mean this source (`yandex.ru`, `vk.com`); subdomains match.
    #[serde(default)]
    pub referrer_domains: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: CampaignId,
    pub account_id: AccountId,
    pub name: String,
    pub source_id: Option<SourceId>,
    pub site_id: Option<SiteId>,
    #[serde(default)]
    pub utm: Utm,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Employee {
    pub id: EmployeeId,
    pub account_id: AccountId,
    pub name: String,
    pub email: Option<String>,
    /// The employee's ids at providers (`{"jivo": ["731"]}`), for agents without an e-mail.
    #[serde(default)]
    pub external_ids: BTreeMap<String, Vec<String>>,
    pub created_at: DateTime<Utc>,
}

/// How many tags a campaign's rule names when all of them equal the given tags
/// (as `utm::same` compares them: decoded, trimmed, case folded the Unicode way, so a rule's
/// `Ретаргетинг` matches `ретаргетинг`); `None` when one differs or the rule names none (such a campaign is only
/// ever a default or a mapping target).
pub fn rule_matches(rule: &Utm, tags: &Utm) -> Option<usize> {
    matches_folded(rule, &folded(tags))
}

/// The tags as matching compares them (`utm::fold`), folded once for all the rules.
fn folded(tags: &Utm) -> [Option<String>; 5] {
    tags.fields().map(|(_, v)| v.map(utm::fold))
}

/// `rule_matches` of a rule and tags both `folded`.
fn both_folded(rule: &[Option<String>; 5], tags: &[Option<String>; 5]) -> Option<usize> {
    let mut named = 0;
    for (want, have) in rule.iter().zip(tags) {
        if let Some(want) = want {
            named += 1;
            if have.as_ref() != Some(want) {
                return None;
            }
        }
    }
    (named > 0).then_some(named)
}

/// `rule_matches` against tags already `folded`.
fn matches_folded(rule: &Utm, tags: &[Option<String>; 5]) -> Option<usize> {
    let mut named = 0;
    for ((_, want), have) in rule.fields().into_iter().zip(tags) {
        if let Some(want) = want {
            named += 1;
            if !have
                .as_deref()
                .is_some_and(|have| utm::folds_to(want, have))
            {
                return None;
            }
        }
    }
    (named > 0).then_some(named)
}

/// Host of a URL or a bare domain, lower-case, without `www.`.
pub fn host_of(url_or_domain: &str) -> Option<String> {
    let s = url_or_domain.trim();
    let host = match url::Url::parse(s) {
        Ok(u) if u.host_str().is_some() => u.host_str()?.to_owned(),
        _ => s.split(['/', '?', '#', ':']).next()?.to_owned(),
    };
    let host = host.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).to_owned();
    (!host.is_empty() && host.contains('.')).then_some(host)
}

/// Most click ids or referrer domains a source lists: a rule, not a data store.
pub const MAX_SOURCE_RULES: usize = 50;

/// A click-id parameter name as a source lists it: trimmed, lower-case, one of `utm::CLICK_ID_KEYS`.
pub fn click_id_name(name: &str) -> Option<String> {
    let name = name.trim().to_ascii_lowercase();
    // Only the click ids our readers collect from URLs: any other name could never match.
    crate::domain::utm::CLICK_ID_KEYS
        .contains(&name.as_str())
        .then_some(name)
}

/// A referrer domain as a source lists it: the host of what was typed (`https://vk.com/`,
/// `VK.com`, `www.vk.com` are `vk.com`), lower-case, without `www.`, in the ASCII form
/// browsers send (`яндекс.рф` is `xn--d1acpjx3f.xn--p1ai`). `None` for what is no domain
/// name: no dot, an IP address, a space, a user or an empty label.
pub fn referrer_domain(typed: &str) -> Option<String> {
    let typed = typed.trim();
    let with_scheme = if typed.contains("://") {
        typed.to_owned()
    } else {
        format!("http://{typed}")
    };
    let url = url::Url::parse(&with_scheme).ok()?;
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let url::Host::Domain(host) = url.host()? else {
        return None;
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    (host.contains('.') && labels_ok && host.len() <= 253).then(|| host.to_owned())
}

/// Whether `host` is `domain` or one of its subdomains (`m.vk.com` is `vk.com`'s).
fn within(host: &str, domain: &str) -> bool {
    host.strip_suffix(domain)
        .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
}

/// Everything attribution and employee mapping look up, loaded in one read per account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directory {
    pub sites: Vec<Site>,
    pub sources: Vec<Source>,
    pub campaigns: Vec<Campaign>,
    pub employees: Vec<Employee>,
    /// The campaigns' rules folded for matching, built on first use (construct with
    /// `..Directory::default()`).
    pub folded_rules: FoldedRules,
}

/// The campaigns' rules as matching compares them (`utm::fold`), folded once per directory
/// rather than for every appeal (issue 14: 200 campaigns cost an appeal more than reading
/// its webhook). Clones share it: the app reads a directory once and hands out clones for
/// 30 s. A directory is read whole and then only read: one whose campaigns are changed after
/// a match must be built anew, though a changed count or a rule that no longer matches is
/// caught and matched the long way. Equal always: it says nothing of the directory.
#[derive(Clone, Default)]
pub struct FoldedRules(Arc<OnceLock<Vec<[Option<String>; 5]>>>);

impl FoldedRules {
    /// The folded rules of these campaigns, one per campaign in order; `None` when they were
    /// folded from campaigns of another count.
    fn of(&self, campaigns: &[Campaign]) -> Option<&[[Option<String>; 5]]> {
        let rules = self
            .0
            .get_or_init(|| campaigns.iter().map(|c| folded(&c.utm)).collect());
        (rules.len() == campaigns.len()).then_some(rules.as_slice())
    }
}

impl PartialEq for FoldedRules {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for FoldedRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let built = self.0.get().map(Vec::len);
        f.debug_tuple("FoldedRules").field(&built).finish()
    }
}

impl Directory {
    pub fn campaign(&self, id: &CampaignId) -> Option<&Campaign> {
        self.campaigns.iter().find(|c| &c.id == id)
    }

    pub fn source(&self, id: &SourceId) -> Option<&Source> {
        self.sources.iter().find(|s| &s.id == id)
    }

    pub fn site(&self, id: &SiteId) -> Option<&Site> {
        self.sites.iter().find(|s| &s.id == id)
    }

    pub fn employee(&self, id: &EmployeeId) -> Option<&Employee> {
        self.employees.iter().find(|e| &e.id == id)
    }

    /// How many days before an appeal another of the same person's makes it a repeat: the
    /// site's own window when the appeal has a site that sets one, else the account's. A
    /// stored window outside `REPEAT_WINDOW_DAYS` (written around the API) is not trusted.
    pub fn repeat_window_days(&self, site: Option<&SiteId>, account_default: u16) -> u16 {
        site.and_then(|id| self.site(id))
            .and_then(|s| s.repeat_window_days)
            .filter(|days| REPEAT_WINDOW_DAYS.contains(days))
            .unwrap_or(account_default)
    }

    /// The site whose domain is the URL's host or a parent of it (`m.shop.ru` is `shop.ru`).
    pub fn site_for_url(&self, url: &str) -> Option<&Site> {
        if self.sites.is_empty() {
            return None;
        }
        let host = host_of(url)?;
        self.sites
            .iter()
            .filter(|s| within(&host, &s.domain))
            .max_by_key(|s| s.domain.len())
    }

    /// The campaign whose rule matches the tags and names the most of them; a campaign bound
    /// to another site than the known one is not a candidate. Ties go to the older campaign.
    pub fn campaign_for(&self, tags: &Utm, site: Option<&SiteId>) -> Option<&Campaign> {
        let tags = folded(tags);
        let long_way = || self.best_campaign(site, |_, c| matches_folded(&c.utm, &tags));
        let Some(rules) = self.folded_rules.of(&self.campaigns) else {
            return long_way();
        };
        match self.best_campaign(site, |i, _| both_folded(&rules[i], &tags)) {
            // A rule changed since it was folded is no match any more: check the one chosen.
            Some(c) if matches_folded(&c.utm, &tags).is_none() => long_way(),
            best => best,
        }
    }

    /// The campaign whose rule names the most tags by `named` (by index and campaign).
    fn best_campaign(
        &self,
        site: Option<&SiteId>,
        named: impl Fn(usize, &Campaign) -> Option<usize>,
    ) -> Option<&Campaign> {
        let mut best: Option<(&Campaign, usize)> = None;
        for (i, c) in self.campaigns.iter().enumerate() {
            if let (Some(bound), Some(site)) = (&c.site_id, site)
                && bound != site
            {
                continue;
            }
            if let Some(n) = named(i, c)
                && best.is_none_or(|(b, bn)| n > bn || (n == bn && c.id < b.id))
            {
                best = Some((c, n));
            }
        }
        best.map(|(c, _)| c)
    }

    /// The source that lists the tags' `utm_source` (compared as `utm::same` does).
    pub fn source_for(&self, tags: &Utm) -> Option<&Source> {
        let wanted = tags.source.as_deref()?;
        self.sources
            .iter()
            .find(|s| s.utm_sources.iter().any(|v| utm::same(v, wanted)))
    }

    /// The source that lists one of the visit's click ids (`gclid` for Google Ads). Only
    /// names with a value count. Two sources naming ids of one visit: the one whose id comes
    /// first by name, then the source listed first, so the answer never depends on luck.
    pub fn source_for_click_ids(&self, click_ids: &ClickIds) -> Option<&Source> {
        click_ids
            .iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .find_map(|(name, _)| {
                let name = name.to_ascii_lowercase();
                self.sources.iter().find(|s| s.click_ids.contains(&name))
            })
    }

    /// The source whose referrer domains hold the referrer's host (a URL or a bare host):
    /// `m.vk.com` is `vk.com`'s, `www.` is ignored, and the longest matching domain wins
    /// (`go.mail.ru` over `mail.ru`); ties go to the source listed first.
    pub fn source_for_referrer(&self, url_or_host: &str) -> Option<&Source> {
        let host = referrer_domain(url_or_host)?;
        let mut best: Option<(&Source, usize)> = None;
        for source in &self.sources {
            for domain in &source.referrer_domains {
                let domain = domain
                    .trim()
                    .trim_start_matches("www.")
                    .to_ascii_lowercase();
                if !domain.is_empty()
                    && within(&host, &domain)
                    && best.is_none_or(|(_, len)| domain.len() > len)
                {
                    best = Some((source, domain.len()));
                }
            }
        }
        best.map(|(s, _)| s)
    }

    /// The employee for a provider's agent: by the provider id listed on the employee, then by
    /// e-mail, else the integration's default.
    pub fn employee_for(
        &self,
        provider: Provider,
        agent: Option<&Agent>,
        default: Option<&EmployeeId>,
    ) -> Option<EmployeeRef> {
        let reference = |e: &Employee, matched_by| EmployeeRef {
            id: e.id.clone(),
            name: e.name.clone(),
            matched_by,
        };
        if let Some(agent) = agent {
            if let Some(id) = &agent.id {
                let by_id = self.employees.iter().find(|e| {
                    e.external_ids
                        .get(provider.as_str())
                        .is_some_and(|ids| ids.contains(id))
                });
                if let Some(e) = by_id {
                    return Some(reference(e, EmployeeMatch::ExternalId));
                }
            }
            if let Some(email) = &agent.email {
                let by_email = self.employees.iter().find(|e| {
                    e.email
                        .as_deref()
                        .is_some_and(|mine| mine.eq_ignore_ascii_case(email))
                });
                if let Some(e) = by_email {
                    return Some(reference(e, EmployeeMatch::Email));
                }
            }
        }
        let e = self.employee(default?)?;
        Some(reference(e, EmployeeMatch::Default))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    pub fn when() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).unwrap()
    }

    pub fn acc() -> AccountId {
        AccountId::parse("acc_t").unwrap()
    }

    pub fn campaign(id: &str, utm: &str, site: Option<&str>) -> Campaign {
        Campaign {
            id: CampaignId::parse(id).unwrap(),
            account_id: acc(),
            name: id.into(),
            source_id: Some(SourceId::parse(&format!("src_{id}")).unwrap()),
            site_id: site.map(|s| SiteId::parse(s).unwrap()),
            utm: Utm::from_pipe_list(utm),
            created_at: when(),
        }
    }

    pub fn site(id: &str, domain: &str) -> Site {
        Site {
            id: SiteId::parse(id).unwrap(),
            account_id: acc(),
            name: id.into(),
            domain: domain.into(),
            repeat_window_days: None,
            created_at: when(),
        }
    }

    #[test]
    fn a_sites_own_repeat_window_wins_over_the_accounts() {
        let mut own = site("site_1", "a.ru");
        own.repeat_window_days = Some(7);
        let mut broken = site("site_3", "c.ru");
        broken.repeat_window_days = Some(0);
        let dir = Directory {
            sites: vec![own, site("site_2", "b.ru"), broken],
            ..Directory::default()
        };
        let window = |id: Option<&str>| {
            let id = id.map(|i| SiteId::parse(i).unwrap());
            dir.repeat_window_days(id.as_ref(), 30)
        };
        assert_eq!(window(Some("site_1")), 7);
        assert_eq!(window(Some("site_2")), 30);
        assert_eq!(window(Some("site_3")), 30, "out of bounds: the account's");
        assert_eq!(window(Some("site_gone")), 30);
        assert_eq!(window(None), 30);
    }

    #[test]
    fn a_site_stored_before_the_window_existed_reads_back() {
        let stored = serde_json::json!({
            "id": "site_1", "account_id": "acc_t", "name": "a", "domain": "a.ru",
            "created_at": "2024-01-01T00:00:00Z",
        });
        let site: Site = serde_json::from_value(stored).unwrap();
        assert_eq!(site.repeat_window_days, None);
    }

    #[test]
    fn the_campaign_naming_most_matching_tags_wins() {
        let dir = Directory {
            campaigns: vec![
                campaign("cmp_a", "source=yandex", None),
                campaign("cmp_b", "source=Yandex|medium=cpc", None),
                campaign("cmp_c", "source=yandex|medium=cpc|campaign=autumn", None),
                campaign("cmp_empty", "", None),
            ],
            ..Directory::default()
        };
        let tags = Utm::from_pipe_list("source=yandex|medium=CPC|campaign=spring");
        assert_eq!(dir.campaign_for(&tags, None).unwrap().id.as_str(), "cmp_b");
        assert!(dir.campaign_for(&Utm::default(), None).is_none());
    }

    #[test]
    fn campaigns_bound_to_another_site_are_skipped() {
        let dir = Directory {
            campaigns: vec![campaign("cmp_a", "source=yandex", Some("site_2"))],
            ..Directory::default()
        };
        let tags = Utm::from_pipe_list("source=yandex");
        let site1 = SiteId::parse("site_1").unwrap();
        assert!(dir.campaign_for(&tags, Some(&site1)).is_none());
        assert!(dir.campaign_for(&tags, None).is_some());
    }

    #[test]
    fn sites_match_their_host_and_subdomains() {
        let dir = Directory {
            sites: vec![
                site("site_1", "example.ru"),
                site("site_2", "shop.example.ru"),
            ],
            ..Directory::default()
        };
        let by = |u: &str| dir.site_for_url(u).map(|s| s.id.as_str().to_owned());
        assert_eq!(
            by("https://www.shop.example.ru/x?y").as_deref(),
            Some("site_2")
        );
        assert_eq!(by("https://m.example.ru/").as_deref(), Some("site_1"));
        assert_eq!(by("https://notexample.ru/"), None);
        assert_eq!(by("junk"), None);
    }

    fn source(id: &str, click_ids: &[&str], domains: &[&str]) -> Source {
        Source {
            id: SourceId::parse(id).unwrap(),
            account_id: acc(),
            name: id.into(),
            utm_sources: Vec::new(),
            click_ids: click_ids.iter().map(|c| c.to_string()).collect(),
            referrer_domains: domains.iter().map(|d| d.to_string()).collect(),
            created_at: when(),
        }
    }

    fn rules() -> Directory {
        Directory {
            sources: vec![
                source("src_google", &["gclid", "gbraid", "wbraid"], &[]),
                source("src_yandex", &["yclid"], &[]),
                source("src_organic", &[], &["yandex.ru", "google.com", "mail.ru"]),
                source("src_mail", &[], &["go.mail.ru"]),
                source("src_social", &[], &["vk.com", "t.me"]),
            ],
            ..Directory::default()
        }
    }

    #[test]
    fn a_click_id_names_the_source_that_lists_it() {
        let dir = rules();
        let by = |pairs: &[(&str, &str)]| {
            let ids: ClickIds = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            dir.source_for_click_ids(&ids)
                .map(|s| s.id.as_str().to_owned())
        };
        assert_eq!(by(&[("wbraid", "x")]).as_deref(), Some("src_google"));
        assert_eq!(by(&[("yclid", "7315542")]).as_deref(), Some("src_yandex"));
        assert_eq!(by(&[("fbclid", "x")]), None, "listed by no source");
        assert_eq!(by(&[("gclid", " ")]), None, "a blank id is no click");
        assert_eq!(by(&[]), None);
        // Both: the id first by name decides, whatever the order sources are listed in.
        let both = by(&[("yclid", "1"), ("gclid", "2")]);
        assert_eq!(both.as_deref(), Some("src_google"));
    }

    #[test]
    fn a_referrer_names_the_source_of_its_longest_matching_domain() {
        let dir = rules();
        let by = |r: &str| dir.source_for_referrer(r).map(|s| s.id.as_str().to_owned());
        assert_eq!(
            by("https://yandex.ru/search/?text=диван").as_deref(),
            Some("src_organic")
        );
        assert_eq!(by("https://m.vk.com/wall-1").as_deref(), Some("src_social"));
        assert_eq!(
            by("https://www.google.com/").as_deref(),
            Some("src_organic")
        );
        assert_eq!(by("t.me").as_deref(), Some("src_social"), "a bare host");
        assert_eq!(
            by("https://go.mail.ru/search?q=x").as_deref(),
            Some("src_mail")
        );
        assert_eq!(by("https://e.mail.ru/").as_deref(), Some("src_organic"));
        assert_eq!(by("https://notvk.com/"), None, "not a subdomain");
        assert_eq!(by("https://vk.com.evil.ru/"), None);
        assert_eq!(by("https://shop.example.ru/"), None);
        assert_eq!(by(""), None);
        assert_eq!(by("junk"), None);
    }

    #[test]
    fn rule_lists_are_normalised_or_refused() {
        assert_eq!(click_id_name(" GCLID ").as_deref(), Some("gclid"));
        assert_eq!(click_id_name("MSCLKID").as_deref(), Some("msclkid"));
        // Metrika's visitor id is no click id, and a name no reader collects never matches.
        for bad in [
            "",
            "g clid",
            "gclid=1",
            "клик",
            "_ym_uid",
            "myclid",
            &"x".repeat(65),
        ] {
            assert_eq!(click_id_name(bad), None, "{bad}");
        }
        for (typed, domain) in [
            ("https://vk.com/", "vk.com"),
            ("VK.com", "vk.com"),
            ("www.vk.com", "vk.com"),
            ("http://go.mail.ru/search?q=1", "go.mail.ru"),
            ("vk.com.", "vk.com"),
            ("яндекс.рф", "xn--d1acpjx3f.xn--p1ai"),
        ] {
            assert_eq!(referrer_domain(typed).as_deref(), Some(domain), "{typed}");
        }
        for bad in [
            "",
            "vk",
            "not a domain",
            "http://",
            "192.168.0.1",
            "user@vk.com",
            "-vk.com",
            "vk..com",
            "https://[::1]/",
        ] {
            assert_eq!(referrer_domain(bad), None, "{bad}");
        }
    }

    #[test]
    fn utm_rules_match_cyrillic_in_any_case_and_encoded_values() {
        let dir = Directory {
            campaigns: vec![campaign(
                "cmp_r",
                "source=VK|campaign=Ретаргетинг Весна",
                None,
            )],
            sources: vec![Source {
                utm_sources: vec!["Яндекс".into()],
                ..source("src_ya", &[], &[])
            }],
            ..Directory::default()
        };
        let mut tags = Utm::default();
        tags.set("source", "vk");
        tags.set("campaign", "ретаргетинг+весна");
        assert_eq!(dir.campaign_for(&tags, None).unwrap().id.as_str(), "cmp_r");
        tags.set("campaign", "ретаргетинг лето");
        assert!(dir.campaign_for(&tags, None).is_none());
        tags.set("source", "%D1%8F%D0%BD%D0%B4%D0%B5%D0%BA%D1%81");
        assert_eq!(dir.source_for(&tags).unwrap().id.as_str(), "src_ya");
    }

    #[test]
    fn agents_map_to_employees_by_id_then_email_then_default() {
        let mut ids = BTreeMap::new();
        ids.insert("jivo".to_string(), vec!["731".to_string()]);
        let emp = |id: &str, email: Option<&str>, ext| Employee {
            id: EmployeeId::parse(id).unwrap(),
            account_id: acc(),
            name: id.into(),
            email: email.map(Into::into),
            external_ids: ext,
            created_at: when(),
        };
        let dir = Directory {
            employees: vec![
                emp("emp_a", None, ids),
                emp("emp_b", Some("Oleg@Shop.ru"), BTreeMap::new()),
                emp("emp_d", None, BTreeMap::new()),
            ],
            ..Directory::default()
        };
        let default = EmployeeId::parse("emp_d").unwrap();
        let agent = |id: &str, email: &str| Agent {
            id: Some(id.into()),
            name: None,
            email: Some(email.into()),
        };
        let find = |a: Agent| {
            dir.employee_for(Provider::Jivo, Some(&a), Some(&default))
                .unwrap()
        };
        assert_eq!(find(agent("731", "x@y.ru")).id.as_str(), "emp_a");
        assert_eq!(
            find(agent("1", "oleg@shop.ru")).matched_by,
            EmployeeMatch::Email
        );
        assert_eq!(
            find(agent("1", "x@y.ru")).matched_by,
            EmployeeMatch::Default
        );
        assert!(dir.employee_for(Provider::Jivo, None, None).is_none());
    }

    /// `campaign_for` as it was written before issue 14: every rule value and tag folded
    /// for every comparison.
    fn campaign_for_as_written<'d>(
        dir: &'d Directory,
        tags: &Utm,
        site: Option<&SiteId>,
    ) -> Option<&'d Campaign> {
        let named = |rule: &Utm| {
            let mut named = 0;
            for ((_, want), (_, have)) in rule.fields().into_iter().zip(tags.fields()) {
                if let Some(want) = want {
                    named += 1;
                    if have.is_none_or(|have| utm::fold(have) != utm::fold(want)) {
                        return None;
                    }
                }
            }
            (named > 0).then_some(named)
        };
        let mut best: Option<(&Campaign, usize)> = None;
        for c in &dir.campaigns {
            if c.site_id
                .as_ref()
                .is_some_and(|b| site.is_some_and(|s| b != s))
            {
                continue;
            }
            if let Some(n) = named(&c.utm)
                && best.is_none_or(|(b, bn)| n > bn || (n == bn && c.id < b.id))
            {
                best = Some((c, n));
            }
        }
        best.map(|(c, _)| c)
    }

    /// Tags as a visit or a rule may write them: case, spaces, encodings, Cyrillic.
    fn tag_value() -> impl proptest::strategy::Strategy<Value = Option<String>> {
        use proptest::strategy::Strategy;
        proptest::option::of(proptest::sample::select(vec![
            "yandex",
            "YANDEX",
            " Yandex ",
            "%20yandex",
            "google",
            "cpc",
            "CPC",
            "spring sale",
            "spring+sale",
            "Spring%20Sale",
            "Ретаргетинг",
            "ретаргетинг",
            "%D1%80%D0%B5%D1%82",
            "рет",
            "ΣΟΦΑ",
            "σοφα",
            "ad42",
            "",
        ]))
        .prop_map(|v| v.map(str::to_owned))
    }

    fn tags() -> impl proptest::strategy::Strategy<Value = Utm> {
        use proptest::strategy::Strategy;
        (
            tag_value(),
            tag_value(),
            tag_value(),
            tag_value(),
            tag_value(),
        )
            .prop_map(|(source, medium, campaign, content, term)| Utm {
                source,
                medium,
                campaign,
                content,
                term,
            })
    }

    #[test]
    fn campaigns_changed_after_a_match_are_matched_the_long_way() {
        let mut dir = Directory {
            campaigns: vec![campaign("cmp_a", "source=yandex", None)],
            ..Directory::default()
        };
        let yandex = Utm::from_pipe_list("source=Yandex");
        let google = Utm::from_pipe_list("source=google");
        assert_eq!(
            dir.campaign_for(&yandex, None).unwrap().id.as_str(),
            "cmp_a"
        );
        let before = dir.clone();
        dir.campaigns.push(campaign("cmp_b", "source=google", None));
        assert_eq!(
            dir.campaign_for(&google, None).unwrap().id.as_str(),
            "cmp_b"
        );
        let mut changed = before.clone();
        changed.campaigns[0].utm = google.clone();
        assert!(changed.campaign_for(&yandex, None).is_none());
        assert_eq!(
            before.campaign_for(&yandex, None).unwrap().id.as_str(),
            "cmp_a"
        );
        assert_eq!(
            before,
            Directory {
                folded_rules: FoldedRules::default(),
                ..before.clone()
            }
        );
    }

    proptest::proptest! {
        #[test]
        fn matching_campaigns_picks_what_folding_every_value_picked(
            rules in proptest::collection::vec((tags(), 0..40u8, proptest::option::of(0..3u8)), 0..30),
            visit in tags(),
            site in proptest::option::of(0..3u8),
        ) {
            let site_id = |n: u8| SiteId::parse(&format!("site_{n}")).unwrap();
            let dir = Directory {
                campaigns: rules
                    .into_iter()
                    .map(|(utm, id, site)| Campaign {
                        utm,
                        site_id: site.map(site_id),
                        ..campaign(&format!("cmp_{id}"), "", None)
                    })
                    .collect(),
                ..Directory::default()
            };
            let site = site.map(site_id);
            let fresh = dir.clone();
            proptest::prop_assert_eq!(
                fresh.campaign_for(&visit, site.as_ref()).map(|c| &c.id),
                campaign_for_as_written(&dir, &visit, site.as_ref()).map(|c| &c.id)
            );
            proptest::prop_assert_eq!(
                dir.campaign_for(&visit, site.as_ref()).map(|c| &c.id),
                campaign_for_as_written(&dir, &visit, site.as_ref()).map(|c| &c.id)
            );
        }
    }
}
