//! The channel group of a visit or a chat (`paid`, `organic`, `social`, `referral`, `direct`,
//! `messenger`, `email`), the way web analytics groups traffic: from the medium, the click ids,
//! the referrer and the chat's channel. Built-in lists of search engines and social networks;
//! a marketer's own sources (`Source::referrer_domains`) decide attribution, not the group.

use crate::domain::appeal::{Channel, ChannelGroup, SessionInfo};

/// Media that mean paid traffic (lower-case, as tags are compared).
const PAID_MEDIA: &[&str] = &[
    "cpc",
    "ppc",
    "cpm",
    "cpa",
    "cpv",
    "cpp",
    "paid",
    "paidsearch",
    "paid_search",
    "paid-search",
    "paidsocial",
    "paid_social",
    "paid-social",
    "display",
    "banner",
    "retargeting",
    "remarketing",
    "context",
    "affiliate",
];
const EMAIL_MEDIA: &[&str] = &["email", "e-mail", "e_mail", "mail", "newsletter"];
const SOCIAL_MEDIA: &[&str] = &["social", "sm", "smm", "social-network", "social_network"];
const ORGANIC_MEDIA: &[&str] = &["organic", "seo"];
const REFERRAL_MEDIA: &[&str] = &["referral", "link", "partner"];

/// Hosts of search engines (a parent domain matches its subdomains).
const SEARCH: &[&str] = &[
    "yandex.ru",
    "yandex.com",
    "yandex.by",
    "yandex.kz",
    "ya.ru",
    "google.com",
    "google.ru",
    "google.by",
    "google.kz",
    "bing.com",
    "duckduckgo.com",
    "go.mail.ru",
    "search.yahoo.com",
    "rambler.ru",
];
const SOCIAL: &[&str] = &[
    "vk.com",
    "vk.ru",
    "ok.ru",
    "t.me",
    "telegram.org",
    "facebook.com",
    "instagram.com",
    "dzen.ru",
    "zen.yandex.ru",
    "twitter.com",
    "x.com",
    "youtube.com",
    "tiktok.com",
    "pinterest.com",
    "linkedin.com",
];

/// The group of a chat: its visit's evidence when it has any, else a messenger chat is
/// `messenger` and a site chat with nothing is `direct`. `own_hosts` are the account's sites'
/// domains: a referrer of one's own site is no referral.
pub fn of(info: &SessionInfo, channel: &Channel, own_hosts: &[&str]) -> ChannelGroup {
    if let Some(group) = of_visit(info, own_hosts) {
        return group;
    }
    if channel.is_site() {
        ChannelGroup::Direct
    } else {
        ChannelGroup::Messenger
    }
}

/// The group a visit's own evidence gives (`None`: it has none: a direct visit, or no visit).
fn of_visit(info: &SessionInfo, own_hosts: &[&str]) -> Option<ChannelGroup> {
    let medium = info
        .utm
        .medium
        .as_deref()
        .map(|m| m.trim().to_lowercase())
        .filter(|m| !m.is_empty());
    let is = |list: &[&str]| medium.as_deref().is_some_and(|m| list.contains(&m));
    if is(PAID_MEDIA) || !info.click_ids.is_empty() {
        return Some(ChannelGroup::Paid);
    }
    if is(EMAIL_MEDIA) {
        return Some(ChannelGroup::Email);
    }
    if is(SOCIAL_MEDIA) {
        return Some(ChannelGroup::Social);
    }
    if is(ORGANIC_MEDIA) {
        return Some(ChannelGroup::Organic);
    }
    if is(REFERRAL_MEDIA) {
        return Some(ChannelGroup::Referral);
    }
    let referrer = info
        .referrer
        .as_deref()
        .and_then(host)
        .filter(|h| !own_hosts.iter().any(|own| within(h, own)));
    if let Some(h) = &referrer {
        // Google's search lives on a domain per country (google.de, google.com.tr).
        let google = h.starts_with("google.") || h.contains(".google.");
        if google || SEARCH.iter().any(|d| within(h, d)) {
            return Some(ChannelGroup::Organic);
        }
        if SOCIAL.iter().any(|d| within(h, d)) {
            return Some(ChannelGroup::Social);
        }
    }
    // Tags with a medium of no known kind, or a source alone, still name where the visit came
    // from; so does another site's link.
    if medium.is_some() || info.utm.source.is_some() || referrer.is_some() {
        return Some(ChannelGroup::Referral);
    }
    None
}

fn within(host: &str, domain: &str) -> bool {
    host == domain || host.ends_with(&format!(".{domain}"))
}

fn host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#', ':']).next()?.to_lowercase();
    let host = host.strip_prefix("www.").map(str::to_owned).unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(medium: Option<&str>, source: Option<&str>, referrer: Option<&str>) -> SessionInfo {
        let mut info = SessionInfo::default();
        info.utm.medium = medium.map(str::to_owned);
        info.utm.source = source.map(str::to_owned);
        info.referrer = referrer.map(str::to_owned);
        info
    }

    fn site() -> Channel {
        Channel::parse("site").unwrap()
    }

    #[test]
    fn media_click_ids_and_referrers_group_a_visit() {
        let own = ["shop.example.ru"];
        let cases = [
            (visit(Some("CPC"), Some("yandex"), None), ChannelGroup::Paid),
            (visit(Some(" email "), None, None), ChannelGroup::Email),
            (
                visit(Some("social"), Some("vk"), None),
                ChannelGroup::Social,
            ),
            (visit(Some("organic"), None, None), ChannelGroup::Organic),
            (
                visit(None, None, Some("https://yandex.ru/search/?text=диван")),
                ChannelGroup::Organic,
            ),
            (
                visit(None, None, Some("https://www.google.de/")),
                ChannelGroup::Organic,
            ),
            (
                visit(None, None, Some("https://m.vk.com/wall-1")),
                ChannelGroup::Social,
            ),
            (
                visit(None, None, Some("https://blog.example.org/post")),
                ChannelGroup::Referral,
            ),
            (
                visit(None, Some("partner_site"), None),
                ChannelGroup::Referral,
            ),
            (
                visit(None, None, Some("https://shop.example.ru/catalog")),
                ChannelGroup::Direct,
            ),
            (visit(None, None, None), ChannelGroup::Direct),
        ];
        for (info, want) in cases {
            assert_eq!(of(&info, &site(), &own), want, "{info:?}");
        }
        let mut clicked = visit(None, None, None);
        clicked.click_ids.insert("gclid".into(), "abc".into());
        assert_eq!(of(&clicked, &site(), &own), ChannelGroup::Paid);
    }

    #[test]
    fn a_messenger_chat_with_no_visit_is_messenger_and_one_with_a_visit_keeps_its_group() {
        let telegram = Channel::parse("telegram").unwrap();
        assert_eq!(
            of(&visit(None, None, None), &telegram, &[]),
            ChannelGroup::Messenger
        );
        assert_eq!(
            of(&visit(Some("cpc"), Some("yandex"), None), &telegram, &[]),
            ChannelGroup::Paid
        );
    }
}
