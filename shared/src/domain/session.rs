//! A visit recorded by our site script: the ad session a later chat is tied to, and the rules
//! that decide when a page view continues a session and when it starts a new one.

use crate::domain::appeal::SessionInfo;
use crate::domain::deeplink::Code;
use crate::domain::directory::{Site, host_of};
use crate::domain::ids::{AccountId, SessionId, SiteId};
use crate::domain::utm::{self, ClickIds, Utm};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A visit ends after this long without a page view (the usual web-analytics rule).
pub const INACTIVITY: Duration = Duration::minutes(30);
/// Page views closer together than this do not rewrite the session (fewer writes); the
/// inactivity clock is that much coarse.
pub const TOUCH_EVERY: Duration = Duration::seconds(60);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub account_id: AccountId,
    pub site_id: SiteId,
    pub visitor_id: String,
    /// Short code for messenger deep links (`t.me/bot?start=<code>`).
    pub code: Option<Code>,
    pub landing_page: Option<String>,
    pub referrer: Option<String>,
    #[serde(default)]
    pub utm: Utm,
    #[serde(default)]
    pub click_ids: ClickIds,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The visitor's Yandex Metrika ClientID (`_ym_uid`), for offline conversions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrika_client_id: Option<String>,
    /// The visitor's Google Analytics client id (from `_ga`: `GA1.1.123.456` is `123.456`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ga_client_id: Option<String>,
    /// How the visit's traffic is grouped (`paid`, `organic`...), decided when it starts
    /// (`None`: a session recorded before groups existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_group: Option<crate::domain::appeal::ChannelGroup>,
}

/// The ad platforms' ids of a visitor's browser, as our script found them on the page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformIds {
    pub metrika_client_id: Option<String>,
    pub ga_client_id: Option<String>,
}

impl PlatformIds {
    /// What a page posted, kept only in the platforms' own forms: a Metrika ClientID is a
    /// number, a GA client id two numbers joined by a dot. Anything else (a page can set any
    /// cookie) is dropped, not refused: the page view still counts.
    pub fn checked(metrika: Option<&str>, ga: Option<&str>) -> PlatformIds {
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit());
        let metrika = metrika.map(str::trim).filter(|s| digits(s));
        let ga = ga.map(str::trim).filter(|s| {
            s.split_once('.')
                .is_some_and(|(a, b)| digits(a) && digits(b))
        });
        PlatformIds {
            metrika_client_id: metrika.map(str::to_owned),
            ga_client_id: ga.map(str::to_owned),
        }
    }
}

impl Session {
    /// Records the ids the session does not have yet: the platforms' counters load late, so a
    /// later page view of the visit may bring them; the first one found stands. Whether the
    /// session changed.
    pub fn learn(&mut self, ids: &PlatformIds) -> bool {
        let mut changed = false;
        for (mine, theirs) in [
            (&mut self.metrika_client_id, &ids.metrika_client_id),
            (&mut self.ga_client_id, &ids.ga_client_id),
        ] {
            if mine.is_none() && theirs.is_some() {
                mine.clone_from(theirs);
                changed = true;
            }
        }
        changed
    }

    /// The session as the appeal shows it; what our script recorded wins over what the chat
    /// payload said, which only fills the gaps.
    pub fn overlay(&self, from_payload: &SessionInfo) -> SessionInfo {
        let mut info = SessionInfo {
            id: Some(self.id.to_string()),
            site_id: Some(self.site_id.clone()),
            landing_page: self.landing_page.clone(),
            referrer: self.referrer.clone(),
            page_url: None,
            utm: self.utm.clone(),
            click_ids: self.click_ids.clone(),
            visitor_id: Some(self.visitor_id.clone()),
            started_at: Some(self.started_at),
            metrika_client_id: self.metrika_client_id.clone(),
            ga_client_id: self.ga_client_id.clone(),
        };
        info.fill_from(from_payload);
        info
    }
}

/// One page view reported by the script, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageView {
    pub url: String,
    /// Only a referrer from outside the site: internal navigation is not where a visit came from.
    pub referrer: Option<String>,
    pub utm: Utm,
    pub click_ids: ClickIds,
}

impl PageView {
    pub fn new(site: &Site, url: &str, referrer: Option<&str>) -> PageView {
        let (utm, click_ids) = utm::from_url(url);
        let on_site =
            |host: &str| host == site.domain || host.ends_with(&format!(".{}", site.domain));
        let referrer = referrer
            .filter(|r| host_of(r).is_some_and(|h| !on_site(&h)))
            .map(str::to_owned);
        PageView {
            url: url.to_owned(),
            referrer,
            utm,
            click_ids,
        }
    }

    /// The view came from an ad (it carries UTM tags or a click id).
    pub fn is_ad_click(&self) -> bool {
        !self.utm.is_empty() || !self.click_ids.is_empty()
    }
}

/// What a page view does to the visitor's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visit {
    /// The visit goes on; `touched` says the session changed and must be written.
    Continue { session: Session, touched: bool },
    /// A new visit: a new session (inactivity, a new ad click, or no session yet).
    Start(Session),
}

/// Continues `current` or starts a new session. `current` counts only if it belongs to this
/// site and visitor, was active within [`INACTIVITY`], and the view is not a new ad click
/// (tags or click ids other than the session's): otherwise the first touch of the visit
/// stands, and later views without tags never overwrite it.
pub fn visit(
    current: Option<Session>,
    site: &Site,
    visitor_id: &str,
    view: &PageView,
    now: DateTime<Utc>,
) -> Visit {
    if let Some(mut session) = current {
        let same_visit = session.site_id == site.id
            && session.visitor_id == visitor_id
            && now - session.last_seen_at <= INACTIVITY;
        let new_ad_click =
            view.is_ad_click() && (view.utm != session.utm || view.click_ids != session.click_ids);
        if same_visit && !new_ad_click {
            let touched = now - session.last_seen_at >= TOUCH_EVERY;
            if touched {
                session.last_seen_at = now;
            }
            return Visit::Continue { session, touched };
        }
    }
    let first_touch = crate::domain::appeal::SessionInfo {
        referrer: view.referrer.clone(),
        utm: view.utm.clone(),
        click_ids: view.click_ids.clone(),
        ..crate::domain::appeal::SessionInfo::default()
    };
    let channel_group = Some(crate::domain::channel_group::of(
        &first_touch,
        &crate::domain::appeal::Channel::site(),
        &[site.domain.as_str()],
    ));
    Visit::Start(Session {
        id: SessionId::generate(),
        account_id: site.account_id.clone(),
        site_id: site.id.clone(),
        visitor_id: visitor_id.to_owned(),
        code: Some(Code::generate()),
        landing_page: Some(view.url.clone()),
        referrer: view.referrer.clone(),
        utm: view.utm.clone(),
        click_ids: view.click_ids.clone(),
        started_at: now,
        last_seen_at: now,
        metrika_client_id: None,
        ga_client_id: None,
        channel_group,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_visit_is_grouped_by_its_first_touch() {
        let mut view = PageView::new(&shop(), "https://shop.example.ru/?gclid=abc", None);
        let Visit::Start(paid) = visit(None, &shop(), "v1", &view, t(0)) else {
            panic!("a first view starts a visit");
        };
        assert_eq!(
            paid.channel_group,
            Some(crate::domain::appeal::ChannelGroup::Paid)
        );
        view = PageView::new(&shop(), "https://shop.example.ru/", Some("https://ya.ru/"));
        let Visit::Start(organic) = visit(None, &shop(), "v2", &view, t(0)) else {
            panic!("a first view starts a visit");
        };
        assert_eq!(
            organic.channel_group,
            Some(crate::domain::appeal::ChannelGroup::Organic)
        );
    }
    use crate::domain::directory::tests::site;
    use chrono::TimeZone;

    fn t(minutes: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn shop() -> Site {
        site("site_1", "shop.example.ru")
    }

    fn view(url: &str) -> PageView {
        PageView::new(&shop(), url, Some("https://yandex.ru/search?text=x"))
    }

    fn first(url: &str) -> Session {
        match visit(None, &shop(), "v_1", &view(url), t(0)) {
            Visit::Start(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_first_view_starts_a_session_with_its_landing_page_tags_and_click_ids() {
        let s = first(
            "https://shop.example.ru/?utm_source=yandex&utm_medium=cpc&utm_campaign=spring&yclid=123",
        );
        assert_eq!(s.utm.campaign.as_deref(), Some("spring"));
        assert_eq!(s.click_ids["yclid"], "123");
        assert_eq!(
            s.landing_page.as_deref(),
            Some(
                "https://shop.example.ru/?utm_source=yandex&utm_medium=cpc&utm_campaign=spring&yclid=123"
            )
        );
        assert_eq!(
            s.referrer.as_deref(),
            Some("https://yandex.ru/search?text=x")
        );
        assert!(s.code.is_some());
    }

    #[test]
    fn later_views_without_tags_keep_the_first_touch() {
        let s = first("https://shop.example.ru/?utm_source=yandex");
        match visit(
            Some(s.clone()),
            &shop(),
            "v_1",
            &view("https://shop.example.ru/cart"),
            t(10),
        ) {
            Visit::Continue { session, touched } => {
                assert_eq!(session.id, s.id);
                assert_eq!(session.utm, s.utm);
                assert!(touched);
                assert_eq!(session.last_seen_at, t(10));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn thirty_minutes_of_silence_or_a_new_ad_click_start_a_new_session() {
        let s = first("https://shop.example.ru/?utm_source=yandex");
        let later = visit(
            Some(s.clone()),
            &shop(),
            "v_1",
            &view("https://shop.example.ru/"),
            t(31),
        );
        assert!(matches!(later, Visit::Start(n) if n.id != s.id && n.utm.is_empty()));
        let other_ad = visit(
            Some(s.clone()),
            &shop(),
            "v_1",
            &view("https://shop.example.ru/?utm_source=google"),
            t(5),
        );
        assert!(matches!(other_ad, Visit::Start(n) if n.utm.source.as_deref() == Some("google")));
        let same_ad = visit(
            Some(s.clone()),
            &shop(),
            "v_1",
            &view("https://shop.example.ru/?utm_source=yandex"),
            t(5),
        );
        assert!(
            matches!(same_ad, Visit::Continue { .. }),
            "reloading the landing page is the same visit"
        );
    }

    #[test]
    fn a_session_of_another_visitor_or_site_is_not_continued() {
        let s = first("https://shop.example.ru/");
        assert!(matches!(
            visit(
                Some(s.clone()),
                &shop(),
                "v_2",
                &view("https://shop.example.ru/"),
                t(1)
            ),
            Visit::Start(_)
        ));
        let other = site("site_2", "shop.example.ru");
        assert!(matches!(
            visit(
                Some(s),
                &other,
                "v_1",
                &view("https://shop.example.ru/"),
                t(1)
            ),
            Visit::Start(_)
        ));
    }

    #[test]
    fn platform_ids_are_kept_in_their_own_forms_and_the_first_found_stands() {
        let ids = PlatformIds::checked(Some(" 1700000000123456789 "), Some("123456.1700000000"));
        assert_eq!(
            ids.metrika_client_id.as_deref(),
            Some("1700000000123456789")
        );
        assert_eq!(ids.ga_client_id.as_deref(), Some("123456.1700000000"));
        for (ym, ga) in [
            ("abc", "GA1.1.1.2"),
            ("", "1."),
            ("1=2", ".5"),
            ("123456789012345678901234567890123", "1.2.3"),
        ] {
            assert_eq!(
                PlatformIds::checked(Some(ym), Some(ga)),
                PlatformIds::default(),
                "{ym} {ga}"
            );
        }
        let mut s = first("https://shop.example.ru/");
        assert!(!s.learn(&PlatformIds::default()));
        assert!(s.learn(&PlatformIds::checked(Some("111"), None)));
        assert!(s.learn(&PlatformIds::checked(Some("222"), Some("1.2"))));
        assert_eq!(s.metrika_client_id.as_deref(), Some("111"));
        assert_eq!(s.ga_client_id.as_deref(), Some("1.2"));
        let info = s.overlay(&SessionInfo::default());
        assert_eq!(info.metrika_client_id.as_deref(), Some("111"));
        assert_eq!(info.ga_client_id.as_deref(), Some("1.2"));
    }

    #[test]
    fn quick_page_views_do_not_rewrite_the_session_and_internal_referrers_are_not_kept() {
        let s = first("https://shop.example.ru/");
        assert!(matches!(
            visit(
                Some(s),
                &shop(),
                "v_1",
                &view("https://shop.example.ru/a"),
                t(0) + Duration::seconds(20)
            ),
            Visit::Continue { touched: false, .. }
        ));
        let internal = PageView::new(
            &shop(),
            "https://shop.example.ru/b",
            Some("https://m.shop.example.ru/a"),
        );
        assert_eq!(internal.referrer, None);
    }
}
