//! CSV records: one row per run (or sweep point), one column per scalar of the JSON
//! record (DESIGN §5), units in the column names (`_s`, `_bps`, `_per_pulse`, `_bits`;
//! rates and probabilities without a suffix are fractions).

use crate::analysis::run::RunReport;
use crate::analysis::sweep::SweepReport;
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
            row
        })
        .collect();
    rows_csv(&rows)
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

/// The `results.csv` of a single run.
pub fn run_csv(r: &RunReport) -> Result<String> {
    rows_csv(&[run_columns(r)])
}
