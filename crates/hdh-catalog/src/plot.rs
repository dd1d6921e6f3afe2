//! A query result drawn as inline SVG: bars or a line over the first
//! column's values, the second column's numbers as heights. Deterministic,
//! escaped, coloured with `currentColor`; the numbers stay in the result
//! table beside it.

use std::fmt::Write as _;

use crate::diagram::{escape, num, svg_id, svg_open, truncate};

const WIDTH: f64 = 900.0;
const PLOT_H: f64 = 260.0;
const LEFT: f64 = 70.0;
const BOTTOM: f64 = 70.0;
const TOP: f64 = 20.0;
/// At most this many points are drawn.
pub const MAX_POINTS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotKind {
    Bar,
    Line,
}

impl PlotKind {
    pub fn parse(s: &str) -> Option<PlotKind> {
        match s {
            "bar" => Some(PlotKind::Bar),
            "line" => Some(PlotKind::Line),
            _ => None,
        }
    }
}

fn nice_step(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let n = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    n * mag
}

fn tick(v: f64) -> String {
    if v.fract().abs() < 1e-9 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// Draws `points` (label, value); values below zero are drawn from zero
/// downwards. `None` when there is nothing to draw.
pub fn result_svg(kind: PlotKind, points: &[(String, f64)], title: &str) -> Option<String> {
    let points: Vec<&(String, f64)> = points
        .iter()
        .filter(|(_, v)| v.is_finite())
        .take(MAX_POINTS)
        .collect();
    if points.is_empty() {
        return None;
    }
    let content = format!("plot\u{0}{kind:?}\u{0}{title}\u{0}{points:?}");
    let id = svg_id("plot", &content);
    let max = points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let min = points.iter().map(|p| p.1).fold(0.0f64, f64::min);
    let step = nice_step(max.max(-min));
    let top = (max / step).ceil() * step;
    let bottom = (min / step).floor() * step;
    let span = (top - bottom).max(step);
    let plot_w = WIDTH - LEFT - 20.0;
    let y_of = |v: f64| TOP + (top - v) / span * PLOT_H;
    let slot = plot_w / points.len() as f64;
    let mut out = String::new();
    let desc = points
        .iter()
        .take(20)
        .map(|(l, v)| format!("{l}: {}", tick(*v)))
        .collect::<Vec<_>>()
        .join("; ");
    svg_open(
        &mut out,
        &id,
        "hdh-chart hdh-chart-result",
        (0.0, 0.0, WIDTH, TOP + PLOT_H + BOTTOM),
        title,
        &desc,
    );
    // Axis and ticks.
    let mut v = bottom;
    while v <= top + step / 2.0 {
        let y = y_of(v);
        let _ = write!(
            out,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"currentColor\" stroke-opacity=\"0.15\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            num(LEFT),
            num(WIDTH - 20.0),
            num(y),
            num(y),
            num(LEFT - 6.0),
            num(y + 4.0),
            escape(&tick(v))
        );
        v += step;
    }
    let zero = y_of(0.0);
    match kind {
        PlotKind::Bar => {
            for (i, (label, value)) in points.iter().enumerate() {
                let x = LEFT + i as f64 * slot + slot * 0.1;
                let y = y_of(value.max(0.0));
                let h = (y_of(value.min(0.0)) - y).max(0.5);
                let _ = write!(
                    out,
                    "<rect class=\"hdh-chart-bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill-opacity=\"0.7\"><title>{}: {}</title></rect>",
                    num(x),
                    num(y),
                    num(slot * 0.8),
                    num(h),
                    escape(label),
                    escape(&tick(*value))
                );
            }
        }
        PlotKind::Line => {
            let pts: Vec<String> = points
                .iter()
                .enumerate()
                .map(|(i, (_, v))| {
                    format!("{},{}", num(LEFT + (i as f64 + 0.5) * slot), num(y_of(*v)))
                })
                .collect();
            let _ = write!(
                out,
                "<polyline class=\"hdh-chart-line\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"2\" points=\"{}\"/>",
                pts.join(" ")
            );
            for (i, (label, value)) in points.iter().enumerate() {
                let _ = write!(
                    out,
                    "<circle cx=\"{}\" cy=\"{}\" r=\"3\"><title>{}: {}</title></circle>",
                    num(LEFT + (i as f64 + 0.5) * slot),
                    num(y_of(*value)),
                    escape(label),
                    escape(&tick(*value))
                );
            }
        }
    }
    let _ = write!(
        out,
        "<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"currentColor\"/>",
        num(LEFT),
        num(WIDTH - 20.0),
        num(zero),
        num(zero)
    );
    // Labels under the axis, thinned out when they do not fit.
    let every = ((points.len() as f64 * 14.0 / plot_w).ceil() as usize).max(1);
    for (i, (label, _)) in points.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let x = LEFT + (i as f64 + 0.5) * slot;
        let y = TOP + PLOT_H + 12.0;
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" transform=\"rotate(-45 {} {})\">{}</text>",
            num(x),
            num(y),
            num(x),
            num(y),
            escape(&truncate(label, 16))
        );
    }
    out.push_str("</svg>");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_lines_are_drawn_escaped_and_deterministic() {
        let pts = vec![
            ("<2021>".to_string(), 12.0),
            ("2022".to_string(), 30.5),
            ("2023".to_string(), -4.0),
        ];
        let a = result_svg(PlotKind::Bar, &pts, "by year").unwrap();
        assert_eq!(a, result_svg(PlotKind::Bar, &pts, "by year").unwrap());
        assert_eq!(a.matches("<rect class=\"hdh-chart-bar\"").count(), 3);
        assert!(a.contains("&lt;2021&gt;") && !a.contains("<2021>"));
        let l = result_svg(PlotKind::Line, &pts, "by year").unwrap();
        assert!(l.contains("<polyline"));
        assert!(result_svg(PlotKind::Bar, &[], "x").is_none());
        assert_eq!(PlotKind::parse("pie"), None);
    }
}
