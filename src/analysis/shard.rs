//! Part files of a sharded sweep: what one shard of a sweep (`qkdsim sweep … --shard I/N`)
//! writes, and the checks `qkdsim merge` makes before it assembles the sweep's report from
//! the parts.
//!
//! A part file is JSON Lines: a header line `{"header": {...}}` (format and qkdsim
//! version, the scenario as TOML with its SHA-256, the sweep definition: grid, master seed
//! and pulse override, and the shard), one line `{"record": {"index": i, "point": {...}}}`
//! per finished point with the point's full run record, and a last line `{"end":
//! {"records": k}}` once the shard has finished. A shard appends records to a journal as
//! its points finish (so an interrupted shard can `--resume`) and writes the part file
//! whole at the end, records in index order. Records are read back exactly: serde_json
//! parses floats with `float_roundtrip`, and every record is checked to serialise back to
//! the very JSON it was read from, so a part written by an incompatible build is refused
//! rather than silently read with fields lost.
//!
//! Text in, text out: this module does no I/O (the binary reads and writes the files).
//! Must never depend on `report`, clap or the terminal.

use super::sweep::{PointGrid, PointRecord, Shard, SweepPoint};
use crate::error::{Error, Result};
use crate::scenario::{Scenario, fmt_text};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The `format` field of every part file's header.
pub const PART_FORMAT: &str = "qkdsim-sweep-part";
/// Version of the part file layout this build writes and reads.
pub const PART_FORMAT_VERSION: u32 = 1;
/// Most problems one merge lists by name (missing or duplicated points).
const MAX_LISTED: usize = 12;

/// What makes two shards parts of the same sweep (besides the scenario): the points, the
/// master seed and the pulses per point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepDefinition {
    /// The points: one axis or the grid of two.
    pub grid: PointGrid,
    /// Master seed (`--seed` or `simulation.seed`); point i runs with a seed derived from
    /// (seed, i).
    pub seed: u64,
    /// `--pulses` for every point, if given (else the scenario's own count).
    pub pulses: Option<u64>,
    /// Number of points of the whole sweep.
    pub points: usize,
}

/// First line of a part file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartHeader {
    /// Always [`PART_FORMAT`].
    pub format: String,
    /// Layout version ([`PART_FORMAT_VERSION`]).
    pub format_version: u32,
    /// Version of the qkdsim that ran the shard; merge accepts only its own version.
    pub qkdsim_version: String,
    /// The scenario's name (for messages).
    pub scenario_name: String,
    /// SHA-256 (hex) of `scenario`.
    pub scenario_sha256: String,
    /// The effective scenario as simulated (defaults filled in, `--engine` applied,
    /// `[sweep]` left out) as TOML: merge computes the theory from it.
    pub scenario: String,
    /// The sweep.
    pub sweep: SweepDefinition,
    /// Which shard this is.
    pub shard: Shard,
    /// Number of points of the sweep that belong to this shard.
    pub shard_points: usize,
    /// The sweep's command line without the flags that do not change its results
    /// (`report.md` of the merged sweep shows it).
    pub command: String,
}

/// Last line of a finished part file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PartEnd {
    /// Number of records before it.
    pub records: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Header(Box<PartHeader>),
    Record(Box<PointRecord>),
    End(PartEnd),
}

/// The scenario as a part file holds it: the effective TOML without `[sweep]`.
pub fn scenario_text(scenario: &Scenario) -> String {
    let mut spec = scenario.spec.clone();
    spec.sweep = None;
    Scenario { spec }.to_toml()
}

/// SHA-256 of `text`, lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl PartHeader {
    /// The header of shard `shard` of the sweep `sweep` of `scenario`, run by qkdsim
    /// `version`.
    pub fn new(
        scenario: &Scenario,
        sweep: SweepDefinition,
        shard: Shard,
        version: &str,
        command: String,
    ) -> PartHeader {
        let text = scenario_text(scenario);
        PartHeader {
            format: PART_FORMAT.into(),
            format_version: PART_FORMAT_VERSION,
            qkdsim_version: version.into(),
            scenario_name: scenario.spec.name.clone(),
            scenario_sha256: sha256_hex(&text),
            scenario: text,
            shard_points: shard.points(sweep.points).len(),
            sweep,
            shard,
            command,
        }
    }

    /// The scenario the part was run with, validated again.
    pub fn scenario(&self, origin: &str) -> Result<Scenario> {
        Scenario::parse(&self.scenario, &format!("{origin}: scenario")).map_err(|e| {
            Error::InvalidArgument(format!("{origin}: its scenario does not validate: {e}"))
        })
    }

    /// How the sweep of `other` differs from this one (scenario, version, grid, seed,
    /// pulses), one phrase per difference, each naming both values; empty when they are
    /// parts of the same sweep. The shard and the command line are not compared.
    pub fn sweep_differences(&self, other: &PartHeader) -> Vec<String> {
        let mut out = Vec::new();
        if self.qkdsim_version != other.qkdsim_version {
            out.push(format!(
                "qkdsim version {} vs {}",
                other.qkdsim_version, self.qkdsim_version
            ));
        }
        if self.scenario_sha256 != other.scenario_sha256 {
            out.push(format!(
                "another scenario: {} (sha256 {}) vs {} (sha256 {})",
                fmt_text(&other.scenario_name),
                short(&other.scenario_sha256),
                fmt_text(&self.scenario_name),
                short(&self.scenario_sha256)
            ));
        }
        let (a, b) = (&other.sweep, &self.sweep);
        let axis = |g: &PointGrid, second: bool| -> Option<super::sweep::SweepPlan> {
            if second {
                g.second.clone()
            } else {
                Some(g.first.clone())
            }
        };
        for (second, suffix) in [(false, ""), (true, "2")] {
            match (axis(&a.grid, second), axis(&b.grid, second)) {
                (Some(x), Some(y)) => {
                    if x.param != y.param {
                        out.push(format!(
                            "param{suffix} {} vs {}",
                            fmt_text(&x.param),
                            fmt_text(&y.param)
                        ));
                    }
                    if x.values != y.values {
                        out.push(format!(
                            "values{suffix} {} vs {}",
                            list(&x.values),
                            list(&y.values)
                        ));
                    }
                    if x.log != y.log {
                        out.push(format!("log{suffix} {} vs {}", x.log, y.log));
                    }
                }
                (None, None) => {}
                (x, y) => out.push(format!(
                    "param{suffix} {} vs {}",
                    x.map_or("none (one-axis sweep)".into(), |p| fmt_text(&p.param)),
                    y.map_or("none (one-axis sweep)".into(), |p| fmt_text(&p.param))
                )),
            }
        }
        if a.seed != b.seed {
            out.push(format!("master seed {} vs {}", a.seed, b.seed));
        }
        if a.pulses != b.pulses {
            let p = |v: Option<u64>| v.map_or("the scenario's".into(), |n| n.to_string());
            out.push(format!("--pulses {} vs {}", p(a.pulses), p(b.pulses)));
        }
        out
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn list(values: &[f64]) -> String {
    let shown: Vec<String> = values
        .iter()
        .take(6)
        .map(|v| crate::scenario::fmt_num(*v))
        .collect();
    if values.len() > 6 {
        format!("[{}, … ({} values)]", shown.join(", "), values.len())
    } else {
        format!("[{}]", shown.join(", "))
    }
}

fn line(l: &Line) -> String {
    let mut s = serde_json::to_string(l).expect("part file lines serialise");
    s.push('\n');
    s
}

/// The header line of a part file (with its newline).
pub fn header_line(header: &PartHeader) -> String {
    line(&Line::Header(Box::new(header.clone())))
}

/// One record line (with its newline).
pub fn record_line(record: &PointRecord) -> String {
    line(&Line::Record(Box::new(record.clone())))
}

/// The end line of a finished part holding `records` records (with its newline).
pub fn end_line(records: usize) -> String {
    line(&Line::End(PartEnd { records }))
}

/// A whole finished part file: header, records in index order, end line.
pub fn part_text(header: &PartHeader, records: &[PointRecord]) -> String {
    let mut sorted: Vec<&PointRecord> = records.iter().collect();
    sorted.sort_by_key(|r| r.index);
    let mut s = header_line(header);
    for r in sorted {
        s.push_str(&record_line(r));
    }
    s.push_str(&end_line(records.len()));
    s
}

/// A part file (or a shard's journal) as read.
#[derive(Debug, Clone)]
pub struct Part {
    /// The header.
    pub header: PartHeader,
    /// The records, in file order, each with its line number (1-based).
    pub records: Vec<(usize, PointRecord)>,
    /// The end line was read: the shard finished.
    pub complete: bool,
    /// Bytes of the text up to the end of the last good line: a journal cut short by a
    /// kill is truncated here before the shard resumes.
    pub valid_bytes: usize,
    /// The last line, if it is incomplete (no newline, or not JSON: a write cut short).
    pub torn_line: Option<usize>,
}

/// Reads a part file or a journal. `origin` (the file name) starts every message;
/// `version` is this qkdsim's: a part written by another version is refused before its
/// records are read. An incomplete last line is reported in [`Part::torn_line`], not as an
/// error; any other defect is an error naming the line.
pub fn parse_part(text: &str, origin: &str, version: &str) -> Result<Part> {
    let bad = |msg: String| Error::InvalidArgument(format!("{origin}: {msg}"));
    let mut lines = text.split_inclusive('\n').enumerate();
    let Some((_, first)) = lines.next() else {
        return Err(bad("is empty, not a qkdsim sweep part file".into()));
    };
    let value: serde_json::Value = serde_json::from_str(first.trim_end())
        .map_err(|_| bad("is not a qkdsim sweep part file (its first line is not JSON)".into()))?;
    let head = &value["header"];
    if head["format"] != PART_FORMAT {
        return Err(bad(format!(
            "is not a qkdsim sweep part file (its first line has no \"header\" with format \
             \"{PART_FORMAT}\")"
        )));
    }
    if head["format_version"] != PART_FORMAT_VERSION {
        return Err(bad(format!(
            "has part format version {}; this qkdsim reads version {PART_FORMAT_VERSION}: \
             rerun the shard with this qkdsim",
            head["format_version"]
        )));
    }
    if head["qkdsim_version"] != version {
        return Err(bad(format!(
            "was written by qkdsim {}; this is qkdsim {version}: parts of one sweep must all \
             come from the qkdsim that merges them, so rerun the shard with this version",
            head["qkdsim_version"]
        )));
    }
    let header: PartHeader = serde_json::from_value(head.clone())
        .map_err(|e| bad(format!("line 1: header cannot be read: {e}")))?;
    if sha256_hex(&header.scenario) != header.scenario_sha256 {
        return Err(bad(format!(
            "line 1: the scenario does not match its SHA-256 {} (the file was altered)",
            short(&header.scenario_sha256)
        )));
    }
    let n = header.sweep.points;
    if header.sweep.grid.len() != n || header.shard_points != header.shard.points(n).len() {
        return Err(bad(
            "line 1: the header's point counts do not match its grid and shard".into(),
        ));
    }
    let mut part = Part {
        header,
        records: Vec::new(),
        complete: false,
        valid_bytes: first.len(),
        torn_line: None,
    };
    if !first.ends_with('\n') {
        part.torn_line = Some(1);
        return Ok(part);
    }
    let rest: Vec<(usize, &str)> = lines.collect();
    let last = rest.len();
    for (k, (i, text_line)) in rest.into_iter().enumerate() {
        let number = i + 1;
        let is_last = k + 1 == last;
        if part.complete {
            return Err(bad(format!(
                "line {number}: text after the end line (the part was altered)"
            )));
        }
        let parsed = text_line
            .strip_suffix('\n')
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
        let Some(value) = parsed else {
            if is_last {
                part.torn_line = Some(number);
                return Ok(part);
            }
            return Err(bad(format!("line {number} is not a JSON line")));
        };
        if let Some(record) = value.get("record") {
            let r: PointRecord = serde_json::from_value(record.clone()).map_err(|e| {
                bad(format!(
                    "line {number}: record cannot be read ({e}); it was written by an \
                     incompatible qkdsim build"
                ))
            })?;
            // Read back exactly, or refused: a field this build does not know would
            // otherwise be dropped without a word.
            if serde_json::to_value(&r).ok().as_ref() != Some(record) {
                return Err(bad(format!(
                    "line {number}: the record of point {} does not read back exactly; it was \
                     written by an incompatible qkdsim build",
                    r.index
                )));
            }
            if r.index >= n {
                return Err(bad(format!(
                    "line {number}: point {} does not exist in a sweep of {n} points",
                    r.index
                )));
            }
            if !part.header.shard.owns(r.index) {
                return Err(bad(format!(
                    "line {number}: point {} belongs to shard {}/{}, not to this part's shard {}",
                    r.index,
                    Shard::of(r.index, part.header.shard.count),
                    part.header.shard.count,
                    part.header.shard
                )));
            }
            let grid = &part.header.sweep.grid;
            let expected = grid.settings(r.index);
            let found = [Some(r.point.value), r.point.value2];
            let wrong = expected
                .iter()
                .zip(found)
                .any(|(&(_, want), got)| got != Some(want));
            if wrong || r.point.value2.is_some() != grid.is_2d() {
                return Err(bad(format!(
                    "line {number}: the record of point {} is not at {} (the part was altered)",
                    r.index,
                    grid.describe(r.index)
                )));
            }
            part.records.push((number, r));
        } else if let Some(end) = value.get("end") {
            let end: PartEnd = serde_json::from_value(end.clone())
                .map_err(|e| bad(format!("line {number}: end line cannot be read: {e}")))?;
            if end.records != part.records.len() {
                return Err(bad(format!(
                    "line {number}: the end line counts {} records, the file holds {}",
                    end.records,
                    part.records.len()
                )));
            }
            part.complete = true;
        } else {
            return Err(bad(format!(
                "line {number}: neither a record nor the end line"
            )));
        }
        part.valid_bytes += text_line.len();
    }
    Ok(part)
}

/// The parts of a sweep, checked and put together.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The scenario the shards ran (from the parts' common header).
    pub scenario: Scenario,
    /// The header of the part with the lowest shard number (its command line goes into
    /// `report.md`).
    pub header: PartHeader,
    /// Every point of the sweep, in index order.
    pub points: Vec<SweepPoint>,
}

/// Checks that `parts` (each with its file name) are the finished parts of one sweep —
/// same scenario, sweep and qkdsim version, every point present exactly once — and puts
/// their points in order. Every problem found is listed, naming the files and points.
pub fn merge(parts: Vec<(String, Part)>) -> Result<Merged> {
    if parts.is_empty() {
        return Err(Error::InvalidArgument("no part files given".into()));
    }
    let mut problems = Vec::new();
    for (name, part) in &parts {
        if let Some(line) = part.torn_line {
            problems.push(format!(
                "{name}: line {line} is an incomplete record (the shard was interrupted while \
                 writing): rerun shard {} with --resume",
                part.header.shard
            ));
        } else if !part.complete {
            problems.push(format!(
                "{name}: incomplete ({} of its {} points; the shard has not finished): rerun \
                 shard {} with --resume",
                part.records.len(),
                part.header.shard_points,
                part.header.shard
            ));
        }
    }
    // The reference: the part with the lowest shard number (then the first given).
    let reference = parts
        .iter()
        .enumerate()
        .min_by_key(|(i, (_, p))| (p.header.shard.index, *i))
        .map(|(i, _)| i)
        .unwrap_or(0);
    let (ref_name, ref_part) = &parts[reference];
    let ref_header = &ref_part.header;
    let mut foreign = false;
    for (name, part) in &parts {
        let diff = ref_header.sweep_differences(&part.header);
        if !diff.is_empty() {
            foreign = true;
            problems.push(format!(
                "{name} belongs to another sweep than {ref_name}: {}",
                diff.join("; ")
            ));
        }
    }
    if foreign {
        return Err(Error::InvalidArgument(problems.join("\n")));
    }
    let grid = &ref_header.sweep.grid;
    let n = ref_header.sweep.points;
    let mut owner: Vec<Option<&str>> = vec![None; n];
    let mut duplicates = Vec::new();
    for (name, part) in &parts {
        for (_, r) in &part.records {
            match owner[r.index] {
                Some(first) => duplicates.push(format!(
                    "point {} ({}) is in both {first} and {name}",
                    r.index,
                    grid.describe(r.index)
                )),
                None => owner[r.index] = Some(name),
            }
        }
    }
    if !duplicates.is_empty() {
        let more = duplicates.len().saturating_sub(MAX_LISTED);
        duplicates.truncate(MAX_LISTED);
        let mut line = format!(
            "duplicated points (give each shard's part once): {}",
            duplicates.join("; ")
        );
        if more > 0 {
            line.push_str(&format!("; and {more} more"));
        }
        problems.push(line);
    }
    let missing: Vec<usize> = (0..n).filter(|&i| owner[i].is_none()).collect();
    if !missing.is_empty() {
        // With one shard count throughout, say which shards the missing points belong to.
        let counts: std::collections::BTreeSet<u64> =
            parts.iter().map(|(_, p)| p.header.shard.count).collect();
        let mut by_shard: BTreeMap<u64, usize> = BTreeMap::new();
        let shown: Vec<String> = missing
            .iter()
            .take(MAX_LISTED)
            .map(|&i| format!("{} ({})", i, grid.describe(i)))
            .collect();
        let mut line = format!(
            "missing {} of {n} points: {}{}",
            missing.len(),
            shown.join("; "),
            if missing.len() > MAX_LISTED {
                format!("; and {} more", missing.len() - MAX_LISTED)
            } else {
                String::new()
            }
        );
        if let (1, Some(&count)) = (counts.len(), counts.iter().next()) {
            for &i in &missing {
                *by_shard.entry(Shard::of(i, count)).or_default() += 1;
            }
            let shards: Vec<String> = by_shard
                .iter()
                .map(|(s, k)| format!("{s}/{count} ({k})"))
                .collect();
            line.push_str(&format!(
                " — they belong to shard{} {}",
                if shards.len() == 1 { "" } else { "s" },
                shards.join(", ")
            ));
        }
        problems.push(line);
    }
    if !problems.is_empty() {
        return Err(Error::InvalidArgument(problems.join("\n")));
    }
    let scenario = ref_header.scenario(ref_name)?;
    let header = ref_header.clone();
    let mut slots: Vec<Option<SweepPoint>> = vec![None; n];
    for (_, part) in parts {
        for (_, r) in part.records {
            slots[r.index] = Some(r.point);
        }
    }
    let points = slots.into_iter().flatten().collect::<Vec<_>>();
    if points.len() != n {
        return Err(Error::InvalidArgument(format!(
            "merged {} of {n} points",
            points.len()
        )));
    }
    Ok(Merged {
        scenario,
        header,
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_deal_every_point_once_and_balance() {
        for count in 1..=9u64 {
            for n in [0usize, 1, 5, 17, 40] {
                let mut seen = vec![0u32; n];
                let mut sizes = Vec::new();
                for index in 1..=count {
                    let shard = Shard::new(index, count).unwrap();
                    let points = shard.points(n);
                    sizes.push(points.len());
                    for p in points {
                        seen[p] += 1;
                    }
                }
                assert!(seen.iter().all(|&k| k == 1), "N = {count}, n = {n}");
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(hi - lo <= 1, "N = {count}, n = {n}: sizes {sizes:?}");
            }
        }
    }

    #[test]
    fn rotation_spreads_columns_when_the_shard_count_divides_the_row() {
        // A 6 x 4 grid in 4 shards: plain round-robin would give shard 1 column 0 in every
        // row; the rotation gives every shard every column.
        let (rows, cols, count) = (6usize, 4usize, 4u64);
        for index in 1..=count {
            let shard = Shard::new(index, count).unwrap();
            let mut columns: Vec<usize> =
                shard.points(rows * cols).iter().map(|p| p % cols).collect();
            columns.sort();
            columns.dedup();
            assert_eq!(columns.len(), cols, "shard {index}");
        }
    }

    #[test]
    fn shard_text_is_checked() {
        assert_eq!(Shard::parse("2/8").unwrap(), Shard { index: 2, count: 8 });
        assert_eq!(Shard::parse(" 1/1 ").unwrap().to_string(), "1/1");
        for (text, want) in [
            ("0/4", "I must be in [1, N]"),
            ("5/4", "I must be in [1, N]"),
            ("1/0", "N (the number of shards)"),
            ("3", "must be I/N"),
            ("a/4", "I must be a whole number"),
            ("1/-2", "N must be a whole number"),
        ] {
            let e = Shard::parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn an_empty_or_foreign_file_is_not_a_part() {
        let e = parse_part("", "p.jsonl", "0.1.0").unwrap_err().to_string();
        assert!(e.contains("p.jsonl: is empty"), "{e}");
        let e = parse_part("name = \"x\"\n", "p.jsonl", "0.1.0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a qkdsim sweep part file"), "{e}");
        let e = parse_part("{\"results\": 1}\n", "p.jsonl", "0.1.0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a qkdsim sweep part file"), "{e}");
    }
}
