//! Diagrams of a data system's tables and their foreign keys, drawn as inline
//! SVG for the catalogue's server-rendered pages (no JavaScript, no layout engine).
//!
//! The SNDS is a star: `IR_BEN_R` in the middle, products (DCIR, PMSI_MCO, …)
//! around it. [`render_svg`] draws the whole system: the centre table in the
//! middle and each group (product) as a labelled cluster placed on a ring
//! around it. [`render_svg_focused`] draws one table with its direct
//! neighbours and the join fields of every link, for a table's own page.
//!
//! The output is deterministic (same input, same bytes), every piece of text
//! is escaped, colours come from `currentColor` and every element carries a
//! `hdh-diagram-*` class so the page's stylesheet can restyle it.

use std::collections::{HashMap, HashSet};
use std::f64::consts::PI;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// One table of the diagram.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiagramTable {
    pub name: String,
    /// The group (product) the table belongs to, e.g. `DCIR`.
    pub group: String,
    /// Human title, shown as the table's tooltip.
    pub title: String,
    /// Link to the table's page (relative, `http:` or `https:`; anything else is dropped).
    pub href: Option<String>,
}

/// A foreign key from one table to another.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiagramEdge {
    pub from: String,
    pub to: String,
    /// The join fields, e.g. `BEN_NIR_PSA, BEN_RNG_GEM`.
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Diagram {
    pub tables: Vec<DiagramTable>,
    pub edges: Vec<DiagramEdge>,
    /// The table drawn in the middle (default: the table with the most edges).
    pub centre: Option<String>,
}

// ---------------------------------------------------------------------------
// Shared SVG helpers (also used by `chart`).
// ---------------------------------------------------------------------------

/// Escapes text for XML content and attribute values (`& < > " '`); control
/// characters that XML forbids become U+FFFD, tabs and newlines a space.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Shortens `s` to at most `max` characters, ending with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// A coordinate with at most one decimal, without a trailing `.0`.
pub(crate) fn num(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let r = (v * 10.0).round() / 10.0;
    let r = if r == 0.0 { 0.0 } else { r }; // no "-0"
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// A stable id prefix for the `id`s of one SVG (markers, patterns, title),
/// derived from its content so that several SVGs on one page do not clash and
/// the output stays deterministic.
pub(crate) fn svg_id(kind: &str, content: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kind.bytes().chain(content.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("hdh-{kind}-{:012x}", h & 0xffff_ffff_ffff)
}

/// Width of `chars` characters of a monospace font of size `font`.
pub(crate) fn mono_width(chars: usize, font: f64) -> f64 {
    chars as f64 * font * 0.6
}

/// A drawing whose tables are links is not a mere image: its role becomes
/// `group` (still named by its title and description), so that assistive
/// technologies reach the links inside (an `img` hides its children).
pub(crate) fn links_make_a_group(out: &mut String) {
    if out.contains("<a ")
        && let Some(at) = out.find("role=\"img\"")
    {
        out.replace_range(at..at + "role=\"img\"".len(), "role=\"group\"");
    }
}

/// Opening `<svg>` element, `<title>` and `<desc>`.
pub(crate) fn svg_open(
    out: &mut String,
    id: &str,
    class: &str,
    view: (f64, f64, f64, f64),
    title: &str,
    desc: &str,
) {
    let (x, y, w, h) = view;
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"{class}\" viewBox=\"{} {} {} {}\" \
         width=\"{}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" \
         fill=\"currentColor\">",
        num(x),
        num(y),
        num(w),
        num(h),
        num(w.ceil()),
    );
    let _ = write!(
        out,
        "<title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        escape(title),
        escape(desc)
    );
}

/// Keeps hrefs that are relative or `http(s):`; drops `javascript:` and the like.
fn safe_href(href: &str) -> Option<&str> {
    let h = href.trim();
    if h.is_empty() {
        return None;
    }
    let scheme_end = h.find([':', '/', '?', '#']);
    match scheme_end {
        Some(i) if h.as_bytes()[i] == b':' => {
            let scheme = h[..i].to_ascii_lowercase();
            (scheme == "http" || scheme == "https").then_some(h)
        }
        _ => Some(h),
    }
}

// ---------------------------------------------------------------------------
// Geometry.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    fn centred(cx: f64, cy: f64, w: f64, h: f64) -> Rect {
        Rect {
            x: cx - w / 2.0,
            y: cy - h / 2.0,
            w,
            h,
        }
    }
    fn cx(&self) -> f64 {
        self.x + self.w / 2.0
    }
    fn cy(&self) -> f64 {
        self.y + self.h / 2.0
    }
    fn right(&self) -> f64 {
        self.x + self.w
    }
    fn bottom(&self) -> f64 {
        self.y + self.h
    }
    fn inflate(&self, m: f64) -> Rect {
        Rect {
            x: self.x - m,
            y: self.y - m,
            w: self.w + 2.0 * m,
            h: self.h + 2.0 * m,
        }
    }
    fn intersects(&self, o: &Rect) -> bool {
        self.x < o.right() && o.x < self.right() && self.y < o.bottom() && o.y < self.bottom()
    }
    fn union(&self, o: &Rect) -> Rect {
        let x = self.x.min(o.x);
        let y = self.y.min(o.y);
        Rect {
            x,
            y,
            w: self.right().max(o.right()) - x,
            h: self.bottom().max(o.bottom()) - y,
        }
    }
    fn point(x: f64, y: f64) -> Rect {
        Rect {
            x,
            y,
            w: 0.0,
            h: 0.0,
        }
    }
}

/// Where the segment from the rectangle's centre towards `(qx, qy)` leaves it.
fn clip(r: &Rect, qx: f64, qy: f64) -> (f64, f64) {
    let (cx, cy) = (r.cx(), r.cy());
    let (dx, dy) = (qx - cx, qy - cy);
    let sx = if dx.abs() > 1e-9 {
        (r.w / 2.0) / dx.abs()
    } else {
        f64::INFINITY
    };
    let sy = if dy.abs() > 1e-9 {
        (r.h / 2.0) / dy.abs()
    } else {
        f64::INFINITY
    };
    let s = sx.min(sy);
    if !s.is_finite() || s >= 1.0 {
        (cx, cy)
    } else {
        (cx + dx * s, cy + dy * s)
    }
}

/// A quadratic curve from rectangle `a` to rectangle `b`, bent to the left of
/// its direction by `bend` × its length, clipped to both rectangles' borders.
struct Curve {
    p0: (f64, f64),
    c: (f64, f64),
    p2: (f64, f64),
}

impl Curve {
    fn between(a: &Rect, b: &Rect, bend: f64) -> Curve {
        let (ax, ay) = (a.cx(), a.cy());
        let (bx, by) = (b.cx(), b.cy());
        let (dx, dy) = (bx - ax, by - ay);
        let len = (dx * dx + dy * dy).sqrt().max(1e-9);
        let c = (
            (ax + bx) / 2.0 - dy / len * len * bend,
            (ay + by) / 2.0 + dx / len * len * bend,
        );
        let p0 = clip(&a.inflate(1.0), c.0, c.1);
        let p2 = clip(&b.inflate(1.5), c.0, c.1);
        Curve { p0, c, p2 }
    }
    fn at(&self, t: f64) -> (f64, f64) {
        let u = 1.0 - t;
        (
            u * u * self.p0.0 + 2.0 * u * t * self.c.0 + t * t * self.p2.0,
            u * u * self.p0.1 + 2.0 * u * t * self.c.1 + t * t * self.p2.1,
        )
    }
    fn d(&self) -> String {
        format!(
            "M{} {}Q{} {} {} {}",
            num(self.p0.0),
            num(self.p0.1),
            num(self.c.0),
            num(self.c.1),
            num(self.p2.0),
            num(self.p2.1)
        )
    }
    fn bounds(&self) -> Rect {
        Rect::point(self.p0.0, self.p0.1)
            .union(&Rect::point(self.c.0, self.c.1))
            .union(&Rect::point(self.p2.0, self.p2.1))
    }
}

// ---------------------------------------------------------------------------
// The graph: unique tables, valid and merged edges.
// ---------------------------------------------------------------------------

struct Edge {
    from: usize,
    to: usize,
    label: String,
}

struct Graph<'a> {
    tables: Vec<&'a DiagramTable>,
    index: HashMap<&'a str, usize>,
    edges: Vec<Edge>,
}

impl<'a> Graph<'a> {
    fn new(d: &'a Diagram) -> Graph<'a> {
        let mut tables = Vec::new();
        let mut index = HashMap::new();
        for t in &d.tables {
            if !index.contains_key(t.name.as_str()) {
                index.insert(t.name.as_str(), tables.len());
                tables.push(t);
            }
        }
        let mut pairs: HashMap<(usize, usize), usize> = HashMap::new();
        let mut merged: Vec<(usize, usize, Vec<&str>)> = Vec::new();
        for e in &d.edges {
            let (Some(&from), Some(&to)) = (index.get(e.from.as_str()), index.get(e.to.as_str()))
            else {
                continue;
            };
            if from == to {
                continue;
            }
            let i = *pairs.entry((from, to)).or_insert_with(|| {
                merged.push((from, to, Vec::new()));
                merged.len() - 1
            });
            let label = e.label.trim();
            if !label.is_empty() && !merged[i].2.contains(&label) {
                merged[i].2.push(label);
            }
        }
        let edges = merged
            .into_iter()
            .map(|(from, to, labels)| Edge {
                from,
                to,
                label: labels.join("; "),
            })
            .collect();
        Graph {
            tables,
            index,
            edges,
        }
    }

    /// Neighbours of each table, both directions.
    fn adjacency(&self) -> Vec<Vec<usize>> {
        let mut adj = vec![Vec::new(); self.tables.len()];
        for e in &self.edges {
            adj[e.from].push(e.to);
            adj[e.to].push(e.from);
        }
        for a in &mut adj {
            a.sort_unstable();
            a.dedup();
        }
        adj
    }

    /// Links from `centre` to each table, ignoring direction (unreachable:
    /// one more than the farthest reachable).
    fn depths(&self, centre: usize, adj: &[Vec<usize>]) -> Vec<usize> {
        let mut depth = vec![usize::MAX; self.tables.len()];
        depth[centre] = 0;
        let mut queue = std::collections::VecDeque::from([centre]);
        while let Some(i) = queue.pop_front() {
            for &j in &adj[i] {
                if depth[j] == usize::MAX {
                    depth[j] = depth[i] + 1;
                    queue.push_back(j);
                }
            }
        }
        let far = depth
            .iter()
            .filter(|&&d| d != usize::MAX)
            .max()
            .copied()
            .unwrap_or(0);
        for d in &mut depth {
            if *d == usize::MAX {
                *d = far + 1;
            }
        }
        depth
    }

    fn degrees(&self) -> Vec<usize> {
        let mut deg = vec![0; self.tables.len()];
        for e in &self.edges {
            deg[e.from] += 1;
            deg[e.to] += 1;
        }
        deg
    }

    /// The requested centre if it is drawn, else the table with the most edges.
    fn centre(&self, requested: Option<&str>) -> Option<usize> {
        if let Some(i) = requested.and_then(|c| self.index.get(c)) {
            return Some(*i);
        }
        let deg = self.degrees();
        let mut best: Option<usize> = None;
        for (i, d) in deg.iter().enumerate() {
            if best.is_none_or(|b| *d > deg[b]) {
                best = Some(i);
            }
        }
        best
    }
}

// ---------------------------------------------------------------------------
// Drawing pieces.
// ---------------------------------------------------------------------------

const NAME_FONT: f64 = 12.0;
const MAX_NAME: usize = 28;
const BOX_H: f64 = 24.0;
const BOX_PAD: f64 = 8.0;
const CENTRE_FONT: f64 = 14.0;
const CENTRE_H: f64 = 32.0;
const GROUP_FONT: f64 = 12.0;
const EDGE_LABEL_FONT: f64 = 10.0;
const FOCUS_LABEL_FONT: f64 = 11.0;
const FOCUS_LABEL_LH: f64 = 13.0;
const MARGIN: f64 = 16.0;

fn box_width<'a>(names: impl Iterator<Item = &'a str>, font: f64) -> f64 {
    let chars = names
        .map(|n| n.chars().count().min(MAX_NAME))
        .max()
        .unwrap_or(4);
    (mono_width(chars, font) + 2.0 * BOX_PAD).max(56.0)
}

fn defs(out: &mut String, id: &str) {
    let _ = write!(
        out,
        "<defs>\
         <marker id=\"{id}-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">\
         <path class=\"hdh-diagram-arrow\" d=\"M0 1L10 5L0 9z\" fill=\"currentColor\" fill-opacity=\"0.7\"/></marker>\
         <marker id=\"{id}-arrow-light\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">\
         <path class=\"hdh-diagram-arrow hdh-diagram-arrow-light\" d=\"M0 1L10 5L0 9z\" fill=\"currentColor\" fill-opacity=\"0.3\"/></marker>\
         </defs>"
    );
}

/// One table: a rounded box with its name, its title as tooltip, linked when
/// it has a (safe) href.
fn table(out: &mut String, t: &DiagramTable, r: &Rect, extra_class: &str, font: f64) {
    let link = t.href.as_deref().and_then(safe_href);
    if let Some(h) = link {
        let _ = write!(out, "<a class=\"hdh-diagram-link\" href=\"{}\">", escape(h));
    }
    let tip = if t.title.trim().is_empty() || t.title == t.name {
        t.name.clone()
    } else {
        format!("{} — {}", t.name, t.title)
    };
    let class = if extra_class.is_empty() {
        "hdh-diagram-table".to_string()
    } else {
        format!("hdh-diagram-table {extra_class}")
    };
    let strong = !extra_class.is_empty();
    let _ = write!(
        out,
        "<g class=\"{class}\"><title>{}</title>\
         <rect class=\"hdh-diagram-box\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"5\" \
         fill=\"Canvas\" stroke=\"currentColor\" stroke-width=\"{}\"/>\
         <text class=\"hdh-diagram-name\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-family=\"monospace\" font-size=\"{}\"{}>{}</text></g>",
        escape(&tip),
        num(r.x),
        num(r.y),
        num(r.w),
        num(r.h),
        if strong { "2" } else { "1" },
        num(r.cx()),
        num(r.cy() + font * 0.35),
        num(font),
        if strong { " font-weight=\"bold\"" } else { "" },
        escape(&truncate(&t.name, MAX_NAME)),
    );
    if link.is_some() {
        out.push_str("</a>");
    }
}

/// One edge: the visible curve, a wider invisible one to hover, and its
/// tooltip (`FROM → TO: fields`).
fn edge(out: &mut String, id: &str, g: &Graph, e: &Edge, curve: &Curve, class: &str, light: bool) {
    let tip = if e.label.is_empty() {
        format!("{} → {}", g.tables[e.from].name, g.tables[e.to].name)
    } else {
        format!(
            "{} → {}: {}",
            g.tables[e.from].name, g.tables[e.to].name, e.label
        )
    };
    let d = curve.d();
    let (opacity, marker) = if light {
        ("0.25", format!("{id}-arrow-light"))
    } else {
        ("0.6", format!("{id}-arrow"))
    };
    let _ = write!(
        out,
        "<g class=\"{class}\"><title>{}</title>\
         <path class=\"hdh-diagram-edge-line\" d=\"{d}\" stroke-opacity=\"{opacity}\" marker-end=\"url(#{marker})\"/>\
         <path class=\"hdh-diagram-edge-hit\" d=\"{d}\" stroke=\"transparent\" stroke-width=\"8\" pointer-events=\"stroke\"/></g>",
        escape(&tip)
    );
}

/// Text with a halo in the page's background colour, so it stays legible
/// over lines.
fn halo_text(out: &mut String, class: &str, x: f64, y: f64, anchor: &str, font: f64, text: &str) {
    let _ = write!(
        out,
        "<text class=\"{class}\" x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" font-family=\"monospace\" font-size=\"{}\" \
         stroke=\"Canvas\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\">{}</text>",
        num(x),
        num(y),
        num(font),
        escape(text)
    );
}

fn empty_svg(kind: &str, title: &str, content: &str) -> String {
    let id = svg_id(kind, content);
    let mut out = String::new();
    svg_open(
        &mut out,
        &id,
        "hdh-diagram hdh-diagram-empty",
        (0.0, 0.0, 200.0, 40.0),
        title,
        "—",
    );
    out.push_str(
        "<text class=\"hdh-diagram-empty-text\" x=\"100\" y=\"25\" text-anchor=\"middle\" font-size=\"14\">—</text></svg>",
    );
    out
}

// ---------------------------------------------------------------------------
// The whole system.
// ---------------------------------------------------------------------------

const CELL_GAP_X: f64 = 12.0;
const CELL_GAP_Y: f64 = 8.0;
const GROUP_PAD: f64 = 10.0;
const GROUP_HEADER: f64 = 22.0;
const GROUP_GAP: f64 = 26.0;
const CENTRE_GAP: f64 = 56.0;
/// Half the width the ring may take before clusters are stacked above and
/// below instead (keeps the full system legible on a 900 px wide page).
const BAND: f64 = 560.0;
/// Edge labels are drawn only below this many edges (else: tooltips only).
const MAX_LABELLED_EDGES: usize = 40;
const EDGE_LABEL_CHARS: usize = 28;
const EDGE_LABEL_LH: f64 = 12.0;

struct Cluster {
    name: String,
    members: Vec<usize>,
    theta: f64,
    /// Layers are columns (cluster left or right of the centre), else rows.
    columns: bool,
    /// Tables and their position relative to the grid's top-left corner.
    local: Vec<(usize, f64, f64)>,
    grid_w: f64,
    grid_h: f64,
    label_w: f64,
    rect: Rect,
}

/// Lays out one cluster's tables in layers by distance from the centre (the
/// tables nearest the centre on the side facing it), each layer wrapped into
/// a grid, each layer ordered after the one before (barycentres).
fn layout_cluster(
    members: &[usize],
    depth: &[usize],
    adj: &[Vec<usize>],
    columns: bool,
    outward: f64,
    box_w: f64,
    layer_gap: f64,
) -> (Vec<(usize, f64, f64)>, f64, f64) {
    let mut ds: Vec<usize> = members.iter().map(|&i| depth[i]).collect();
    ds.sort_unstable();
    ds.dedup();
    let mut layers: Vec<Vec<usize>> = ds
        .iter()
        .map(|d| {
            members
                .iter()
                .copied()
                .filter(|&i| depth[i] == *d)
                .collect()
        })
        .collect();
    for l in 1..layers.len() {
        let prev: HashMap<usize, usize> = layers[l - 1]
            .iter()
            .enumerate()
            .map(|(k, &i)| (i, k))
            .collect();
        let mut keyed: Vec<(f64, usize, usize)> = layers[l]
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let ps: Vec<usize> = adj[i].iter().filter_map(|j| prev.get(j).copied()).collect();
                let key = if ps.is_empty() {
                    f64::INFINITY
                } else {
                    ps.iter().sum::<usize>() as f64 / ps.len() as f64
                };
                (key, k, i)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        layers[l] = keyed.into_iter().map(|x| x.2).collect();
    }

    let (box_main, cell_main, cell_cross, gap_main, gap_cross) = if columns {
        (
            box_w,
            box_w + CELL_GAP_X,
            BOX_H + CELL_GAP_Y,
            CELL_GAP_X,
            CELL_GAP_Y,
        )
    } else {
        (
            BOX_H,
            BOX_H + CELL_GAP_Y,
            box_w + CELL_GAP_X,
            CELL_GAP_Y,
            CELL_GAP_X,
        )
    };
    // Cells across: roughly square clusters, at least 4 across.
    let widest = layers.iter().map(Vec::len).max().unwrap_or(1);
    let square = (members.len() as f64 * cell_main / cell_cross)
        .sqrt()
        .ceil() as usize;
    let across = square.max(4).min(widest).max(1);
    let cross_total = across as f64 * cell_cross - gap_cross;

    let mut placed = Vec::with_capacity(members.len());
    let mut main_pos = 0.0;
    for layer in &layers {
        let n = layer.len();
        let subs = n.div_ceil(across);
        let layer_cross = n.min(across) as f64 * cell_cross - gap_cross;
        let off = (cross_total - layer_cross) / 2.0;
        for (j, &i) in layer.iter().enumerate() {
            let main = main_pos + (j / across) as f64 * cell_main;
            let cross = off + (j % across) as f64 * cell_cross;
            placed.push((i, main, cross));
        }
        main_pos += subs as f64 * cell_main - gap_main + layer_gap;
    }
    let main_total = (main_pos - layer_gap).max(0.0);
    let local = placed
        .into_iter()
        .map(|(i, main, cross)| {
            let main = if outward < 0.0 {
                main_total - main - box_main
            } else {
                main
            };
            if columns {
                (i, main, cross)
            } else {
                (i, cross, main)
            }
        })
        .collect();
    if columns {
        (local, main_total, cross_total)
    } else {
        (local, cross_total, main_total)
    }
}

/// Where a cluster of width `w` sits at distance `t` along its ray: outwards
/// from the centre until the band's edge, then straight up or down.
fn along_ray(theta: f64, t: f64, w: f64) -> (f64, f64) {
    let (x, y) = (t * theta.cos(), t * theta.sin());
    let lim = (BAND - w / 2.0).max(0.0);
    if x.abs() <= lim {
        (x, y)
    } else {
        let dir = if theta.sin() >= 0.0 { 1.0 } else { -1.0 };
        (lim.copysign(x), y + dir * (x.abs() - lim))
    }
}

/// A label drawn for one or more edges (edges from tables of one group and
/// layer into the same table on the same fields share a label).
struct EdgeLabel {
    lines: Vec<String>,
    edges: Vec<usize>,
}

fn label_size(lines: &[String]) -> (f64, f64) {
    let chars = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    (
        mono_width(chars, EDGE_LABEL_FONT) + 6.0,
        lines.len() as f64 * EDGE_LABEL_LH + 2.0,
    )
}

/// Draws all tables of `d`: the centre table in the middle, each group as a
/// labelled cluster on a ring around it, and the foreign keys between them.
/// Edges to tables not in the diagram and self-edges are ignored; edges with
/// the same `from` and `to` are merged (labels joined with `; `). Edge labels
/// are drawn when there are fewer than 40 edges, otherwise they are the
/// edges' tooltips.
pub fn render_svg(d: &Diagram, title: &str) -> String {
    let content = format!("{title}\u{0}{d:?}");
    let g = Graph::new(d);
    let Some(centre) = g.centre(d.centre.as_deref()) else {
        return empty_svg("diagram", title, &content);
    };
    let id = svg_id("diagram", &content);
    let n = g.tables.len();
    let adj = g.adjacency();
    let depth = g.depths(centre, &adj);
    let labelled = g.edges.len() < MAX_LABELLED_EDGES;

    // Sizes.
    let box_w = box_width(
        g.tables
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != centre)
            .map(|(_, t)| t.name.as_str()),
        NAME_FONT,
    );
    let centre_w = box_width(std::iter::once(g.tables[centre].name.as_str()), CENTRE_FONT) + 8.0;
    let centre_rect = Rect::centred(0.0, 0.0, centre_w, CENTRE_H);

    // Groups in order of first appearance, the centre table left out.
    let mut clusters: Vec<Cluster> = Vec::new();
    let mut cluster_of = vec![usize::MAX; n];
    let mut by_group: HashMap<&str, usize> = HashMap::new();
    for (i, t) in g.tables.iter().enumerate() {
        if i == centre {
            continue;
        }
        let ci = *by_group.entry(t.group.as_str()).or_insert_with(|| {
            clusters.push(Cluster {
                name: t.group.clone(),
                members: Vec::new(),
                theta: 0.0,
                columns: true,
                local: Vec::new(),
                grid_w: 0.0,
                grid_h: 0.0,
                label_w: 0.0,
                rect: Rect::point(0.0, 0.0),
            });
            clusters.len() - 1
        });
        clusters[ci].members.push(i);
        cluster_of[i] = ci;
    }

    // Edge labels (only drawn when there are few edges).
    let mut edge_labels: Vec<EdgeLabel> = Vec::new();
    if labelled {
        let mut shared: HashMap<(usize, &str, usize, usize), usize> = HashMap::new();
        for (k, e) in g.edges.iter().enumerate() {
            if e.label.is_empty() {
                continue;
            }
            let key = (e.to, e.label.as_str(), cluster_of[e.from], depth[e.from]);
            match shared.get(&key) {
                Some(&l) => edge_labels[l].edges.push(k),
                None => {
                    shared.insert(key, edge_labels.len());
                    edge_labels.push(EdgeLabel {
                        lines: wrap_fields(&e.label, EDGE_LABEL_CHARS, 2),
                        edges: vec![k],
                    });
                }
            }
        }
    }
    let widest_label = |filter: &dyn Fn(&Edge) -> bool| -> f64 {
        edge_labels
            .iter()
            .filter(|l| l.edges.iter().any(|&k| filter(&g.edges[k])))
            .map(|l| label_size(&l.lines).0)
            .fold(0.0, f64::max)
            .min(190.0)
    };

    // Each cluster on its own ray, the first one straight up, the angle each
    // takes proportional to its size.
    let weights: Vec<f64> = clusters
        .iter()
        .map(|c| (c.members.len() as f64).sqrt() + 1.0)
        .collect();
    let total: f64 = weights.iter().sum();
    let mut cum = 0.0;
    for (ci, c) in clusters.iter_mut().enumerate() {
        c.theta = -PI / 2.0 + 2.0 * PI * (cum + weights[ci] / 2.0 - weights[0] / 2.0) / total;
        cum += weights[ci];
        // Columns of layers left and right of the centre, rows above and
        // below (preferred when labels need room between the layers).
        let threshold = if labelled { 0.92 } else { 0.7 };
        c.columns = c.theta.cos().abs() >= threshold;
        let outward = if c.columns {
            c.theta.cos().signum()
        } else if c.theta.sin() >= 0.0 {
            1.0
        } else {
            -1.0
        };
        let layer_gap = match (c.columns, labelled) {
            (true, false) => 40.0,
            (false, false) => 28.0,
            (true, true) => {
                widest_label(&|e: &Edge| cluster_of[e.from] == ci && cluster_of[e.to] == ci) + 28.0
            }
            (false, true) => 2.0 * EDGE_LABEL_LH + 44.0,
        };
        let (local, w, h) = layout_cluster(
            &c.members, &depth, &adj, c.columns, outward, box_w, layer_gap,
        );
        c.local = local;
        c.grid_w = w;
        c.grid_h = h;
        c.label_w = (truncate(&c.name, 40).chars().count() as f64) * GROUP_FONT * 0.62;
    }

    // Push each cluster outwards along its ray until it overlaps nothing
    // placed before.
    let centre_zone = if labelled {
        let to_centre = |e: &Edge| e.from == centre || e.to == centre;
        let hx = widest_label(&to_centre) + 30.0;
        Rect {
            x: centre_rect.x - hx.max(CENTRE_GAP),
            y: centre_rect.y - (2.0 * EDGE_LABEL_LH + 36.0),
            w: centre_rect.w + 2.0 * hx.max(CENTRE_GAP),
            h: centre_rect.h + 2.0 * (2.0 * EDGE_LABEL_LH + 36.0),
        }
    } else {
        centre_rect.inflate(CENTRE_GAP)
    };
    let mut placed: Vec<Rect> = Vec::new();
    for c in clusters.iter_mut() {
        let w = c.grid_w.max(c.label_w) + 2.0 * GROUP_PAD;
        let h = c.grid_h + GROUP_HEADER + 2.0 * GROUP_PAD;
        let mut t = 0.0;
        c.rect = loop {
            let (x, y) = along_ray(c.theta, t, w);
            let r = Rect::centred(x, y, w, h);
            let free = !r.intersects(&centre_zone)
                && placed.iter().all(|p| !r.intersects(&p.inflate(GROUP_GAP)));
            if free || t > 1.0e6 {
                break r;
            }
            t += 4.0;
        };
        placed.push(c.rect);
    }

    // Tables at their place in their cluster.
    let mut rects = vec![centre_rect; n];
    for c in &clusters {
        let x0 = c.rect.x + GROUP_PAD + (c.rect.w - 2.0 * GROUP_PAD - c.grid_w) / 2.0;
        let y0 = c.rect.y + GROUP_PAD + GROUP_HEADER;
        for &(i, x, y) in &c.local {
            rects[i] = Rect {
                x: x0 + x,
                y: y0 + y,
                w: box_w,
                h: BOX_H,
            };
        }
    }

    // Edges: straight-ish between layers, bent within a layer or between
    // groups so that edges do not hide each other.
    let curves: Vec<Curve> = g
        .edges
        .iter()
        .map(|e| {
            let bend = if e.from == centre || e.to == centre {
                0.06
            } else if cluster_of[e.from] == cluster_of[e.to] {
                if depth[e.from] == depth[e.to] {
                    0.35
                } else {
                    0.04
                }
            } else {
                0.1
            };
            Curve::between(&rects[e.from], &rects[e.to], bend)
        })
        .collect();

    let mut bounds = centre_rect;
    for c in &clusters {
        bounds = bounds.union(&c.rect);
    }
    for c in &curves {
        bounds = bounds.union(&c.bounds());
    }

    // Labels along their edge (for a shared label, the edge in the middle of
    // the group, near the table they all join), covering no table, no group
    // name and no other label.
    let mut label_pos: Vec<Rect> = Vec::new();
    let mut taken: Vec<Rect> = rects.clone();
    for c in &clusters {
        taken.push(Rect {
            x: c.rect.x,
            y: c.rect.y,
            w: c.label_w + 2.0 * GROUP_PAD,
            h: GROUP_HEADER + GROUP_PAD,
        });
    }
    for l in &edge_labels {
        let (w, h) = label_size(&l.lines);
        let (k, candidates): (usize, &[f64]) = if l.edges.len() == 1 {
            (l.edges[0], &[0.5, 0.4, 0.6, 0.3, 0.7, 0.25, 0.75, 0.2, 0.8])
        } else {
            let n = l.edges.len() as f64;
            let (mx, my) = l.edges.iter().fold((0.0, 0.0), |(x, y), &k| {
                let r = &rects[g.edges[k].from];
                (x + r.cx() / n, y + r.cy() / n)
            });
            let k = *l
                .edges
                .iter()
                .min_by(|&&a, &&b| {
                    let da =
                        (rects[g.edges[a].from].cx() - mx).hypot(rects[g.edges[a].from].cy() - my);
                    let db =
                        (rects[g.edges[b].from].cx() - mx).hypot(rects[g.edges[b].from].cy() - my);
                    da.total_cmp(&db)
                })
                .unwrap_or(&l.edges[0]);
            (k, &[0.5, 0.6, 0.4, 0.7, 0.3, 0.8, 0.25])
        };
        let curve = &curves[k];
        let at = |t: f64| {
            let (x, y) = curve.at(t);
            Rect::centred(x, y, w, h)
        };
        let r = candidates
            .iter()
            .map(|&t| at(t))
            .find(|r| taken.iter().all(|o| !r.intersects(o)))
            .unwrap_or_else(|| at(candidates[0]));
        taken.push(r);
        bounds = bounds.union(&r);
        label_pos.push(r);
    }
    let view = bounds.inflate(MARGIN);

    // Description for screen readers: the centre, the groups and their tables,
    // and the links when there are few.
    let mut desc = g.tables[centre].name.clone();
    for c in &clusters {
        let names: Vec<&str> = c
            .members
            .iter()
            .map(|&i| g.tables[i].name.as_str())
            .collect();
        let _ = write!(desc, "; {}: {}", c.name, names.join(", "));
    }
    if labelled && !g.edges.is_empty() {
        desc.push_str(" — ");
        let links: Vec<String> = g.edges.iter().map(|e| link_text(&g, e)).collect();
        desc.push_str(&links.join("; "));
    }

    let mut out = String::with_capacity(2048 + n * 400 + g.edges.len() * 500);
    svg_open(
        &mut out,
        &id,
        "hdh-diagram",
        (view.x, view.y, view.w, view.h),
        title,
        &desc,
    );
    defs(&mut out, &id);

    out.push_str("<g class=\"hdh-diagram-groups\">");
    for c in &clusters {
        let r = c.rect;
        let _ = write!(
            out,
            "<g class=\"hdh-diagram-group\"><rect class=\"hdh-diagram-group-box\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"10\" \
             fill=\"currentColor\" fill-opacity=\"0.04\" stroke=\"currentColor\" stroke-opacity=\"0.3\"/>\
             <text class=\"hdh-diagram-group-label\" x=\"{}\" y=\"{}\" font-size=\"{}\" font-weight=\"bold\" \
             stroke=\"Canvas\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\">{}</text></g>",
            num(r.x),
            num(r.y),
            num(r.w),
            num(r.h),
            num(r.x + GROUP_PAD),
            num(r.y + GROUP_PAD + GROUP_FONT),
            num(GROUP_FONT),
            escape(&truncate(&c.name, 40)),
        );
    }
    out.push_str("</g>");

    out.push_str("<g class=\"hdh-diagram-edges\" fill=\"none\" stroke=\"currentColor\">");
    // Edges to the centre first (underneath) and lighter.
    for pass_centre in [true, false] {
        for (e, c) in g.edges.iter().zip(&curves) {
            let to_centre = e.from == centre || e.to == centre;
            if to_centre != pass_centre {
                continue;
            }
            let class = if to_centre {
                "hdh-diagram-edge hdh-diagram-edge-centre"
            } else {
                "hdh-diagram-edge"
            };
            edge(&mut out, &id, &g, e, c, class, to_centre);
        }
    }
    out.push_str("</g>");

    out.push_str("<g class=\"hdh-diagram-tables\">");
    for (i, t) in g.tables.iter().enumerate() {
        if i == centre {
            table(
                &mut out,
                t,
                &rects[i],
                "hdh-diagram-table-centre",
                CENTRE_FONT,
            );
        } else {
            table(&mut out, t, &rects[i], "", NAME_FONT);
        }
    }
    out.push_str("</g>");

    if !edge_labels.is_empty() {
        out.push_str("<g class=\"hdh-diagram-edge-labels\">");
        for (l, r) in edge_labels.iter().zip(&label_pos) {
            for (j, line) in l.lines.iter().enumerate() {
                halo_text(
                    &mut out,
                    "hdh-diagram-edge-label",
                    r.cx(),
                    r.y + 1.0 + j as f64 * EDGE_LABEL_LH + EDGE_LABEL_FONT * 0.85,
                    "middle",
                    EDGE_LABEL_FONT,
                    line,
                );
            }
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    links_make_a_group(&mut out);
    out
}

fn link_text(g: &Graph, e: &Edge) -> String {
    if e.label.is_empty() {
        format!("{} → {}", g.tables[e.from].name, g.tables[e.to].name)
    } else {
        format!(
            "{} → {} ({})",
            g.tables[e.from].name, g.tables[e.to].name, e.label
        )
    }
}

// ---------------------------------------------------------------------------
// One table and its neighbours.
// ---------------------------------------------------------------------------

/// Wraps a list of join fields (`A, B, C`) into lines of at most `width`
/// characters, breaking after commas; at most `max_lines` lines.
fn wrap_fields(label: &str, width: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let parts: Vec<&str> = label
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    for (k, part) in parts.iter().enumerate() {
        let piece = if k + 1 < parts.len() {
            format!("{part},")
        } else {
            (*part).to_string()
        };
        let needed = if line.is_empty() {
            piece.chars().count()
        } else {
            line.chars().count() + 1 + piece.chars().count()
        };
        if !line.is_empty() && needed > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&piece);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    let mut lines: Vec<String> = lines.into_iter().map(|l| truncate(&l, width)).collect();
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        let last = lines.pop().unwrap_or_default();
        lines.push(truncate(&format!("{last} …"), width));
    }
    lines
}

/// Draws `focus` in the middle and its direct neighbours (tables it points to
/// and tables pointing to it) on a circle around it, with the join fields of
/// every link written under the neighbour. Links between two neighbours are
/// drawn faintly, labelled by their tooltip only. Everything else is left out.
pub fn render_svg_focused(d: &Diagram, focus: &str, title: &str) -> String {
    const LABEL_CHARS: usize = 30;
    const NODE_GAP: f64 = 14.0;

    let content = format!("{focus}\u{0}{title}\u{0}{d:?}");
    let id = svg_id("focus", &content);
    let g = Graph::new(d);
    let lone;
    let (f_table, f) = match g.index.get(focus) {
        Some(&i) => (g.tables[i], Some(i)),
        None => {
            lone = DiagramTable {
                name: focus.to_string(),
                ..Default::default()
            };
            (&lone, None)
        }
    };

    let mut nbrs: Vec<usize> = match f {
        Some(f) => g
            .edges
            .iter()
            .filter_map(|e| {
                if e.from == f {
                    Some(e.to)
                } else if e.to == f {
                    Some(e.from)
                } else {
                    None
                }
            })
            .collect(),
        None => Vec::new(),
    };
    nbrs.sort_unstable();
    nbrs.dedup();

    let focus_w = box_width(std::iter::once(focus), CENTRE_FONT) + 8.0;
    let focus_rect = Rect::centred(0.0, 0.0, focus_w, CENTRE_H);
    let box_w = box_width(nbrs.iter().map(|&i| g.tables[i].name.as_str()), NAME_FONT);

    // The label lines of each neighbour: the join fields of its link(s) with
    // the focus, arrows telling the direction when there are links both ways.
    let lines: Vec<Vec<String>> = nbrs
        .iter()
        .map(|&nb| {
            let links: Vec<&Edge> = g
                .edges
                .iter()
                .filter(|e| Some(e.from) == f && e.to == nb || e.from == nb && Some(e.to) == f)
                .collect();
            let both = links.len() > 1;
            let mut ls = Vec::new();
            for e in links {
                let label = if both {
                    let arrow = if Some(e.from) == f { "→" } else { "←" };
                    format!("{arrow} {}", e.label)
                } else {
                    e.label.clone()
                };
                ls.extend(wrap_fields(&label, LABEL_CHARS, 6));
            }
            ls
        })
        .collect();
    let node_h: Vec<f64> = lines
        .iter()
        .map(|ls| {
            if ls.is_empty() {
                BOX_H
            } else {
                BOX_H + 4.0 + ls.len() as f64 * FOCUS_LABEL_LH
            }
        })
        .collect();

    // The first half on the right, the rest on the left, each top to bottom.
    let half = nbrs.len().div_ceil(2);
    let right: Vec<usize> = (0..half).collect();
    let left: Vec<usize> = (half..nbrs.len()).collect();
    let side_h = |side: &[usize]| -> f64 {
        side.iter().map(|&k| node_h[k]).sum::<f64>()
            + NODE_GAP * side.len().saturating_sub(1) as f64
    };
    let tallest = side_h(&right).max(side_h(&left));
    let ry = (tallest / 2.0 + 40.0).max(120.0);
    let rx = ry.min(150.0);
    let inner = focus_w / 2.0 + 50.0;

    let mut rects = vec![focus_rect; nbrs.len()];
    let mut label_at: Vec<(f64, f64, &str)> = vec![(0.0, 0.0, "start"); nbrs.len()];
    let mut bounds = focus_rect;
    for (side, sign) in [(&right, 1.0), (&left, -1.0)] {
        let mut y = -side_h(side) / 2.0;
        for &k in side.iter() {
            let cy = y + BOX_H / 2.0;
            let off = inner + rx * (1.0 - (cy / ry).powi(2)).max(0.0).sqrt();
            let x = if sign > 0.0 { off } else { -off - box_w };
            rects[k] = Rect {
                x,
                y,
                w: box_w,
                h: BOX_H,
            };
            let label_w = lines[k]
                .iter()
                .map(|l| mono_width(l.chars().count(), FOCUS_LABEL_FONT))
                .fold(0.0, f64::max);
            let (lx, anchor) = if sign > 0.0 {
                (x, "start")
            } else {
                (x + box_w, "end")
            };
            label_at[k] = (lx, y + BOX_H + 4.0 + FOCUS_LABEL_FONT, anchor);
            let extent = if sign > 0.0 {
                Rect {
                    x,
                    y,
                    w: box_w.max(label_w),
                    h: node_h[k],
                }
            } else {
                let w = box_w.max(label_w);
                Rect {
                    x: x + box_w - w,
                    y,
                    w,
                    h: node_h[k],
                }
            };
            bounds = bounds.union(&extent);
            y += node_h[k] + NODE_GAP;
        }
    }

    let pos: HashMap<usize, usize> = nbrs.iter().enumerate().map(|(k, &i)| (i, k)).collect();
    let rect_of = |i: usize| -> Rect {
        if Some(i) == f {
            focus_rect
        } else {
            rects[pos[&i]]
        }
    };

    // Links with the focus: straight, to the inner side of the neighbour.
    let mut spokes: Vec<(&Edge, Curve)> = Vec::new();
    let mut others: Vec<(&Edge, Curve)> = Vec::new();
    let drawn: HashSet<usize> = nbrs.iter().copied().chain(f).collect();
    for e in &g.edges {
        if !drawn.contains(&e.from) || !drawn.contains(&e.to) {
            continue;
        }
        if Some(e.from) == f || Some(e.to) == f {
            let nb = if Some(e.from) == f { e.to } else { e.from };
            let r = rect_of(nb);
            let port = if r.cx() > 0.0 {
                (r.x - 1.5, r.cy())
            } else {
                (r.right() + 1.5, r.cy())
            };
            let start = clip(&focus_rect.inflate(1.5), port.0, port.1);
            let (p0, p2) = if Some(e.from) == f {
                (start, port)
            } else {
                (port, start)
            };
            let c = ((p0.0 + p2.0) / 2.0, (p0.1 + p2.1) / 2.0);
            spokes.push((e, Curve { p0, c, p2 }));
        } else {
            let c = Curve::between(&rect_of(e.from), &rect_of(e.to), 0.2);
            bounds = bounds.union(&c.bounds());
            others.push((e, c));
        }
    }
    let view = bounds.inflate(MARGIN);

    let mut desc = focus.to_string();
    if !spokes.is_empty() {
        desc.push_str(" — ");
        let links: Vec<String> = spokes.iter().map(|(e, _)| link_text(&g, e)).collect();
        desc.push_str(&links.join("; "));
    }

    let mut out = String::with_capacity(4096 + nbrs.len() * 800);
    svg_open(
        &mut out,
        &id,
        "hdh-diagram hdh-diagram-focused",
        (view.x, view.y, view.w, view.h),
        title,
        &desc,
    );
    defs(&mut out, &id);
    out.push_str("<g class=\"hdh-diagram-edges\" fill=\"none\" stroke=\"currentColor\">");
    for (e, c) in &others {
        edge(
            &mut out,
            &id,
            &g,
            e,
            c,
            "hdh-diagram-edge hdh-diagram-edge-secondary",
            true,
        );
    }
    for (e, c) in &spokes {
        edge(&mut out, &id, &g, e, c, "hdh-diagram-edge", false);
    }
    out.push_str("</g><g class=\"hdh-diagram-tables\">");
    table(
        &mut out,
        f_table,
        &focus_rect,
        "hdh-diagram-table-focus",
        CENTRE_FONT,
    );
    for (k, &i) in nbrs.iter().enumerate() {
        table(&mut out, g.tables[i], &rects[k], "", NAME_FONT);
    }
    out.push_str("</g>");
    if lines.iter().any(|l| !l.is_empty()) {
        out.push_str("<g class=\"hdh-diagram-edge-labels\">");
        for (k, ls) in lines.iter().enumerate() {
            let (x, y, anchor) = label_at[k];
            for (j, l) in ls.iter().enumerate() {
                halo_text(
                    &mut out,
                    "hdh-diagram-edge-label",
                    x,
                    y + j as f64 * FOCUS_LABEL_LH,
                    anchor,
                    FOCUS_LABEL_FONT,
                    l,
                );
            }
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    links_make_a_group(&mut out);
    out
}

// ---------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Instant;

    /// A tiny well-formedness check: balanced tags (stack), quoted attributes
    /// without `<`, no duplicate attribute, known entities only, one root.
    pub(crate) fn check_xml(s: &str) -> Result<(), String> {
        fn entity_ok(rest: &str) -> bool {
            let Some(end) = rest.find(';') else {
                return false;
            };
            let name = &rest[1..end];
            matches!(name, "amp" | "lt" | "gt" | "quot" | "apos")
                || name
                    .strip_prefix("#x")
                    .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
                || name
                    .strip_prefix('#')
                    .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
        }
        fn is_name_char(c: char) -> bool {
            c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-' | '.')
        }
        let mut stack: Vec<&str> = Vec::new();
        let mut roots = 0;
        let mut i = 0;
        while i < s.len() {
            let rest = &s[i..];
            if rest.starts_with("<!--") {
                let end = rest.find("-->").ok_or("unclosed comment")?;
                i += end + 3;
            } else if rest.starts_with("<?") {
                let end = rest.find("?>").ok_or("unclosed PI")?;
                i += end + 2;
            } else if let Some(r) = rest.strip_prefix("</") {
                let end = r.find('>').ok_or("unclosed end tag")?;
                let name = r[..end].trim();
                let open = stack.pop().ok_or(format!("stray </{name}>"))?;
                if open != name {
                    return Err(format!("</{name}> closes <{open}>"));
                }
                i += 2 + end + 1;
            } else if let Some(r) = rest.strip_prefix('<') {
                let name_len = r.find(|c: char| !is_name_char(c)).unwrap_or(r.len());
                let name = &r[..name_len];
                if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    return Err(format!("bad tag name at {i}"));
                }
                if stack.is_empty() {
                    roots += 1;
                }
                let mut j = i + 1 + name_len;
                let mut attrs: Vec<&str> = Vec::new();
                loop {
                    let r = &s[j..];
                    let ws = r.len() - r.trim_start().len();
                    j += ws;
                    let r = &s[j..];
                    if r.starts_with("/>") {
                        j += 2;
                        break;
                    }
                    if r.starts_with('>') {
                        j += 1;
                        stack.push(name);
                        break;
                    }
                    if ws == 0 {
                        return Err(format!("missing space before attribute in <{name}>"));
                    }
                    let an = r.find(|c: char| !is_name_char(c)).unwrap_or(r.len());
                    if an == 0 {
                        return Err(format!("bad attribute in <{name}> at {j}"));
                    }
                    let attr = &r[..an];
                    if attrs.contains(&attr) {
                        return Err(format!("duplicate attribute {attr} in <{name}>"));
                    }
                    attrs.push(attr);
                    let r2 = &r[an..];
                    if !r2.starts_with('=') {
                        return Err(format!("attribute {attr} without value"));
                    }
                    let q = r2[1..].chars().next().ok_or("eof")?;
                    if q != '"' && q != '\'' {
                        return Err(format!("unquoted attribute {attr}"));
                    }
                    let body = &r2[2..];
                    let close = body.find(q).ok_or("unclosed attribute value")?;
                    let value = &body[..close];
                    if value.contains('<') {
                        return Err(format!("< in attribute {attr}"));
                    }
                    for (k, _) in value.match_indices('&') {
                        if !entity_ok(&value[k..]) {
                            return Err(format!("bad entity in attribute {attr}"));
                        }
                    }
                    j += an + 2 + close + 1;
                }
                i = j;
            } else {
                let end = rest.find('<').unwrap_or(rest.len());
                let text = &rest[..end];
                if stack.is_empty() && !text.trim().is_empty() {
                    return Err("text outside the root".into());
                }
                for (k, _) in text.match_indices('&') {
                    if !entity_ok(&text[k..]) {
                        return Err(format!("bad entity in text near {}", i + k));
                    }
                }
                i += end;
            }
        }
        if let Some(open) = stack.pop() {
            return Err(format!("<{open}> not closed"));
        }
        if roots != 1 {
            return Err(format!("{roots} root elements"));
        }
        Ok(())
    }

    pub(crate) fn assert_xml(s: &str) {
        if let Err(e) = check_xml(s) {
            panic!("not well-formed: {e}\n{}", &s[..s.len().min(2000)]);
        }
    }

    pub(crate) fn write_sample(name: &str, svg: &str) {
        let dir = std::path::Path::new("/tmp/hdh-svg-samples");
        let _ = std::fs::create_dir_all(dir);
        let _ = std::fs::write(dir.join(name), svg);
    }

    fn t(name: &str, group: &str, title: &str) -> DiagramTable {
        DiagramTable {
            name: name.into(),
            group: group.into(),
            title: title.into(),
            href: Some(format!("/tables/{name}")),
        }
    }

    fn e(from: &str, to: &str, label: &str) -> DiagramEdge {
        DiagramEdge {
            from: from.into(),
            to: to.into(),
            label: label.into(),
        }
    }

    const DCIR_KEYS: &str = "DCT_ORD_NUM, FLX_DIS_DTD, FLX_EMT_NUM, FLX_EMT_ORD, FLX_EMT_TYP, FLX_TRT_DTD, ORG_CLE_NUM, PRS_ORD_NUM, REM_TYP_AFF";

    pub(crate) fn demo() -> Diagram {
        Diagram {
            tables: vec![
                t("IR_BEN_R", "BENEFICIAIRE", "Référentiel des bénéficiaires"),
                t("ER_PRS_F", "DCIR", "Prestations"),
                t("ER_PHA_F", "DCIR", "Pharmacie"),
                t("ER_BIO_F", "DCIR", "Biologie"),
                t("ER_CAM_F", "DCIR", "Actes CCAM"),
                t("T_MCO23B", "PMSI_MCO", "Séjours"),
                t("T_MCO23C", "PMSI_MCO", "Chaînage"),
                t("T_MCO23D", "PMSI_MCO", "Diagnostics associés"),
            ],
            edges: vec![
                e("ER_PRS_F", "IR_BEN_R", "BEN_NIR_PSA, BEN_RNG_GEM"),
                e("ER_PHA_F", "ER_PRS_F", DCIR_KEYS),
                e("ER_BIO_F", "ER_PRS_F", DCIR_KEYS),
                e("ER_CAM_F", "ER_PRS_F", DCIR_KEYS),
                e("T_MCO23C", "T_MCO23B", "ETA_NUM, RSA_NUM"),
                e("T_MCO23D", "T_MCO23B", "ETA_NUM, RSA_NUM"),
                e("T_MCO23C", "IR_BEN_R", "NIR_ANO_17"),
            ],
            centre: Some("IR_BEN_R".into()),
        }
    }

    /// A small system in four groups.
    pub(crate) fn demo4() -> Diagram {
        let mut d = demo();
        d.tables
            .push(t("IR_IMB_R", "BENEFICIAIRE", "Affections de longue durée"));
        d.tables
            .push(t("KI_CCI_R", "Causes_de_deces", "Causes de décès"));
        d.tables
            .push(t("KI_ECD_R", "Causes_de_deces", "Certificats"));
        d.edges
            .push(e("IR_IMB_R", "IR_BEN_R", "BEN_NIR_PSA, BEN_RNG_GEM"));
        d.edges.push(e("KI_CCI_R", "IR_BEN_R", "BEN_IDT_ANO"));
        d.edges.push(e("KI_ECD_R", "KI_CCI_R", "DCD_IDT_ENC"));
        d
    }

    /// 190 tables in 12 groups and 400 edges, generated deterministically.
    pub(crate) fn full() -> Diagram {
        let groups = [
            ("DCIR", 30),
            ("PMSI_MCO", 34),
            ("PMSI_HAD", 22),
            ("PMSI_SSR", 24),
            ("PMSI_RIM-P", 18),
            ("EGB", 14),
            ("DCIRS", 16),
            ("BENEFICIAIRE", 9),
            ("Causes_de_deces", 3),
            ("CARTOGRAPHIE_PATHOLOGIES", 4),
            ("DAMIR", 2),
            ("REFERENTIELS", 13),
        ];
        let mut tables = vec![t("IR_BEN_R", "BENEFICIAIRE", "Bénéficiaires")];
        let mut by_group: Vec<Vec<String>> = Vec::new();
        for (gi, (g, n)) in groups.iter().enumerate() {
            let mut names = Vec::new();
            for k in 0..*n {
                let name = format!("T_G{gi:02}_{k:03}");
                tables.push(t(&name, g, &format!("Table {k} of {g}")));
                names.push(name);
            }
            by_group.push(names);
        }
        assert_eq!(tables.len(), 190);
        let mut seed: u64 = 42;
        let mut rnd = |m: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) as usize) % m
        };
        let mut edges = Vec::new();
        // Every table to the centre or to its group's hub, then random links.
        for names in &by_group {
            for (k, name) in names.iter().enumerate() {
                if k == 0 {
                    edges.push(e(name, "IR_BEN_R", "BEN_NIR_PSA, BEN_RNG_GEM"));
                } else {
                    edges.push(e(name, &names[0], DCIR_KEYS));
                }
            }
        }
        while edges.len() < 400 {
            let a = &tables[1 + rnd(189)].name;
            let b = &tables[rnd(190)].name;
            edges.push(e(a, b, "ETA_NUM, RSA_NUM"));
        }
        Diagram {
            tables,
            edges,
            centre: Some("IR_BEN_R".into()),
        }
    }

    #[test]
    fn escape_escapes_the_five_characters_and_controls() {
        assert_eq!(
            escape("<a href='x'>\"&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(escape("a\u{1}b\nc"), "a\u{FFFD}b c");
    }

    #[test]
    fn checker_rejects_malformed_xml() {
        assert!(check_xml("<svg><g></svg>").is_err());
        assert!(check_xml("<svg><text>a & b</text></svg>").is_err());
        assert!(check_xml("<svg a=\"<\"/>").is_err());
        assert!(check_xml("<svg/><svg/>").is_err());
        assert!(check_xml("<svg a=\"1\" a=\"2\"/>").is_err());
        assert!(check_xml("<svg><text a='1'>a &amp; b &#39;</text></svg>").is_ok());
    }

    #[test]
    fn demo_diagram_is_well_formed_and_labelled() {
        let svg = render_svg(&demo(), "SNDS (extrait)");
        assert_xml(&svg);
        assert!(svg.contains("viewBox=\""));
        // Its natural width (the pages' style sheet lets it shrink).
        assert!(svg.contains(" width=\"") && !svg.contains(" style="));
        // Its tables are links: a group, not an image (axe: nested-interactive).
        assert!(svg.contains("role=\"group\"") && !svg.contains("role=\"img\""));
        assert!(svg.contains("<title id=") && svg.contains("<desc id="));
        for t in demo().tables {
            assert_eq!(svg.matches(&format!(">{}</text>", t.name)).count(), 1);
            assert!(svg.contains(&format!("href=\"/tables/{}\"", t.name)));
        }
        for g in ["DCIR", "PMSI_MCO"] {
            assert!(svg.contains(&format!(">{g}</text>")));
        }
        // Fewer than 40 edges: labels are drawn.
        assert!(svg.contains(">BEN_NIR_PSA, BEN_RNG_GEM</text>"));
        assert!(svg.contains(">ETA_NUM, RSA_NUM</text>"));
        assert!(svg.contains("Pharmacie"));
        assert!(svg.contains("hdh-diagram-table hdh-diagram-table-centre"));
        assert_eq!(svg.matches("class=\"hdh-diagram-edge-line\"").count(), 7);
        assert_eq!(
            svg.matches("hdh-diagram-edge hdh-diagram-edge-centre")
                .count(),
            2
        );
    }

    #[test]
    fn diagram_escapes_everything() {
        let d = Diagram {
            tables: vec![
                DiagramTable {
                    name: "<script>alert(1)</script>".into(),
                    group: "G & <H>".into(),
                    title: "A & B \"quoted\"".into(),
                    href: Some("/t?a=1&b=<2>".into()),
                },
                t("B&B", "G & <H>", "x"),
                DiagramTable {
                    name: "EVIL".into(),
                    group: "G".into(),
                    title: String::new(),
                    href: Some(" JavaScript:alert(1)".into()),
                },
            ],
            edges: vec![
                e("<script>alert(1)</script>", "B&B", "<x>&y"),
                e("EVIL", "B&B", "k"),
            ],
            centre: None,
        };
        for svg in [
            render_svg(&d, "T <script> & co"),
            render_svg_focused(&d, "B&B", "T <script> & co"),
            render_svg_focused(&d, "<script>alert(1)</script>", "x"),
        ] {
            assert_xml(&svg);
            assert!(!svg.contains("<script"), "{svg}");
            assert!(!svg.contains("<x>"));
            assert!(!svg.to_lowercase().contains("javascript:"));
            assert!(svg.contains("&lt;script&gt;"));
            assert!(svg.contains("B&amp;B"));
        }
        let svg = render_svg(&d, "t");
        assert!(svg.contains("href=\"/t?a=1&amp;b=&lt;2&gt;\""));
        assert!(svg.contains("&lt;x&gt;&amp;y"));
        assert!(svg.contains("G &amp; &lt;H&gt;"));
        // No centre given: the table with the most edges (B&B) is the centre.
        assert!(svg.contains("hdh-diagram-table-centre\"><title>B&amp;B"));
    }

    #[test]
    fn edges_are_filtered_and_merged() {
        let mut d = demo();
        d.edges.push(e("ER_PRS_F", "IR_BEN_R", "BEN_IDT_ANO"));
        d.edges.push(e("ER_PRS_F", "IR_BEN_R", "BEN_IDT_ANO"));
        d.edges.push(e("ER_PRS_F", "ER_PRS_F", "SELF"));
        d.edges.push(e("ER_PRS_F", "NOT_THERE", "GHOST"));
        let svg = render_svg(&d, "t");
        assert_xml(&svg);
        assert_eq!(svg.matches("class=\"hdh-diagram-edge-line\"").count(), 7);
        assert!(svg.contains("ER_PRS_F → IR_BEN_R: BEN_NIR_PSA, BEN_RNG_GEM; BEN_IDT_ANO</title>"));
        assert!(!svg.contains("SELF"));
        assert!(!svg.contains("GHOST"));
        assert!(!svg.contains("NOT_THERE"));
    }

    #[test]
    fn rendering_is_deterministic() {
        assert_eq!(render_svg(&demo(), "x"), render_svg(&demo(), "x"));
        assert_eq!(render_svg(&full(), "x"), render_svg(&full(), "x"));
        assert_eq!(
            render_svg_focused(&demo(), "ER_PRS_F", "x"),
            render_svg_focused(&demo(), "ER_PRS_F", "x")
        );
        // Different content, different ids.
        assert_ne!(
            svg_id("diagram", &format!("{:?}", demo())),
            svg_id("diagram", &format!("{:?}", full()))
        );
    }

    #[test]
    fn full_snds_renders_fast_and_draws_every_table_once() {
        let d = full();
        let start = Instant::now();
        let svg = render_svg(&d, "SNDS");
        let elapsed = start.elapsed();
        assert!(elapsed.as_secs_f64() < 1.0, "took {elapsed:?}");
        assert_xml(&svg);
        for t in &d.tables {
            assert_eq!(
                svg.matches(&format!(">{}</text>", t.name)).count(),
                1,
                "{}",
                t.name
            );
        }
        // 400 or more edges: no visible labels, the fields are in tooltips.
        assert!(!svg.contains("hdh-diagram-edge-label"));
        assert!(svg.contains(": BEN_NIR_PSA, BEN_RNG_GEM</title>"));
        // No two tables overlap.
        let rects: Vec<(f64, f64)> = svg
            .split("<rect class=\"hdh-diagram-box\" x=\"")
            .skip(1)
            .map(|s| {
                let x: f64 = s.split('"').next().unwrap().parse().unwrap();
                let y: f64 = s
                    .split("y=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                (x, y)
            })
            .collect();
        assert_eq!(rects.len(), 190);
        for (i, a) in rects.iter().enumerate() {
            for b in &rects[i + 1..] {
                assert!(
                    (a.0 - b.0).abs() >= 50.0 || (a.1 - b.1).abs() >= BOX_H,
                    "{a:?} overlaps {b:?}"
                );
            }
        }
    }

    #[test]
    fn focused_diagram_shows_only_neighbours() {
        let d = demo();
        let svg = render_svg_focused(&d, "ER_PRS_F", "ER_PRS_F");
        assert_xml(&svg);
        for n in ["ER_PRS_F", "IR_BEN_R", "ER_PHA_F", "ER_BIO_F", "ER_CAM_F"] {
            assert_eq!(svg.matches(&format!(">{n}</text>")).count(), 1, "{n}");
        }
        for n in ["T_MCO23B", "T_MCO23C", "T_MCO23D", "Séjours"] {
            assert!(!svg.contains(n), "{n}");
        }
        // Labels are always shown (wrapped).
        assert!(svg.contains(">BEN_NIR_PSA, BEN_RNG_GEM</text>"));
        assert!(svg.contains(">DCT_ORD_NUM, FLX_DIS_DTD,</text>"));
        assert!(svg.contains("hdh-diagram-table-focus"));
        assert_eq!(svg.matches("class=\"hdh-diagram-edge-line\"").count(), 4);

        let svg = render_svg_focused(&d, "T_MCO23B", "x");
        assert_xml(&svg);
        assert!(svg.contains(">T_MCO23C</text>") && svg.contains(">T_MCO23D</text>"));
        assert!(!svg.contains("IR_BEN_R") && !svg.contains("ER_PRS_F"));
        // The link between two neighbours is drawn, faintly.
        let mut d2 = d.clone();
        d2.edges.push(e("T_MCO23D", "T_MCO23C", "ETA_NUM, RSA_NUM"));
        let svg = render_svg_focused(&d2, "T_MCO23B", "x");
        assert_eq!(svg.matches("hdh-diagram-edge-secondary").count(), 1);
    }

    #[test]
    fn degenerate_inputs_are_well_formed() {
        let empty = Diagram::default();
        assert_xml(&render_svg(&empty, "empty"));
        assert_xml(&render_svg_focused(&empty, "X", "empty"));
        let one = Diagram {
            tables: vec![t("ONLY", "G", "only")],
            ..Default::default()
        };
        let svg = render_svg(&one, "one");
        assert_xml(&svg);
        assert!(svg.contains(">ONLY</text>"));
        let svg = render_svg_focused(&one, "ONLY", "one");
        assert_xml(&svg);
        assert!(svg.contains(">ONLY</text>"));
        // Unknown centre falls back to the most connected table.
        let mut d = demo();
        d.centre = Some("NOPE".into());
        let svg = render_svg(&d, "x");
        assert!(svg.contains("hdh-diagram-table-centre\"><title>ER_PRS_F"));
        // Many neighbours: focus on the centre of the full system.
        let svg = render_svg_focused(&full(), "IR_BEN_R", "x");
        assert_xml(&svg);
    }

    #[test]
    fn wraps_fields_after_commas() {
        assert_eq!(
            wrap_fields(DCIR_KEYS, 30, 6),
            vec![
                "DCT_ORD_NUM, FLX_DIS_DTD,",
                "FLX_EMT_NUM, FLX_EMT_ORD,",
                "FLX_EMT_TYP, FLX_TRT_DTD,",
                "ORG_CLE_NUM, PRS_ORD_NUM,",
                "REM_TYP_AFF"
            ]
        );
        assert_eq!(wrap_fields(DCIR_KEYS, 30, 2).len(), 2);
        assert!(wrap_fields(DCIR_KEYS, 30, 2)[1].ends_with('…'));
    }

    #[test]
    fn writes_samples() {
        write_sample("diagram-demo.svg", &render_svg(&demo(), "SNDS (extrait)"));
        write_sample("diagram-full.svg", &render_svg(&full(), "SNDS"));
        write_sample("diagram-demo4.svg", &render_svg(&demo4(), "SNDS (extrait)"));
        write_sample(
            "diagram-focused.svg",
            &render_svg_focused(&demo(), "ER_PRS_F", "ER_PRS_F"),
        );
        write_sample(
            "diagram-focused-many.svg",
            &render_svg_focused(&full(), "T_G01_000", "T_G01_000"),
        );
    }
}
