//! CSV records: one row per run (or sweep point), one column per scalar of the JSON
//! record (DESIGN §5), units in the column names (`_s`, `_bps`, `_per_pulse`, `_bits`;
//! rates and probabilities without a suffix are fractions). A run over link time (drift,
//! compensation or windows) adds its `compensation` figures as columns, and its time series
//! goes to a file of its own, one row per window ([`time_series_csv`]). A run under an
//! attack adds its `eve` figures (`eve_*`, `naive_secret_bits`; [`super::eve::eve_columns`]).
//! The run record has no per-block rows in CSV; per-block `eve` objects are in
//! `results.json`.

use crate::analysis::run::RunReport;
use crate::analysis::sweep::SweepReport;
use crate::analysis::timeline::{LinkState, TimeWindow};
use crate::error::{Error, Result};

/// A number that may be undefined (a QBER over no bits): the empty field when it is.
fn field(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Column names and values of a run's scalars, in a fixed order; an undefined number is an
/// empty field.
pub fn run_columns(r: &RunReport) -> Vec<(String, String)> {
    let mut cols: Vec<(String, String)> = vec![
        ("scenario".into(), r.scenario.clone()),
        ("seed".into(), r.seed.to_string()),
        ("pulses_sent".into(), r.pulses_sent.to_string()),
        ("link_time_s".into(), r.link_time_s.to_string()),
        ("detections".into(), r.detections.to_string()),
        ("sifted_bits_z".into(), r.sifted_bits_z.to_string()),
        ("sifted_bits_x".into(), r.sifted_bits_x.to_string()),
        ("qber_z".into(), field(r.qber_z)),
        ("qber_x".into(), field(r.qber_x)),
        ("blocks".into(), r.blocks.to_string()),
        ("aborted_blocks".into(), r.aborted_blocks.to_string()),
        ("ec_leaked_bits".into(), r.ec.leaked_bits.to_string()),
        ("ec_efficiency".into(), r.ec.efficiency.to_string()),
        ("ec_channel_uses".into(), r.ec.channel_uses.to_string()),
        ("ec_input_bits".into(), r.ec.input_bits.to_string()),
        (
            "ec_verification_tag_bits".into(),
            r.ec.verification_tag_bits.to_string(),
        ),
        (
            "ec_residual_error_blocks".into(),
            r.ec.residual_error_blocks.to_string(),
        ),
        (
            "ec_verified_blocks".into(),
            r.ec.verified_blocks.to_string(),
        ),
        ("pa_input_bits".into(), r.pa.input_bits.to_string()),
        ("pa_output_bits".into(), r.pa.output_bits.to_string()),
        ("secret_bits".into(), r.secret_bits.to_string()),
        (
            "secret_bits_per_pulse".into(),
            r.secret_bits_per_pulse.to_string(),
        ),
        (
            "secret_key_rate_bps".into(),
            r.secret_key_rate_bps.to_string(),
        ),
        ("final_keys_match".into(), r.final_keys_match.to_string()),
        ("aborted".into(), r.aborted.clone().unwrap_or_default()),
        ("epsilon_total".into(), r.epsilon_total.to_string()),
        (
            "security_warnings".into(),
            r.security_warnings
                .iter()
                .map(|w| w.code.as_str())
                .collect::<Vec<_>>()
                .join(";"),
        ),
        (
            "mean_block_latency_s".into(),
            r.mean_block_latency_s.to_string(),
        ),
        (
            "theory_secret_bits_per_pulse_asymptotic".into(),
            r.theory.secret_bits_per_pulse_asymptotic.to_string(),
        ),
        (
            "theory_secret_bits_per_pulse_finite".into(),
            r.theory.secret_bits_per_pulse_finite.to_string(),
        ),
        (
            "theory_plob_bits_per_pulse".into(),
            r.theory
                .plob_bits_per_pulse
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ),
    ];
    for k in &r.per_intensity {
        let l = &k.label;
        cols.push((format!("{l}_pulses"), k.pulses.to_string()));
        cols.push((format!("{l}_detections"), k.detections.to_string()));
        cols.push((format!("{l}_gain"), k.gain.to_string()));
        cols.push((format!("{l}_gain_expected"), k.expected.gain.to_string()));
        cols.push((format!("{l}_sifted_z_bits"), k.sifted_z.to_string()));
        cols.push((format!("{l}_errors_z_bits"), k.errors_z.to_string()));
        cols.push((format!("{l}_qber_z"), field(k.qber_z)));
        cols.push((
            format!("{l}_qber_z_expected"),
            field(k.expected.qber_z.is_finite().then_some(k.expected.qber_z)),
        ));
        cols.push((format!("{l}_sifted_x_bits"), k.sifted_x.to_string()));
        cols.push((format!("{l}_qber_x"), field(k.qber_x)));
    }
    let t = &r.timings;
    for (name, v) in [
        ("engine_s", t.engine_s),
        ("sifting_s", t.sifting_s),
        ("estimation_s", t.estimation_s),
        ("reconciliation_s", t.reconciliation_s),
        ("verification_s", t.verification_s),
        ("privacy_amplification_s", t.privacy_amplification_s),
        ("total_s", t.total_s),
    ] {
        cols.push((name.into(), v.to_string()));
    }
    cols
}

/// The `results.csv` of a sweep: one row per point; the first column is the swept key
/// (its unit is in its name), for a two-dimensional sweep the second key next (long form:
/// one row per grid point), then the point's error bars, then [`run_columns`].
pub fn sweep_csv(report: &SweepReport) -> Result<String> {
    let over_time = report.points.iter().any(|p| p.run.compensation.is_some());
    let eve = report.points.iter().any(|p| p.run.eve.is_some());
    let pns = report
        .points
        .iter()
        .any(|p| p.run.eve.as_ref().is_some_and(|e| e.pns.is_some()));
    let rows: Vec<Vec<(String, String)>> = report
        .points
        .iter()
        .map(|p| {
            let st = &p.statistics;
            let mut row = vec![(report.param.clone(), p.value.to_string())];
            if let Some(param2) = &report.param2 {
                row.push((param2.clone(), field(p.value2)));
            }
            row.extend([
                (
                    "secret_key_rate_bps_stderr".into(),
                    st.secret_key_rate_bps_stderr
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                ),
                ("qber_z_stderr".into(), field(st.qber_z_stderr)),
                ("qber_x_stderr".into(), field(st.qber_x_stderr)),
                ("bits_after_ec".into(), st.bits_after_ec.to_string()),
            ]);
            row.extend(run_columns(&p.run));
            // The same columns on every row: a sweep may cross from a static link (drift 0)
            // to a drifting one.
            if over_time {
                row.extend(time_columns(&p.run));
            }
            // Likewise under an attack (a point without one gets empty fields).
            if eve {
                row.extend(super::eve::eve_columns(&p.run, pns));
            }
            row
        })
        .collect();
    rows_csv(&rows)
}

/// The run-level figures of a link over time (`availability`, `compensation`), empty
/// fields for a static run.
pub fn time_columns(r: &RunReport) -> Vec<(String, String)> {
    let c = r.compensation.as_ref();
    let num =
        |f: fn(&crate::analysis::timeline::CompensationReport) -> Option<f64>| field(c.and_then(f));
    vec![
        ("availability".into(), field(r.availability)),
        (
            "compensation_policy".into(),
            c.map(|c| c.policy.clone()).unwrap_or_default(),
        ),
        (
            "realignments".into(),
            c.map(|c| c.realignments.to_string()).unwrap_or_default(),
        ),
        ("realigning_s".into(), num(|c| Some(c.realigning_s))),
        ("drift_rad2_per_s".into(), num(|c| Some(c.drift_rad2_per_s))),
        (
            "secret_bits_after_last_window".into(),
            c.map(|c| c.secret_bits_after_last_window.to_string())
                .unwrap_or_default(),
        ),
        ("time_windows".into(), r.time_series.len().to_string()),
    ]
}

/// A CSV document with a header and one row per record.
pub fn rows_csv(rows: &[Vec<(String, String)>]) -> Result<String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    if let Some(first) = rows.first() {
        w.write_record(first.iter().map(|(k, _)| k.as_str()))
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    }
    for row in rows {
        w.write_record(row.iter().map(|(_, v)| v.as_str()))
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8"))
}

/// The `results.csv` of a single run ([`run_columns`], then [`time_columns`] for a run
/// over link time, then [`super::eve::eve_columns`] under an attack; a static run without
/// an adversary has exactly [`run_columns`]).
pub fn run_csv(r: &RunReport) -> Result<String> {
    let mut row = run_columns(r);
    if r.compensation.is_some() {
        row.extend(time_columns(r));
    }
    if let Some(e) = &r.eve {
        row.extend(super::eve::eve_columns(r, e.pns.is_some()));
    }
    rows_csv(&[row])
}

/// Column names of `time_series.csv`, in order: every field of a
/// [`TimeWindow`] under its JSON name.
pub const TIME_SERIES_COLUMNS: [&str; 10] = [
    "start_s",
    "end_s",
    "state",
    "sifted_bits_z",
    "errors_z",
    "qber_z",
    "sifted_bits_x",
    "errors_x",
    "qber_x",
    "secret_bits",
];

fn window_row(w: &TimeWindow) -> Vec<String> {
    vec![
        w.start_s.to_string(),
        w.end_s.to_string(),
        match w.state {
            LinkState::Up => "up",
            LinkState::Realigning => "realigning",
        }
        .into(),
        w.sifted_bits_z.to_string(),
        w.errors_z.to_string(),
        field(w.qber_z),
        w.sifted_bits_x.to_string(),
        w.errors_x.to_string(),
        field(w.qber_x),
        w.secret_bits.to_string(),
    ]
}

/// `time_series.csv`: a header ([`TIME_SERIES_COLUMNS`]) and one row per window of the
/// run's time series; an undefined QBER (a window without bits in that basis, or
/// realigning) is an empty field. `None` when the run has no time series.
pub fn time_series_csv(r: &RunReport) -> Result<Option<String>> {
    if r.time_series.is_empty() {
        return Ok(None);
    }
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let fail = |e: ::csv::Error| Error::InvalidArgument(e.to_string());
    w.write_record(TIME_SERIES_COLUMNS).map_err(fail)?;
    for window in &r.time_series {
        w.write_record(window_row(window)).map_err(fail)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    Ok(Some(
        String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::{report_over_time, series, static_report};

    #[test]
    fn time_series_csv_has_a_header_and_one_row_per_window() {
        assert!(time_series_csv(&static_report()).unwrap().is_none());
        let r = report_over_time(series(25, Some(10)), "threshold");
        let text = time_series_csv(&r).unwrap().unwrap();
        let mut reader = ::csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, TIME_SERIES_COLUMNS);
        let rows: Vec<::csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), r.time_series.len());
        for (row, w) in rows.iter().zip(&r.time_series) {
            assert_eq!(row[0].parse::<f64>().unwrap(), w.start_s);
            assert_eq!(row[1].parse::<f64>().unwrap(), w.end_s);
            let json = serde_json::to_value(w).unwrap();
            assert_eq!(&row[2], json["state"].as_str().unwrap());
            assert_eq!(row[3].parse::<u64>().unwrap(), w.sifted_bits_z);
            assert_eq!(row[4].parse::<u64>().unwrap(), w.errors_z);
            assert_eq!(row[5].parse::<f64>().ok(), w.qber_z);
            assert_eq!(row[6].parse::<u64>().unwrap(), w.sifted_bits_x);
            assert_eq!(row[7].parse::<u64>().unwrap(), w.errors_x);
            assert_eq!(row[8].parse::<f64>().ok(), w.qber_x);
            assert_eq!(row[9].parse::<u64>().unwrap(), w.secret_bits);
            // An undefined QBER is an empty field, never a number.
            if w.qber_x.is_none() {
                assert_eq!(&row[8], "");
            }
        }
        // Every field of the JSON record has its column, under the same name.
        let json = serde_json::to_value(&r.time_series[0]).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        let mut cols = TIME_SERIES_COLUMNS.to_vec();
        cols.sort_unstable();
        assert_eq!(keys, cols);
    }

    #[test]
    fn results_csv_gains_link_columns_only_over_time() {
        let header = |text: String| text.lines().next().unwrap().to_string();
        let plain = header(run_csv(&static_report()).unwrap());
        assert_eq!(
            plain,
            run_columns(&static_report())
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(!plain.contains("availability"));
        let r = report_over_time(series(20, Some(10)), "threshold");
        let text = run_csv(&r).unwrap();
        let mut reader = ::csv::Reader::from_reader(text.as_bytes());
        let h = reader.headers().unwrap().clone();
        let row = reader.records().next().unwrap().unwrap();
        let get = |name: &str| row[h.iter().position(|c| c == name).unwrap()].to_string();
        assert_eq!(get("availability").parse::<f64>().ok(), r.availability);
        assert_eq!(get("realignments"), "2");
        assert_eq!(get("compensation_policy"), "threshold");
        assert_eq!(get("time_windows"), "20");
    }
}
