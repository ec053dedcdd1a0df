//! CSV records: one row per run (or sweep point), one column per scalar of the JSON
//! record, units in the column names.

use crate::analysis::run::RunReport;
use crate::error::{Error, Result};

/// Column names and values of a run's scalars, in a fixed order.
pub fn run_columns(r: &RunReport) -> Vec<(String, String)> {
    let mut cols: Vec<(String, String)> = vec![
        ("scenario".into(), r.scenario.clone()),
        ("seed".into(), r.seed.to_string()),
        ("pulses_sent".into(), r.pulses_sent.to_string()),
        ("link_time_s".into(), r.link_time_s.to_string()),
        ("detections".into(), r.detections.to_string()),
        ("sifted_bits_z".into(), r.sifted_bits_z.to_string()),
        ("sifted_bits_x".into(), r.sifted_bits_x.to_string()),
        ("qber_z".into(), r.qber_z.to_string()),
        ("qber_x".into(), r.qber_x.to_string()),
        ("blocks".into(), r.blocks.to_string()),
    ];
    for k in &r.per_intensity {
        let l = &k.label;
        cols.push((format!("{l}_pulses"), k.pulses.to_string()));
        cols.push((format!("{l}_gain"), k.gain.to_string()));
        cols.push((format!("{l}_gain_expected"), k.expected.gain.to_string()));
        cols.push((format!("{l}_qber_z"), k.qber_z.to_string()));
        cols.push((
            format!("{l}_qber_z_expected"),
            k.expected.qber_z.to_string(),
        ));
    }
    let t = &r.timings;
    cols.push(("engine_s".into(), t.engine_s.to_string()));
    cols.push(("total_s".into(), t.total_s.to_string()));
    cols
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
