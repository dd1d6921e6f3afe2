//! Charts of a variable's distribution (see [`crate::stats`]) as inline SVG:
//! horizontal bars for the most frequent values, vertical bars for histograms.
//!
//! Suppressed counts (`None`, under the disclosure threshold) never show a
//! number: they are drawn as a short hatched bar with the caller's label
//! (e.g. `< 10`). Output is deterministic, escaped, coloured with
//! `currentColor` and classed `hdh-chart-*` for the page's stylesheet.

use std::fmt::Write as _;

use crate::diagram::{escape, mono_width, num, svg_id, svg_open, truncate};
use crate::stats::{Bar, Distribution};

const WIDTH: f64 = 900.0;
const FONT: f64 = 12.0;
const SMALL_FONT: f64 = 11.0;
const ROW_H: f64 = 24.0;
const BAR_H: f64 = 16.0;
/// At most this many bars in a bar chart; the rest is summed up as `… +N`.
const MAX_BARS: usize = 50;
const MAX_LABEL: usize = 40;
const SUPPRESSED_LEN: f64 = 18.0;
const PLOT_H: f64 = 240.0;

/// Formats a count with thin spaces (U+2009) between thousands: `12 345`.
pub fn format_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

fn value_text(count: Option<u64>, suppressed_label: &str) -> String {
    match count {
        Some(c) => format_count(c),
        None => suppressed_label.to_string(),
    }
}

/// Screen-reader description: every value and its count (the first 50).
fn describe(bars: &[Bar], suppressed_label: &str) -> String {
    let mut parts: Vec<String> = bars
        .iter()
        .take(MAX_BARS)
        .map(|b| format!("{}: {}", b.label, value_text(b.count, suppressed_label)))
        .collect();
    if bars.len() > MAX_BARS {
        parts.push(format!(
            "… +{}",
            format_count((bars.len() - MAX_BARS) as u64)
        ));
    }
    if parts.is_empty() {
        "—".to_string()
    } else {
        parts.join("; ")
    }
}

fn hatch_defs(out: &mut String, id: &str) {
    let _ = write!(
        out,
        "<defs><pattern id=\"{id}-hatch\" class=\"hdh-chart-hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
         <rect width=\"6\" height=\"6\" fill=\"currentColor\" fill-opacity=\"0.1\"/>\
         <rect width=\"2\" height=\"6\" fill=\"currentColor\" fill-opacity=\"0.45\"/></pattern></defs>"
    );
}

fn suppressed_rect(out: &mut String, id: &str, x: f64, y: f64, w: f64, h: f64) {
    let _ = write!(
        out,
        "<rect class=\"hdh-chart-suppressed\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
         fill=\"url(#{id}-hatch)\" stroke=\"currentColor\" stroke-opacity=\"0.45\"/>",
        num(x),
        num(y),
        num(w),
        num(h)
    );
}

fn empty_chart(class: &str, title: &str, content: &str) -> String {
    let id = svg_id("chart", content);
    let mut out = String::new();
    svg_open(&mut out, &id, class, (0.0, 0.0, WIDTH, 40.0), title, "—");
    out.push_str(
        "<text class=\"hdh-chart-empty\" x=\"450\" y=\"25\" text-anchor=\"middle\" font-size=\"14\">—</text></svg>",
    );
    out
}

/// Horizontal bars, one per value in the given order (at most 50, then a
/// `… +N` line): the label on the left (cut at 40 characters with `…`), the
/// count at the end of the bar. A suppressed bar (count `None`) is short,
/// hatched, and carries `suppressed_label` instead of a number.
pub fn bar_chart_svg(bars: &[Bar], title: &str, suppressed_label: &str) -> String {
    let class = "hdh-chart hdh-chart-bars";
    let content = format!("bars\u{0}{title}\u{0}{suppressed_label}\u{0}{bars:?}");
    if bars.is_empty() {
        return empty_chart(class, title, &content);
    }
    let id = svg_id("chart", &content);
    let shown = &bars[..bars.len().min(MAX_BARS)];
    let more = bars.len() - shown.len();

    let labels: Vec<String> = shown
        .iter()
        .map(|b| truncate(&b.label, MAX_LABEL))
        .collect();
    let values: Vec<String> = shown
        .iter()
        .map(|b| value_text(b.count, suppressed_label))
        .collect();
    let label_chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1);
    let value_chars = values.iter().map(|v| v.chars().count()).max().unwrap_or(1);
    let label_w = mono_width(label_chars, FONT).max(24.0);
    let value_w = mono_width(value_chars.min(60), FONT);
    let x0 = 10.0 + label_w + 8.0;
    let bar_max = (WIDTH - 10.0 - value_w - 6.0 - x0).max(60.0);
    let max_count = shown
        .iter()
        .filter_map(|b| b.count)
        .max()
        .unwrap_or(0)
        .max(1);

    let rows = shown.len() + usize::from(more > 0);
    let top = 6.0;
    let height = top + rows as f64 * ROW_H + 6.0;
    // A very long suppressed label may be wider than the chart: widen it.
    let width = WIDTH.max(x0 + SUPPRESSED_LEN + 6.0 + value_w + 10.0);

    let mut out = String::with_capacity(1024 + shown.len() * 400);
    svg_open(
        &mut out,
        &id,
        class,
        (0.0, 0.0, width, height),
        title,
        &describe(bars, suppressed_label),
    );
    hatch_defs(&mut out, &id);
    let _ = write!(
        out,
        "<g class=\"hdh-chart-plot\" font-family=\"monospace\" font-size=\"{}\">",
        num(FONT)
    );
    for (i, b) in shown.iter().enumerate() {
        let y = top + i as f64 * ROW_H;
        let bar_y = y + (ROW_H - BAR_H) / 2.0;
        let base = y + ROW_H / 2.0 + FONT * 0.35;
        let _ = write!(
            out,
            "<g class=\"hdh-chart-row\"><title>{}: {}</title>\
             <text class=\"hdh-chart-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            escape(&b.label),
            escape(&values[i]),
            num(x0 - 8.0),
            num(base),
            escape(&labels[i]),
        );
        match b.count {
            Some(c) => {
                let len = if c == 0 {
                    0.0
                } else {
                    (c as f64 / max_count as f64 * bar_max).max(1.0)
                };
                let _ = write!(
                    out,
                    "<rect class=\"hdh-chart-bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill-opacity=\"0.7\"/>\
                     <text class=\"hdh-chart-value\" x=\"{}\" y=\"{}\">{}</text>",
                    num(x0),
                    num(bar_y),
                    num(len),
                    num(BAR_H),
                    num(x0 + len + 6.0),
                    num(base),
                    escape(&values[i]),
                );
            }
            None => {
                suppressed_rect(&mut out, &id, x0, bar_y, SUPPRESSED_LEN, BAR_H);
                let _ = write!(
                    out,
                    "<text class=\"hdh-chart-suppressed-label\" x=\"{}\" y=\"{}\" font-style=\"italic\" fill-opacity=\"0.75\">{}</text>",
                    num(x0 + SUPPRESSED_LEN + 6.0),
                    num(base),
                    escape(suppressed_label),
                );
            }
        }
        out.push_str("</g>");
    }
    if more > 0 {
        let y = top + shown.len() as f64 * ROW_H + ROW_H / 2.0 + FONT * 0.35;
        let _ = write!(
            out,
            "<text class=\"hdh-chart-more\" x=\"{}\" y=\"{}\" fill-opacity=\"0.75\">… +{}</text>",
            num(x0),
            num(y),
            format_count(more as u64)
        );
    }
    let _ = write!(
        out,
        "<line class=\"hdh-chart-axis\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"currentColor\" stroke-opacity=\"0.5\"/>",
        num(top),
        num(top + shown.len() as f64 * ROW_H),
        x = num(x0 - 0.5),
    );
    out.push_str("</g></svg>");
    out
}

/// A "nice" step for a count axis from 0 to `max`: 1, 2 or 5 × 10^k, giving
/// preferably 4 intervals (else 5, then 3). Returns (step, intervals).
pub(crate) fn nice_step(max: u64) -> (u64, u64) {
    if max == 0 {
        return (1, 0);
    }
    let mut best: Option<(u64, u64, u64)> = None; // (score, step, intervals)
    let mut p: u64 = 1;
    loop {
        for m in [1u64, 2, 5] {
            let Some(step) = p.checked_mul(m) else {
                continue;
            };
            let intervals = max.div_ceil(step);
            let score = match intervals {
                4 => 0,
                5 => 1,
                3 => 2,
                i => i.abs_diff(4).saturating_add(10),
            };
            if best.is_none_or(|(s, _, _)| score < s) {
                best = Some((score, step, intervals));
            }
        }
        match p.checked_mul(10) {
            Some(q) if p <= max => p = q,
            _ => break,
        }
    }
    let (_, step, intervals) = best.unwrap_or((0, 1, max));
    (step, intervals)
}

/// Vertical bars of equal width, one per bin, with the bins' labels under
/// them (rotated and thinned out when they do not fit), a count axis with
/// 4–5 nice ticks, and suppressed bins drawn as hatched stubs explained by a
/// legend with `suppressed_label`.
pub fn histogram_svg(bars: &[Bar], title: &str, suppressed_label: &str) -> String {
    let class = "hdh-chart hdh-chart-histogram";
    let content = format!("histogram\u{0}{title}\u{0}{suppressed_label}\u{0}{bars:?}");
    if bars.is_empty() {
        return empty_chart(class, title, &content);
    }
    let id = svg_id("chart", &content);
    let n = bars.len();
    let max_count = bars.iter().filter_map(|b| b.count).max().unwrap_or(0);
    let (step, intervals) = nice_step(max_count);
    let axis_top = step.saturating_mul(intervals).max(1);
    let ticks: Vec<u64> = (0..=intervals).map(|k| k.saturating_mul(step)).collect();
    let tick_w = ticks
        .iter()
        .map(|t| mono_width(format_count(*t).chars().count(), SMALL_FONT))
        .fold(0.0, f64::max);
    let any_suppressed = bars.iter().any(|b| b.count.is_none());

    // Horizontal labels when they fit, else rotated by 45° and one in `every`.
    let right = 16.0;
    let mut left = tick_w + 16.0;
    let bw0 = (WIDTH - left - right) / n as f64;
    let horizontal_labels: Vec<String> = bars.iter().map(|b| truncate(&b.label, 24)).collect();
    let widest = horizontal_labels
        .iter()
        .map(|l| mono_width(l.chars().count(), SMALL_FONT))
        .fold(0.0, f64::max);
    let rotated = widest + 6.0 > bw0;
    let every = if rotated {
        ((SMALL_FONT * 1.5 * std::f64::consts::SQRT_2) / bw0)
            .ceil()
            .max(1.0) as usize
    } else {
        1
    };
    let label_extent = if rotated {
        widest * std::f64::consts::FRAC_1_SQRT_2 + SMALL_FONT
    } else {
        SMALL_FONT + 4.0
    };
    if rotated {
        let first_w = mono_width(horizontal_labels[0].chars().count(), SMALL_FONT);
        left = left.max(first_w * std::f64::consts::FRAC_1_SQRT_2 - bw0 / 2.0 + 8.0);
    }
    let plot_w = WIDTH - left - right;
    let bw = plot_w / n as f64;
    let gap = if bw >= 4.0 { (bw * 0.15).min(8.0) } else { 0.0 };

    let value_labels: Vec<String> = bars
        .iter()
        .map(|b| b.count.map(format_count).unwrap_or_default())
        .collect();
    let show_values = n <= 40
        && value_labels
            .iter()
            .all(|v| mono_width(v.chars().count(), 10.0) <= bw - 2.0);

    let top = if show_values { 22.0 } else { 10.0 };
    let bottom = top + PLOT_H;
    let labels_end = bottom + 8.0 + label_extent;
    let height = if any_suppressed {
        labels_end + 30.0
    } else {
        labels_end + 8.0
    };
    let y_of = |c: u64| bottom - c as f64 / axis_top as f64 * PLOT_H;

    let mut out = String::with_capacity(2048 + n * 400);
    svg_open(
        &mut out,
        &id,
        class,
        (0.0, 0.0, WIDTH, height),
        title,
        &describe(bars, suppressed_label),
    );
    hatch_defs(&mut out, &id);
    let _ = write!(
        out,
        "<g class=\"hdh-chart-plot\" font-family=\"monospace\" font-size=\"{}\">",
        num(SMALL_FONT)
    );

    // Axis and grid.
    out.push_str("<g class=\"hdh-chart-ticks\">");
    for &t in &ticks {
        let y = y_of(t);
        let _ = write!(
            out,
            "<line class=\"hdh-chart-grid\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"currentColor\" stroke-opacity=\"0.15\"/>\
             <text class=\"hdh-chart-tick\" x=\"{}\" y=\"{}\" text-anchor=\"end\" fill-opacity=\"0.8\">{}</text>",
            num(left),
            num(WIDTH - right),
            num(left - 6.0),
            num(y + SMALL_FONT * 0.35),
            format_count(t),
            y = num(y),
        );
    }
    out.push_str("</g>");

    // Bars.
    for (i, b) in bars.iter().enumerate() {
        let x = left + i as f64 * bw + gap / 2.0;
        let w = (bw - gap).max(0.5);
        let _ = write!(
            out,
            "<g class=\"hdh-chart-bin\"><title>{}: {}</title>",
            escape(&b.label),
            escape(&value_text(b.count, suppressed_label))
        );
        match b.count {
            Some(c) => {
                let h = if c == 0 {
                    0.0
                } else {
                    (bottom - y_of(c)).max(1.0)
                };
                let _ = write!(
                    out,
                    "<rect class=\"hdh-chart-bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill-opacity=\"0.7\"/>",
                    num(x),
                    num(bottom - h),
                    num(w),
                    num(h)
                );
                if show_values {
                    let _ = write!(
                        out,
                        "<text class=\"hdh-chart-value\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\">{}</text>",
                        num(x + w / 2.0),
                        num(bottom - h - 4.0),
                        escape(&value_labels[i])
                    );
                }
            }
            None => suppressed_rect(&mut out, &id, x, bottom - 6.0, w, 6.0),
        }
        out.push_str("</g>");
    }
    let _ = write!(
        out,
        "<line class=\"hdh-chart-axis\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"currentColor\" stroke-opacity=\"0.6\"/>",
        num(left),
        num(WIDTH - right),
        y = num(bottom + 0.5),
    );

    // Bin labels.
    out.push_str("<g class=\"hdh-chart-labels\">");
    for (i, l) in horizontal_labels.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let cx = left + (i as f64 + 0.5) * bw;
        if rotated {
            let y = bottom + 12.0;
            let _ = write!(
                out,
                "<text class=\"hdh-chart-label\" x=\"{x}\" y=\"{y}\" text-anchor=\"end\" transform=\"rotate(-45 {x} {y})\">{}</text>",
                escape(l),
                x = num(cx),
                y = num(y),
            );
        } else {
            let _ = write!(
                out,
                "<text class=\"hdh-chart-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                num(cx),
                num(bottom + 8.0 + SMALL_FONT),
                escape(l)
            );
        }
    }
    out.push_str("</g>");

    if any_suppressed {
        let y = labels_end + 8.0;
        suppressed_rect(&mut out, &id, left, y, 12.0, 12.0);
        let _ = write!(
            out,
            "<text class=\"hdh-chart-legend hdh-chart-suppressed-label\" x=\"{}\" y=\"{}\" font-style=\"italic\" fill-opacity=\"0.75\">{}</text>",
            num(left + 18.0),
            num(y + 6.0 + SMALL_FONT * 0.35),
            escape(suppressed_label)
        );
    }
    out.push_str("</g></svg>");
    out
}

/// The chart of a distribution: bars for top values, a histogram for bins;
/// None when the distribution is hidden or has no bars.
pub fn distribution_svg(d: &Distribution, title: &str, suppressed_label: &str) -> Option<String> {
    match d {
        Distribution::TopValues { bars, .. } if !bars.is_empty() => {
            Some(bar_chart_svg(bars, title, suppressed_label))
        }
        Distribution::Histogram { bars } if !bars.is_empty() => {
            Some(histogram_svg(bars, title, suppressed_label))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagram::tests::{assert_xml, write_sample};

    fn bar(label: &str, count: Option<u64>) -> Bar {
        Bar {
            label: label.into(),
            count,
        }
    }

    fn top_values() -> Vec<Bar> {
        vec![
            bar("75 - Paris", Some(1_234_567)),
            bar("13 - Bouches-du-Rhône", Some(412_345)),
            bar("69 - Rhône", Some(398_001)),
            bar("2A - Corse-du-Sud", Some(12_345)),
            bar("971 - Guadeloupe", Some(999)),
            bar("975 - Saint-Pierre-et-Miquelon", None),
            bar(
                "A very long label that goes well beyond forty characters",
                Some(10),
            ),
        ]
    }

    fn ages() -> Vec<Bar> {
        (0..20)
            .map(|k| {
                let count = match k {
                    0 => Some(12_000),
                    18 | 19 => None,
                    k => Some(60_000 - (k as i64 - 8).pow(2) as u64 * 700),
                };
                bar(&format!("[{}, {})", k * 5, k * 5 + 5), count)
            })
            .collect()
    }

    /// The `<g class="hdh-chart-row">` of the i-th bar.
    fn row(svg: &str, i: usize) -> &str {
        let start = svg
            .match_indices("<g class=\"hdh-chart-row\">")
            .nth(i)
            .unwrap()
            .0;
        let end = svg[start..].find("</g>").unwrap();
        &svg[start..start + end]
    }

    #[test]
    fn formats_counts_with_thin_spaces() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1000), "1\u{2009}000");
        assert_eq!(format_count(12_345), "12\u{2009}345");
        assert_eq!(format_count(1_234_567), "1\u{2009}234\u{2009}567");
        assert_eq!(
            format_count(u64::MAX),
            "18\u{2009}446\u{2009}744\u{2009}073\u{2009}709\u{2009}551\u{2009}615"
        );
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(0), (1, 0));
        assert_eq!(nice_step(1), (1, 1));
        assert_eq!(nice_step(4), (1, 4));
        assert_eq!(nice_step(10), (2, 5));
        assert_eq!(nice_step(100), (20, 5));
        for max in [
            3,
            7,
            10,
            17,
            99,
            100,
            101,
            12_345,
            60_000,
            987_654_321,
            u64::MAX,
        ] {
            let (step, intervals) = nice_step(max);
            let mant = step / 10u64.pow(step.ilog10());
            assert!(matches!(mant, 1 | 2 | 5), "{max}: {step}");
            assert!(step.saturating_mul(intervals) >= max, "{max}");
            assert!(step * (intervals - 1) < max, "{max}: {step}×{intervals}");
            if max >= 10 {
                assert!((3..=5).contains(&intervals), "{max}: {intervals}");
            }
        }
        assert_eq!(nice_step(12_345), (5_000, 3));
        assert_eq!(nice_step(60_000), (20_000, 3));
        assert_eq!(nice_step(70_000), (20_000, 4));
    }

    #[test]
    fn bar_chart_shows_labels_and_counts() {
        let svg = bar_chart_svg(&top_values(), "Département", "< 10");
        assert_xml(&svg);
        assert!(
            svg.contains("viewBox=\"") && svg.contains(" width=\"") && !svg.contains(" style=")
        );
        assert!(svg.contains("role=\"img\"") && svg.contains(">Département</title>"));
        assert!(svg.contains(">75 - Paris</text>"));
        assert!(svg.contains(">1\u{2009}234\u{2009}567</text>"));
        assert!(svg.contains(">12\u{2009}345</text>"));
        // Cut at 40 characters.
        assert!(svg.contains(">A very long label that goes well beyond…</text>"));
        assert!(!svg.contains(">A very long label that goes well beyond forty characters</text>"));
        // The full label stays in the tooltip.
        assert!(svg.contains(
            "<title>A very long label that goes well beyond forty characters: 10</title>"
        ));
    }

    #[test]
    fn suppressed_bars_show_the_label_and_no_number() {
        let svg = bar_chart_svg(&top_values(), "t", "< 10");
        let r = row(&svg, 5);
        assert!(r.contains("975 - Saint-Pierre-et-Miquelon"));
        assert!(r.contains("hdh-chart-suppressed"));
        assert!(r.contains(">&lt; 10</text>"));
        assert!(!r.contains("hdh-chart-value"));
        // Its bar has the fixed small length.
        assert!(r.contains(&format!("width=\"{}\"", num(SUPPRESSED_LEN))));
        let svg = bar_chart_svg(&[bar("x", None), bar("y", None)], "t", "moins de 10");
        assert_xml(&svg);
        assert_eq!(svg.matches(">moins de 10</text>").count(), 2);
        assert!(!svg.contains("hdh-chart-value"));

        let svg = histogram_svg(&ages(), "Âge", "< 10");
        assert_xml(&svg);
        assert_eq!(
            svg.matches("<rect class=\"hdh-chart-suppressed\"").count(),
            3
        ); // 2 + legend
        assert!(svg.contains("<title>[90, 95): &lt; 10</title>"));
        assert!(svg.contains(">&lt; 10</text>"));
    }

    #[test]
    fn charts_escape_labels() {
        let bars = vec![bar("<script>alert(1)</script>", Some(5)), bar("R&D", None)];
        for svg in [
            bar_chart_svg(&bars, "<script>", "<b>&"),
            histogram_svg(&bars, "<script>", "<b>&"),
        ] {
            assert_xml(&svg);
            assert!(!svg.contains("<script"));
            assert!(!svg.contains("<b>"));
            assert!(svg.contains("&lt;script&gt;"));
            assert!(svg.contains("R&amp;D"));
            assert!(svg.contains("&lt;b&gt;&amp;"));
        }
    }

    #[test]
    fn edge_cases_are_well_formed() {
        for bars in [
            vec![],
            vec![bar("only", Some(7))],
            vec![bar("zero", Some(0))],
            vec![bar("a", None), bar("b", None)],
            vec![bar("", Some(u64::MAX)), bar("b", Some(1))],
        ] {
            let a = bar_chart_svg(&bars, "t", "< 10");
            let b = histogram_svg(&bars, "t", "< 10");
            assert_xml(&a);
            assert_xml(&b);
            assert!(!a.contains("NaN") && !b.contains("NaN") && !a.contains("inf"));
        }
        assert!(histogram_svg(&[bar("only", Some(7))], "t", "< 10").contains(">7</text>"));
    }

    #[test]
    fn a_thousand_bars_are_capped() {
        let bars: Vec<Bar> = (0..1000)
            .map(|k| bar(&format!("V{k:04}"), Some(10_000 - k as u64)))
            .collect();
        let svg = bar_chart_svg(&bars, "t", "< 10");
        assert_xml(&svg);
        assert_eq!(svg.matches("<g class=\"hdh-chart-row\">").count(), 50);
        assert!(svg.contains(">V0049</text>"));
        assert!(!svg.contains(">V0050</text>"));
        assert!(svg.contains(">… +950</text>"));

        let svg = histogram_svg(&bars, "t", "< 10");
        assert_xml(&svg);
        assert_eq!(svg.matches("<g class=\"hdh-chart-bin\">").count(), 1000);
        assert!(svg.contains("rotate(-45"));
        // Labels thinned out.
        assert!(svg.matches("class=\"hdh-chart-label\"").count() < 100);
    }

    #[test]
    fn histogram_has_nice_ticks_and_labels() {
        let svg = histogram_svg(&ages(), "Âge", "< 10");
        assert_xml(&svg);
        let ticks = svg.matches("class=\"hdh-chart-tick\"").count();
        assert!((4..=5).contains(&ticks), "{ticks}");
        assert!(svg.contains(">60\u{2009}000</text>"));
        assert!(svg.contains(">[0, 5)</text>"));
        assert!(svg.contains(">12\u{2009}000</text>"));
    }

    #[test]
    fn dispatches_on_the_distribution() {
        let hidden = Distribution::Hidden {
            reason: "identifier".into(),
        };
        assert!(distribution_svg(&hidden, "t", "< 10").is_none());
        let empty = Distribution::TopValues {
            bars: vec![],
            other: Some(3),
        };
        assert!(distribution_svg(&empty, "t", "< 10").is_none());
        assert!(distribution_svg(&Distribution::Histogram { bars: vec![] }, "t", "< 10").is_none());
        let top = Distribution::TopValues {
            bars: top_values(),
            other: None,
        };
        assert!(
            distribution_svg(&top, "t", "< 10")
                .unwrap()
                .contains("hdh-chart-bars")
        );
        let h = Distribution::Histogram { bars: ages() };
        assert!(
            distribution_svg(&h, "t", "< 10")
                .unwrap()
                .contains("hdh-chart-histogram")
        );
    }

    #[test]
    fn charts_are_deterministic_with_distinct_ids() {
        assert_eq!(
            bar_chart_svg(&top_values(), "t", "< 10"),
            bar_chart_svg(&top_values(), "t", "< 10")
        );
        assert_eq!(
            histogram_svg(&ages(), "t", "< 10"),
            histogram_svg(&ages(), "t", "< 10")
        );
        let a = bar_chart_svg(&top_values(), "a", "< 10");
        let b = bar_chart_svg(&top_values(), "b", "< 10");
        let id = |s: &str| {
            s.split("<title id=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string()
        };
        assert_ne!(id(&a), id(&b));
    }

    #[test]
    fn writes_samples() {
        use crate::diagram::tests::{demo, full};
        use crate::diagram::{render_svg, render_svg_focused};
        let many: Vec<Bar> = (0..120)
            .map(|k| {
                let c = 5_000.0 * (-((k as f64 - 60.0) / 25.0).powi(2)).exp();
                bar(
                    &format!("2023-{:02}-{:02}", k / 10 + 1, k % 28 + 1),
                    (c >= 10.0).then_some(c as u64),
                )
            })
            .collect();
        let samples = [
            ("diagram-demo.svg", render_svg(&demo(), "SNDS (extrait)")),
            (
                "diagram-focused.svg",
                render_svg_focused(&demo(), "ER_PRS_F", "ER_PRS_F"),
            ),
            ("diagram-full.svg", render_svg(&full(), "SNDS")),
            (
                "diagram-focused-many.svg",
                render_svg_focused(&full(), "T_G01_000", "T_G01_000"),
            ),
            (
                "bars.svg",
                bar_chart_svg(&top_values(), "Département", "< 10"),
            ),
            ("histogram.svg", histogram_svg(&ages(), "Âge", "< 10")),
            ("histogram-many.svg", histogram_svg(&many, "Date", "< 10")),
        ];
        // A page as the catalogue would serve it: SVGs inline, 900 px wide.
        let mut html = String::from(
            "<!doctype html><meta charset=utf-8><title>hdh SVG samples</title>\
             <style>body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#1d2b3a}\
             .hdh-chart-bar{fill:#2a6fb0}</style>",
        );
        for (name, svg) in &samples {
            write_sample(name, svg);
            let _ = write!(html, "<h2>{name}</h2>{svg}");
        }
        write_sample("index.html", &html);
    }
}
