//! The appeals CSV: its columns (DESIGN.md, "Management API shapes"), one appeal as one row,
//! and RFC 4180 quoting, in the plain dialect or Excel's for Russian locales.

use crate::domain::appeal::Appeal;
use crate::domain::directory::Directory;
use serde::{Deserialize, Serialize};

/// The columns, in order: the header row, and what each row holds. Names are a contract.
pub const COLUMNS: [&str; 29] = [
    "id",
    "created_at",
    "provider",
    "kind",
    "channel",
    "channel_group",
    "status",
    "repeat",
    "contact_name",
    "phones",
    "emails",
    "employee",
    "campaign_id",
    "campaign",
    "source_id",
    "source",
    "site_id",
    "site",
    "via",
    "evidence",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "gclid",
    "yclid",
    "session_id",
    "landing_page",
];

/// How the file is written: RFC 4180 (`,`), or for Excel in Russian locales (`&excel=1`),
/// whose list separator is `;` and which reads UTF-8 only after a byte order mark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dialect {
    pub excel: bool,
}

const BOM: &str = "\u{feff}";

impl Dialect {
    pub fn separator(self) -> char {
        if self.excel { ';' } else { ',' }
    }

    /// What the file starts with: the byte order mark (Excel), then the header row.
    pub fn start(self) -> String {
        let mut out = String::from(if self.excel { BOM } else { "" });
        self.write_row(&mut out, COLUMNS);
        out
    }

    /// Appends the row of one appeal, with names from the account's directory beside its ids.
    pub fn write_appeal(self, out: &mut String, appeal: &Appeal, directory: &Directory) {
        self.write_row(out, COLUMNS.map(|column| cell(column, appeal, directory)));
    }

    fn write_row<S: AsRef<str>>(self, out: &mut String, cells: impl IntoIterator<Item = S>) {
        for (i, value) in cells.into_iter().enumerate() {
            if i > 0 {
                out.push(self.separator());
            }
            self.write_field(out, value.as_ref());
        }
        out.push_str("\r\n");
    }

    /// One field, RFC 4180: quoted when it holds the separator, a quote, CR or LF, with quotes
    /// doubled inside. A value a spreadsheet would run as a formula (it starts with `=`, `+`,
    /// `-`, `@`, a tab or CR) gets a leading `'`, as OWASP advises against CSV injection: a
    /// contact name of `=cmd|' /C calc'!A0` is text typed by a stranger.
    pub fn write_field(self, out: &mut String, value: &str) {
        let guard = starts_formula(value) && !is_number(value);
        let quote = value.contains([self.separator(), '"', '\r', '\n']);
        if quote {
            out.push('"');
        }
        if guard {
            out.push('\'');
        }
        if quote {
            out.push_str(&value.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(value);
        }
    }
}

fn starts_formula(value: &str) -> bool {
    value.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// A phone in E.164 (`+79161234567`), or a list of them, is a number to a spreadsheet, never a
/// formula that can call anything (that takes letters): left as it is, so phones stay phones.
fn is_number(value: &str) -> bool {
    value.starts_with(['+', '-'])
        && value[1..].starts_with(|c: char| c.is_ascii_digit())
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || " +-(),.".contains(c))
}

/// The value of one column for an appeal; empty when the appeal has none.
fn cell(column: &str, a: &Appeal, dir: &Directory) -> String {
    let opt = |v: Option<&str>| v.unwrap_or_default().to_owned();
    let attribution = &a.attribution;
    match column {
        "id" => a.id.to_string(),
        "created_at" => a
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        "provider" => a.provider.as_str().to_owned(),
        "kind" => token(&a.kind),
        "channel" => a.channel.as_str().to_owned(),
        "status" => token(&a.status),
        "contact_name" => opt(a.contact.name.as_deref()),
        "phones" => a.contact.phones.join(", "),
        "emails" => a.contact.emails.join(", "),
        // The directory's name is today's; the appeal's copy is the one it was made with.
        "employee" => a.employee.as_ref().map_or_else(String::new, |e| {
            dir.employee(&e.id)
                .map_or_else(|| e.name.clone(), |d| d.name.clone())
        }),
        "campaign_id" => opt(attribution.campaign_id.as_ref().map(|id| id.as_str())),
        "campaign" => opt(attribution
            .campaign_id
            .as_ref()
            .and_then(|id| dir.campaign(id))
            .map(|c| c.name.as_str())),
        "source_id" => opt(attribution.source_id.as_ref().map(|id| id.as_str())),
        "source" => opt(attribution
            .source_id
            .as_ref()
            .and_then(|id| dir.source(id))
            .map(|s| s.name.as_str())),
        "site_id" => opt(attribution.site_id.as_ref().map(|id| id.as_str())),
        "site" => opt(attribution
            .site_id
            .as_ref()
            .and_then(|id| dir.site(id))
            .map(|s| s.name.as_str())),
        "repeat" => a.repeat.to_string(),
        "via" => token(&attribution.via),
        "utm_source" => opt(a.session.utm.source.as_deref()),
        "utm_medium" => opt(a.session.utm.medium.as_deref()),
        "utm_campaign" => opt(a.session.utm.campaign.as_deref()),
        "utm_content" => opt(a.session.utm.content.as_deref()),
        "utm_term" => opt(a.session.utm.term.as_deref()),
        "gclid" | "yclid" => opt(a.session.click_ids.get(column).map(String::as_str)),
        "session_id" => opt(a.session.id.as_deref()),
        "landing_page" => opt(a.session.landing_page.as_deref()),
        // Empty for appeals made before groups and evidence existed, until a run.
        "channel_group" => opt(a.channel_group.map(|g| g.as_str())),
        "evidence" => opt(attribution.evidence.map(|e| e.as_str())),
        _ => String::new(),
    }
}

/// An enum's JSON name (`offline_request`), the same word the JSON API uses.
fn token<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::appeal::{AppealFacts, Channel, Kind, Provider, SessionInfo, Status};
    use crate::domain::contact::Contact;
    use crate::domain::directory::tests as fixtures;
    use crate::domain::ids::{AccountId, AppealId, CampaignId, IntegrationId};
    use chrono::TimeZone;

    fn field(dialect: Dialect, value: &str) -> String {
        let mut out = String::new();
        dialect.write_field(&mut out, value);
        out
    }

    const PLAIN: Dialect = Dialect { excel: false };
    const EXCEL: Dialect = Dialect { excel: true };

    #[test]
    fn fields_are_quoted_only_when_they_must_be_and_quotes_are_doubled() {
        assert_eq!(field(PLAIN, "plain"), "plain");
        assert_eq!(field(PLAIN, ""), "");
        assert_eq!(field(PLAIN, "a,b"), "\"a,b\"");
        assert_eq!(field(PLAIN, "say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field(PLAIN, "two\nlines"), "\"two\nlines\"");
        assert_eq!(field(PLAIN, "cr\rhere"), "\"cr\rhere\"");
        // The other dialect's separator is plain text.
        assert_eq!(field(PLAIN, "a;b"), "a;b");
        assert_eq!(field(EXCEL, "a;b"), "\"a;b\"");
        assert_eq!(field(EXCEL, "a,b"), "a,b");
    }

    #[test]
    fn what_a_spreadsheet_would_run_as_a_formula_is_made_text() {
        assert_eq!(field(PLAIN, "=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(field(PLAIN, "@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(
            field(PLAIN, "+HYPERLINK(\"x\")"),
            "\"'+HYPERLINK(\"\"x\"\")\""
        );
        assert_eq!(
            field(PLAIN, "-2+3+cmd|' /C calc'!A0"),
            "'-2+3+cmd|' /C calc'!A0"
        );
        assert_eq!(field(PLAIN, "\tx"), "'\tx");
        assert_eq!(field(PLAIN, "\rx"), "\"'\rx\"");
        assert_eq!(field(EXCEL, "=1;2"), "\"'=1;2\"");
        // Phones are numbers, not formulas; an `=` in the middle is no formula either.
        assert_eq!(
            field(PLAIN, "+79161234567, +79031234567"),
            "\"+79161234567, +79031234567\""
        );
        assert_eq!(field(PLAIN, "+7 (916) 123-45-67"), "+7 (916) 123-45-67");
        assert_eq!(field(PLAIN, "a=b"), "a=b");
        assert_eq!(field(PLAIN, "+7a"), "'+7a");
    }

    #[test]
    fn excel_files_start_with_a_byte_order_mark_and_use_semicolons() {
        let excel = EXCEL.start();
        assert!(excel.starts_with('\u{feff}'));
        assert!(excel.contains("id;created_at;provider;"));
        assert!(excel.ends_with("session_id;landing_page\r\n"));
        let plain = PLAIN.start();
        assert!(plain.starts_with("id,created_at,provider,kind,channel,channel_group,"));
        assert_eq!(plain.matches(',').count(), COLUMNS.len() - 1);
    }

    fn appeal(name: &str) -> Appeal {
        let facts = AppealFacts {
            kind: Kind::OfflineRequest,
            provider_ref: "42".into(),
            channel: Channel::parse("telegram").unwrap(),
            occurred_at: Some(Utc.with_ymd_and_hms(2024, 6, 3, 10, 20, 0).unwrap()),
            contact: Contact::from_raw(
                Some(name),
                ["+7 916 123-45-67", "8 903 123 45 67"],
                ["M.Kovaleva@Example.org"],
            ),
            agent: None,
            messages: None,
            session: SessionInfo {
                id: Some("ses_1".into()),
                landing_page: Some("https://shop.example.ru/?utm_source=yandex".into()),
                ..SessionInfo::default()
            },
            visitor_ref: None,
            status: Status::Complete,
        };
        let mut a = Appeal::new(
            AppealId::parse("apl_1").unwrap(),
            AccountId::parse("acc_1").unwrap(),
            IntegrationId::parse("int_1").unwrap(),
            Provider::Jivo,
            &facts,
            Utc.with_ymd_and_hms(2024, 6, 3, 10, 25, 0).unwrap(),
        );
        a.session.utm.source = Some("yandex".into());
        a.session.click_ids.insert("yclid".into(), "7315542".into());
        a.attribution.campaign_id = Some(CampaignId::parse("cmp_spring").unwrap());
        a
    }

    use chrono::Utc;

    #[test]
    fn an_appeal_is_one_row_with_names_beside_ids_and_cyrillic_as_it_is() {
        let mut dir = Directory::default();
        dir.campaigns
            .push(fixtures::campaign("cmp_spring", "source=yandex", None));
        dir.campaigns[0].name = "Весна; скидки".into();
        let mut out = String::new();
        EXCEL.write_appeal(&mut out, &appeal("Мария \"Маша\" Ковалёва"), &dir);
        assert!(out.ends_with("\r\n"));
        let cells = split(&out[..out.len() - 2], ';');
        assert_eq!(cells.len(), COLUMNS.len(), "{out}");
        let at = |name: &str| cells[COLUMNS.iter().position(|c| *c == name).unwrap()].clone();
        assert_eq!(at("id"), "apl_1");
        assert_eq!(at("created_at"), "2024-06-03T10:20:00Z");
        assert_eq!(at("kind"), "offline_request");
        assert_eq!(at("channel"), "telegram");
        assert_eq!(at("status"), "complete");
        assert_eq!(at("contact_name"), "\"Мария \"\"Маша\"\" Ковалёва\"");
        assert_eq!(at("phones"), "+79161234567, +79031234567");
        assert_eq!(at("emails"), "m.kovaleva@example.org");
        assert_eq!(at("campaign_id"), "cmp_spring");
        assert_eq!(at("campaign"), "\"Весна; скидки\"");
        assert_eq!(at("utm_source"), "yandex");
        assert_eq!(at("yclid"), "7315542");
        assert_eq!(at("gclid"), "");
        assert_eq!(at("session_id"), "ses_1");
        assert_eq!(at("repeat"), "false");
        assert_eq!(at("channel_group"), "");
        assert_eq!(at("evidence"), "");
    }

    /// Splits a row on `sep` outside quotes, keeping each field as written.
    fn split(row: &str, sep: char) -> Vec<String> {
        let mut cells = vec![String::new()];
        let mut quoted = false;
        for c in row.chars() {
            if c == '"' {
                quoted = !quoted;
            }
            if c == sep && !quoted {
                cells.push(String::new());
            } else {
                cells.last_mut().unwrap().push(c);
            }
        }
        cells
    }
}
