//! Attribution: which campaign, source and site an appeal belongs to, and how that was decided.
//!
//! A pure function of (the appeal's facts, whether its session was found, the account's
//! directory, the integration's settings), so it is easy to test and can be re-run when a
//! mapping changes. The order (DESIGN.md):
//! 1. `session`: our session was found: its UTM tags pick the campaign (or source), else its
//!    click ids name a source, else its referrer does (`evidence` says which); its site stands.
//! 2. `utm`: no session: tags that came in the payload itself (the chat page's URL included).
//! 3. `click_id`: no session and no matching tags: a click id in the chat page's URL.
//! 4. `messenger_mapping`: a messenger chat goes where the integration maps its channel.
//! 5. `default`: the integration's default campaign, or default source plus site.
//!
//! Evidence of the visit itself comes before what a widget carried. A found session with
//! none of its own (a direct visit) keeps its site but does not decide the campaign: the next
//! steps do, and `via` names the step that did. A click id that disagrees with the tags that
//! decided is said in `detail`.

use crate::domain::appeal::{
    Appeal, Attribution, Evidence, LookupSource, SessionInfo, SessionLookup, Via,
};
use crate::domain::directory::{Campaign, Directory, Source};
use crate::domain::ids::SiteId;
use crate::domain::integration::{Integration, MappingTarget, TrafficType};
use crate::domain::utm::{ClickIds, Utm};

pub fn attribute(
    appeal: &Appeal,
    lookup: Option<&SessionLookup>,
    dir: &Directory,
    integration: &Integration,
) -> Attribution {
    let mut attribution = decide(appeal, lookup, dir, integration);
    attribution.session_lookup = lookup.cloned();
    attribution
}

/// What an appeal's attribution rests on, as a fingerprint: the session looked for (and
/// whether it was found), the visit's tags, click ids, pages and site, and the channel. The
/// attribution is decided again only when this changes (new evidence, such as a session found
/// later) or by a re-attribution run: a later event of a chat that brings nothing new never
/// moves an old appeal with today's settings.
pub fn evidence(appeal: &Appeal, lookup: Option<&SessionLookup>) -> String {
    let info = &appeal.session;
    let basis = serde_json::json!([
        lookup.map(|l| (&l.id, l.found)),
        info.utm,
        info.click_ids,
        info.page_url,
        info.landing_page,
        info.site_id,
        appeal.channel.as_str(),
    ]);
    crate::domain::secret::sha256_hex(basis.to_string().as_bytes())
}

/// Why new evidence changed an attribution, in a sentence for the history.
pub fn why_again(before: Option<&SessionLookup>, now: Option<&SessionLookup>) -> String {
    let found = |l: Option<&SessionLookup>| l.filter(|l| l.found).map(|l| l.id.clone());
    match (found(before), found(now)) {
        (None, Some(id)) => format!("the visit {id} was found after the chat began"),
        (Some(a), Some(b)) if a != b => format!("the chat named another visit, {b}"),
        _ => "a later event of the chat brought new tags, pages or channel".to_owned(),
    }
}

fn decide(
    appeal: &Appeal,
    lookup: Option<&SessionLookup>,
    dir: &Directory,
    integration: &Integration,
) -> Attribution {
    let info = &appeal.session;
    let session_found = lookup.is_some_and(|l| l.found);
    let looked_for = match lookup {
        None => "no session id came with the chat".to_owned(),
        Some(l) => {
            let what = match l.source {
                LookupSource::Payload => "session",
                LookupSource::DeepLink => "deep-link code",
                LookupSource::Message => "session (named in the chat)",
            };
            let found = if l.found { "found" } else { "not found" };
            format!("{what} {} {found}", l.id)
        }
    };
    // The site is known from our session, else from the page the chat ran on.
    let known_site = if session_found {
        info.site_id.clone()
    } else {
        None
    }
    .or_else(|| {
        [&info.page_url, &info.landing_page]
            .into_iter()
            .flatten()
            .find_map(|url| dir.site_for_url(url))
            .map(|s| s.id.clone())
    });

    if session_found {
        // The visit itself: its tags, else its click ids, else where it came from.
        if let Some(a) = by_tags(
            Via::Session,
            &info.utm,
            known_site.as_ref(),
            dir,
            &looked_for,
        ) {
            return agreeing(a, info, dir);
        }
        if let Some(a) = by_click_ids(Via::Session, info, known_site.as_ref(), dir, &looked_for) {
            return a;
        }
        if let Some(a) = by_referrer(info, known_site.as_ref(), dir, &looked_for) {
            return a;
        }
    } else {
        // What the widget carried: the tags of its payload (the chat page's URL included),
        // else click ids in that URL.
        if !info.utm.is_empty()
            && let Some(a) = by_tags(Via::Utm, &info.utm, known_site.as_ref(), dir, &looked_for)
        {
            return agreeing(a, info, dir);
        }
        if let Some(a) = by_click_ids(Via::ClickId, info, known_site.as_ref(), dir, &looked_for) {
            return a;
        }
    }
    let tags_note = match (info.utm.is_empty(), info.click_ids.is_empty()) {
        (true, true) => "no UTM tags or click ids".to_owned(),
        (false, true) => "UTM tags matched no campaign or source".to_owned(),
        (true, false) => "click ids named no source".to_owned(),
        (false, false) => "UTM tags and click ids matched no campaign or source".to_owned(),
    };
    if !appeal.channel.is_site()
        && let Some(target) = integration.messenger_mapping.get(&appeal.channel)
    {
        let detail = format!(
            "{looked_for}; {tags_note}; {} chat mapped by the integration",
            appeal.channel.as_str()
        );
        return to_target(Via::MessengerMapping, target, known_site, dir, detail);
    }
    let default = match integration.traffic_type {
        TrafficType::Campaign => MappingTarget {
            campaign_id: integration.default_campaign_id.clone(),
            ..MappingTarget::default()
        },
        TrafficType::Source => MappingTarget {
            source_id: integration.default_source_id.clone(),
            site_id: integration.default_site_id.clone(),
            ..MappingTarget::default()
        },
    };
    let no_mapping = if appeal.channel.is_site() {
        String::new()
    } else {
        format!("; no mapping for {}", appeal.channel.as_str())
    };
    let detail = format!(
        "{looked_for}; {tags_note}{no_mapping}; the integration's default {}",
        match integration.traffic_type {
            TrafficType::Campaign => "campaign",
            TrafficType::Source => "source",
        }
    );
    to_target(Via::Default, &default, known_site, dir, detail)
}

fn by_tags(
    via: Via,
    tags: &Utm,
    site: Option<&SiteId>,
    dir: &Directory,
    looked_for: &str,
) -> Option<Attribution> {
    let whose = if via == Via::Session {
        "the session's"
    } else {
        "the payload's"
    };
    if let Some(c) = dir.campaign_for(tags, site) {
        let named: Vec<_> = c
            .utm
            .fields()
            .into_iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| k)
            .collect();
        let detail = format!(
            "{looked_for}; {whose} UTM {} matched campaign \"{}\"",
            named.join(", "),
            c.name
        );
        return Some(from_campaign(via, c, site.cloned(), detail));
    }
    let s = dir.source_for(tags)?;
    let detail = format!(
        "{looked_for}; {whose} utm_source matched source \"{}\"",
        s.name
    );
    Some(from_source(via, s, site.cloned(), detail))
}

/// A paid click's id (`gclid`, `yclid`...) names the source whose rules list it.
fn by_click_ids(
    via: Via,
    info: &SessionInfo,
    site: Option<&SiteId>,
    dir: &Directory,
    looked_for: &str,
) -> Option<Attribution> {
    let (param, s) = click_source(dir, &info.click_ids)?;
    let whose = if via == Via::Session {
        "the session's"
    } else {
        "the chat page's"
    };
    let detail = format!(
        "{looked_for}; no UTM tags matched; {whose} click id {param} names source \"{}\"",
        s.name
    );
    let mut a = from_source(via, s, site.cloned(), detail);
    a.evidence = Some(Evidence::ClickId);
    Some(a)
}

/// A found session with neither tags nor click ids: the site it came from (a search engine,
/// a social network) names the source whose rules list that domain.
fn by_referrer(
    info: &SessionInfo,
    site: Option<&SiteId>,
    dir: &Directory,
    looked_for: &str,
) -> Option<Attribution> {
    let referrer = info.referrer.as_deref()?;
    let s = dir.source_for_referrer(referrer)?;
    let detail = format!(
        "{looked_for}; no UTM tags or click ids; the visit came from {} (source \"{}\")",
        host_of(referrer).unwrap_or(referrer),
        s.name
    );
    let mut a = from_source(Via::Session, s, site.cloned(), detail);
    a.evidence = Some(Evidence::Referrer);
    Some(a)
}

/// An answer by tags, checked against the click ids: a click id of another source is said in
/// the detail, never silently dropped (the tags, more specific, stand).
fn agreeing(mut a: Attribution, info: &SessionInfo, dir: &Directory) -> Attribution {
    a.evidence = Some(Evidence::Utm);
    if let Some((param, s)) = click_source(dir, &info.click_ids)
        && a.source_id.as_ref() != Some(&s.id)
    {
        a.detail = format!(
            "{}; but its click id {param} names source \"{}\"",
            a.detail, s.name
        );
    }
    a
}

/// The source a click id names (`Directory::source_for_click_ids`), and that click id.
fn click_source<'d>(dir: &'d Directory, click_ids: &ClickIds) -> Option<(String, &'d Source)> {
    let s = dir.source_for_click_ids(click_ids)?;
    let param = click_ids
        .keys()
        .find(|k| s.click_ids.contains(&k.to_lowercase()))?;
    Some((param.clone(), s))
}

/// The host of a URL (or of a bare host), lower-case as browsers send it.
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#', ':']).next()?;
    (!host.is_empty()).then_some(host)
}

fn to_target(
    via: Via,
    target: &MappingTarget,
    known_site: Option<SiteId>,
    dir: &Directory,
    detail: String,
) -> Attribution {
    if let Some(c) = target.campaign_id.as_ref().and_then(|id| dir.campaign(id)) {
        return from_campaign(via, c, known_site, detail);
    }
    Attribution {
        via,
        campaign_id: None,
        source_id: target
            .source_id
            .clone()
            .filter(|id| dir.source(id).is_some()),
        site_id: known_site.or_else(|| target.site_id.clone()),
        session_lookup: None,
        detail,
        evidence: None,
    }
}

fn from_campaign(via: Via, c: &Campaign, site: Option<SiteId>, detail: String) -> Attribution {
    Attribution {
        via,
        campaign_id: Some(c.id.clone()),
        source_id: c.source_id.clone(),
        site_id: site.or_else(|| c.site_id.clone()),
        session_lookup: None,
        detail,
        evidence: None,
    }
}

fn from_source(via: Via, s: &Source, site: Option<SiteId>, detail: String) -> Attribution {
    Attribution {
        via,
        campaign_id: None,
        source_id: Some(s.id.clone()),
        site_id: site,
        session_lookup: None,
        detail,
        evidence: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::appeal::{AppealFacts, Channel, Kind, Provider, SessionInfo, Status};
    use crate::domain::contact::Contact;
    use crate::domain::directory::tests::{acc, campaign, site, when};
    use crate::domain::ids::{AppealId, CampaignId, IntegrationId, SourceId};

    fn integration() -> Integration {
        let mut mapping = std::collections::BTreeMap::new();
        mapping.insert(
            Channel::parse("telegram").unwrap(),
            MappingTarget {
                campaign_id: Some(CampaignId::parse("cmp_tg").unwrap()),
                ..MappingTarget::default()
            },
        );
        Integration {
            default_campaign_id: Some(CampaignId::parse("cmp_default").unwrap()),
            default_source_id: Some(SourceId::parse("src_organic").unwrap()),
            default_site_id: Some(SiteId::parse("site_main").unwrap()),
            messenger_mapping: mapping,
            ..Integration::new(
                IntegrationId::parse("int_1").unwrap(),
                acc(),
                Provider::Jivo,
                "j",
                when(),
            )
        }
    }

    fn dir() -> Directory {
        Directory {
            sites: vec![site("site_main", "shop.example.ru")],
            campaigns: vec![
                campaign(
                    "cmp_spring",
                    "source=yandex|medium=cpc|campaign=spring",
                    None,
                ),
                campaign("cmp_google", "source=google", None),
                campaign("cmp_tg", "", None),
                campaign("cmp_default", "", None),
            ],
            ..Directory::default()
        }
    }

    fn appeal(channel: &str, session: SessionInfo) -> Appeal {
        let facts = AppealFacts {
            kind: Kind::Chat,
            provider_ref: "r".into(),
            channel: Channel::parse(channel).unwrap(),
            occurred_at: None,
            contact: Contact::default(),
            agent: None,
            messages: None,
            session,
            visitor_ref: None,
            status: Status::Complete,
        };
        Appeal::new(
            AppealId::parse("apl_1").unwrap(),
            acc(),
            IntegrationId::parse("int_1").unwrap(),
            Provider::Jivo,
            &facts,
            when(),
        )
    }

    /// The lookup of session `ses_1` from the payload.
    fn lookup(found: bool) -> Option<&'static SessionLookup> {
        Some(Box::leak(Box::new(SessionLookup {
            id: "ses_1".into(),
            source: LookupSource::Payload,
            found,
        })))
    }

    fn tagged(tags: &str) -> SessionInfo {
        SessionInfo {
            id: Some("ses_1".into()),
            site_id: Some(SiteId::parse("site_main").unwrap()),
            utm: Utm::from_pipe_list(tags),
            ..SessionInfo::default()
        }
    }

    /// The directory with sources whose rules name click ids and referrer domains.
    fn signals() -> Directory {
        let mut d = dir();
        let source = |id: &str, name: &str, clicks: &[&str], domains: &[&str]| Source {
            id: SourceId::parse(id).unwrap(),
            account_id: acc(),
            name: name.into(),
            utm_sources: vec![],
            click_ids: clicks.iter().map(|c| c.to_string()).collect(),
            referrer_domains: domains.iter().map(|c| c.to_string()).collect(),
            created_at: when(),
        };
        d.sources = vec![
            source(
                "src_gads",
                "Google Ads",
                &["gclid", "gbraid", "wbraid"],
                &[],
            ),
            source("src_direct", "Yandex Direct", &["yclid"], &[]),
            source(
                "src_search",
                "Organic search",
                &[],
                &["yandex.ru", "google.com"],
            ),
            source("src_social", "Social", &[], &["vk.com", "ok.ru"]),
        ];
        d
    }

    fn visit(clicks: &[(&str, &str)], referrer: Option<&str>) -> SessionInfo {
        let mut info = tagged("");
        for (k, v) in clicks {
            info.click_ids.insert((*k).into(), (*v).into());
        }
        info.referrer = referrer.map(str::to_owned);
        info
    }

    #[test]
    fn a_found_session_without_tags_is_decided_by_its_click_id_then_its_referrer() {
        let clicked = attribute(
            &appeal(
                "site",
                visit(&[("gclid", "Cj0")], Some("https://yandex.ru/")),
            ),
            lookup(true),
            &signals(),
            &integration(),
        );
        assert_eq!(clicked.via, Via::Session);
        assert_eq!(clicked.evidence, Some(Evidence::ClickId));
        assert_eq!(clicked.source_id.unwrap().as_str(), "src_gads");
        assert!(clicked.detail.contains("gclid"), "{}", clicked.detail);

        let searched = attribute(
            &appeal(
                "site",
                visit(&[], Some("https://www.yandex.ru/search/?text=x")),
            ),
            lookup(true),
            &signals(),
            &integration(),
        );
        assert_eq!(searched.via, Via::Session);
        assert_eq!(searched.evidence, Some(Evidence::Referrer));
        assert_eq!(searched.source_id.unwrap().as_str(), "src_search");
        assert_eq!(searched.site_id.unwrap().as_str(), "site_main");

        let social = attribute(
            &appeal("site", visit(&[], Some("https://m.vk.com/wall"))),
            lookup(true),
            &signals(),
            &integration(),
        );
        assert_eq!(social.source_id.unwrap().as_str(), "src_social");

        // A direct visit keeps its site, and the default decides.
        let direct = attribute(
            &appeal("site", visit(&[], None)),
            lookup(true),
            &signals(),
            &integration(),
        );
        assert_eq!(direct.via, Via::Default);
        assert_eq!(direct.evidence, None);
        assert_eq!(direct.site_id.unwrap().as_str(), "site_main");
    }

    #[test]
    fn without_a_session_a_click_id_of_the_chat_page_decides_after_its_tags() {
        let mut info = visit(&[("yclid", "7315542")], None);
        info.id = None;
        info.site_id = None;
        let a = attribute(&appeal("site", info), None, &signals(), &integration());
        assert_eq!(a.via, Via::ClickId);
        assert_eq!(a.evidence, Some(Evidence::ClickId));
        assert_eq!(a.source_id.unwrap().as_str(), "src_direct");
    }

    #[test]
    fn tags_that_decide_against_a_click_id_say_so_in_the_detail() {
        let mut info = tagged("source=yandex|medium=cpc|campaign=spring");
        info.click_ids.insert("gclid".into(), "Cj0".into());
        let mut d = signals();
        d.campaigns = dir().campaigns;
        let a = attribute(&appeal("site", info), lookup(true), &d, &integration());
        assert_eq!(a.campaign_id.unwrap().as_str(), "cmp_spring");
        assert_eq!(a.evidence, Some(Evidence::Utm));
        assert!(
            a.detail
                .contains("click id gclid names source \"Google Ads\""),
            "{}",
            a.detail
        );
    }

    #[test]
    fn a_found_session_decides_by_its_tags() {
        let a = attribute(
            &appeal("site", tagged("source=yandex|medium=cpc|campaign=spring")),
            lookup(true),
            &dir(),
            &integration(),
        );
        assert_eq!(a.via, Via::Session);
        assert_eq!(a.campaign_id.unwrap().as_str(), "cmp_spring");
        assert_eq!(a.source_id.unwrap().as_str(), "src_cmp_spring");
        assert_eq!(a.site_id.unwrap().as_str(), "site_main");
        assert!(a.detail.contains("session ses_1 found"), "{}", a.detail);
    }

    #[test]
    fn payload_tags_decide_when_the_session_is_unknown() {
        let mut info = tagged("source=google");
        info.site_id = None;
        info.page_url = Some("https://shop.example.ru/p".into());
        let a = attribute(&appeal("site", info), lookup(false), &dir(), &integration());
        assert_eq!(a.via, Via::Utm);
        assert_eq!(a.campaign_id.unwrap().as_str(), "cmp_google");
        assert_eq!(
            a.site_id.unwrap().as_str(),
            "site_main",
            "site from the page URL"
        );
        assert!(a.detail.contains("not found"), "{}", a.detail);
    }

    #[test]
    fn messenger_chats_without_session_or_tags_follow_the_mapping() {
        let a = attribute(
            &appeal("telegram", SessionInfo::default()),
            lookup(false),
            &dir(),
            &integration(),
        );
        assert_eq!(a.via, Via::MessengerMapping);
        assert_eq!(a.campaign_id.unwrap().as_str(), "cmp_tg");
    }

    #[test]
    fn everything_else_takes_the_default_of_its_traffic_type() {
        let a = attribute(
            &appeal("whatsapp", SessionInfo::default()),
            lookup(false),
            &dir(),
            &integration(),
        );
        assert_eq!(a.via, Via::Default);
        assert_eq!(a.campaign_id.unwrap().as_str(), "cmp_default");
        assert!(a.detail.contains("no mapping for whatsapp"), "{}", a.detail);

        let mut by_source = integration();
        by_source.traffic_type = TrafficType::Source;
        let a = attribute(
            &appeal("site", SessionInfo::default()),
            lookup(false),
            &dir(),
            &by_source,
        );
        assert_eq!(a.via, Via::Default);
        assert_eq!(a.campaign_id, None);
        assert_eq!(a.site_id.unwrap().as_str(), "site_main");
    }

    #[test]
    fn a_session_whose_tags_match_nothing_keeps_its_site_and_falls_through() {
        let a = attribute(
            &appeal("site", tagged("")),
            lookup(true),
            &dir(),
            &integration(),
        );
        assert_eq!(a.via, Via::Default);
        assert_eq!(a.site_id.unwrap().as_str(), "site_main");
    }

    #[test]
    fn sources_match_when_no_campaign_does() {
        let mut d = dir();
        d.sources.push(Source {
            id: SourceId::parse("src_vk").unwrap(),
            account_id: acc(),
            name: "VK Ads".into(),
            utm_sources: vec!["vk".into()],
            click_ids: Vec::new(),
            referrer_domains: Vec::new(),
            created_at: when(),
        });
        let a = attribute(
            &appeal("site", tagged("source=VK|medium=social")),
            lookup(false),
            &d,
            &integration(),
        );
        assert_eq!(a.via, Via::Utm);
        assert_eq!(a.source_id.unwrap().as_str(), "src_vk");
        assert_eq!(a.campaign_id, None);
    }
}
