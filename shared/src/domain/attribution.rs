//! Attribution: which campaign, source and site an appeal belongs to, and how that was decided.
//!
//! A pure function of (the appeal's facts, whether its session was found, the account's
//! directory, the integration's settings), so it is easy to test and can be re-run when a
//! mapping changes. The order (DESIGN.md):
//! 1. `session`: our session was found; its tags pick the campaign (or source), its site stands.
//! 2. `utm`: tags that came in the payload itself pick the campaign (or source).
//! 3. `messenger_mapping`: a messenger chat goes where the integration maps its channel.
//! 4. `default`: the integration's default campaign, or default source plus site.
//!
//! A found session whose tags match nothing (a direct visit) keeps its site but does not decide
//! the campaign: the next steps do, and `via` names the step that did.

use crate::domain::appeal::{Appeal, Attribution, LookupSource, SessionLookup, Via};
use crate::domain::directory::{Campaign, Directory, Source};
use crate::domain::ids::SiteId;
use crate::domain::integration::{Integration, MappingTarget, TrafficType};
use crate::domain::utm::Utm;

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

    if session_found
        && let Some(a) = by_tags(
            Via::Session,
            &info.utm,
            known_site.as_ref(),
            dir,
            &looked_for,
        )
    {
        return a;
    }
    if !session_found
        && !info.utm.is_empty()
        && let Some(a) = by_tags(Via::Utm, &info.utm, known_site.as_ref(), dir, &looked_for)
    {
        return a;
    }
    let tags_note = if info.utm.is_empty() {
        "no UTM tags".to_owned()
    } else {
        "UTM tags matched no campaign or source".to_owned()
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
