//! What the simulated eavesdropper (`[adversary]`, issue 16) learned, as the run's and the
//! sweep's outputs show it: the "eavesdropper" paragraph of the table ([`eve_lines`]), the
//! `report.md` section ([`eve_section`]), the CSV columns ([`eve_columns`]) and the charts
//! `eve_keys` (a run: the decoy-state key and the naive key, each beside the bits of it
//! Eve can compute) and `eve_vs_<param>` (a sweep: the same against the swept value).
//! Everything is read from the run record's `eve` object ([`EveSummary`]); a run without
//! an adversary has none, and nothing here appears for it.
//!
//! Must never depend on clap or touch the file system.

use super::charts::{ChartSpec, Series, SeriesStyle};
use super::figures::{NamedChart, param_label};
use super::markdown::number;
use super::percent;
use crate::analysis::run::{EveSummary, RunReport};
use crate::analysis::sweep::SweepReport;
use std::fmt::Write;

/// The attack in words.
pub fn attack_text(attack: &str) -> &str {
    match attack {
        "intercept_resend" => "intercept-resend",
        "pns" => "photon-number splitting (PNS)",
        "beam_splitting" => "beam splitting",
        other => other,
    }
}

/// How many of `total` bits Eve can compute: the count and its share, or "not counted"
/// for a count the simulation did not make (a block longer than the exact limit).
pub fn known_text(known: Option<u64>, total: u64) -> String {
    match known {
        Some(k) if total > 0 => format!("{k} ({})", percent(Some(k as f64 / total as f64), 2)),
        Some(k) => k.to_string(),
        None => "not counted".into(),
    }
}

/// The PNS tuning in words (blocking probabilities, the signal class's gain honest and
/// under the attack, whether Eve matched it); `None` for other attacks.
pub fn pns_text(r: &RunReport, e: &EveSummary) -> Option<String> {
    let p = e.pns.as_ref()?;
    let label = r
        .per_intensity
        .get(p.signal_class)
        .map_or_else(|| format!("class {}", p.signal_class), |k| k.label.clone());
    Some(format!(
        "Eve blocks single-photon pulses with probability {:.4} and multi-photon pulses with \
         probability {:.4}; photon gain of the {label} class (no dark counts) honest {:.4e}, \
         under the attack {:.4e} ({})",
        p.block_single,
        p.block_multi,
        p.honest_gain,
        p.attacked_gain,
        if p.matched {
            "matched: Bob sees the gain he expects"
        } else {
            "NOT matched: the link is too short for the attack to hide its loss"
        }
    ))
}

fn blocks_text(e: &EveSummary) -> String {
    format!(
        "{} (the exact count runs for blocks of up to {} sifted bits)",
        e.blocks_not_counted, e.exact_limit_bits
    )
}

/// The "eavesdropper" paragraph of the run table (nothing without an adversary).
pub fn eve_lines(s: &mut String, r: &RunReport) {
    let Some(e) = &r.eve else {
        return;
    };
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "eavesdropper: {} on {} of pulses",
        attack_text(&e.attack),
        percent(Some(e.fraction), 2)
    );
    if let Some(p) = pns_text(r, e) {
        let _ = writeln!(s, "  PNS tuning: {p}");
    }
    let _ = writeln!(
        s,
        "  sifted Z bits Eve knows:                 {} of {}",
        known_text(Some(e.known_sifted_bits), e.sifted_bits),
        e.sifted_bits
    );
    let _ = writeln!(
        s,
        "  final key (decoy-state bound):           {} bits, Eve can compute {}",
        e.final_key_bits,
        known_text(e.known_final_key_bits, e.final_key_bits)
    );
    let _ = writeln!(
        s,
        "  naive key (every detection one photon):  {} bits, Eve can compute {}",
        e.naive_secret_bits,
        known_text(e.naive_known_final_key_bits, e.naive_secret_bits)
    );
    let _ = writeln!(s, "  blocks not counted: {}", blocks_text(e));
}

/// The "Eavesdropper" section of a run's `report.md` with the `eve_keys` chart (when given;
/// nothing without an adversary).
pub fn eve_section(s: &mut String, r: &RunReport, charts: &[NamedChart]) {
    let Some(e) = &r.eve else {
        return;
    };
    let _ = writeln!(s, "## Eavesdropper\n");
    let _ = writeln!(
        s,
        "The scenario has Eve mount a {} attack on {} of the pulses. What she learns is \
         counted from the simulation, never assumed: her known sifted bits from the \
         detection records, her knowledge of a final key as the independent linear \
         functions of it she can compute from those bits, every parity Cascade disclosed \
         and the verification tag. The naive key is what the naive bound gives on the same \
         counts and leakage, taking every detection for a single-photon event (a system \
         without decoy states).\n",
        attack_text(&e.attack),
        percent(Some(e.fraction), 2)
    );
    let _ = writeln!(s, "| figure | value |\n|---|---|");
    if let Some(p) = pns_text(r, e) {
        let _ = writeln!(s, "| PNS tuning | {p} |");
    }
    let _ = writeln!(
        s,
        "| sifted Z bits Eve knows | {} of {} |",
        known_text(Some(e.known_sifted_bits), e.sifted_bits),
        e.sifted_bits
    );
    let _ = writeln!(
        s,
        "| final key (decoy-state bound) | {} bits |",
        e.final_key_bits
    );
    let _ = writeln!(
        s,
        "| final-key bits Eve can compute | {} |",
        known_text(e.known_final_key_bits, e.final_key_bits)
    );
    let _ = writeln!(
        s,
        "| naive key (every detection a single photon) | {} bits |",
        e.naive_secret_bits
    );
    let _ = writeln!(
        s,
        "| naive-key bits Eve can compute | {} |",
        known_text(e.naive_known_final_key_bits, e.naive_secret_bits)
    );
    let _ = writeln!(s, "| blocks not counted | {} |", blocks_text(e));
    let _ = writeln!(s);
    for c in charts.iter().filter(|c| c.stem == EVE_KEYS_STEM) {
        let _ = writeln!(
            s,
            "![{title}]({stem}.png)\n\n*{caption}* (Vector version: [{stem}.svg]({stem}.svg).)\n",
            title = c.spec.title,
            stem = c.stem,
            caption = c.caption
        );
    }
}

/// Legend suffix of the closed-form lines in charts of a run under attack.
pub const THEORY_WITHOUT_EVE: &str = ", honest link without Eve";

/// Names every theory and bound line of `charts` as the honest link's (the closed forms
/// do not model the attack), so a reader does not take the gap to the simulated points
/// for a model error.
pub fn mark_theory_without_eve(charts: &mut [NamedChart]) {
    for c in charts {
        for spec in std::iter::once(&mut c.spec).chain(c.panels.iter_mut()) {
            for s in &mut spec.series {
                if s.name.contains("theory") || s.name.contains("PLOB") {
                    s.name.push_str(THEORY_WITHOUT_EVE);
                }
            }
        }
    }
}

/// A number or the empty field.
fn opt(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The `eve` figures as CSV columns (prefixed `eve_`, the naive key as `naive_secret_bits`
/// like the JSON), empty fields for a run without an adversary; with `pns` also the PNS
/// tuning (`eve_pns_*`). A count not made is an empty field.
pub fn eve_columns(r: &RunReport, pns: bool) -> Vec<(String, String)> {
    let e = r.eve.as_ref();
    let num = |f: fn(&EveSummary) -> Option<u64>| opt(e.and_then(f));
    let mut cols = vec![
        (
            "eve_attack".to_string(),
            e.map(|e| e.attack.clone()).unwrap_or_default(),
        ),
        (
            "eve_fraction".into(),
            e.map(|e| e.fraction.to_string()).unwrap_or_default(),
        ),
        (
            "eve_known_sifted_bits".into(),
            num(|e| Some(e.known_sifted_bits)),
        ),
        ("eve_sifted_bits".into(), num(|e| Some(e.sifted_bits))),
        (
            "eve_known_final_key_bits".into(),
            num(|e| e.known_final_key_bits),
        ),
        ("eve_final_key_bits".into(), num(|e| Some(e.final_key_bits))),
        ("naive_secret_bits".into(), opt(r.naive_secret_bits)),
        (
            "eve_naive_known_final_key_bits".into(),
            num(|e| e.naive_known_final_key_bits),
        ),
        (
            "eve_blocks_not_counted".into(),
            num(|e| Some(e.blocks_not_counted)),
        ),
        (
            "eve_exact_limit_bits".into(),
            num(|e| Some(e.exact_limit_bits)),
        ),
    ];
    if pns {
        let p = e.and_then(|e| e.pns.as_ref());
        let f = |g: fn(&crate::physics::PnsTuning) -> String| p.map(g).unwrap_or_default();
        cols.extend([
            (
                "eve_pns_signal_class".into(),
                f(|p| p.signal_class.to_string()),
            ),
            (
                "eve_pns_block_single".into(),
                f(|p| p.block_single.to_string()),
            ),
            (
                "eve_pns_block_multi".into(),
                f(|p| p.block_multi.to_string()),
            ),
            (
                "eve_pns_honest_gain".into(),
                f(|p| p.honest_gain.to_string()),
            ),
            (
                "eve_pns_attacked_gain".into(),
                f(|p| p.attacked_gain.to_string()),
            ),
            ("eve_pns_matched".into(), f(|p| p.matched.to_string())),
        ]);
    }
    cols
}

/// File stem of a run's eavesdropper chart.
pub const EVE_KEYS_STEM: &str = "eve_keys";

/// Colour of key bars and of Eve's bars (indices into the chart palette: blue, vermillion).
const KEY_COLOR: usize = 0;
const EVE_COLOR: usize = 1;

/// A run's keys beside what Eve can compute of them, as grouped bars over the run's totals:
/// the decoy-state key (the run's secret key) and the naive key, each with the bits of it
/// Eve can compute (a count not made is named "not counted" under its group and has no
/// bar). `None` without an adversary.
pub fn eve_keys_chart(r: &RunReport) -> Option<ChartSpec> {
    let e = r.eve.as_ref()?;
    let groups = [
        ("decoy-state key", e.final_key_bits, e.known_final_key_bits),
        (
            "naive key",
            e.naive_secret_bits,
            e.naive_known_final_key_bits,
        ),
    ];
    let offset = super::charts::BAR_HALF_WIDTH + 0.01;
    let x_ticks = groups
        .iter()
        .enumerate()
        .map(|(i, (name, key, known))| {
            (
                i as f64,
                format!(
                    "{name}: {key} bits, Eve: {}",
                    known.map_or("not counted".to_string(), |k| k.to_string())
                ),
            )
        })
        .collect();
    Some(ChartSpec {
        title: super::figures::title(&r.scenario, "what Eve can compute"),
        x_label: format!(
            "key (whole run); Eve: {} on {} of pulses",
            attack_text(&e.attack),
            percent(Some(e.fraction), 0)
        ),
        y_label: "bits".into(),
        x_log: false,
        y_log: false,
        x_ticks,
        series: vec![
            Series {
                name: "key length".into(),
                style: SeriesStyle::Bars,
                points: groups
                    .iter()
                    .enumerate()
                    .map(|(i, g)| (i as f64 - offset, g.1 as f64))
                    .collect(),
                error_bars: None,
                color: Some(KEY_COLOR),
            },
            Series {
                name: "bits of it Eve can compute".into(),
                style: SeriesStyle::Bars,
                points: groups
                    .iter()
                    .enumerate()
                    .filter_map(|(i, g)| Some((i as f64 + offset, g.2? as f64)))
                    .collect(),
                error_bars: None,
                color: Some(EVE_COLOR),
            },
        ],
    })
}

/// The charts of a run with an adversary (`eve_keys`), none without.
pub fn run_eve_charts(r: &RunReport) -> Vec<NamedChart> {
    eve_keys_chart(r)
        .map(|spec| {
            NamedChart::new(
                EVE_KEYS_STEM,
                "Final key of the decoy-state bound and the naive key (every detection taken \
                 for a single photon, no decoy states), totals over the run, each beside the \
                 bits of it Eve can compute.",
                spec,
            )
        })
        .into_iter()
        .collect()
}

/// File stem of a sweep's eavesdropper chart: `eve_vs_<param>`, the dotted key's dots as
/// underscores (`eve_vs_adversary_fraction`).
pub fn eve_sweep_stem(param: &str) -> String {
    let key: String = param
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("eve_vs_{key}")
}

/// A one-key sweep whose points have an adversary: the secret key (decoy-state bound), the
/// naive key and the bits of each Eve can compute, against the swept value (points without
/// the count left out of Eve's lines). `None` when no point has an adversary.
pub fn eve_sweep_chart(report: &SweepReport) -> Option<ChartSpec> {
    if !report.points.iter().any(|p| p.run.eve.is_some()) {
        return None;
    }
    let line = |name: &str, f: &dyn Fn(&EveSummary) -> Option<u64>, color, style| Series {
        name: name.into(),
        style,
        points: report
            .points
            .iter()
            .filter_map(|p| Some((p.value, f(p.run.eve.as_ref()?)? as f64)))
            .collect(),
        error_bars: None,
        color: Some(color),
    };
    Some(ChartSpec {
        title: super::figures::title(&report.scenario, "key and what Eve can compute"),
        x_label: param_label(&report.param),
        y_label: "bits (whole run)".into(),
        x_log: report.log,
        y_log: false,
        x_ticks: Vec::new(),
        series: vec![
            line(
                "secret key, decoy-state bound",
                &|e| Some(e.final_key_bits),
                KEY_COLOR,
                SeriesStyle::LinePoints,
            ),
            line(
                "Eve can compute, of the secret key",
                &|e| e.known_final_key_bits,
                EVE_COLOR,
                SeriesStyle::LinePoints,
            ),
            line(
                "naive key (every detection a single photon)",
                &|e| Some(e.naive_secret_bits),
                2,
                SeriesStyle::DashedLine,
            ),
            line(
                "Eve can compute, of the naive key",
                &|e| e.naive_known_final_key_bits,
                5,
                SeriesStyle::DashedLine,
            ),
        ],
    })
}

/// The eavesdropper chart of a one-key sweep (none without an adversary).
pub fn sweep_eve_charts(report: &SweepReport) -> Vec<NamedChart> {
    eve_sweep_chart(report)
        .map(|spec| {
            NamedChart::new(
                &eve_sweep_stem(&report.param),
                "Secret key of the decoy-state bound and the naive key (no decoy states), \
                 each with the bits of it Eve can compute, against the swept parameter.",
                spec,
            )
        })
        .into_iter()
        .collect()
}

/// The eavesdropper lines of the sweep table: per point the known sifted bits, the keys
/// and what Eve can compute of them (nothing when no point has an adversary).
pub fn sweep_eve_lines(s: &mut String, report: &SweepReport) {
    let Some(first) = report.points.iter().find_map(|p| p.run.eve.as_ref()) else {
        return;
    };
    let _ = writeln!(s, "eavesdropper: {}", attack_text(&first.attack));
    let _ = writeln!(
        s,
        "{:>14} {:>22} {:>14} {:>14} {:>14} {:>14}",
        "value", "known sifted bits", "final key", "Eve computes", "naive key", "Eve computes"
    );
    for p in &report.points {
        let Some(e) = &p.run.eve else { continue };
        let c = |v: Option<u64>| v.map_or("not counted".to_string(), |v| v.to_string());
        let _ = writeln!(
            s,
            "{:>14} {:>22} {:>14} {:>14} {:>14} {:>14}",
            number(p.value),
            known_text(Some(e.known_sifted_bits), e.sifted_bits),
            e.final_key_bits,
            c(e.known_final_key_bits),
            e.naive_secret_bits,
            c(e.naive_known_final_key_bits)
        );
    }
}

/// The "Eavesdropper" section of a sweep's `report.md`: a table per point (nothing when no
/// point has an adversary).
pub fn sweep_eve_section(s: &mut String, report: &SweepReport) {
    let Some(first) = report.points.iter().find_map(|p| p.run.eve.as_ref()) else {
        return;
    };
    let _ = writeln!(s, "## Eavesdropper\n");
    let _ = writeln!(
        s,
        "Eve mounts a {} attack. Per point: the sifted Z bits she knows, the final key of \
         the decoy-state bound and the naive key (every detection a single photon, no decoy \
         states), each with the bits of it she can compute (counted from the simulation).\n",
        attack_text(&first.attack)
    );
    let _ = writeln!(
        s,
        "| `{}` | share attacked | sifted bits Eve knows | final key (bits) | Eve can compute | naive key (bits) | Eve can compute |",
        report.param
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|");
    for p in &report.points {
        let Some(e) = &p.run.eve else { continue };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            number(p.value),
            percent(Some(e.fraction), 2),
            known_text(Some(e.known_sifted_bits), e.sifted_bits),
            e.final_key_bits,
            known_text(e.known_final_key_bits, e.final_key_bits),
            e.naive_secret_bits,
            known_text(e.naive_known_final_key_bits, e.naive_secret_bits)
        );
    }
    let _ = writeln!(s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::PnsTuning;
    use crate::report::testing::static_report;

    /// The static test record under a PNS attack: 1000 sifted bits of which Eve knows 900,
    /// no decoy-state key, a naive key of 600 bits of which she computes 550 (or, with
    /// `counted` false, a block too long for the count).
    fn attacked(counted: bool) -> RunReport {
        let mut r = static_report();
        r.eve = Some(EveSummary {
            attack: "pns".into(),
            fraction: 1.0,
            known_sifted_bits: 900,
            sifted_bits: 1000,
            known_final_key_bits: counted.then_some(0),
            final_key_bits: 0,
            naive_secret_bits: 600,
            naive_known_final_key_bits: counted.then_some(550),
            blocks_not_counted: u64::from(!counted),
            exact_limit_bits: 1 << 17,
            pns: Some(PnsTuning {
                signal_class: 0,
                block_single: 1.0,
                block_multi: 0.25,
                honest_gain: 1.5e-3,
                attacked_gain: 1.5e-3,
                matched: true,
            }),
        });
        r.naive_secret_bits = Some(600);
        r
    }

    #[test]
    fn no_adversary_no_eve_output() {
        let r = static_report();
        let mut s = String::new();
        eve_lines(&mut s, &r);
        eve_section(&mut s, &r, &[]);
        assert!(s.is_empty());
        assert!(run_eve_charts(&r).is_empty());
        assert!(!crate::report::table::run_table(&r).contains("eavesdropper"));
    }

    #[test]
    fn table_paragraph_names_attack_tuning_and_counts() {
        let r = attacked(true);
        let table = crate::report::table::run_table(&r);
        assert!(
            table.contains("eavesdropper: photon-number splitting (PNS) on 100.00% of pulses"),
            "{table}"
        );
        assert!(
            table.contains("probability 1.0000 and multi-photon pulses with probability 0.2500")
        );
        assert!(table.contains("honest 1.5000e-3, under the attack 1.5000e-3 (matched"));
        assert!(table.contains("sifted Z bits Eve knows:                 900 (90.00%) of 1000"));
        assert!(table.contains("0 bits, Eve can compute 0"), "{table}");
        assert!(
            table.contains("600 bits, Eve can compute 550 (91.67%)"),
            "{table}"
        );
        assert!(
            table
                .contains("blocks not counted: 0 (the exact count runs for blocks of up to 131072")
        );
        let r = attacked(false);
        let table = crate::report::table::run_table(&r);
        assert!(
            table.contains("600 bits, Eve can compute not counted"),
            "{table}"
        );
        assert!(table.contains("blocks not counted: 1"), "{table}");
    }

    #[test]
    fn csv_columns_carry_the_json_record() {
        let r = attacked(true);
        let text = crate::report::csv::run_csv(&r).unwrap();
        let mut reader = ::csv::Reader::from_reader(text.as_bytes());
        let h = reader.headers().unwrap().clone();
        let row = reader.records().next().unwrap().unwrap();
        let get = |name: &str| row[h.iter().position(|c| c == name).unwrap()].to_string();
        // The run's own columns first, unchanged, then the eve columns.
        let plain = crate::report::csv::run_columns(&r);
        assert_eq!(
            h.iter().take(plain.len()).collect::<Vec<_>>(),
            plain.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()
        );
        let json = serde_json::to_value(r.eve.as_ref().unwrap()).unwrap();
        for field in [
            "known_sifted_bits",
            "sifted_bits",
            "known_final_key_bits",
            "final_key_bits",
            "naive_known_final_key_bits",
            "blocks_not_counted",
            "exact_limit_bits",
        ] {
            assert_eq!(
                get(&format!("eve_{field}")),
                json[field].to_string(),
                "{field}"
            );
        }
        assert_eq!(get("eve_attack"), "pns");
        assert_eq!(get("naive_secret_bits"), "600");
        assert_eq!(get("eve_pns_block_multi"), "0.25");
        assert_eq!(get("eve_pns_matched"), "true");
        // A count not made is an empty field.
        let text = crate::report::csv::run_csv(&attacked(false)).unwrap();
        let mut reader = ::csv::Reader::from_reader(text.as_bytes());
        let h = reader.headers().unwrap().clone();
        let row = reader.records().next().unwrap().unwrap();
        let i = h
            .iter()
            .position(|c| c == "eve_known_final_key_bits")
            .unwrap();
        assert_eq!(&row[i], "");
    }

    #[test]
    fn keys_chart_groups_both_keys_with_eves_share() {
        let r = attacked(true);
        let spec = eve_keys_chart(&r).unwrap();
        assert_eq!(spec.series[0].points.len(), 2);
        assert_eq!(spec.series[0].points[1].1, 600.0);
        assert_eq!(spec.series[1].points[1].1, 550.0);
        let svg = crate::report::charts::render_svg(&spec).unwrap();
        assert!(svg.contains("naive key: 600 bits, Eve: 550"), "labels");
        assert!(svg.contains("decoy-state key: 0 bits, Eve: 0"));
        // Blue bars of the key and vermillion of Eve's bits are drawn.
        assert!(svg.contains("#0072B2") && svg.contains("#D55E00"));
        let spec = eve_keys_chart(&attacked(false)).unwrap();
        assert!(spec.series[1].points.is_empty());
        let svg = crate::report::charts::render_svg(&spec).unwrap();
        assert!(svg.contains("600 bits, Eve: not counted"));
        let charts = run_eve_charts(&r);
        assert_eq!(charts[0].stem, "eve_keys");
        assert!(charts[0].png().unwrap().starts_with(b"\x89PNG"));
    }

    #[test]
    fn markdown_section_states_the_same_facts() {
        let r = attacked(true);
        let mut s = String::new();
        eve_section(&mut s, &r, &run_eve_charts(&r));
        assert!(s.starts_with("## Eavesdropper\n"));
        assert!(
            s.contains("| sifted Z bits Eve knows | 900 (90.00%) of 1000 |"),
            "{s}"
        );
        assert!(
            s.contains("| naive-key bits Eve can compute | 550 (91.67%) |"),
            "{s}"
        );
        assert!(s.contains("![") && s.contains("(eve_keys.png)"));
    }

    #[test]
    fn sweep_stem_is_a_file_name() {
        assert_eq!(
            eve_sweep_stem("adversary.fraction"),
            "eve_vs_adversary_fraction"
        );
        assert_eq!(
            eve_sweep_stem("source.intensities.0.mean_photon_number"),
            "eve_vs_source_intensities_0_mean_photon_number"
        );
    }
}
