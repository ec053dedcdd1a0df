//! `qkdsim merge PART... --out DIR`: puts the part files of a sharded sweep together
//! (DESIGN §7).
//!
//! Each PART is a part file (`part-I-of-N.jsonl`) or a directory holding part files (a
//! shard's `--out`). The parts must come from this qkdsim version and belong to one
//! scenario and one sweep, and together hold every point exactly once
//! ([`qkdsim::analysis::shard::merge`] names the files and points otherwise). The sweep's
//! report is then assembled as in one process and written as `sweep --out` writes it:
//! `results.json`, `results.csv`, charts and `report.md`, identical to the unsharded sweep's
//! outside the `timings` objects; the table or, with `--json`, the JSON document goes to
//! stdout.

use super::output::{note, preflight};
use anyhow::{Context, bail};
use clap::Args;
use qkdsim::analysis::shard::{Part, merge, parse_part};
use qkdsim::analysis::sweep::assemble;
use std::path::{Path, PathBuf};

/// Arguments of `qkdsim merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Part files of the shards (`part-I-of-N.jsonl`), or directories holding them (each
    /// shard's --out).
    #[arg(required = true)]
    pub parts: Vec<PathBuf>,
    /// Write results.json, results.csv, charts (PNG and SVG) and report.md into this
    /// directory, whole or not at all (as `qkdsim sweep --out`).
    #[arg(long)]
    pub out: PathBuf,
    /// Print one JSON document on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Worker threads for the theory lines, 0 to 256 (0: one per core).
    #[arg(long, default_value_t = 0, value_parser = super::parse_threads, allow_negative_numbers = true)]
    pub threads: usize,
}

/// Whether `name` is a part file's name: `part-I-of-N.jsonl`.
fn is_part_name(name: &str) -> bool {
    name.strip_prefix("part-")
        .and_then(|r| r.strip_suffix(".jsonl"))
        .and_then(|r| r.split_once("-of-"))
        .is_some_and(|(i, n)| i.parse::<u64>().is_ok() && n.parse::<u64>().is_ok())
}

/// The part files named by the arguments: files as given, directories' part files in
/// name order.
fn part_paths(args: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in args {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot read part {}", path.display()))?;
        if !meta.is_dir() {
            out.push(path.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot list {}", path.display()))?
            .filter_map(|e| e.ok())
            .filter(|e| is_part_name(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        if found.is_empty() {
            bail!(
                "{}: holds no part file (part-I-of-N.jsonl): give the --out directory of a \
                 finished shard, or part files",
                path.display()
            );
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

fn read(path: &Path) -> anyhow::Result<Part> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read part file {}", path.display()))?;
    Ok(parse_part(
        &text,
        &path.display().to_string(),
        env!("CARGO_PKG_VERSION"),
    )?)
}

/// Runs the subcommand.
pub fn run(args: MergeArgs) -> anyhow::Result<()> {
    let paths = part_paths(&args.parts)?;
    let mut parts = Vec::with_capacity(paths.len());
    for path in &paths {
        parts.push((path.display().to_string(), read(path)?));
    }
    let merged = merge(parts).context("cannot merge the parts")?;
    preflight(&args.out, "--out")?;
    let definition = &merged.header.sweep;
    let scenario = merged.scenario;
    let points = merged.points;
    let report = super::with_threads(args.threads, || {
        assemble(&scenario, &definition.grid, definition.seed, points)
    })??;
    super::sweep::write_outputs(&args.out, &report, &scenario, &merged.header.command)?;
    note(format_args!(
        "merged {} part files ({} points) into {}/results.json, results.csv, report.md and \
         the charts",
        paths.len(),
        report.points.len(),
        args.out.display()
    ));
    super::sweep::print_report(&report, args.json)
}
