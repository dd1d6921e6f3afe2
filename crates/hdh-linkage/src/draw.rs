//! Drawings of a model and of a pair's weight, as SVG text (accessible:
//! `role="img"`, a title and a description; the page shows the numbers
//! beside them as a table).
//!
//! * [`waterfall`]: how a pair's match weight adds up, from the prior
//!   through each comparison's level to the total.
//! * [`m_u`]: for each comparison level, `m` (its share among matches) and
//!   `u` (among non-matches) as bars, and the weight `log2(m/u)` they give.

use crate::model::{Model, Term};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const AGREE: &str = "#1b6e3a";
const DISAGREE: &str = "#a4262c";
const TOTAL: &str = "#1f3b73";
const INK: &str = "#1a1a1a";
const U_COLOUR: &str = "#9a5b00";

/// The waterfall of a pair's weight: one bar per term from where the
/// previous left off (green up, red down), then the total; `title` names
/// the pair.
pub fn waterfall(terms: &[Term], title: &str) -> String {
    let rows = terms.len() + 1;
    let (label_w, plot_w, value_w, row_h, top) = (260.0, 340.0, 70.0, 22.0, 8.0);
    let width = label_w + plot_w + value_w;
    let height = top * 2.0 + rows as f64 * row_h + 18.0;
    let mut at = 0.0f64;
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for t in terms {
        at += t.weight;
        lo = lo.min(at);
        hi = hi.max(at);
    }
    let total = at;
    let span = (hi - lo).max(1.0);
    let x = |w: f64| label_w + (w - lo) / span * plot_w;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="wf-t wf-d" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="sans-serif" font-size="12"><title id="wf-t">{}</title><desc id="wf-d">Match weight {total:.2} = {}</desc>"#,
        esc(title),
        esc(&terms
            .iter()
            .map(|t| format!("{} {:+.2}", t.comparison, t.weight))
            .collect::<Vec<_>>()
            .join(", "))
    );
    // The zero line.
    s.push_str(&format!(
        r#"<line x1="{0:.1}" x2="{0:.1}" y1="{top}" y2="{1:.1}" stroke="{INK}" stroke-dasharray="3,3"/>"#,
        x(0.0),
        top + rows as f64 * row_h
    ));
    let mut from = 0.0f64;
    for (k, t) in terms.iter().enumerate() {
        let to = from + t.weight;
        let y = top + k as f64 * row_h;
        let (a, b) = (x(from.min(to)), x(from.max(to)));
        let colour = if t.weight >= 0.0 { AGREE } else { DISAGREE };
        let label = format!(
            "{}: {}{}",
            t.comparison,
            t.level,
            if t.tf_adjusted { " (tf)" } else { "" }
        );
        s.push_str(&format!(
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{INK}">{}</text><rect x="{a:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}"/><text x="{:.1}" y="{:.1}" fill="{INK}">{:+.2}</text>"#,
            label_w - 6.0,
            y + row_h * 0.7,
            esc(&label),
            y + 3.0,
            (b - a).max(1.0),
            row_h - 6.0,
            label_w + plot_w + 6.0,
            y + row_h * 0.7,
            t.weight
        ));
        from = to;
    }
    let y = top + terms.len() as f64 * row_h;
    let (a, b) = (x(0.0f64.min(total)), x(0.0f64.max(total)));
    s.push_str(&format!(
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-weight="bold" fill="{INK}">match weight</text><rect x="{a:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{TOTAL}"/><text x="{:.1}" y="{:.1}" font-weight="bold" fill="{INK}">{total:.2}</text>"#,
        label_w - 6.0,
        y + row_h * 0.7,
        y + 3.0,
        (b - a).max(1.0),
        row_h - 6.0,
        label_w + plot_w + 6.0,
        y + row_h * 0.7,
    ));
    s.push_str(&format!(
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{INK}">{lo:.1}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{INK}">{hi:.1}</text>"#,
        x(lo),
        height - 4.0,
        x(hi),
        height - 4.0
    ));
    s.push_str("</svg>");
    s
}

/// The model's `m` and `u` per comparison level, side by side on a 0–1
/// scale, with the weight of each level.
pub fn m_u(model: &Model, title: &str) -> String {
    let levels: usize = model.comparisons.iter().map(|c| c.levels.len()).sum();
    let heads = model.comparisons.len();
    let (label_w, plot_w, value_w, row_h, head_h, top) = (230.0, 300.0, 90.0, 26.0, 20.0, 30.0);
    let width = label_w + plot_w + value_w;
    let height = top + levels as f64 * row_h + heads as f64 * head_h + 10.0;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="mu-t mu-d" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="sans-serif" font-size="12"><title id="mu-t">{}</title><desc id="mu-d">For each comparison level, m is its share among matches and u among non-matches; λ = {:.3e}.</desc>"#,
        esc(title),
        model.lambda
    );
    s.push_str(&format!(
        r#"<rect x="{label_w}" y="6" width="12" height="10" fill="{TOTAL}"/><text x="{:.1}" y="15" fill="{INK}">m (matches)</text><rect x="{:.1}" y="6" width="12" height="10" fill="{U_COLOUR}"/><text x="{:.1}" y="15" fill="{INK}">u (non-matches)</text><text x="{:.1}" y="15" fill="{INK}">log2(m/u)</text>"#,
        label_w + 16.0,
        label_w + 120.0,
        label_w + 136.0,
        label_w + plot_w + 6.0
    ));
    let mut y = top;
    for c in &model.comparisons {
        s.push_str(&format!(
            r#"<text x="4" y="{:.1}" font-weight="bold" fill="{INK}">{}{}</text>"#,
            y + 14.0,
            esc(&c.name),
            if c.tf_adjust {
                " (term frequencies)"
            } else {
                ""
            }
        ));
        y += head_h;
        for (k, level) in c.levels.iter().enumerate() {
            let (m, u) = (c.m[k], c.u[k]);
            let w = (m / u).log2();
            let colour = if w >= 0.0 { AGREE } else { DISAGREE };
            s.push_str(&format!(
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{INK}">{}</text><rect x="{label_w}" y="{:.1}" width="{:.1}" height="9" fill="{TOTAL}"><title>m = {m:.4}</title></rect><rect x="{label_w}" y="{:.1}" width="{:.1}" height="9" fill="{U_COLOUR}"><title>u = {u:.3e}</title></rect><text x="{:.1}" y="{:.1}" fill="{colour}">{w:+.2}</text>"#,
                label_w - 6.0,
                y + 15.0,
                esc(level),
                y + 3.0,
                (m * plot_w).max(0.5),
                y + 13.0,
                (u * plot_w).max(0.5),
                label_w + plot_w + 6.0,
                y + 15.0,
            ));
            y += row_h;
        }
    }
    s.push_str("</svg>");
    s
}
