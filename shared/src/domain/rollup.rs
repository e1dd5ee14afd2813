//! Counting appeals for reports. Each appeal adds exactly one to one counter: the *cell* of
//! everything a report can group or filter by (campaign, source, site, channel, provider,
//! employee, kind, integration, how it was attributed, first or repeat), in the UTC hour it was
//! made. Any report (by day in any whole-hour time zone, by week or month, by any two
//! dimensions, with filters) is then a sum over the cells of its hours; nothing reads the
//! appeals themselves. When an appeal changes cell (re-attributed, an earlier message moved its
//! hour) its old counter loses one and its new one gains one, in the same write as the appeal.

use crate::domain::appeal::{Appeal, ChannelGroup, Kind, Provider, Via};
use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The cell's layout. Version 2 adds the channel group (last); names of version 1, written
/// before groups existed, still read (with no group), so reports stay whole until a
/// re-attribution run moves each appeal into the new layout.
const VERSION: &str = "2";
const VERSION_1: &str = "1";
const SEP: char = '|';

/// What one appeal is counted as.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    pub campaign: Option<String>,
    pub source: Option<String>,
    pub site: Option<String>,
    pub channel: String,
    pub provider: Provider,
    pub employee: Option<String>,
    pub kind: Kind,
    pub integration: String,
    pub via: Via,
    pub repeat: bool,
    pub channel_group: Option<ChannelGroup>,
}

/// Where an appeal was counted: the hour and the counter's name. Kept with the stored appeal,
/// so that what is taken away later is exactly what was added, whatever the code of the day
/// would compute for the old state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    /// The UTC hour, as [`hour_key`] writes it.
    pub hour: String,
    pub name: String,
}

impl Cell {
    pub fn of(appeal: &Appeal) -> Cell {
        let a = &appeal.attribution;
        Cell {
            campaign: a.campaign_id.as_ref().map(|id| id.as_str().to_owned()),
            source: a.source_id.as_ref().map(|id| id.as_str().to_owned()),
            site: a.site_id.as_ref().map(|id| id.as_str().to_owned()),
            channel: appeal.channel.as_str().to_owned(),
            provider: appeal.provider,
            employee: appeal.employee.as_ref().map(|e| e.id.as_str().to_owned()),
            kind: appeal.kind,
            integration: appeal.integration_id.as_str().to_owned(),
            via: a.via,
            repeat: appeal.repeat,
            channel_group: appeal.channel_group,
        }
    }

    /// Where `appeal` is counted now.
    pub fn counted(appeal: &Appeal) -> Counted {
        Counted {
            hour: hour_key(appeal.created_at),
            name: Cell::of(appeal).name(),
        }
    }

    /// The counter's name: the dimensions joined by `|` (ids and tokens never contain one).
    pub fn name(&self) -> String {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        [
            VERSION.to_owned(),
            opt(&self.campaign),
            opt(&self.source),
            opt(&self.site),
            self.channel.clone(),
            self.provider.as_str().to_owned(),
            opt(&self.employee),
            self.kind.as_str().to_owned(),
            self.integration.clone(),
            self.via.as_str().to_owned(),
            if self.repeat { "r" } else { "f" }.to_owned(),
            self.channel_group
                .map(|g| g.as_str().to_owned())
                .unwrap_or_default(),
        ]
        .join(&SEP.to_string())
    }

    /// A counter's name read back; `None` for another layout or a damaged name (not counted,
    /// rather than counted wrong).
    pub fn parse(name: &str) -> Option<Cell> {
        let p = Parts::parse(name)?;
        let opt = |v: Option<&str>| v.map(str::to_owned);
        Some(Cell {
            campaign: opt(p.campaign),
            source: opt(p.source),
            site: opt(p.site),
            channel: p.channel.to_owned(),
            provider: p.provider,
            employee: opt(p.employee),
            kind: p.kind,
            integration: p.integration.to_owned(),
            via: p.via,
            repeat: p.repeat,
            channel_group: p.channel_group,
        })
    }
}

/// A cell as its name spells it, borrowed from the name: what a report reads of each of the
/// many counters it sums, without copying them.
struct Parts<'a> {
    campaign: Option<&'a str>,
    source: Option<&'a str>,
    site: Option<&'a str>,
    channel: &'a str,
    provider: Provider,
    employee: Option<&'a str>,
    kind: Kind,
    integration: &'a str,
    via: Via,
    repeat: bool,
    channel_group: Option<ChannelGroup>,
}

impl<'a> Parts<'a> {
    fn parse(name: &'a str) -> Option<Parts<'a>> {
        // One pass over the bytes (`|` is ASCII, so it never splits a character): a report
        // reads every counter's name, and this is most of what it does with one.
        let mut fields = [""; 12];
        let (mut n, mut start) = (0, 0);
        for (i, b) in name.bytes().enumerate() {
            if b == SEP as u8 {
                *fields.get_mut(n)? = &name[start..i];
                n += 1;
                start = i + 1;
            }
        }
        *fields.get_mut(n)? = &name[start..];
        let [
            version,
            campaign,
            source,
            site,
            channel,
            provider,
            employee,
            kind,
            integration,
            via,
            repeat,
            group,
        ] = fields;
        // Version 1 has no group (11 fields), version 2 has it last (12).
        let whole = match version {
            VERSION => n == 11,
            VERSION_1 => n == 10,
            _ => false,
        };
        if !whole {
            return None;
        }
        let channel_group = match group {
            "" => None,
            g => Some(ChannelGroup::parse(g)?),
        };
        let opt = |v: &'a str| (!v.is_empty()).then_some(v);
        Some(Parts {
            campaign: opt(campaign),
            source: opt(source),
            site: opt(site),
            channel,
            provider: Provider::parse(provider)?,
            employee: opt(employee),
            kind: Kind::parse(kind)?,
            integration,
            via: Via::parse(via)?,
            repeat: match repeat {
                "r" => true,
                "f" => false,
                _ => return None,
            },
            channel_group,
        })
    }
}

/// Whether every day of [from, to] in `tz` starts and ends on a whole UTC hour (true for every
/// zone of Russia; not for Asia/Kolkata), so that hourly counters give its days exactly.
pub fn whole_hours(tz: Tz, from: NaiveDate, to: NaiveDate) -> bool {
    let mut day = from;
    while day <= to + Duration::days(1) {
        let (start, _) = day_bounds(tz, day, day);
        if start.minute() != 0 || start.second() != 0 {
            return false;
        }
        day += Duration::days(1);
    }
    true
}

/// The start of the UTC hour `t` lies in.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_minute(0))
        .unwrap_or(t)
}

/// `2026-11-03T14`: fixed width, so byte order is time order.
pub fn hour_key(t: DateTime<Utc>) -> String {
    hour_of(t).format("%Y-%m-%dT%H").to_string()
}

pub fn parse_hour_key(key: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(&format!("{key}:00"), "%Y-%m-%dT%H:%M")
        .ok()
        .map(|t| t.and_utc())
}

/// A counter change: `by` on counter `name` of `hour`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub hour: String,
    pub name: String,
    pub by: i64,
}

/// What moving an appeal from `before` (where it was counted, if it was) to `after` changes.
pub fn changes(before: Option<&Counted>, after: &Counted) -> Vec<Change> {
    if before == Some(after) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(b) = before {
        out.push(Change {
            hour: b.hour.clone(),
            name: b.name.clone(),
            by: -1,
        });
    }
    out.push(Change {
        hour: after.hour.clone(),
        name: after.name.clone(),
        by: 1,
    });
    out
}

// ---- reports ----

/// The UTC instants a report of the dates `from..=to` in `tz` covers: from the first day's
/// midnight to the midnight after the last (a midnight a DST change skips is the first
/// instant after it).
pub fn day_bounds(tz: Tz, from: NaiveDate, to: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let midnight = |d: NaiveDate| {
        let local = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.to_utc(),
            // No midnight that day: the zone jumped over it; the day starts an hour later.
            LocalResult::None => tz
                .from_local_datetime(&(local + Duration::hours(1)))
                .earliest()
                .map_or_else(|| local.and_utc(), |t| t.to_utc()),
        }
    };
    (midnight(from), midnight(to.succ_opt().unwrap_or(to)))
}

/// The date an hour falls on in `tz` (its start's date: exact for every zone whose offset is
/// whole hours, which is nearly all; a half-hour zone counts an hour by where it begins).
pub fn local_day(tz: Tz) -> impl Fn(DateTime<Utc>) -> NaiveDate {
    move |t| t.with_timezone(&tz).date_naive()
}

/// What a report can group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    Day,
    /// The Monday's date.
    Week,
    /// `2026-11`.
    Month,
    Campaign,
    Source,
    Site,
    Channel,
    Provider,
    Employee,
    Kind,
    ChannelGroup,
}

impl Dim {
    pub const ALL: [Dim; 11] = [
        Dim::Day,
        Dim::Week,
        Dim::Month,
        Dim::Campaign,
        Dim::Source,
        Dim::Site,
        Dim::Channel,
        Dim::Provider,
        Dim::Employee,
        Dim::Kind,
        Dim::ChannelGroup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dim::Day => "day",
            Dim::Week => "week",
            Dim::Month => "month",
            Dim::Campaign => "campaign",
            Dim::Source => "source",
            Dim::Site => "site",
            Dim::Channel => "channel",
            Dim::Provider => "provider",
            Dim::Employee => "employee",
            Dim::Kind => "kind",
            Dim::ChannelGroup => "channel_group",
        }
    }

    pub fn parse(s: &str) -> Option<Dim> {
        Dim::ALL.into_iter().find(|d| d.as_str() == s)
    }

    pub fn is_time(self) -> bool {
        matches!(self, Dim::Day | Dim::Week | Dim::Month)
    }

    /// Whether the group's value is a directory record's id (shown with its name).
    pub fn is_record(self) -> bool {
        matches!(
            self,
            Dim::Campaign | Dim::Source | Dim::Site | Dim::Employee
        )
    }
}

/// A report's filters: only cells that match every one given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub integration: Option<String>,
    pub site: Option<String>,
    pub provider: Option<Provider>,
    pub channel: Option<String>,
}

impl Filter {
    fn admits(&self, cell: &Parts<'_>) -> bool {
        self.integration
            .as_ref()
            .is_none_or(|i| i == cell.integration)
            && self
                .site
                .as_ref()
                .is_none_or(|s| cell.site == Some(s.as_str()))
            && self.provider.is_none_or(|p| p == cell.provider)
            && self.channel.as_ref().is_none_or(|c| c == cell.channel)
    }
}

/// Counts of one row (or of the totals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub count: i64,
    pub first: i64,
    pub repeat: i64,
    /// One key per attribution step, zeros included.
    pub via: BTreeMap<&'static str, i64>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            count: 0,
            first: 0,
            repeat: 0,
            via: Via::ALL.iter().map(|v| (v.as_str(), 0)).collect(),
        }
    }
}

impl Tally {
    /// Adds another tally of the same group (a report summed in parts).
    pub fn absorb(&mut self, other: &Tally) {
        self.count += other.count;
        self.first += other.first;
        self.repeat += other.repeat;
        for (via, n) in &other.via {
            *self.via.entry(via).or_default() += n;
        }
    }
}

/// One group's value: a date or month label for the time dimensions, an id or token (`None`:
/// nothing assigned, e.g. no campaign) for the others.
pub type GroupKey = Vec<Option<String>>;

/// A report: rows in order (time first, then by value), and the totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub rows: Vec<(GroupKey, Tally)>,
    pub totals: Tally,
}

impl Report {
    /// The report of the counters of both (each summed from a part of one period's counters).
    pub fn merge(self, other: Report) -> Report {
        let mut rows: BTreeMap<GroupKey, Tally> = self.rows.into_iter().collect();
        for (key, tally) in other.rows {
            rows.entry(key).or_default().absorb(&tally);
        }
        let mut totals = self.totals;
        totals.absorb(&other.totals);
        Report {
            rows: rows.into_iter().collect(),
            totals,
        }
    }
}

/// Sums counters into a report. `counters` are (UTC hour, counter name, value); `local_day`
/// turns an hour into the date it falls on in the report's time zone; hours outside `days`
/// (as `local_day` sees them) are left out, so a caller may read a few hours more than needed.
///
/// A big account's 90 days are near a million counters of some hundred thousand names, so
/// the loop over them allocates nothing: each name is read where it lies (borrowed, not
/// parsed into a [`Cell`]; a map from a hundred thousand names to their groups costs more in
/// cache misses than reading the name again), each hour's day is found once, and the group
/// is found among the few the report has. Labels and the report's own types are made at the
/// end, for the few thousand groups.
pub fn report<'a>(
    counters: impl IntoIterator<Item = (DateTime<Utc>, &'a str, i64)>,
    group_by: &[Dim],
    filter: &Filter,
    days: (NaiveDate, NaiveDate),
    local_day: impl Fn(DateTime<Utc>) -> NaiveDate,
) -> Report {
    // The groups' non-time values, numbered in order of appearance.
    let mut values: FastMap<[Option<&'a str>; 2], u32> = FastMap::default();
    let mut sums: FastMap<(NaiveDate, u32), Sum> = FastMap::default();
    let mut totals = Sum::default();
    let mut last: Option<(DateTime<Utc>, Option<NaiveDate>)> = None;
    let has_time = group_by.iter().any(|d| d.is_time());
    for (hour, name, value) in counters {
        if value == 0 {
            continue;
        }
        let day = match last {
            Some((h, day)) if h == hour => day,
            _ => {
                let day = Some(local_day(hour)).filter(|d| *d >= days.0 && *d <= days.1);
                last = Some((hour, day));
                day
            }
        };
        let Some(day) = day else {
            continue;
        };
        let Some(parts) = Parts::parse(name).filter(|p| filter.admits(p)) else {
            continue;
        };
        let next = values.len() as u32;
        let group = *values.entry(group_values(group_by, &parts)).or_insert(next);
        let named = Named {
            repeat: parts.repeat,
            via: via_index(parts.via),
        };
        let day = if has_time { day } else { NaiveDate::MIN };
        sums.entry((day, group)).or_default().add(named, value);
        totals.add(named, value);
    }
    let mut by_number: Vec<[Option<&str>; 2]> = vec![[None, None]; values.len()];
    for (key, n) in values {
        by_number[n as usize] = key;
    }
    let mut groups: BTreeMap<GroupKey, Tally> = BTreeMap::new();
    for ((day, group), sum) in sums {
        let mut others = by_number[group as usize].into_iter();
        let key: GroupKey = group_by
            .iter()
            .map(|d| match d {
                Dim::Day | Dim::Week | Dim::Month => Some(time_label(*d, day)),
                _ => others.next().flatten().map(str::to_owned),
            })
            .collect();
        sum.add_to(groups.entry(key).or_default());
    }
    let mut total = Tally::default();
    totals.add_to(&mut total);
    Report {
        rows: groups.into_iter().collect(),
        totals: total,
    }
}

/// A counter's place in a report.
#[derive(Clone, Copy)]
struct Named {
    repeat: bool,
    via: usize,
}

/// A tally while summing: plain numbers, the via steps in the order of [`Via::ALL`].
#[derive(Default)]
struct Sum {
    count: i64,
    first: i64,
    repeat: i64,
    via: [i64; Via::ALL.len()],
}

impl Sum {
    fn add(&mut self, named: Named, n: i64) {
        self.count += n;
        if named.repeat {
            self.repeat += n;
        } else {
            self.first += n;
        }
        self.via[named.via] += n;
    }

    fn add_to(&self, tally: &mut Tally) {
        tally.count += self.count;
        tally.first += self.first;
        tally.repeat += self.repeat;
        for (via, n) in Via::ALL.iter().zip(self.via) {
            *tally.via.entry(via.as_str()).or_default() += n;
        }
    }
}

fn via_index(via: Via) -> usize {
    Via::ALL.iter().position(|v| *v == via).unwrap_or(0)
}

/// The values of a cell's non-time dimensions, in `group_by`'s order (a report groups by two
/// dimensions at most; the rest stay `None`).
fn group_values<'a>(group_by: &[Dim], p: &Parts<'a>) -> [Option<&'a str>; 2] {
    let mut out = [None, None];
    let values = group_by.iter().filter(|d| !d.is_time()).map(|d| match d {
        Dim::Campaign => p.campaign,
        Dim::Source => p.source,
        Dim::Site => p.site,
        Dim::Channel => Some(p.channel),
        Dim::Provider => Some(p.provider.as_str()),
        Dim::Employee => p.employee,
        Dim::Kind => Some(p.kind.as_str()),
        Dim::ChannelGroup => p.channel_group.map(ChannelGroup::as_str),
        Dim::Day | Dim::Week | Dim::Month => None,
    });
    for (slot, value) in out.iter_mut().zip(values) {
        *slot = value;
    }
    out
}

fn time_label(dim: Dim, day: NaiveDate) -> String {
    match dim {
        Dim::Week => {
            let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
            monday.to_string()
        }
        Dim::Month => format!("{:04}-{:02}", day.year(), day.month()),
        _ => day.to_string(),
    }
}

/// A hash map for the report's inner loop: its keys are counter names from our own store and
/// small numbers, so a fast multiply-rotate hash (FxHash's) serves where std's DoS-resistant
/// SipHash would cost most of the loop.
type FastMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FxHasher>>;

#[derive(Default)]
struct FxHasher(u64);

impl FxHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    fn write_i32(&mut self, n: i32) {
        self.mix(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_summed_in_two_parts_and_merged_is_the_report_of_the_whole() {
        let t = |h: i64| Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + Duration::hours(h);
        let names = [
            "1|cmp_a|src_a||site|jivo||chat|int_a|utm|f",
            "1|cmp_b|src_b||telegram|jivo||chat|int_a|messenger_mapping|r",
            "1||||site|verbox||chat|int_b|default|f",
        ];
        let counters: Vec<(DateTime<Utc>, &str, i64)> = (0..60)
            .map(|i| (t(i), names[(i % 3) as usize], 1 + i % 4))
            .collect();
        let days = (
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 5).unwrap(),
        );
        let sum = |part: &[(DateTime<Utc>, &str, i64)]| {
            report(
                part.iter().copied(),
                &[Dim::Day, Dim::Source],
                &Filter::default(),
                days,
                local_day(chrono_tz::Europe::Moscow),
            )
        };
        let (a, b) = counters.split_at(25);
        assert_eq!(sum(a).merge(sum(b)), sum(&counters));
    }

    #[test]
    fn whole_hour_zones_are_told_from_the_others() {
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        assert!(whole_hours(chrono_tz::Europe::Moscow, day(1), day(31)));
        // Summer time starts on March 29 in Berlin: still whole hours.
        assert!(whole_hours(chrono_tz::Europe::Berlin, day(1), day(31)));
        assert!(!whole_hours(chrono_tz::Asia::Kolkata, day(1), day(2)));
    }

    fn cell() -> Cell {
        Cell {
            campaign: Some("cmp_a".into()),
            source: Some("src_a".into()),
            site: None,
            channel: "telegram".into(),
            provider: Provider::Jivo,
            employee: None,
            kind: Kind::OfflineRequest,
            integration: "int_a".into(),
            via: Via::MessengerMapping,
            repeat: true,
            channel_group: Some(ChannelGroup::Messenger),
        }
    }

    #[test]
    fn names_of_the_first_layout_still_read_with_no_group() {
        let mut old = cell();
        old.channel_group = None;
        let v1 = "1|cmp_a|src_a||telegram|jivo||offline_request|int_a|messenger_mapping|r";
        assert_eq!(Cell::parse(v1), Some(old));
        assert_eq!(Cell::parse(&cell().name()), Some(cell()));
        assert!(cell().name().starts_with("2|"));
        assert_eq!(
            Cell::parse("2|cmp_a|src_a||telegram|jivo||chat|int_a|utm|f|nonsense"),
            None
        );
        assert_eq!(
            Cell::parse("1|cmp_a|src_a||telegram|jivo||chat|int_a|utm|f|paid"),
            None
        );
    }

    #[test]
    fn tokens_are_the_api_spellings() {
        for via in Via::ALL {
            assert_eq!(serde_json::to_value(via).unwrap(), via.as_str());
        }
        for kind in Kind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn a_cell_reads_back_from_its_name_and_other_layouts_are_not_read() {
        let c = cell();
        assert_eq!(Cell::parse(&c.name()), Some(c.clone()));
        let none = Cell {
            campaign: None,
            source: None,
            repeat: false,
            via: Via::Default,
            ..c
        };
        assert_eq!(Cell::parse(&none.name()), Some(none));
        assert_eq!(Cell::parse("2|a|b"), None);
        assert_eq!(Cell::parse(&cell().name().replace("|r", "|x")), None);
    }

    #[test]
    fn days_in_a_zone_begin_at_its_midnight_and_dst_is_followed() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let (from, to) = day_bounds(
            chrono_tz::Europe::Moscow,
            day("2026-11-01"),
            day("2026-11-30"),
        );
        assert_eq!(from.to_rfc3339(), "2026-10-31T21:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-11-30T21:00:00+00:00");
        // Berlin leaves summer time on 2026-10-25: that day has 25 hours.
        let (a, b) = day_bounds(
            chrono_tz::Europe::Berlin,
            day("2026-10-25"),
            day("2026-10-25"),
        );
        assert_eq!((b - a).num_hours(), 25);
        let on = local_day(chrono_tz::Europe::Moscow);
        assert_eq!(on(from), day("2026-11-01"));
        assert_eq!(on(from - Duration::hours(1)), day("2026-10-31"));
    }

    #[test]
    fn hours_key_in_byte_order_and_read_back() {
        let t = DateTime::parse_from_rfc3339("2026-11-03T14:59:59.9Z")
            .unwrap()
            .to_utc();
        assert_eq!(hour_key(t), "2026-11-03T14");
        assert_eq!(
            parse_hour_key("2026-11-03T14"),
            Some(
                DateTime::parse_from_rfc3339("2026-11-03T14:00:00Z")
                    .unwrap()
                    .to_utc()
            )
        );
    }

    #[test]
    fn a_move_takes_one_from_where_it_was_and_adds_one_where_it_is() {
        let a = Counted {
            hour: "2026-11-03T14".into(),
            name: "x".into(),
        };
        let b = Counted {
            hour: "2026-11-03T14".into(),
            name: "y".into(),
        };
        assert_eq!(changes(Some(&a), &a), vec![]);
        assert_eq!(changes(None, &a).len(), 1);
        assert_eq!(
            changes(Some(&a), &b)
                .iter()
                .map(|c| (c.name.as_str(), c.by))
                .collect::<Vec<_>>(),
            vec![("x", -1), ("y", 1)]
        );
    }

    #[test]
    fn a_report_groups_by_local_day_and_a_dimension_with_nothing_assigned_as_none() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let with = cell().name();
        let without = Cell {
            source: None,
            repeat: false,
            via: Via::Default,
            ..cell()
        }
        .name();
        // Moscow is UTC+3: 22:00 UTC on the 2nd is the 3rd there.
        let moscow = |t: DateTime<Utc>| (t + Duration::hours(3)).date_naive();
        let counters = vec![
            (at("2026-11-02T20:00:00Z"), with.as_str(), 2),
            (at("2026-11-02T22:00:00Z"), with.as_str(), 1),
            (at("2026-11-02T22:00:00Z"), without.as_str(), 3),
            (at("2026-11-03T10:00:00Z"), "garbage", 7),
            (at("2026-11-03T10:00:00Z"), with.as_str(), 0),
        ];
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let r = report(
            counters,
            &[Dim::Day, Dim::Source],
            &Filter::default(),
            (day("2026-11-03"), day("2026-11-30")),
            moscow,
        );
        assert_eq!(r.totals.count, 4, "the 20:00 UTC hour is the 2nd in Moscow");
        assert_eq!(r.totals.first + r.totals.repeat, r.totals.count);
        assert_eq!(r.totals.via.values().sum::<i64>(), r.totals.count);
        assert_eq!(r.rows.len(), 2);
        assert_eq!(r.rows[0].0, vec![Some("2026-11-03".to_owned()), None]);
        assert_eq!(r.rows[0].1.count, 3);
        assert_eq!(r.rows[0].1.via["default"], 3);
        assert_eq!(r.rows[0].1.via["session"], 0, "zeros are kept");
        assert_eq!(
            r.rows[1].0,
            vec![Some("2026-11-03".to_owned()), Some("src_a".to_owned())]
        );
        let filtered = report(
            vec![(at("2026-11-03T10:00:00Z"), with.as_str(), 5)],
            &[Dim::Week, Dim::Month],
            &Filter {
                channel: Some("whatsapp".into()),
                ..Filter::default()
            },
            (day("2026-11-01"), day("2026-11-30")),
            moscow,
        );
        assert_eq!(filtered.totals.count, 0);
        let weeks = report(
            vec![(at("2026-11-05T10:00:00Z"), with.as_str(), 5)],
            &[Dim::Week, Dim::Month],
            &Filter::default(),
            (day("2026-11-01"), day("2026-11-30")),
            moscow,
        );
        assert_eq!(
            weeks.rows[0].0,
            vec![Some("2026-11-02".to_owned()), Some("2026-11".to_owned())],
            "a week is named by its Monday"
        );
    }

    /// The report's sums, done the plain way: every counter parsed, keyed and added on its own.
    fn plain(
        counters: &[(DateTime<Utc>, String, i64)],
        group_by: &[Dim],
        filter: &Filter,
        days: (NaiveDate, NaiveDate),
    ) -> BTreeMap<GroupKey, (i64, i64, i64, Vec<i64>)> {
        let mut out: BTreeMap<GroupKey, (i64, i64, i64, Vec<i64>)> = BTreeMap::new();
        for (hour, name, n) in counters {
            let day = hour.date_naive();
            let Some(c) = Cell::parse(name) else { continue };
            let admitted = filter
                .integration
                .as_ref()
                .is_none_or(|i| *i == c.integration)
                && filter
                    .site
                    .as_ref()
                    .is_none_or(|s| c.site.as_ref() == Some(s))
                && filter.provider.is_none_or(|p| p == c.provider)
                && filter.channel.as_ref().is_none_or(|ch| *ch == c.channel);
            if *n == 0 || day < days.0 || day > days.1 || !admitted {
                continue;
            }
            let key = group_by
                .iter()
                .map(|d| match d {
                    Dim::Day | Dim::Week | Dim::Month => Some(time_label(*d, day)),
                    Dim::Campaign => c.campaign.clone(),
                    Dim::Source => c.source.clone(),
                    Dim::Site => c.site.clone(),
                    Dim::Channel => Some(c.channel.clone()),
                    Dim::Provider => Some(c.provider.as_str().to_owned()),
                    Dim::Employee => c.employee.clone(),
                    Dim::Kind => Some(c.kind.as_str().to_owned()),
                    Dim::ChannelGroup => c.channel_group.map(|g| g.as_str().to_owned()),
                })
                .collect();
            let e = out.entry(key).or_insert((0, 0, 0, vec![0; Via::ALL.len()]));
            e.0 += n;
            if c.repeat {
                e.2 += n
            } else {
                e.1 += n
            }
            e.3[via_index(c.via)] += n;
        }
        out
    }

    #[test]
    fn a_report_sums_as_adding_each_counter_on_its_own_would_for_every_grouping_and_filter() {
        let mut x: u64 = 7;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % m
        };
        let start = DateTime::parse_from_rfc3339("2026-10-20T00:00:00Z")
            .unwrap()
            .to_utc();
        let mut counters = Vec::new();
        for i in 0..1000 {
            let c = Cell {
                campaign: (next(4) > 0).then(|| format!("cmp_{}", next(5))),
                source: (next(4) > 0).then(|| format!("src_{}", next(3))),
                site: (next(3) > 0).then(|| format!("site_{}", next(2))),
                channel: ["site", "telegram", "vk"][next(3) as usize].into(),
                provider: Provider::ALL[next(4) as usize],
                employee: (next(2) > 0).then(|| format!("emp_{}", next(3))),
                kind: Kind::ALL[next(3) as usize],
                integration: format!("int_{}", next(2)),
                via: Via::ALL[next(5) as usize],
                repeat: next(2) == 0,
                channel_group: (next(3) > 0).then(|| ChannelGroup::ALL[next(7) as usize]),
            };
            let name = if i % 97 == 0 {
                "garbage|x".to_owned()
            } else {
                c.name()
            };
            let hour = start + Duration::hours(next(24 * 40) as i64);
            counters.push((hour, name, next(5) as i64 - 1));
        }
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let days = (day("2026-10-25"), day("2026-11-20"));
        let filters = [
            Filter::default(),
            Filter {
                site: Some("site_1".into()),
                ..Filter::default()
            },
            Filter {
                provider: Some(Provider::Jivo),
                channel: Some("vk".into()),
                ..Filter::default()
            },
            Filter {
                integration: Some("int_0".into()),
                ..Filter::default()
            },
        ];
        for filter in &filters {
            for a in Dim::ALL {
                for b in Dim::ALL.into_iter().map(Some).chain([None]) {
                    let group_by: Vec<Dim> = [Some(a), b].into_iter().flatten().collect();
                    let r = report(
                        counters.iter().map(|(h, n, v)| (*h, n.as_str(), *v)),
                        &group_by,
                        filter,
                        days,
                        |t| t.date_naive(),
                    );
                    let got: BTreeMap<GroupKey, (i64, i64, i64, Vec<i64>)> = r
                        .rows
                        .iter()
                        .map(|(k, t)| {
                            let via = Via::ALL.iter().map(|v| t.via[v.as_str()]).collect();
                            (k.clone(), (t.count, t.first, t.repeat, via))
                        })
                        .collect();
                    let want = plain(&counters, &group_by, filter, days);
                    assert_eq!(got, want, "{group_by:?} {filter:?}");
                    assert_eq!(r.totals.count, want.values().map(|v| v.0).sum::<i64>());
                    let keys: Vec<_> = r.rows.iter().map(|(k, _)| k).collect();
                    assert!(keys.windows(2).all(|w| w[0] < w[1]), "rows in order");
                }
            }
        }
    }
}
