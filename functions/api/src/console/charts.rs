//! Charts of the console, drawn on the server as inline SVG (no script, no third party,
//! nothing but attributes, which the page's CSP allows): appeals over time stacked by group,
//! and one bar of shares. The SVGs are as wide as the page (x in percent) with text in fixed
//! pixels, so they stay legible from 360 px up; the table beside them holds the numbers.

use maud::{Markup, html};

/// Colours of the groups, in order; the last group ("other") is grey. Neighbours differ in
/// lightness as well as hue, for readers who do not tell the hues apart.
pub const PALETTE: [&str; 6] = [
    "#2456c9", "#e08a00", "#1f9d8a", "#b3407a", "#7a5cd6", "#5b8c2a",
];
pub const OTHER: &str = "#9aa3b2";
const MUTED: &str = "#5d6678";
const LINE: &str = "#dfe3ea";

/// One coloured part of a picture.
pub struct Series {
    pub label: String,
    pub color: &'static str,
}

/// A stacked column chart: `values[b][s]` is series `s` in bucket `b`.
pub struct Columns<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub desc: &'a str,
    /// Per bucket: the axis label and the label in tooltips.
    pub buckets: Vec<(String, String)>,
    pub series: &'a [Series],
    pub values: Vec<Vec<i64>>,
}

const TOP: f64 = 16.0;
const PLOT: f64 = 180.0;
const AXIS: f64 = 24.0;
/// At most this many dates under the axis (they must fit 300 px).
const X_LABELS: usize = 5;

/// Percentages for attributes (`12.5%`).
fn pct(x: f64) -> String {
    format!("{}%", (x * 1000.0).round() / 1000.0)
}

fn px(x: f64) -> String {
    format!("{}", (x * 10.0).round() / 10.0)
}

/// Gridlines' step: 1, 2 or 5 times a power of ten, at most four steps up to `max`.
pub fn step(max: i64) -> i64 {
    let max = max.max(1);
    let mut magnitude = 1;
    loop {
        for m in [1, 2, 5] {
            let step = m * magnitude;
            if max <= step * 4 {
                return step;
            }
        }
        magnitude *= 10;
    }
}

pub fn columns(c: &Columns<'_>) -> Markup {
    let n = c.buckets.len().max(1);
    let highest = c
        .values
        .iter()
        .map(|v| v.iter().sum::<i64>())
        .max()
        .unwrap_or(0);
    let step = step(highest);
    let top = (highest.max(1) + step - 1) / step * step;
    let y = |v: i64| TOP + PLOT - PLOT * v as f64 / top as f64;
    let slot = 100.0 / n as f64;
    let stride = n.div_ceil(X_LABELS);
    let title_id = format!("{}-title", c.id);
    let desc_id = format!("{}-desc", c.id);
    html! {
        svg id=(c.id) width="100%" height=(px(TOP + PLOT + AXIS)) role="img"
            aria-labelledby={ (title_id) " " (desc_id) } font-size="12" {
            title id=(title_id) { (c.title) }
            desc id=(desc_id) { (c.desc) }
            @for tick in (0..=top).step_by(step as usize) {
                line x1="0" x2="100%" y1=(px(y(tick))) y2=(px(y(tick)))
                    stroke=(if tick == 0 { MUTED } else { LINE }) stroke-width="1" {}
            }
            @for (b, s, low, high) in stacks(&c.values) {
                rect x=(pct(b as f64 * slot + slot * 0.15)) width=(pct(slot * 0.7))
                    y=(px(y(high))) height=(px(y(low) - y(high))) fill=(c.series[s].color) {
                    title { (c.buckets[b].1) " · " (c.series[s].label) ": " (high - low) }
                }
            }
            // Tick labels over the bars, each above its gridline, with a halo to stay legible.
            @for tick in (step..=top).step_by(step as usize) {
                text x="2" y=(px(y(tick) - 4.0)) fill=(MUTED) stroke="#ffffff" stroke-width="3"
                    paint-order="stroke" stroke-linejoin="round" { (tick) }
            }
            @for b in (0..c.buckets.len()).step_by(stride) {
                @let center = b as f64 * slot + slot / 2.0;
                @let (x, anchor) = if center < 6.0 {
                    (pct(b as f64 * slot), "start")
                } else if center > 94.0 {
                    (pct((b + 1) as f64 * slot), "end")
                } else {
                    (pct(center), "middle")
                };
                text x=(x) y=(px(TOP + PLOT + 17.0)) text-anchor=(anchor) fill=(MUTED) {
                    (c.buckets[b].0)
                }
            }
        }
    }
}

/// The parts of the columns: (bucket, series, from, to), each series on the one below it.
fn stacks(values: &[Vec<i64>]) -> Vec<(usize, usize, i64, i64)> {
    let mut out = Vec::new();
    for (b, column) in values.iter().enumerate() {
        let mut base = 0;
        for (s, value) in column.iter().enumerate().filter(|(_, v)| **v > 0) {
            out.push((b, s, base, base + value));
            base += value;
        }
    }
    out
}

/// The key of a picture: a colour swatch before each name (the swatch is decoration).
pub fn legend(label: &str, items: &[(&Series, String)]) -> Markup {
    html! {
        div.actions role="list" aria-label=(label) {
            @for (series, note) in items {
                span.badge role="listitem" {
                    (swatch(series.color)) " " (series.label)
                    @if !note.is_empty() { " · " (note) }
                }
            }
        }
    }
}

pub fn swatch(color: &str) -> Markup {
    html! {
        svg width="10" height="10" aria-hidden="true" focusable="false" {
            rect width="10" height="10" rx="2" fill=(color) {}
        }
    }
}

/// One horizontal bar of `parts` (series and count), each part as wide as its share, with its
/// share written inside when there is room.
pub fn bar(id: &str, title: &str, parts: &[(&Series, i64)]) -> Markup {
    let counts: Vec<i64> = parts.iter().map(|(_, n)| *n).collect();
    let total: i64 = counts.iter().sum();
    let shown = shares(&counts);
    // (series, count, share, left edge and width in percent)
    let mut pieces = Vec::new();
    let mut at = 0.0;
    for ((series, n), share) in parts.iter().zip(&shown) {
        if *n > 0 {
            let width = 100.0 * *n as f64 / total as f64;
            pieces.push((*series, *n, *share, at, width));
            at += width;
        }
    }
    let title_id = format!("{id}-title");
    html! {
        svg id=(id) width="100%" height="32" role="img" aria-labelledby=(title_id) font-size="13" {
            title id=(title_id) { (title) }
            @if total == 0 {
                rect width="100%" height="32" rx="4" fill=(LINE) {}
            }
            @for (series, n, share, x, width) in pieces {
                rect x=(pct(x)) width=(pct(width)) height="32" fill=(series.color) {
                    title { (series.label) ": " (share) "% (" (n) ")" }
                }
                @if width >= 9.0 {
                    text x=(pct(x + width / 2.0)) y="21" text-anchor="middle" fill="#ffffff"
                        font-weight="600" { (share) "%" }
                }
            }
        }
    }
}

/// Whole percentages of `counts` that add up to 100 (largest remainder: each share rounded
/// down, then the points left go to the largest remainders, the earlier one on a tie). All
/// zeros when there is nothing to share.
pub fn shares(counts: &[i64]) -> Vec<u32> {
    let total: i64 = counts.iter().map(|n| (*n).max(0)).sum();
    if total == 0 {
        return vec![0; counts.len()];
    }
    let mut out: Vec<u32> = Vec::with_capacity(counts.len());
    let mut remainders: Vec<(i64, usize)> = Vec::with_capacity(counts.len());
    for (i, n) in counts.iter().enumerate() {
        let scaled = (*n).max(0) * 100;
        out.push(u32::try_from(scaled / total).unwrap_or(0));
        remainders.push((scaled % total, i));
    }
    let left = 100 - out.iter().sum::<u32>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders.into_iter().take(left as usize) {
        out[i] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_a_hundred_by_the_largest_remainders() {
        assert_eq!(shares(&[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(shares(&[2, 1, 0, 0]), vec![67, 33, 0, 0]);
        assert_eq!(shares(&[0, 0]), vec![0, 0]);
        assert_eq!(shares(&[1, 0, 199]), vec![1, 0, 99]);
        assert_eq!(shares(&[5]), vec![100]);
        for counts in [[3, 3, 3, 1], [7, 11, 13, 17], [1, 2, 3, 994], [0, 0, 1, 2]] {
            assert_eq!(shares(&counts).iter().sum::<u32>(), 100, "{counts:?}");
        }
    }

    #[test]
    fn the_grid_steps_are_round_and_at_most_four() {
        assert_eq!(step(0), 1);
        assert_eq!(step(3), 1);
        assert_eq!(step(5), 2);
        assert_eq!(step(9), 5);
        assert_eq!(step(20), 5);
        assert_eq!(step(21), 10);
        assert_eq!(step(1234), 500);
    }

    #[test]
    fn columns_stack_their_series_and_name_every_part() {
        let series = [
            Series {
                label: "A".into(),
                color: PALETTE[0],
            },
            Series {
                label: "<B>".into(),
                color: OTHER,
            },
        ];
        let svg = columns(&Columns {
            id: "c",
            title: "Appeals",
            desc: "per day",
            buckets: vec![("1".into(), "day 1".into()), ("2".into(), "day 2".into())],
            series: &series,
            values: vec![vec![2, 1], vec![0, 0]],
        })
        .into_string();
        assert!(
            svg.contains("<title id=\"c-title\">Appeals</title>"),
            "{svg}"
        );
        assert!(svg.contains("day 1 · A: 2"), "{svg}");
        assert!(svg.contains("day 1 · &lt;B&gt;: 1"), "{svg}");
        assert!(!svg.contains("day 2 ·"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 2, "{svg}");
    }
}
