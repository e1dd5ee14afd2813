//! Offline conversions for the ad platforms: the id of a chat's visit a platform can match it
//! by, and the import files Yandex Metrika and Google Ads document for them.
//!
//! Metrika ("Passing offline conversions", yandex.ru/dev/metrika): a CSV whose first line names
//! the columns; `Target` (the goal's id), `DateTime` (Unix seconds, in the past) and at least
//! one id per row: `ClientId` (the visitor's Metrika ClientID) or `Yclid` (the Direct click).
//! Google Ads ("Import conversions from ad clicks", support.google.com/google-ads/answer/7014069):
//! a `Parameters:TimeZone=<zone>` line, then `Google Click ID`, `Conversion Name`,
//! `Conversion Time` (`yyyy-MM-dd HH:mm:ss` in that zone); iOS clicks carry a GBRAID or a
//! WBRAID instead of a gclid, each in a column of that name.

use crate::domain::appeal::SessionInfo;
use crate::domain::utm;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// An appeal seen as a conversion: when it happened, and the ids the platforms match it by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conversion {
    pub at: DateTime<Utc>,
    pub metrika_client_id: Option<String>,
    pub yclid: Option<String>,
    pub gclid: Option<String>,
    pub gbraid: Option<String>,
    pub wbraid: Option<String>,
}

/// A click id as the platforms write them; anything else (a page can put anything in a URL)
/// matches nothing, and is not written into a file others open.
fn click_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn number(value: &str) -> bool {
    !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_digit())
}

impl Conversion {
    /// The appeal made at `at` with this session: ids from the session (what our script
    /// recorded, else what the chat's payload said), then from the query of the page the chat
    /// was started on. `None` when no platform could match it.
    pub fn of(at: DateTime<Utc>, session: &SessionInfo) -> Option<Conversion> {
        let mut clicks = session.click_ids.clone();
        if let Some(page) = &session.page_url {
            for (k, v) in utm::from_url(page).1 {
                clicks.entry(k).or_insert(v);
            }
        }
        let click = |name: &str, ok: fn(&str) -> bool| {
            clicks
                .get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| ok(v))
        };
        let conversion = Conversion {
            at,
            metrika_client_id: session
                .metrika_client_id
                .clone()
                .filter(|v| number(v) && v.len() <= 32),
            yclid: click("yclid", number),
            gclid: click("gclid", click_id),
            gbraid: click("gbraid", click_id),
            wbraid: click("wbraid", click_id),
        };
        (conversion.metrika().is_some() || conversion.google().is_some()).then_some(conversion)
    }

    /// The id Metrika matches it by: the ClientID, else the Direct click.
    pub fn metrika(&self) -> Option<MetrikaId<'_>> {
        match (&self.metrika_client_id, &self.yclid) {
            (Some(id), _) => Some(MetrikaId::ClientId(id)),
            (None, Some(yclid)) => Some(MetrikaId::Yclid(yclid)),
            (None, None) => None,
        }
    }

    /// The click Google Ads matches it by: the gclid, else an iOS click's GBRAID or WBRAID.
    pub fn google(&self) -> Option<GoogleClick<'_>> {
        if let Some(id) = &self.gclid {
            return Some(GoogleClick::Gclid(id));
        }
        if let Some(id) = &self.gbraid {
            return Some(GoogleClick::Gbraid(id));
        }
        self.wbraid.as_deref().map(GoogleClick::Wbraid)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetrikaId<'a> {
    ClientId(&'a str),
    Yclid(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoogleClick<'a> {
    Gclid(&'a str),
    Gbraid(&'a str),
    Wbraid(&'a str),
}

/// Metrika's offline-conversions file: one row per conversion it can match, `goal` as the
/// target. How many rows it has comes back with it.
pub fn metrika_csv(conversions: &[Conversion], goal: &str) -> (String, usize) {
    let mut out = String::from("ClientId,Yclid,Target,DateTime\n");
    let mut rows = 0;
    for c in conversions {
        let (client_id, yclid) = match c.metrika() {
            Some(MetrikaId::ClientId(id)) => (id, ""),
            Some(MetrikaId::Yclid(id)) => ("", id),
            None => continue,
        };
        rows += 1;
        let line = [
            client_id,
            yclid,
            &field(goal),
            &c.at.timestamp().to_string(),
        ]
        .join(",");
        out.push_str(&line);
        out.push('\n');
    }
    (out, rows)
}

/// Google Ads' click-conversions file in `tz`: the zone on its first line, times in it. The
/// GBRAID and WBRAID columns are there only when a row needs them, so a file of gclids is
/// exactly Google's basic template.
pub fn google_ads_csv(conversions: &[Conversion], conversion_name: &str, tz: Tz) -> String {
    let clicks: Vec<(GoogleClick, DateTime<Utc>)> = conversions
        .iter()
        .filter_map(|c| Some((c.google()?, c.at)))
        .collect();
    let ios = clicks
        .iter()
        .any(|(c, _)| !matches!(c, GoogleClick::Gclid(_)));
    let mut out = format!("Parameters:TimeZone={}\n", tz.name());
    out.push_str(if ios {
        "Google Click ID,GBRAID,WBRAID,Conversion Name,Conversion Time\n"
    } else {
        "Google Click ID,Conversion Name,Conversion Time\n"
    });
    let name = field(conversion_name);
    for (click, at) in clicks {
        let time = at
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        let ids = match (ios, click) {
            (false, GoogleClick::Gclid(id)) => id.to_owned(),
            (_, GoogleClick::Gclid(id)) => format!("{id},,"),
            (_, GoogleClick::Gbraid(id)) => format!(",{id},"),
            (_, GoogleClick::Wbraid(id)) => format!(",,{id}"),
        };
        out.push_str(&format!("{ids},{name},{time}\n"));
    }
    out
}

/// A CSV field (RFC 4180): quoted when it holds a separator, a quote or a line break.
fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn session(clicks: &[(&str, &str)], ym: Option<&str>, page: Option<&str>) -> SessionInfo {
        SessionInfo {
            click_ids: clicks
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            metrika_client_id: ym.map(str::to_owned),
            page_url: page.map(str::to_owned),
            ..SessionInfo::default()
        }
    }

    #[test]
    fn ids_come_from_the_session_then_from_the_chat_pages_url() {
        let t = at("2026-11-03T11:05:00Z");
        let c = Conversion::of(
            t,
            &session(
                &[("gclid", "Cj0KCQ-abc_1")],
                Some("1700000000123456789"),
                Some("https://shop.example.ru/sofas?yclid=7315542&gclid=other"),
            ),
        )
        .unwrap();
        assert_eq!(
            c.metrika(),
            Some(MetrikaId::ClientId("1700000000123456789"))
        );
        assert_eq!(c.yclid.as_deref(), Some("7315542"));
        assert_eq!(
            c.google(),
            Some(GoogleClick::Gclid("Cj0KCQ-abc_1")),
            "the session wins"
        );
        let page_only =
            Conversion::of(t, &session(&[], None, Some("https://x.ru/?wbraid=w1"))).unwrap();
        assert_eq!(page_only.google(), Some(GoogleClick::Wbraid("w1")));
        assert_eq!(page_only.metrika(), None);
        assert_eq!(
            Conversion::of(t, &session(&[("fbclid", "f")], None, None)),
            None
        );
        assert_eq!(
            Conversion::of(
                t,
                &session(&[("gclid", "a,b"), ("yclid", "12x")], Some("ym"), None)
            ),
            None,
            "ids not in the platforms' forms match nothing and never reach a file"
        );
    }

    #[test]
    fn the_metrika_file_has_the_documented_columns_a_client_id_else_a_yclid_and_unix_seconds() {
        let t = Utc.timestamp_opt(1_762_167_900, 0).unwrap();
        let conversions = [
            Conversion::of(t, &session(&[("yclid", "555")], Some("42"), None)).unwrap(),
            Conversion::of(t, &session(&[("yclid", "555")], None, None)).unwrap(),
            Conversion::of(t, &session(&[("gclid", "g")], None, None)).unwrap(),
        ];
        let (csv, rows) = metrika_csv(&conversions, "chat, site");
        assert_eq!(rows, 2);
        assert_eq!(
            csv,
            "ClientId,Yclid,Target,DateTime\n42,,\"chat, site\",1762167900\n,555,\"chat, site\",1762167900\n"
        );
    }

    #[test]
    fn the_google_file_names_its_zone_and_writes_times_in_it() {
        let t = at("2026-11-03T21:30:00Z");
        let gclid = Conversion::of(t, &session(&[("gclid", "Cj0")], None, None)).unwrap();
        let moscow = chrono_tz::Europe::Moscow;
        assert_eq!(
            google_ads_csv(std::slice::from_ref(&gclid), "Chat \"site\"", moscow),
            "Parameters:TimeZone=Europe/Moscow\nGoogle Click ID,Conversion Name,Conversion Time\nCj0,\"Chat \"\"site\"\"\",2026-11-04 00:30:00\n"
        );
        let ios = Conversion::of(t, &session(&[("gbraid", "0AAA")], None, None)).unwrap();
        let csv = google_ads_csv(&[gclid, ios], "Chat", chrono_tz::UTC);
        assert_eq!(
            csv,
            "Parameters:TimeZone=UTC\nGoogle Click ID,GBRAID,WBRAID,Conversion Name,Conversion Time\nCj0,,,Chat,2026-11-03 21:30:00\n,0AAA,,Chat,2026-11-03 21:30:00\n"
        );
    }
}
