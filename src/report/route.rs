//! The outputs of `qkdsim route` and `qkdsim route plan`, as strings and bytes: the
//! planner's summary table, the JSON documents, the CSV files (`results.csv` one row per
//! span, `demands.csv` one row per demand, `stores.csv` one row per store change,
//! `plan.csv` one row per planned hop), the route chart (nodes, spans labelled with their
//! length and key rate, the bottleneck drawn thick and red), the key-store chart and
//! `report.md`.
//!
//! Everything here is drawn from one [`RouteReport`] (and a [`Plan`]): the same records
//! that go to JSON and CSV, so every chart can be redrawn from `results.json`.
//!
//! Must never depend on clap or touch the file system: the binary writes the files.

use super::charts::register_fonts;
use super::charts::{ChartSpec, PALETTE, PNG_SIZE, SVG_SIZE, Series, SeriesStyle};
use super::csv::rows_csv;
use super::figures::NamedChart;
use super::markdown::{Provenance, number};
use super::{UNDEFINED, percent};
use crate::error::{Error, Result};
use crate::estimation::assumptions::SecurityWarning;
use crate::route::plan::Plan;
use crate::route::{DemandReport, LinkAuth, RouteReport, SpanReport};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;
use std::fmt::Write;

// ---------------------------------------------------------------------------------------
// Formatting helpers
// ---------------------------------------------------------------------------------------

/// A key rate with a unit chosen for its size: `bit/s`, `kbit/s`, `Mbit/s` (four
/// significant digits).
pub fn rate_text(bps: f64) -> String {
    let a = bps.abs();
    if !bps.is_finite() {
        UNDEFINED.to_string()
    } else if a >= 1e6 {
        format!("{} Mbit/s", number(bps / 1e6))
    } else if a >= 1e3 {
        format!("{} kbit/s", number(bps / 1e3))
    } else {
        format!("{} bit/s", number(bps))
    }
}

/// Seconds with four significant digits, or [`UNDEFINED`].
fn seconds(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{} s", number(v)),
        _ => UNDEFINED.to_string(),
    }
}

/// A number with four significant digits, or [`UNDEFINED`].
fn opt_number(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map(number)
        .unwrap_or_else(|| UNDEFINED.to_string())
}

fn route_title(name: &str) -> &str {
    if name.is_empty() {
        "unnamed route"
    } else {
        name
    }
}

fn span_name(s: &SpanReport) -> String {
    format!("{} → {}", s.from, s.to)
}

/// "span 0 (A → B), span 2 (C → D)" for the spans of a minimum cut.
fn cut_text(report: &RouteReport, cut: &[usize]) -> String {
    if cut.is_empty() {
        return "none".into();
    }
    cut.iter()
        .map(|&i| match report.spans.iter().find(|s| s.index == i) {
            Some(s) => format!("span {i} ({})", span_name(s)),
            None => format!("span {i}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "NO" }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

// ---------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------

/// The `route --json` document (DESIGN §7): the [`RouteReport`], pretty-printed. Null
/// QBERs stay null.
pub fn route_json(report: &RouteReport) -> String {
    serde_json::to_string_pretty(report).expect("route reports serialize to JSON")
}

/// The `route plan --json` document: `{plan, route}`, `route` null when no placement
/// reaches the required rate.
#[derive(Debug, Serialize)]
pub struct PlanDocument<'a> {
    /// The placement (or why none exists).
    pub plan: &'a Plan,
    /// The simulated route of the chosen nodes, if any.
    pub route: Option<&'a RouteReport>,
}

/// The `route plan --json` document as text.
pub fn plan_json(plan: &Plan, route: Option<&RouteReport>) -> String {
    serde_json::to_string_pretty(&PlanDocument { plan, route })
        .expect("plans and route reports serialize to JSON")
}

// ---------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------

fn field(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn warning_codes(w: &[SecurityWarning]) -> String {
    w.iter()
        .map(|w| w.code.as_str())
        .collect::<Vec<_>>()
        .join(";")
}

/// The columns of one span's row in `results.csv`; an undefined number is an empty field.
pub fn span_columns(report: &RouteReport, s: &SpanReport) -> Vec<(String, String)> {
    let wall = report.timings.per_span_s.get(s.index).copied();
    vec![
        ("index".into(), s.index.to_string()),
        ("from".into(), s.from.clone()),
        ("to".into(), s.to.clone()),
        ("length_km".into(), s.length_km.to_string()),
        ("loss_db".into(), s.loss_db.to_string()),
        ("seed".into(), s.seed.to_string()),
        ("engine".into(), s.engine.clone()),
        ("pulses_sent".into(), s.pulses_sent.to_string()),
        ("sifted_bits_z".into(), s.sifted_bits_z.to_string()),
        ("qber_z".into(), field(s.qber_z)),
        ("qber_x".into(), field(s.qber_x)),
        ("blocks".into(), s.blocks.to_string()),
        ("aborted_blocks".into(), s.aborted_blocks.to_string()),
        ("secret_bits".into(), s.secret_bits.to_string()),
        (
            "secret_key_rate_bps".into(),
            s.secret_key_rate_bps.to_string(),
        ),
        ("net_key_rate_bps".into(), s.net_key_rate_bps.to_string()),
        (
            "theory_secret_key_rate_bps".into(),
            s.theory_secret_key_rate_bps.to_string(),
        ),
        ("mean_latency_s".into(), s.mean_latency_s.to_string()),
        ("first_key_s".into(), field(s.first_key_s)),
        ("final_keys_match".into(), s.final_keys_match.to_string()),
        ("aborted".into(), s.aborted.clone().unwrap_or_default()),
        ("arrived_bits".into(), s.arrived_bits.to_string()),
        ("link_auth_bits".into(), s.link_auth_bits.to_string()),
        (
            "preshared_auth_bits".into(),
            s.preshared_auth_bits.to_string(),
        ),
        ("relay_bits".into(), s.relay_bits.to_string()),
        ("relay_auth_bits".into(), s.relay_auth_bits.to_string()),
        ("late_bits".into(), s.late_bits.to_string()),
        ("store_final_bits".into(), s.store_final_bits.to_string()),
        ("store_max_bits".into(), s.store_max_bits.to_string()),
        ("bottleneck".into(), s.bottleneck.to_string()),
        ("epsilon_total".into(), s.epsilon_total.to_string()),
        (
            "security_warnings".into(),
            warning_codes(&s.security_warnings),
        ),
        ("wall_s".into(), field(wall)),
    ]
}

/// `results.csv` of a route: one row per span ([`span_columns`]). Demands are in
/// [`demands_csv`], store levels in [`stores_csv`].
pub fn spans_csv(report: &RouteReport) -> Result<String> {
    let rows: Vec<_> = report
        .spans
        .iter()
        .map(|s| span_columns(report, s))
        .collect();
    rows_csv(&rows)
}

/// The columns of one demand's row in `demands.csv`. `path` lists node names joined by
/// `>`; `paths` lists every path used, `;`-separated; `min_cut` lists span indices,
/// `;`-separated.
pub fn demand_columns(d: &DemandReport) -> Vec<(String, String)> {
    vec![
        ("index".into(), d.index.to_string()),
        ("from".into(), d.from.clone()),
        ("to".into(), d.to.clone()),
        ("rate_bps".into(), d.rate_bps.to_string()),
        ("path".into(), d.path.join(">")),
        (
            "paths".into(),
            d.paths
                .iter()
                .map(|p| p.join(">"))
                .collect::<Vec<_>>()
                .join(";"),
        ),
        (
            "secret_key_rate_bps".into(),
            d.secret_key_rate_bps.to_string(),
        ),
        ("requested_bits".into(), d.requested_bits.to_string()),
        ("delivered_bits".into(), d.delivered_bits.to_string()),
        (
            "delivered_rate_bps".into(),
            d.delivered_rate_bps.to_string(),
        ),
        ("keys_match".into(), d.keys_match.to_string()),
        (
            "min_cut".into(),
            d.min_cut
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(";"),
        ),
        ("time_to_first_key_s".into(), field(d.time_to_first_key_s)),
        ("outage_s".into(), d.outage_s.to_string()),
        ("availability".into(), d.availability.to_string()),
        ("longest_outage_s".into(), d.longest_outage_s.to_string()),
        (
            "store_bits_to_cover_worst_outage".into(),
            d.store_bits_to_cover_worst_outage.to_string(),
        ),
        ("relay_bits".into(), d.relay_bits.to_string()),
        ("relay_auth_bits".into(), d.relay_auth_bits.to_string()),
        ("epsilon_total".into(), d.epsilon_total.to_string()),
    ]
}

/// The header of [`demands_csv`] when there are no demands (so the file still names its
/// columns).
const DEMAND_HEADER: &str = "index,from,to,rate_bps,path,paths,secret_key_rate_bps,\
requested_bits,delivered_bits,delivered_rate_bps,keys_match,min_cut,time_to_first_key_s,\
outage_s,availability,longest_outage_s,store_bits_to_cover_worst_outage,relay_bits,\
relay_auth_bits,epsilon_total\n";

/// `demands.csv`: one row per demand ([`demand_columns`]).
pub fn demands_csv(report: &RouteReport) -> Result<String> {
    if report.demands.is_empty() {
        return Ok(DEMAND_HEADER.into());
    }
    rows_csv(
        &report
            .demands
            .iter()
            .map(demand_columns)
            .collect::<Vec<_>>(),
    )
}

/// `stores.csv`: the key store of every span over link time, one row per recorded level:
/// `span,time_s,bits` (bits in the store just after `time_s`).
pub fn stores_csv(report: &RouteReport) -> Result<String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let err = |e: ::csv::Error| Error::InvalidArgument(e.to_string());
    w.write_record(["span", "time_s", "bits"]).map_err(err)?;
    for st in &report.stores {
        for (t, b) in st.time_s.iter().zip(&st.bits) {
            w.write_record([st.span.to_string(), t.to_string(), b.to_string()])
                .map_err(err)?;
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8"))
}

/// `plan.csv`: one row per planned hop: `from,to,length_km,theory_secret_key_rate_bps,
/// min_rate_bps` (no rows when the plan is infeasible).
pub fn plan_csv(plan: &Plan) -> Result<String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let err = |e: ::csv::Error| Error::InvalidArgument(e.to_string());
    w.write_record([
        "from",
        "to",
        "length_km",
        "theory_secret_key_rate_bps",
        "min_rate_bps",
    ])
    .map_err(err)?;
    for h in &plan.hops {
        w.write_record([
            h.from.clone(),
            h.to.clone(),
            h.length_km.to_string(),
            h.theory_secret_key_rate_bps.to_string(),
            plan.min_rate_bps.to_string(),
        ])
        .map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8"))
}

// ---------------------------------------------------------------------------------------
// The planner's table (stdout)
// ---------------------------------------------------------------------------------------

/// Spans in the minimum cut of some demand, as "span 0 (A → B)".
fn bottleneck_text(report: &RouteReport) -> Option<String> {
    let spans: Vec<usize> = report
        .spans
        .iter()
        .filter(|s| s.bottleneck)
        .map(|s| s.index)
        .collect();
    (!spans.is_empty()).then(|| cut_text(report, &spans))
}

fn pad_right(s: &str, width: usize) -> String {
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(width.saturating_sub(n)))
}

fn pad_left(s: &str, width: usize) -> String {
    let n = s.chars().count();
    format!("{}{s}", " ".repeat(width.saturating_sub(n)))
}

/// The span table of [`route_table`]: a header and one line per span, columns aligned.
fn span_table(report: &RouteReport) -> String {
    let header = [
        "#",
        "span",
        "km",
        "loss dB",
        "QBER Z",
        "key kbit/s",
        "net kbit/s",
        "theory kbit/s",
        "first key s",
        "latency s",
        "store end bits",
    ];
    let kbit = |v: f64| number(v / 1e3);
    let rows: Vec<Vec<String>> = report
        .spans
        .iter()
        .map(|s| {
            vec![
                s.index.to_string(),
                span_name(s),
                format!("{:.1}", s.length_km),
                format!("{:.1}", s.loss_db),
                percent(s.qber_z, 2),
                kbit(s.secret_key_rate_bps),
                kbit(s.net_key_rate_bps),
                kbit(s.theory_secret_key_rate_bps),
                opt_number(s.first_key_s),
                number(s.mean_latency_s),
                s.store_final_bits.to_string(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String], marker: &str| {
        let mut l = String::new();
        for (c, cell) in cells.iter().enumerate() {
            if c > 0 {
                l.push_str("  ");
            }
            // The span names left-aligned, numbers right-aligned.
            if c == 1 {
                l.push_str(&pad_right(cell, widths[c]));
            } else {
                l.push_str(&pad_left(cell, widths[c]));
            }
        }
        if !marker.is_empty() {
            l.push_str("  ");
            l.push_str(marker);
        }
        l.trim_end().to_string()
    };
    let mut s = String::new();
    let head: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let _ = writeln!(s, "{}", line(&head, ""));
    for (row, span) in rows.iter().zip(&report.spans) {
        let marker = if span.bottleneck {
            "◀ bottleneck"
        } else {
            ""
        };
        let _ = writeln!(s, "{}", line(row, marker));
    }
    s
}

/// One demand's paragraph of [`route_table`].
fn demand_paragraph(s: &mut String, report: &RouteReport, d: &DemandReport) {
    let _ = writeln!(
        s,
        "demand {}: {} → {}, {} requested",
        d.index,
        d.from,
        d.to,
        rate_text(d.rate_bps)
    );
    if d.path.is_empty() {
        let _ = writeln!(s, "  path: none through trusted nodes");
    } else {
        let _ = writeln!(s, "  path: {}", d.path.join(" → "));
    }
    let others: Vec<String> = d
        .paths
        .iter()
        .filter(|p| **p != d.path)
        .map(|p| p.join(" → "))
        .collect();
    if !others.is_empty() {
        let _ = writeln!(s, "  also relayed over: {}", others.join("; "));
    }
    let short = if d.secret_key_rate_bps < d.rate_bps {
        format!(" — SHORT of the requested {}", rate_text(d.rate_bps))
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "  deliverable end-to-end rate (maximum flow): {}{short}; minimum cut: {}",
        rate_text(d.secret_key_rate_bps),
        cut_text(report, &d.min_cut)
    );
    let _ = writeln!(
        s,
        "  delivered {} of {} requested bits ({}); keys match at both ends: {}",
        d.delivered_bits,
        d.requested_bits,
        rate_text(d.delivered_rate_bps),
        yes_no(d.keys_match)
    );
    let _ = writeln!(
        s,
        "  time to first key {}; outage {}, availability {}, longest outage {}",
        seconds(d.time_to_first_key_s),
        seconds(Some(d.outage_s)),
        percent(Some(d.availability), 2),
        seconds(Some(d.longest_outage_s))
    );
    let _ = writeln!(
        s,
        "  a store of {} bits on every hop would have covered the worst outage; \
         epsilon_total {:.3e}",
        d.store_bits_to_cover_worst_outage, d.epsilon_total
    );
}

/// The summary printed by `qkdsim route`: header, span table with the bottleneck marked,
/// one paragraph per demand, security warnings, timings.
pub fn route_table(r: &RouteReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "qkdsim route: {} (seed {}, {} s of link time per span)",
        route_title(&r.route),
        r.seed,
        number(r.duration_s)
    );
    let trusted = r.nodes.iter().filter(|n| n.trusted).count();
    let _ = writeln!(
        s,
        "{} ({} trusted), {}, {}; relay in {}-bit chunks, {}-bit authentication tags, link \
         authentication {}",
        plural(r.nodes.len(), "node", "nodes"),
        trusted,
        plural(r.spans.len(), "span", "spans"),
        plural(r.demands.len(), "demand", "demands"),
        r.relay.chunk_bits,
        r.relay.auth_tag_bits,
        match r.relay.link_auth {
            LinkAuth::PerBlock => "per block",
            LinkAuth::PerMessage => "per message",
        }
    );
    let _ = writeln!(s);
    s.push_str(&span_table(r));
    let _ = writeln!(
        s,
        "(key: final key over the duration; net: what reached the store within the duration \
         (blocks finishing later excluded), less authenticating the span's own messages; theory: finite-key rate at the span's block size; latency: mean \
         from a block's last pulse to its key)"
    );
    for sp in &r.spans {
        if let Some(reason) = &sp.aborted {
            let _ = writeln!(s, "span {} ({}): no key: {reason}", sp.index, span_name(sp));
        }
        if !sp.final_keys_match {
            let _ = writeln!(
                s,
                "span {} ({}): final keys DIFFER between Alice and Bob",
                sp.index,
                span_name(sp)
            );
        }
    }
    match bottleneck_text(r) {
        Some(b) => {
            let _ = writeln!(s, "bottleneck (minimum cut of a demand): {b}");
        }
        None => {
            let _ = writeln!(s, "bottleneck: none (no demand has a cut)");
        }
    }
    for d in &r.demands {
        let _ = writeln!(s);
        demand_paragraph(&mut s, r, d);
    }
    if !r.security_warnings.is_empty() {
        let _ = writeln!(s);
    }
    super::table::security_warning_lines(&mut s, &r.security_warnings);
    let t = &r.timings;
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "timings (this host, wall clock): spans {:.3} s in parallel (each: {}), relay {:.3} s; \
         total {:.3} s",
        t.spans_s,
        t.per_span_s
            .iter()
            .map(|v| format!("{v:.3}"))
            .collect::<Vec<_>>()
            .join(", "),
        t.relay_s,
        t.total_s
    );
    s
}

/// The placement printed by `qkdsim route plan` before the simulated route.
pub fn plan_table(route_name: &str, plan: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "qkdsim route plan: {} — required rate {} on every hop (finite-key theory)",
        route_title(route_name),
        rate_text(plan.min_rate_bps)
    );
    let _ = writeln!(
        s,
        "candidate sites (fibre km from the start): {}",
        plan.candidates
            .iter()
            .map(|(n, km)| format!("{n} {}", number(*km)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(reason) = &plan.infeasible {
        let _ = writeln!(s, "no placement reaches the required rate: {reason}");
        return s;
    }
    let inner = plan.chosen.len().saturating_sub(2);
    let _ = writeln!(
        s,
        "chosen nodes: {} ({})",
        plan.chosen.join(" → "),
        plural(inner, "trusted node", "trusted nodes")
    );
    let width = plan
        .hops
        .iter()
        .map(|h| h.from.chars().count() + h.to.chars().count() + 3)
        .max()
        .unwrap_or(0);
    for h in &plan.hops {
        let name = format!("{} → {}", h.from, h.to);
        let _ = writeln!(
            s,
            "  {}  {:>8} km  theory {} (required {})",
            pad_right(&name, width),
            number(h.length_km),
            rate_text(h.theory_secret_key_rate_bps),
            rate_text(plan.min_rate_bps)
        );
    }
    s
}

// ---------------------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------------------

/// Key store levels over link time, one step line per span (bits on the y axis), from
/// [`RouteReport::stores`].
pub fn stores_chart(report: &RouteReport) -> ChartSpec {
    let series = report
        .stores
        .iter()
        .enumerate()
        .map(|(k, st)| {
            // Steps: the level holds until the next recorded time.
            // The store starts empty at time 0.
            let mut points = Vec::with_capacity(2 * st.time_s.len() + 2);
            let mut last: Option<f64> = None;
            if st.time_s.first().is_some_and(|&t| t > 0.0) {
                points.push((0.0, 0.0));
                last = Some(0.0);
            }
            for (&t, &b) in st.time_s.iter().zip(&st.bits) {
                if let Some(prev) = last {
                    points.push((t, prev));
                }
                points.push((t, b as f64));
                last = Some(b as f64);
            }
            if let (Some(prev), Some(&(t, _))) = (last, points.last())
                && t < report.duration_s
            {
                points.push((report.duration_s, prev));
            }
            let name = match report.spans.iter().find(|s| s.index == st.span) {
                Some(s) => format!("span {}: {}", st.span, span_name(s)),
                None => format!("span {}", st.span),
            };
            Series {
                name,
                style: SeriesStyle::Line,
                points,
                error_bars: None,
                color: Some(k % PALETTE.len()),
            }
        })
        .collect();
    ChartSpec {
        title: format!("{}: key stores", route_title(&report.route)),
        x_label: "link time (s)".into(),
        y_label: "key in store (bits)".into(),
        x_log: false,
        y_log: false,
        x_ticks: Vec::new(),
        series,
    }
}

/// The `stores` chart as a [`NamedChart`] (rendered with [`super::charts`]).
pub fn route_named_charts(report: &RouteReport) -> Vec<NamedChart> {
    vec![NamedChart {
        stem: "stores".into(),
        caption: "Key store of every span over link time: final key arriving block by block, \
                  spent on authentication and one-time-pad relay."
            .into(),
        spec: stores_chart(report),
        panels: Vec::new(),
    }]
}

/// How the nodes of a route chart are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// By latitude and longitude (every node has both): equirectangular projection, x
    /// scaled by the cosine of the mean latitude, north up.
    Geographic,
    /// Along a horizontal line in file order (some node lacks coordinates); spans between
    /// nodes that are not neighbours on the line are drawn as arcs.
    Line,
}

/// A piece of text on the route chart, in pixels of a [`SVG_SIZE`] canvas.
#[derive(Debug, Clone, PartialEq)]
pub struct TextMark {
    /// The text.
    pub text: String,
    /// Centre of the text (or, when `left`, the middle of its left edge).
    pub at: (f64, f64),
    /// Anchored at its left edge (side table) rather than its centre.
    pub left: bool,
    /// Font size, pixels.
    pub size: u32,
    /// Bold (node names).
    pub bold: bool,
    /// Drawn in the bottleneck colour.
    pub highlight: bool,
    /// Drawn on a white box, so it stays readable over lines.
    pub boxed: bool,
}

impl TextMark {
    /// Half width and half height of the text's box, estimated from the number of
    /// characters (DejaVu Sans averages a little under 0.6 em per character), so the layout
    /// needs no font rendering and PNG and SVG agree.
    pub fn half(&self) -> (f64, f64) {
        let em = if self.bold { 0.64 } else { 0.58 };
        let n = self.text.chars().count() as f64;
        let s = self.size as f64;
        (n * s * em / 2.0 + 6.0, s * 0.6 + 4.0)
    }

    /// The box: (left, top, right, bottom).
    fn rect(&self) -> (f64, f64, f64, f64) {
        let (hw, hh) = self.half();
        let cx = if self.left { self.at.0 + hw } else { self.at.0 };
        (cx - hw, self.at.1 - hh, cx + hw, self.at.1 + hh)
    }
}

/// A node of the route chart.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeMark {
    /// Node name.
    pub name: String,
    /// Trusted relay (circle) or untrusted endpoint (square).
    pub trusted: bool,
    /// Pixel position (x right, y down).
    pub at: (f64, f64),
    /// The name, placed away from the node's spans and their labels.
    pub label: TextMark,
    /// The name is far from the node: a thin line joins them.
    pub leader: bool,
}

/// A span of the route chart: a quadratic curve between two node marks.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanMark {
    /// Span index.
    pub index: usize,
    /// Node indices of its ends (into [`RouteLayout::nodes`]).
    pub ends: (usize, usize),
    /// Perpendicular offset of the curve's middle from the straight line, pixels.
    pub bulge: f64,
    /// The curve, pixels.
    pub points: Vec<(f64, f64)>,
    /// Its label: index, length and secret key rate (only the index in a compact layout,
    /// where the rest is in [`RouteLayout::table`]).
    pub label: TextMark,
    /// Drawn thick and red: the span is in a minimum cut.
    pub bottleneck: bool,
}

/// Where everything of the route chart goes, computed from the report alone.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteLayout {
    /// Title.
    pub title: String,
    /// How nodes were placed.
    pub placement: Placement,
    /// Full span labels would overlap: spans are labelled by index on the map and listed
    /// with length and key rate in [`RouteLayout::table`] beside it.
    pub compact: bool,
    /// Nodes in report order.
    pub nodes: Vec<NodeMark>,
    /// Spans in report order (spans naming an unknown node are left out).
    pub spans: Vec<SpanMark>,
    /// The side table of a compact layout (empty otherwise).
    pub table: Vec<TextMark>,
}

/// A point or vector in pixels (x right, y down).
type Point = (f64, f64);

/// Canvas size of the route chart (both PNG and SVG).
const CANVAS: (f64, f64) = (SVG_SIZE.0 as f64, SVG_SIZE.1 as f64);
/// Top of the area below the title where labels may go.
const LABELS_TOP: f64 = 125.0;
/// Top of the legend strip.
const LEGEND_TOP: f64 = 880.0;
/// Plot box for the nodes: left, top, right, bottom (pixels).
const PLOT_BOX: (f64, f64, f64, f64) = (220.0, 200.0, 1380.0, 800.0);
/// Plot box of a compact layout, leaving the right part for the span table.
const COMPACT_BOX: (f64, f64, f64, f64) = (160.0, 200.0, 960.0, 800.0);
/// Left edge of the compact layout's span table.
const TABLE_X: f64 = 1040.0;
/// Half size of a node marker's box, pixels.
const NODE_HALF: f64 = 20.0;

/// Places nodes and spans of `report` on the chart canvas: full labels if none of them
/// overlap, otherwise a compact layout with a side table.
pub fn route_layout(report: &RouteReport) -> RouteLayout {
    let full = build_layout(report, false);
    if overlaps(&full) {
        build_layout(report, true)
    } else {
        full
    }
}

/// Node positions inside `plot`, and how they were placed.
fn place_nodes(report: &RouteReport, plot: (f64, f64, f64, f64)) -> (Placement, Vec<(f64, f64)>) {
    let n = report.nodes.len();
    let coords: Option<Vec<(f64, f64)>> = report
        .nodes
        .iter()
        .map(|node| match (node.lat, node.lon) {
            (Some(lat), Some(lon)) if lat.is_finite() && lon.is_finite() => Some((lat, lon)),
            _ => None,
        })
        .collect();
    let (l, t, r, b) = plot;
    let (cx, cy) = ((l + r) / 2.0, (t + b) / 2.0);
    match coords {
        Some(c) if n > 0 => {
            let mean_lat = c.iter().map(|p| p.0).sum::<f64>() / n as f64;
            let k = mean_lat.to_radians().cos();
            let xy: Vec<(f64, f64)> = c.iter().map(|&(lat, lon)| (lon * k, lat)).collect();
            let range = |f: fn(&(f64, f64)) -> f64| {
                xy.iter()
                    .map(f)
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                        (a.min(v), b.max(v))
                    })
            };
            let ((x0, x1), (y0, y1)) = (range(|p| p.0), range(|p| p.1));
            let (w, h) = (x1 - x0, y1 - y0);
            // One scale for both axes, so distances keep their proportions.
            let scale = match (w > 1e-12, h > 1e-12) {
                (true, true) => ((r - l) / w).min((b - t) / h),
                (true, false) => (r - l) / w,
                (false, true) => (b - t) / h,
                (false, false) => 0.0,
            };
            let (mx, my) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
            (
                Placement::Geographic,
                xy.iter()
                    .map(|&(x, y)| (cx + (x - mx) * scale, cy - (y - my) * scale))
                    .collect(),
            )
        }
        _ => {
            let step = if n > 1 { (r - l) / (n - 1) as f64 } else { 0.0 };
            let x0 = if n > 1 { l } else { cx };
            (
                Placement::Line,
                (0..n).map(|i| (x0 + step * i as f64, cy)).collect(),
            )
        }
    }
}

/// The curve of a span, its middle, and the unit vector from the middle towards the side
/// where its label goes. The curve bends to the left of the direction from the lower to
/// the higher node index, so parallel spans and the line layout's arcs come out the same
/// whichever way a span runs; a straight span is labelled above (or to the left when
/// vertical).
fn span_curve(p0: Point, p1: Point, bulge: f64) -> (Vec<Point>, Point, Point) {
    let (dx, dy) = (p1.0 - p0.0, p1.1 - p0.1);
    let len = (dx * dx + dy * dy).sqrt();
    if len <= 1e-9 {
        // Both ends at one place: a loop above the node.
        let h = 60.0 + bulge.abs();
        let points = (0..=24)
            .map(|i| {
                let a = std::f64::consts::TAU * i as f64 / 24.0;
                (p0.0 + 0.5 * h * a.sin(), p0.1 - 0.5 * h * (1.0 - a.cos()))
            })
            .collect();
        return (points, (p0.0, p0.1 - h), (0.0, -1.0));
    }
    // Unit normal to the left of p0 -> p1 (screen y points down).
    let (nx, ny) = (dy / len, -dx / len);
    let mid = ((p0.0 + p1.0) / 2.0, (p0.1 + p1.1) / 2.0);
    let ctrl = (mid.0 + 2.0 * bulge * nx, mid.1 + 2.0 * bulge * ny);
    let points = (0..=32)
        .map(|i| {
            let t = i as f64 / 32.0;
            let u = 1.0 - t;
            (
                u * u * p0.0 + 2.0 * u * t * ctrl.0 + t * t * p1.0,
                u * u * p0.1 + 2.0 * u * t * ctrl.1 + t * t * p1.1,
            )
        })
        .collect();
    let middle = (mid.0 + bulge * nx, mid.1 + bulge * ny);
    let side = if bulge != 0.0 {
        bulge.signum()
    } else if ny < 0.0 || (ny == 0.0 && nx < 0.0) {
        1.0
    } else {
        -1.0
    };
    (points, middle, (side * nx, side * ny))
}

/// Moves a text's box into the canvas area between the title and the legend, left of
/// `right`.
fn clamp_into_canvas(mark: &mut TextMark, right: f64) {
    let (hw, hh) = mark.half();
    let cx = if mark.left { mark.at.0 + hw } else { mark.at.0 };
    let cx = cx.clamp(hw + 8.0, (right - hw - 8.0).max(hw + 8.0));
    mark.at.0 = if mark.left { cx - hw } else { cx };
    mark.at.1 = mark.at.1.clamp(
        LABELS_TOP + hh,
        (LEGEND_TOP - hh - 6.0).max(LABELS_TOP + hh),
    );
}

/// `at + dir × d`, with d just large enough that a box of half size `half` centred there
/// clears `at` by `gap` along `dir`.
fn beside(at: (f64, f64), dir: (f64, f64), half: (f64, f64), gap: f64) -> (f64, f64) {
    let d = gap + half.0 * dir.0.abs() + half.1 * dir.1.abs();
    (at.0 + d * dir.0, at.1 + d * dir.1)
}

fn build_layout(report: &RouteReport, compact: bool) -> RouteLayout {
    let plot = if compact { COMPACT_BOX } else { PLOT_BOX };
    // Labels stay left of the side table.
    let right = if compact { TABLE_X - 20.0 } else { CANVAS.0 };
    let (placement, positions) = place_nodes(report, plot);
    let index_of = |name: &str| report.nodes.iter().position(|node| node.name == name);

    // Spans: ends, bulge (arcs on the line layout, fans of parallel spans).
    let mut spans: Vec<(usize, (usize, usize), f64, &SpanReport)> = Vec::new();
    let mut arcs = 0usize;
    for s in &report.spans {
        let (Some(a), Some(z)) = (index_of(&s.from), index_of(&s.to)) else {
            continue;
        };
        let mut bulge = 0.0;
        if placement == Placement::Line && a.abs_diff(z) > 1 {
            // Arcs alternate above and below the line, higher for longer jumps.
            let side = if arcs.is_multiple_of(2) { -1.0 } else { 1.0 };
            bulge = side * 110.0 * (a.abs_diff(z) - 1) as f64;
            arcs += 1;
        }
        spans.push((s.index, (a, z), bulge, s));
    }
    let key = |ends: (usize, usize)| (ends.0.min(ends.1), ends.0.max(ends.1));
    let bulges: Vec<f64> = spans
        .iter()
        .enumerate()
        .map(|(i, sp)| {
            let same: Vec<usize> = (0..spans.len())
                .filter(|&j| key(spans[j].1) == key(sp.1))
                .collect();
            if same.len() > 1 {
                let pos = same.iter().position(|&j| j == i).unwrap_or(0) as f64;
                sp.2 + (pos - (same.len() - 1) as f64 / 2.0) * 90.0
            } else {
                sp.2
            }
        })
        .collect();
    let size = if compact { 24 } else { 26 };
    let mut span_marks = Vec::new();
    for ((index, ends, _, s), bulge) in spans.iter().zip(bulges) {
        let (lo, hi) = key(*ends);
        let (points, middle, outward) = span_curve(positions[lo], positions[hi], bulge);
        let text = if compact {
            format!("#{index}")
        } else {
            format!(
                "#{index} · {} km · {}",
                number(s.length_km),
                rate_text(s.secret_key_rate_bps)
            )
        };
        let mut label = TextMark {
            text,
            at: middle,
            left: false,
            size,
            bold: false,
            highlight: s.bottleneck,
            boxed: true,
        };
        label.at = beside(middle, outward, label.half(), 8.0);
        clamp_into_canvas(&mut label, right);
        span_marks.push(SpanMark {
            index: *index,
            ends: *ends,
            bulge,
            points,
            label,
            bottleneck: s.bottleneck,
        });
    }

    // Node names: on the side away from the node's spans and their labels, or the first
    // direction turning away from there where the name covers no other label or node.
    let mut taken: Vec<(f64, f64, f64, f64)> = span_marks.iter().map(|m| m.label.rect()).collect();
    taken.extend(
        positions
            .iter()
            .map(|&(x, y)| (x - NODE_HALF, y - NODE_HALF, x + NODE_HALF, y + NODE_HALF)),
    );
    let mut nodes = Vec::with_capacity(report.nodes.len());
    for (i, node) in report.nodes.iter().enumerate() {
        let at = positions[i];
        let mut pull = (0.0, 0.0);
        for m in span_marks.iter().filter(|m| m.ends.0 == i || m.ends.1 == i) {
            let other = if m.ends.0 == i { m.ends.1 } else { m.ends.0 };
            for target in [positions[other], m.label.at] {
                let (dx, dy) = (target.0 - at.0, target.1 - at.1);
                let d = (dx * dx + dy * dy).sqrt();
                if d > 1e-9 {
                    pull = (pull.0 + dx / d, pull.1 + dy / d);
                }
            }
        }
        let norm = (pull.0 * pull.0 + pull.1 * pull.1).sqrt();
        let preferred = if norm > 1e-6 {
            (-pull.0 / norm, -pull.1 / norm)
        } else {
            (0.0, 1.0)
        };
        let mut label = TextMark {
            text: node.name.clone(),
            at,
            left: false,
            size: if compact { 24 } else { 28 },
            bold: true,
            highlight: false,
            boxed: true,
        };
        let own = (
            at.0 - NODE_HALF,
            at.1 - NODE_HALF,
            at.0 + NODE_HALF,
            at.1 + NODE_HALF,
        );
        let place = |label: &TextMark, dir: (f64, f64), gap: f64| {
            let mut l = label.clone();
            l.at = beside(at, dir, l.half(), gap);
            clamp_into_canvas(&mut l, right);
            l
        };
        // The first candidate that covers nothing, else the one covering the least area.
        let mut chosen: Option<(f64, TextMark)> = None;
        'search: for gap in [NODE_HALF + 4.0, NODE_HALF + 40.0, NODE_HALF + 90.0] {
            for turn in [0.0, 45.0, -45.0, 90.0, -90.0, 135.0, -135.0, 180.0_f64] {
                let (sn, cs) = turn.to_radians().sin_cos();
                let dir = (
                    preferred.0 * cs - preferred.1 * sn,
                    preferred.0 * sn + preferred.1 * cs,
                );
                let candidate = place(&label, dir, gap);
                let r = candidate.rect();
                let covered: f64 = taken
                    .iter()
                    .filter(|t| **t != own)
                    .map(|t| overlap_area(&r, t))
                    .sum();
                if chosen.as_ref().is_none_or(|(best, _)| covered < *best) {
                    chosen = Some((covered, candidate));
                }
                if covered == 0.0 {
                    break 'search;
                }
            }
        }
        let chosen = chosen.map_or_else(|| place(&label, preferred, NODE_HALF + 4.0), |c| c.1);
        // A name pushed away from its node gets a thin line to it.
        let (hw, hh) = chosen.half();
        let (dx, dy) = (chosen.at.0 - at.0, chosen.at.1 - at.1);
        let leader = dx.abs() > hw + NODE_HALF + 12.0 || dy.abs() > hh + NODE_HALF + 12.0;
        label = chosen;
        taken.push(label.rect());
        nodes.push(NodeMark {
            name: node.name.clone(),
            trusted: node.trusted,
            at,
            label,
            leader,
        });
    }

    // The compact layout's side table: two lines per span.
    let mut table = Vec::new();
    if compact && !report.spans.is_empty() {
        let rows = 2 * report.spans.len() + 1;
        let line = ((LEGEND_TOP - 20.0 - LABELS_TOP) / rows as f64).min(32.0);
        let size = ((line * 0.78).floor() as u32).clamp(8, 24);
        let mut y = LABELS_TOP + line / 2.0;
        let mut push = |text: String, indent: f64, y: f64, highlight: bool, bold: bool| {
            table.push(TextMark {
                text,
                at: (TABLE_X + indent, y),
                left: true,
                size,
                bold,
                highlight,
                boxed: false,
            });
        };
        push("spans".into(), 0.0, y, false, true);
        y += line;
        for s in &report.spans {
            push(
                format!("#{} {}", s.index, span_name(s)),
                0.0,
                y,
                s.bottleneck,
                false,
            );
            y += line;
            push(
                format!(
                    "{} km · {}{}",
                    number(s.length_km),
                    rate_text(s.secret_key_rate_bps),
                    if s.bottleneck { " · bottleneck" } else { "" }
                ),
                size as f64 * 1.6,
                y,
                s.bottleneck,
                false,
            );
            y += line;
        }
    }
    RouteLayout {
        title: format!("{}: route", route_title(&report.route)),
        placement,
        compact,
        nodes,
        spans: span_marks,
        table,
    }
}

/// The area two boxes (left, top, right, bottom) share.
fn overlap_area(a: &(f64, f64, f64, f64), b: &(f64, f64, f64, f64)) -> f64 {
    let w = (a.2.min(b.2) - a.0.max(b.0)).max(0.0);
    let h = (a.3.min(b.3) - a.1.max(b.1)).max(0.0);
    w * h
}

/// True if two boxes (left, top, right, bottom) overlap.
fn rects_hit(a: &(f64, f64, f64, f64), b: &(f64, f64, f64, f64)) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// True if two labels' boxes overlap, or a label covers a node.
fn overlaps(layout: &RouteLayout) -> bool {
    let mut boxes: Vec<(f64, f64, f64, f64)> =
        layout.spans.iter().map(|m| m.label.rect()).collect();
    boxes.extend(layout.nodes.iter().map(|n| n.label.rect()));
    let hit = rects_hit;
    let markers: Vec<(f64, f64, f64, f64)> = layout
        .nodes
        .iter()
        .map(|n| {
            let (x, y) = n.at;
            (x - NODE_HALF, y - NODE_HALF, x + NODE_HALF, y + NODE_HALF)
        })
        .collect();
    boxes
        .iter()
        .enumerate()
        .any(|(i, a)| boxes[i + 1..].iter().any(|b| hit(a, b)) || markers.iter().any(|m| hit(a, m)))
}

const BOTTLENECK: RGBColor = PALETTE[1];
const SPAN_COLOR: RGBColor = RGBColor(90, 90, 90);

fn px(p: (f64, f64)) -> (i32, i32) {
    (p.0.round() as i32, p.1.round() as i32)
}

fn draw_text<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    mark: &TextMark,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    if mark.boxed {
        let (l, t, r, b) = mark.rect();
        root.draw(&Rectangle::new(
            [px((l, t)), px((r, b))],
            WHITE.mix(0.9).filled(),
        ))?;
    }
    let color = if mark.highlight { BOTTLENECK } else { BLACK };
    let font = ("sans-serif", mark.size).into_font();
    let font = if mark.bold {
        font.style(FontStyle::Bold)
    } else {
        font
    };
    let (h, at) = if mark.left {
        (HPos::Left, mark.at)
    } else {
        (HPos::Center, mark.at)
    };
    let style = font
        .into_text_style(root)
        .pos(Pos::new(h, VPos::Center))
        .color(&color);
    root.draw(&Text::new(mark.text.clone(), px(at), style))
}

fn draw_route<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, layout: &RouteLayout) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| {
        Error::InvalidArgument(format!("cannot draw chart \"{}\": {e}", layout.title))
    };
    root.fill(&WHITE).map_err(err)?;
    let (w, h) = root.dim_in_pixel();
    let heading = |text: &str, y: i32, size: u32, bold: bool| TextMark {
        text: text.to_string(),
        at: (w as f64 / 2.0, y as f64),
        left: false,
        size,
        bold,
        highlight: false,
        boxed: false,
    };
    draw_text(&root, &heading(&layout.title, 50, 44, true)).map_err(err)?;
    let subtitle = match layout.placement {
        Placement::Geographic => {
            "nodes placed by latitude and longitude (equirectangular, north up)"
        }
        Placement::Line => "nodes in file order (not every node has coordinates)",
    };
    draw_text(&root, &heading(subtitle, 98, 26, false)).map_err(err)?;

    // Spans: ordinary ones first, the bottleneck on top; then the labels, then the nodes.
    for pass in [false, true] {
        for m in layout.spans.iter().filter(|m| m.bottleneck == pass) {
            let style = if m.bottleneck {
                BOTTLENECK.stroke_width(12)
            } else {
                SPAN_COLOR.stroke_width(5)
            };
            let points: Vec<(i32, i32)> = m.points.iter().map(|&p| px(p)).collect();
            root.draw(&PathElement::new(points, style)).map_err(err)?;
        }
    }
    for m in &layout.spans {
        draw_text(&root, &m.label).map_err(err)?;
    }
    for node in layout.nodes.iter().filter(|n| n.leader) {
        // From the node to the nearest point of the name's box.
        let (l, t, r, b) = node.label.rect();
        let end = (node.at.0.clamp(l, r), node.at.1.clamp(t, b));
        root.draw(&PathElement::new(
            vec![px(node.at), px(end)],
            RGBColor(150, 150, 150).stroke_width(2),
        ))
        .map_err(err)?;
    }
    for node in &layout.nodes {
        draw_text(&root, &node.label).map_err(err)?;
    }
    for node in &layout.nodes {
        draw_node(&root, px(node.at), node.trusted).map_err(err)?;
    }
    for row in &layout.table {
        draw_text(&root, row).map_err(err)?;
    }

    // Legend along the bottom, centred.
    let y = (LEGEND_TOP + 50.0) as i32;
    let mut entries: Vec<(u8, &str)> = vec![
        (0, "trusted node"),
        (1, "untrusted endpoint"),
        (2, "span: #, length, key rate"),
    ];
    if layout.spans.iter().any(|m| m.bottleneck) {
        entries.push((3, "bottleneck (minimum cut)"));
    }
    let labels: Vec<TextMark> = entries
        .iter()
        .map(|(_, text)| TextMark {
            text: text.to_string(),
            at: (0.0, y as f64),
            left: true,
            size: 26,
            bold: false,
            highlight: false,
            boxed: false,
        })
        .collect();
    let (mark, gap) = (60, 44);
    let mut widths: Vec<i32> = Vec::new();
    for l in &labels {
        let style = ("sans-serif", l.size).into_font().into_text_style(&root);
        widths.push(root.estimate_text_size(&l.text, &style).map_err(err)?.0 as i32);
    }
    let total: i32 =
        widths.iter().map(|tw| mark + tw).sum::<i32>() + gap * (widths.len() as i32 - 1);
    let mut x = (w as i32 - total) / 2;
    root.draw(&Rectangle::new(
        [(x - 30, y - 38), (x + total + 30, y + 38)],
        BLACK.stroke_width(2),
    ))
    .map_err(err)?;
    for (((kind, _), mut label), tw) in entries.into_iter().zip(labels).zip(widths) {
        match kind {
            0 => draw_node(&root, (x + 20, y), true).map_err(err)?,
            1 => draw_node(&root, (x + 20, y), false).map_err(err)?,
            2 => root
                .draw(&PathElement::new(
                    vec![(x, y), (x + 46, y)],
                    SPAN_COLOR.stroke_width(5),
                ))
                .map_err(err)?,
            _ => root
                .draw(&PathElement::new(
                    vec![(x, y), (x + 46, y)],
                    BOTTLENECK.stroke_width(12),
                ))
                .map_err(err)?,
        }
        label.at.0 = (x + mark) as f64;
        draw_text(&root, &label).map_err(err)?;
        x += mark + tw + gap;
    }
    let _ = h;
    root.present().map_err(err)?;
    Ok(())
}

fn draw_node<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    at: (i32, i32),
    trusted: bool,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    if trusted {
        root.draw(&Circle::new(at, 17, PALETTE[0].filled()))?;
        root.draw(&Circle::new(at, 17, BLACK.stroke_width(3)))
    } else {
        let r = 16;
        root.draw(&Rectangle::new(
            [(at.0 - r, at.1 - r), (at.0 + r, at.1 + r)],
            WHITE.filled(),
        ))?;
        root.draw(&Rectangle::new(
            [(at.0 - r, at.1 - r), (at.0 + r, at.1 + r)],
            BLACK.stroke_width(5),
        ))
    }
}

/// The route chart as an SVG document ([`SVG_SIZE`]).
pub fn route_chart_svg(report: &RouteReport) -> Result<String> {
    register_fonts();
    let layout = route_layout(report);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SVG_SIZE).into_drawing_area();
        draw_route(root, &layout)?;
    }
    Ok(out)
}

/// The route chart as PNG bytes ([`PNG_SIZE`], RGB, 300 dpi).
pub fn route_chart_png(report: &RouteReport) -> Result<Vec<u8>> {
    register_fonts();
    let layout = route_layout(report);
    let (w, h) = PNG_SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw_route(root, &layout)?;
    }
    super::charts::encode_png(&rgb, w, h)
}

// ---------------------------------------------------------------------------------------
// report.md
// ---------------------------------------------------------------------------------------

/// How the route's spans authenticate their own post-processing, one sentence.
fn link_auth_text(report: &RouteReport) -> String {
    let t = report.relay.auth_tag_bits;
    match report.relay.link_auth {
        LinkAuth::PerBlock => format!(
            "Each party authenticates its whole post-processing transcript of a block \
             (sifting, Cascade, verification, privacy-amplification seed) with one \
             Wegman–Carter tag of {t} bits before the key is used (`relay.link_auth = \
             \"per_block\"`): {} bits per block,",
            2 * t
        ),
        LinkAuth::PerMessage => format!(
            "Every classical message of a block's post-processing carries its own \
             Wegman–Carter tag of {t} bits (`relay.link_auth = \"per_message\"`), two \
             messages per round trip,"
        ),
    }
}

/// The relay and authentication model in one paragraph, with the route's parameters.
pub fn relay_model_paragraph(report: &RouteReport) -> String {
    format!(
        "**Relay and authentication model.** Every span is a full link simulation (engine, \
         sifting, Cascade, verification, finite-key length, privacy amplification) of {d} s of \
         link time, seeded by the route seed and the span index, all spans in parallel. A \
         block's final key enters the span's key store, held at both of its ends, when it \
         exists (the block's last pulse plus the modelled post-processing latency); key of \
         blocks that finish after the duration is counted as late and never stored. {auth} \
         paid from the span's store when the block's key arrives (from the pre-shared \
         bootstrap key while the store is empty). A \
         demand asks for a {c}-bit chunk every {c} / rate seconds; a chunk is relayed hop by \
         hop along a path through trusted nodes by one-time pad, spending {c} bits on its \
         first hop and {c} + {t} bits (pad and relay-message tag) on every further hop; \
         every trusted node on the path sees the key, so it must be trusted. A request takes \
         the first path, shortest first, whose stores all hold enough key. The deliverable \
         end-to-end rate is the maximum flow over the spans' net key (arrived, less \
         authentication) over the duration, a span touching the demand's first end counting \
         in full (it can only be a first hop) and any other span times {c} / ({c} + {t}) (it \
         can only be a later hop); the spans of a minimum cut are the bottleneck. Both ends' keys are \
         compared bit for bit. Time while a requested chunk is due and not delivered is \
         outage; availability is one minus the outage over the duration. One-time-pad relay \
         adds no failure probability of its own: a demand's epsilon is the sum of the \
         composed epsilons of the spans on its paths.",
        d = number(report.duration_s),
        c = report.relay.chunk_bits,
        t = report.relay.auth_tag_bits,
        auth = link_auth_text(report),
    )
}

fn security_section(s: &mut String, warnings: &[SecurityWarning]) {
    super::markdown::security_section_for(s, warnings, "Some spans leave");
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The plan as a markdown section.
fn plan_section(s: &mut String, plan: &Plan) {
    let _ = writeln!(s, "## Plan\n");
    let _ = writeln!(
        s,
        "Required rate on every hop: {} (finite-key theory at each hop's block size).\n",
        rate_text(plan.min_rate_bps)
    );
    let _ = writeln!(
        s,
        "Candidate sites (fibre km from the start): {}.\n",
        plan.candidates
            .iter()
            .map(|(n, km)| format!("{} {}", md_cell(n), number(*km)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(reason) = &plan.infeasible {
        let _ = writeln!(
            s,
            "**No placement reaches the required rate:** {}\n",
            md_cell(reason)
        );
        return;
    }
    let _ = writeln!(s, "Chosen nodes: {}.\n", md_cell(&plan.chosen.join(" → ")));
    let _ = writeln!(
        s,
        "| hop | km | theory key rate | required |\n|---|---:|---:|---:|"
    );
    for h in &plan.hops {
        let _ = writeln!(
            s,
            "| {} → {} | {} | {} | {} |",
            md_cell(&h.from),
            md_cell(&h.to),
            number(h.length_km),
            rate_text(h.theory_secret_key_rate_bps),
            rate_text(plan.min_rate_bps)
        );
    }
    let _ = writeln!(s);
}

fn provenance_section(s: &mut String, report: Option<&RouteReport>, provenance: &Provenance) {
    let _ = writeln!(s, "## Reproducing this result\n");
    let _ = writeln!(s, "- qkdsim version {}", provenance.version);
    let _ = writeln!(s, "- command: `{}`", provenance.command);
    if let Some(r) = report {
        let _ = writeln!(
            s,
            "- route seed {}; span i runs with seed `derive_seed({}, RouteSpan, i)` (listed per \
             span in `results.json` and `results.csv`)",
            r.seed, r.seed
        );
    }
    let _ = writeln!(
        s,
        "- results are identical for any thread count (wall-clock timings aside); the numbers \
         behind every chart are in `results.json`, `results.csv`, `demands.csv` and \
         `stores.csv`\n"
    );
}

/// `report.md` of a route (and of a plan, when `plan` is given; `report` is `None` when
/// the plan is infeasible). `charts` are the charts written beside it, `route` included
/// when `with_route_chart`.
pub fn route_markdown(
    report: Option<&RouteReport>,
    plan: Option<&Plan>,
    charts: &[NamedChart],
    with_route_chart: bool,
    provenance: &Provenance,
    plan_route_name: &str,
) -> String {
    let mut s = String::new();
    let name = report.map_or(plan_route_name, |r| r.route.as_str());
    let what = if plan.is_some() {
        "trusted-node plan"
    } else {
        "route through trusted nodes"
    };
    let _ = writeln!(s, "# {}: {what}\n", route_title(name));
    if let Some(r) = report
        && !r.description.is_empty()
    {
        let _ = writeln!(s, "{}\n", r.description);
    }
    if let Some(p) = plan {
        plan_section(&mut s, p);
    }
    let Some(r) = report else {
        provenance_section(&mut s, None, provenance);
        return s;
    };
    security_section(&mut s, &r.security_warnings);
    let trusted = r.nodes.iter().filter(|n| n.trusted).count();
    let _ = writeln!(
        s,
        "{} ({} trusted), {}, {}; {} s of link time per span; seed {}.\n",
        plural(r.nodes.len(), "node", "nodes"),
        trusted,
        plural(r.spans.len(), "span", "spans"),
        plural(r.demands.len(), "demand", "demands"),
        number(r.duration_s),
        r.seed
    );
    let _ = writeln!(s, "## Spans\n");
    let _ = writeln!(
        s,
        "| # | span | km | loss (dB) | QBER Z | secret key rate | net rate after authentication \
         | finite-key theory | first key (s) | mean latency (s) | store at end (bits) | |"
    );
    let _ = writeln!(
        s,
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for sp in &r.spans {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            sp.index,
            md_cell(&span_name(sp)),
            number(sp.length_km),
            number(sp.loss_db),
            percent(sp.qber_z, 2),
            rate_text(sp.secret_key_rate_bps),
            rate_text(sp.net_key_rate_bps),
            rate_text(sp.theory_secret_key_rate_bps),
            opt_number(sp.first_key_s),
            number(sp.mean_latency_s),
            sp.store_final_bits,
            if sp.bottleneck { "**bottleneck**" } else { "" }
        );
    }
    let _ = writeln!(s);
    for sp in &r.spans {
        if let Some(reason) = &sp.aborted {
            let _ = writeln!(
                s,
                "- span {} ({}) produced no key: {}",
                sp.index,
                md_cell(&span_name(sp)),
                md_cell(reason)
            );
        }
        if !sp.final_keys_match {
            let _ = writeln!(
                s,
                "- span {} ({}): final keys **differ** between Alice and Bob",
                sp.index,
                md_cell(&span_name(sp))
            );
        }
    }
    match bottleneck_text(r) {
        Some(b) => {
            let _ = writeln!(
                s,
                "**Bottleneck** (spans in the minimum cut of a demand): {}.\n",
                md_cell(&b)
            );
        }
        None => {
            let _ = writeln!(s, "No demand has a minimum cut (no bottleneck).\n");
        }
    }
    let _ = writeln!(s, "## Demands\n");
    if r.demands.is_empty() {
        let _ = writeln!(s, "The route file names no demands.\n");
    }
    for d in &r.demands {
        let _ = writeln!(
            s,
            "### Demand {}: {} → {}, {} requested\n",
            d.index,
            md_cell(&d.from),
            md_cell(&d.to),
            rate_text(d.rate_bps)
        );
        let _ = writeln!(s, "| figure | value |\n|---|---|");
        let path = if d.path.is_empty() {
            "none through trusted nodes".to_string()
        } else {
            d.path.join(" → ")
        };
        let _ = writeln!(s, "| path | {} |", md_cell(&path));
        if d.paths.len() > 1 {
            let _ = writeln!(
                s,
                "| paths used | {} |",
                md_cell(
                    &d.paths
                        .iter()
                        .map(|p| p.join(" → "))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            );
        }
        let _ = writeln!(
            s,
            "| deliverable end-to-end rate (maximum flow) | {}{} |",
            rate_text(d.secret_key_rate_bps),
            if d.secret_key_rate_bps < d.rate_bps {
                " (**short** of the request)"
            } else {
                ""
            }
        );
        let _ = writeln!(s, "| minimum cut | {} |", md_cell(&cut_text(r, &d.min_cut)));
        let _ = writeln!(
            s,
            "| delivered / requested bits | {} / {} ({}) |",
            d.delivered_bits,
            d.requested_bits,
            rate_text(d.delivered_rate_bps)
        );
        let _ = writeln!(s, "| keys match at both ends | {} |", yes_no(d.keys_match));
        let _ = writeln!(
            s,
            "| time to first key | {} |",
            seconds(d.time_to_first_key_s)
        );
        let _ = writeln!(
            s,
            "| outage / availability | {} / {} |",
            seconds(Some(d.outage_s)),
            percent(Some(d.availability), 2)
        );
        let _ = writeln!(
            s,
            "| longest outage | {} |",
            seconds(Some(d.longest_outage_s))
        );
        let _ = writeln!(
            s,
            "| store per hop that would have covered the worst outage | {} bits |",
            d.store_bits_to_cover_worst_outage
        );
        let _ = writeln!(
            s,
            "| key spent on relay (one-time pad / authentication) | {} / {} bits |",
            d.relay_bits, d.relay_auth_bits
        );
        let _ = writeln!(s, "| epsilon_total | {:.3e} |\n", d.epsilon_total);
    }
    let _ = writeln!(s, "## Relay and authentication\n");
    let _ = writeln!(s, "{}\n", relay_model_paragraph(r));
    let _ = writeln!(s, "## Charts\n");
    if with_route_chart {
        let _ = writeln!(
            s,
            "![{}: route](route.png)\n\n*The route: trusted nodes (circles), untrusted \
             endpoints (squares), spans labelled with length and secret key rate, the \
             bottleneck thick and red.* (Vector version: [route.svg](route.svg).)\n",
            md_cell(route_title(&r.route))
        );
    }
    for c in charts {
        let _ = writeln!(
            s,
            "![{title}]({stem}.png)\n\n*{caption}* (Vector version: [{stem}.svg]({stem}.svg).)\n",
            title = md_cell(&c.spec.title),
            stem = c.stem,
            caption = c.caption
        );
    }
    provenance_section(&mut s, Some(r), provenance);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::plan::PlannedHop;
    use crate::route::{Node, RelayParams, RouteTimings, StoreSeries};

    fn span(
        index: usize,
        from: &str,
        to: &str,
        km: f64,
        rate: f64,
        bottleneck: bool,
    ) -> SpanReport {
        SpanReport {
            index,
            from: from.into(),
            to: to.into(),
            length_km: km,
            loss_db: km * 0.2 + 3.0,
            seed: 100 + index as u64,
            engine: "event".into(),
            pulses_sent: 20_000_000,
            sifted_bits_z: 200_000,
            qber_z: if rate > 0.0 { Some(0.0123) } else { None },
            qber_x: None,
            blocks: 2,
            aborted_blocks: if rate > 0.0 { 0 } else { 2 },
            secret_bits: (rate * 0.02) as u64,
            secret_key_rate_bps: rate,
            net_key_rate_bps: rate * 0.9,
            theory_secret_key_rate_bps: rate * 1.1,
            mean_latency_s: 0.0042,
            first_key_s: (rate > 0.0).then_some(0.011),
            final_keys_match: true,
            aborted: (rate == 0.0).then(|| "QBER above qber_abort".to_string()),
            arrived_bits: (rate * 0.02) as u64,
            link_auth_bits: 256,
            preshared_auth_bits: 0,
            relay_bits: 1024,
            relay_auth_bits: 128,
            late_bits: 0,
            store_final_bits: 4000,
            store_max_bits: 9000,
            bottleneck,
            security_warnings: Vec::new(),
            epsilon_total: 2e-9,
        }
    }

    fn report() -> RouteReport {
        let node = |name: &str, lat: Option<f64>, lon: Option<f64>, trusted: bool| Node {
            name: name.into(),
            lat,
            lon,
            trusted,
        };
        RouteReport {
            route: "Bayreuth – Hof – Zwickau".into(),
            description: "test | route".into(),
            seed: 7,
            duration_s: 0.02,
            relay: RelayParams::default(),
            nodes: vec![
                node("Bayreuth", Some(49.94), Some(11.58), false),
                node("Hof", Some(50.31), Some(11.92), true),
                node("Zwickau", Some(50.72), Some(12.49), false),
            ],
            spans: vec![
                span(0, "Bayreuth", "Hof", 60.0, 12_345.0, true),
                span(1, "Hof", "Zwickau", 45.0, 25_000.0, false),
            ],
            demands: vec![DemandReport {
                index: 0,
                from: "Bayreuth".into(),
                to: "Zwickau".into(),
                rate_bps: 20_000.0,
                path: vec!["Bayreuth".into(), "Hof".into(), "Zwickau".into()],
                paths: vec![vec!["Bayreuth".into(), "Hof".into(), "Zwickau".into()]],
                secret_key_rate_bps: 10_000.0,
                requested_bits: 400,
                delivered_bits: 256,
                delivered_rate_bps: 12_800.0,
                keys_match: true,
                min_cut: vec![0],
                time_to_first_key_s: Some(0.012),
                outage_s: 0.013,
                availability: 0.35,
                longest_outage_s: 0.012,
                store_bits_to_cover_worst_outage: 512,
                relay_bits: 512,
                relay_auth_bits: 256,
                epsilon_total: 4e-9,
            }],
            stores: vec![
                StoreSeries {
                    span: 0,
                    time_s: vec![0.011, 0.012, 0.018],
                    bits: vec![3000, 2744, 4000],
                },
                StoreSeries {
                    span: 1,
                    time_s: vec![0.009],
                    bits: vec![6000],
                },
            ],
            security_warnings: vec![SecurityWarning {
                code: "afterpulsing".into(),
                message: "span 1 (Hof → Zwickau): afterpulsing".into(),
                reference: "Lim et al. 2014".into(),
            }],
            timings: RouteTimings {
                spans_s: 1.5,
                per_span_s: vec![1.2, 1.4],
                relay_s: 0.01,
                total_s: 1.6,
            },
        }
    }

    fn plan() -> Plan {
        Plan {
            min_rate_bps: 1000.0,
            candidates: vec![
                ("A".into(), 0.0),
                ("B".into(), 40.0),
                ("C".into(), 85.0),
                ("D".into(), 120.0),
            ],
            chosen: vec!["A".into(), "C".into(), "D".into()],
            hops: vec![
                PlannedHop {
                    from: "A".into(),
                    to: "C".into(),
                    length_km: 85.0,
                    theory_secret_key_rate_bps: 2300.0,
                },
                PlannedHop {
                    from: "C".into(),
                    to: "D".into(),
                    length_km: 35.0,
                    theory_secret_key_rate_bps: 51_000.0,
                },
            ],
            infeasible: None,
        }
    }

    #[test]
    fn rates_get_a_unit_for_their_size() {
        assert_eq!(rate_text(12.5), "12.5 bit/s");
        assert_eq!(rate_text(12_345.0), "12.35 kbit/s");
        assert_eq!(rate_text(2.5e6), "2.5 Mbit/s");
        assert_eq!(rate_text(0.0), "0 bit/s");
    }

    #[test]
    fn table_marks_the_bottleneck_and_reports_the_demand() {
        let t = route_table(&report());
        println!("{t}");
        assert!(
            t.contains("qkdsim route: Bayreuth – Hof – Zwickau (seed 7"),
            "{t}"
        );
        let span0 = t.lines().find(|l| l.contains("Bayreuth → Hof")).unwrap();
        assert!(span0.ends_with("◀ bottleneck"), "{span0}");
        assert!(span0.contains("12.35"), "{span0}");
        assert!(span0.contains("1.23%"), "{span0}");
        let span1 = t.lines().find(|l| l.contains("Hof → Zwickau")).unwrap();
        assert!(!span1.contains("bottleneck"), "{span1}");
        assert!(t.contains("path: Bayreuth → Hof → Zwickau"), "{t}");
        assert!(t.contains("maximum flow): 10 kbit/s — SHORT"), "{t}");
        assert!(t.contains("minimum cut: span 0 (Bayreuth → Hof)"), "{t}");
        assert!(t.contains("delivered 256 of 400 requested bits"), "{t}");
        assert!(t.contains("keys match at both ends: yes"), "{t}");
        assert!(t.contains("availability 35.00%"), "{t}");
        assert!(t.contains("longest outage 0.012 s"), "{t}");
        assert!(t.contains("a store of 512 bits"), "{t}");
        assert!(t.contains("SECURITY WARNING [afterpulsing]"), "{t}");
        // Columns line up: every span row is as long as the header up to the marker.
        let header = t.lines().find(|l| l.contains("QBER Z")).unwrap();
        let width = header.chars().count();
        assert_eq!(span1.chars().count(), width, "{header}\n{span1}");
    }

    #[test]
    fn undefined_qber_and_first_key_are_dashes() {
        let mut r = report();
        r.spans[1] = span(1, "Hof", "Zwickau", 45.0, 0.0, false);
        let t = route_table(&r);
        let row = t.lines().find(|l| l.contains("Hof → Zwickau")).unwrap();
        assert_eq!(row.matches(UNDEFINED).count(), 2, "{row}");
        assert!(
            t.contains("span 1 (Hof → Zwickau): no key: QBER above"),
            "{t}"
        );
        let json: serde_json::Value = serde_json::from_str(&route_json(&r)).unwrap();
        assert!(json["spans"][1]["qber_z"].is_null());
        assert!(json["spans"][1]["first_key_s"].is_null());
        let csv = spans_csv(&r).unwrap();
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let row: Vec<&str> = csv.lines().nth(2).unwrap().split(',').collect();
        let q = header.iter().position(|h| *h == "qber_z").unwrap();
        assert_eq!(row[q], "");
    }

    #[test]
    fn json_has_the_contract_fields() {
        let json: serde_json::Value = serde_json::from_str(&route_json(&report())).unwrap();
        for k in ["route", "spans", "demands", "timings"] {
            assert!(json.get(k).is_some(), "{k}");
        }
        for k in [
            "index",
            "from",
            "to",
            "length_km",
            "loss_db",
            "qber_z",
            "secret_bits",
            "secret_key_rate_bps",
            "mean_latency_s",
        ] {
            assert!(json["spans"][0].get(k).is_some(), "spans.{k}");
        }
        for k in [
            "from",
            "to",
            "path",
            "secret_key_rate_bps",
            "delivered_bits",
            "keys_match",
            "min_cut",
            "time_to_first_key_s",
            "outage_s",
            "availability",
        ] {
            assert!(json["demands"][0].get(k).is_some(), "demands.{k}");
        }
        let doc: serde_json::Value =
            serde_json::from_str(&plan_json(&plan(), Some(&report()))).unwrap();
        assert_eq!(doc["plan"]["chosen"][1], "C");
        assert_eq!(doc["route"]["route"], "Bayreuth – Hof – Zwickau");
        let none: serde_json::Value = serde_json::from_str(&plan_json(&plan(), None)).unwrap();
        assert!(none["route"].is_null());
    }

    #[test]
    fn csv_files_have_one_row_per_record() {
        let r = report();
        let spans = spans_csv(&r).unwrap();
        assert_eq!(spans.lines().count(), 3);
        assert!(
            spans.starts_with("index,from,to,length_km,loss_db,"),
            "{spans}"
        );
        assert!(spans.lines().next().unwrap().contains("bottleneck"));
        let demands = demands_csv(&r).unwrap();
        assert_eq!(demands.lines().count(), 2);
        assert!(demands.contains("Bayreuth>Hof>Zwickau"), "{demands}");
        let header = demands.lines().next().unwrap();
        assert_eq!(format!("{header}\n"), DEMAND_HEADER);
        let mut empty = r.clone();
        empty.demands.clear();
        assert_eq!(demands_csv(&empty).unwrap(), DEMAND_HEADER);
        let stores = stores_csv(&r).unwrap();
        assert_eq!(
            stores,
            "span,time_s,bits\n0,0.011,3000\n0,0.012,2744\n0,0.018,4000\n1,0.009,6000\n"
        );
        let plan = plan_csv(&plan()).unwrap();
        assert_eq!(plan.lines().count(), 3);
        assert!(plan.contains("A,C,85,2300,1000"), "{plan}");
    }

    #[test]
    fn markdown_has_spans_demands_model_and_command() {
        let r = report();
        let provenance = Provenance {
            version: "0.1.0".into(),
            command: "qkdsim route r.toml --out o".into(),
        };
        let md = route_markdown(
            Some(&r),
            None,
            &route_named_charts(&r),
            true,
            &provenance,
            "",
        );
        assert!(md.starts_with("# Bayreuth – Hof – Zwickau: route"), "{md}");
        assert!(md.contains("test \\| route") || md.contains("test | route"));
        assert!(md.contains("| 0 | Bayreuth → Hof | 60 |"), "{md}");
        assert!(md.contains("**bottleneck**"));
        assert!(md.contains("### Demand 0: Bayreuth → Zwickau"));
        assert!(
            md.contains("| outage / availability | 0.013 s / 35.00% |"),
            "{md}"
        );
        assert!(md.contains("Relay and authentication model"));
        assert!(
            md.contains("a 256-bit chunk every 256 / rate seconds"),
            "{md}"
        );
        assert!(md.contains("![Bayreuth – Hof – Zwickau: route](route.png)"));
        assert!(md.contains("(stores.png)"));
        assert!(md.contains("`qkdsim route r.toml --out o`"));
        assert!(md.contains("## Security warnings"));
        let with_plan = route_markdown(Some(&r), Some(&plan()), &[], true, &provenance, "");
        assert!(with_plan.contains("## Plan"));
        assert!(with_plan.contains("Chosen nodes: A → C → D."));
        let mut infeasible = plan();
        infeasible.infeasible = Some("100 km hop too long".into());
        let md = route_markdown(None, Some(&infeasible), &[], false, &provenance, "Corridor");
        assert!(md.contains("# Corridor: trusted-node plan"));
        assert!(md.contains("100 km hop too long"));
        assert!(!md.contains("## Spans"));
    }

    #[test]
    fn plan_table_lists_candidates_chosen_and_hops() {
        let t = plan_table("Corridor", &plan());
        assert!(t.contains("required rate 1 kbit/s"), "{t}");
        assert!(t.contains("A 0, B 40, C 85, D 120"), "{t}");
        assert!(
            t.contains("chosen nodes: A → C → D (1 trusted node)"),
            "{t}"
        );
        assert!(t.contains("A → C"), "{t}");
        assert!(t.contains("theory 2.3 kbit/s (required 1 kbit/s)"), "{t}");
        let mut p = plan();
        p.infeasible = Some("too far".into());
        assert!(plan_table("C", &p).contains("no placement reaches the required rate: too far"));
    }

    #[test]
    fn layout_is_geographic_with_coordinates_and_a_line_without() {
        let r = report();
        let l = route_layout(&r);
        assert_eq!(l.placement, Placement::Geographic);
        let (b, h, z) = (l.nodes[0].at, l.nodes[1].at, l.nodes[2].at);
        // Zwickau is north-east of Bayreuth: right and up (y down).
        assert!(z.0 > b.0 && z.1 < b.1, "{b:?} {z:?}");
        assert!(h.0 > b.0 && h.0 < z.0);
        for n in &l.nodes {
            let (x0, y0, x1, y1) = PLOT_BOX;
            let (_, top, _, bottom) = n.label.rect();
            assert!(top >= LABELS_TOP && bottom <= LEGEND_TOP, "{n:?}");
            assert!((x0 - 0.5..=x1 + 0.5).contains(&n.at.0), "{n:?}");
            assert!((y0 - 0.5..=y1 + 0.5).contains(&n.at.1), "{n:?}");
        }
        assert!(l.spans[0].bottleneck && !l.spans[1].bottleneck);
        assert_eq!(l.spans[0].label.text, "#0 · 60 km · 12.35 kbit/s");
        assert!(l.spans[0].label.highlight && !l.spans[1].label.highlight);
        assert!(!l.compact && l.table.is_empty());
        // Labels clear each other and the nodes.
        assert!(!overlaps(&l));

        let mut r = r;
        r.nodes[1].lat = None;
        r.spans
            .push(span(2, "Bayreuth", "Zwickau", 110.0, 1000.0, false));
        let l = route_layout(&r);
        assert_eq!(l.placement, Placement::Line);
        assert!(l.nodes.iter().all(|n| n.at.1 == l.nodes[0].at.1));
        assert!(l.nodes[0].at.0 < l.nodes[1].at.0 && l.nodes[1].at.0 < l.nodes[2].at.0);
        // The span skipping Hof is an arc.
        assert!(l.spans[2].bulge != 0.0 && l.spans[0].bulge == 0.0);
    }

    #[test]
    fn crowded_routes_get_index_labels_and_a_side_table() {
        let mut r = report();
        // Nine nodes a few kilometres apart along a line of latitude and longitude.
        r.nodes = (0..9)
            .map(|i| Node {
                name: format!("Station {i}"),
                lat: Some(50.0 + 0.05 * i as f64),
                lon: Some(12.0 + 0.05 * i as f64),
                trusted: i % 8 != 0,
            })
            .collect();
        r.spans = (0..8)
            .map(|i| {
                span(
                    i,
                    &format!("Station {i}"),
                    &format!("Station {}", i + 1),
                    7.0,
                    2.5e6,
                    i == 3,
                )
            })
            .collect();
        let l = route_layout(&r);
        assert!(l.compact);
        assert_eq!(l.spans[3].label.text, "#3");
        assert_eq!(l.table.len(), 1 + 2 * 8);
        assert_eq!(l.table[1 + 2 * 3].text, "#3 Station 3 → Station 4");
        assert!(l.table[2 + 2 * 3].text.ends_with("bottleneck"));
        assert!(l.table[2 + 2 * 3].highlight);
        let svg = route_chart_svg(&r).unwrap();
        assert!(svg.contains("Station 8") && svg.contains("7 km · 2.5 Mbit/s"));
    }

    #[test]
    fn route_chart_renders_names_labels_and_legend() {
        let r = report();
        let svg = route_chart_svg(&r).unwrap();
        for want in [
            "Bayreuth – Hof – Zwickau: route",
            "Hof",
            "Zwickau",
            "60 km",
            "bottleneck (minimum cut)",
            "trusted node",
            "untrusted endpoint",
        ] {
            assert!(svg.contains(want), "{want}");
        }
        let png = route_chart_png(&r).unwrap();
        let reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        assert_eq!((reader.info().width, reader.info().height), PNG_SIZE);
        // Degenerate routes still draw: one node, parallel spans, no coordinates.
        let mut odd = r.clone();
        odd.nodes.truncate(2);
        odd.nodes[0].lat = None;
        odd.spans = vec![
            span(0, "Bayreuth", "Hof", 10.0, 5.0, false),
            span(1, "Hof", "Bayreuth", 12.0, 5.0, true),
        ];
        let l = route_layout(&odd);
        assert!(l.spans[0].bulge != l.spans[1].bulge);
        route_chart_svg(&odd).unwrap();
        odd.nodes.truncate(1);
        odd.spans.clear();
        route_chart_svg(&odd).unwrap();
    }

    #[test]
    fn stores_chart_is_a_step_line_per_span() {
        let r = report();
        let c = stores_chart(&r);
        assert_eq!(c.series.len(), 2);
        assert_eq!(c.series[0].name, "span 0: Bayreuth → Hof");
        assert_eq!(
            c.series[0].points,
            vec![
                (0.0, 0.0),
                (0.011, 0.0),
                (0.011, 3000.0),
                (0.012, 3000.0),
                (0.012, 2744.0),
                (0.018, 2744.0),
                (0.018, 4000.0),
                (0.02, 4000.0)
            ]
        );
        assert!(
            super::super::charts::render_svg(&c)
                .unwrap()
                .contains("key in store (bits)")
        );
    }
}
