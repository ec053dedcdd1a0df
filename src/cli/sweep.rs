//! `qkdsim sweep`: one full run per value of a numeric scenario key, or per point of the
//! grid of two keys (DESIGN §3, §5, §7).
//!
//! Merges the `[sweep]` table of the scenario with the flags (flags win, field by
//! field; `--values` replaces a file's grid and `--from/--to/--steps` replace its values;
//! likewise `--values2` and `--from2/--to2/--steps2` for the second axis), runs
//! [`qkdsim::analysis::sweep::sweep_grid_points`] with a progress bar on stderr, and prints
//! a table or, with `--json`, one JSON document on stdout. `--out DIR` writes
//! `results.json`, `results.csv`, the charts as PNG and SVG and `report.md`, as one set:
//! whole or not at all (see [`super::output`]).
//!
//! With `--shard I/N` (or inside a Slurm array task, from `SLURM_ARRAY_TASK_ID`,
//! `SLURM_ARRAY_TASK_MIN` and `SLURM_ARRAY_TASK_COUNT`) only the shard's points run, and
//! `--out DIR` receives the shard's part file (`part-I-of-N.jsonl`, see
//! [`qkdsim::analysis::shard`]) for `qkdsim merge`. While it runs, every finished point is
//! appended to a journal beside DIR (`.DIR.qkdsim-journal.jsonl`); `--resume` continues
//! from it, skipping the points it holds, and the part file is written whole at the end.

use super::output::{OutputSet, note, preflight};
use anyhow::{Context, bail};
use clap::Args;
use qkdsim::analysis::run::RunOptions;
use qkdsim::analysis::shard::{
    Part, PartHeader, SweepDefinition, header_line, parse_part, part_text, record_line,
};
use qkdsim::analysis::sweep::{
    PointGrid, PointRecord, Shard, SweepReport, run_points, sweep_grid_points,
};
use qkdsim::report::figures::{NamedChart, sweep_charts};
use qkdsim::report::markdown::{Provenance, sweep_markdown};
use qkdsim::scenario::{SweepNames, SweepSpec};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Arguments of `qkdsim sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// Dotted scenario key to sweep, e.g. link.length_km or
    /// source.intensities.0.mean_photon_number (default: `sweep.param`).
    #[arg(long)]
    pub param: Option<String>,
    /// First value of the grid.
    #[arg(long, allow_negative_numbers = true)]
    pub from: Option<f64>,
    /// Last value of the grid.
    #[arg(long, allow_negative_numbers = true)]
    pub to: Option<f64>,
    /// Number of values from --from to --to, both included.
    #[arg(long, value_parser = super::parse_steps, allow_negative_numbers = true)]
    pub steps: Option<u64>,
    /// Space the grid geometrically (values must be > 0).
    #[arg(long)]
    pub log: bool,
    /// Explicit values instead of a grid, comma-separated: --values 10,50,100.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub values: Option<Vec<f64>>,
    /// Second key to sweep: one run per point of the grid of both keys (a two-dimensional
    /// sweep; default: `sweep.param2`).
    #[arg(long)]
    pub param2: Option<String>,
    /// First value of the second axis.
    #[arg(long, allow_negative_numbers = true)]
    pub from2: Option<f64>,
    /// Last value of the second axis.
    #[arg(long, allow_negative_numbers = true)]
    pub to2: Option<f64>,
    /// Number of values of the second axis from --from2 to --to2, both included.
    #[arg(long, value_parser = super::parse_steps, allow_negative_numbers = true)]
    pub steps2: Option<u64>,
    /// Space the second axis geometrically (values must be > 0).
    #[arg(long)]
    pub log2: bool,
    /// Explicit values of the second axis, comma-separated.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub values2: Option<Vec<f64>>,
    /// Run only shard I of N (1-based) and write its part file into --out DIR, for
    /// `qkdsim merge`. Point p (0-based, row-major) belongs to shard
    /// 1 + (p + floor(p/N)) mod N. Inside a Slurm array task the shard is taken from
    /// SLURM_ARRAY_TASK_ID, _MIN and _COUNT unless given here.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Run every point even inside a Slurm array task (ignore SLURM_ARRAY_TASK_*).
    #[arg(long, conflicts_with = "shard")]
    pub no_shard: bool,
    /// Continue an interrupted shard: skip the points its journal (or finished part file)
    /// already holds.
    #[arg(long)]
    pub resume: bool,
    /// Pulses per point, e.g. 1e9 (default: `simulation.pulses` or `duration_s`).
    #[arg(long, value_parser = super::parse_count, allow_negative_numbers = true)]
    pub pulses: Option<u64>,
    /// Master seed; point i runs with a seed derived from (seed, i) (default: `simulation.seed`).
    #[arg(long, value_parser = super::parse_seed, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Worker threads, 0 to 256 (0: one per core; up to the core count on larger machines).
    #[arg(long, default_value_t = 0, value_parser = super::parse_threads, allow_negative_numbers = true)]
    pub threads: usize,
    /// Engine: pulse (reference), event, auto (default: `simulation.engine`).
    #[arg(long, value_parser = ["pulse", "event", "auto"])]
    pub engine: Option<String>,
    /// Write results.json, results.csv, charts (PNG and SVG) and report.md into this
    /// directory. The directory is written whole or not at all: it must be new, empty, or
    /// written by an earlier qkdsim run, and is then replaced as a whole.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON document on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    Shard::parse(s)
}

/// The sweep specification: the scenario's `[sweep]` table overridden by the flags.
/// The sweep from the flags over the file's `[sweep]` table, with each field named after
/// where its value came from (flag or table key), so errors blame what the user wrote.
/// Returns the names of the first axis' fields and of the second's.
fn merged_spec(
    args: &SweepArgs,
    file: Option<&SweepSpec>,
) -> anyhow::Result<(SweepSpec, SweepNames, SweepNames)> {
    let mut names = SweepNames::TABLE;
    let mut spec = file.cloned().unwrap_or_default();
    if let Some(param) = &args.param {
        spec.param = param.clone();
        names.param = "--param".into();
    }
    let grid_flags = args.from.is_some() || args.to.is_some() || args.steps.is_some();
    if args.values.is_some() && grid_flags {
        bail!("give either --values or --from/--to/--steps, not both");
    }
    if let Some(values) = &args.values {
        spec.values = Some(values.clone());
        (spec.from, spec.to, spec.steps) = (None, None, None);
        names.values = "--values".into();
        names.values_indexed = false;
    }
    if grid_flags {
        spec.values = None;
        spec.from = args.from.or(spec.from);
        spec.to = args.to.or(spec.to);
        spec.steps = args.steps.or(spec.steps);
        for (given, name, flag) in [
            (args.from.is_some(), &mut names.from, "--from"),
            (args.to.is_some(), &mut names.to, "--to"),
            (args.steps.is_some(), &mut names.steps, "--steps"),
        ] {
            if given {
                *name = flag.into();
            }
        }
    }
    if args.log {
        names.log = "--log".into();
    }
    spec.log |= args.log;
    if spec.param.is_empty() {
        bail!(
            "{}: no parameter to sweep: give --param KEY (a dotted scenario key such as \
             link.length_km) or a [sweep] table with `param` in the scenario",
            args.scenario.display()
        );
    }
    // The second axis, field by field in the same way.
    let mut names2 = SweepNames::table2();
    if let Some(param2) = &args.param2 {
        spec.param2 = Some(param2.clone());
        names2.param = "--param2".into();
    }
    let grid2_flags = args.from2.is_some() || args.to2.is_some() || args.steps2.is_some();
    if args.values2.is_some() && grid2_flags {
        bail!("give either --values2 or --from2/--to2/--steps2, not both");
    }
    if let Some(values2) = &args.values2 {
        spec.values2 = Some(values2.clone());
        (spec.from2, spec.to2, spec.steps2) = (None, None, None);
        names2.values = "--values2".into();
        names2.values_indexed = false;
    }
    if grid2_flags {
        spec.values2 = None;
        spec.from2 = args.from2.or(spec.from2);
        spec.to2 = args.to2.or(spec.to2);
        spec.steps2 = args.steps2.or(spec.steps2);
        for (given, name, flag) in [
            (args.from2.is_some(), &mut names2.from, "--from2"),
            (args.to2.is_some(), &mut names2.to, "--to2"),
            (args.steps2.is_some(), &mut names2.steps, "--steps2"),
        ] {
            if given {
                *name = flag.into();
            }
        }
    }
    if args.log2 {
        names2.log = "--log2".into();
    }
    spec.log2 |= args.log2;
    Ok((spec, names, names2))
}

/// The shard this process runs: `--shard`, or inside a Slurm array task the task's place
/// in the array (said on stderr), or none (`--no-shard`, or outside an array task).
fn resolve_shard(args: &SweepArgs) -> anyhow::Result<Option<Shard>> {
    if args.no_shard {
        return Ok(None);
    }
    if args.shard.is_some() {
        return Ok(args.shard);
    }
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let Some(id_text) = var("SLURM_ARRAY_TASK_ID") else {
        return Ok(None);
    };
    let number = |k: &str| -> anyhow::Result<u64> {
        let Some(text) = var(k) else {
            bail!(
                "inside a Slurm array task (SLURM_ARRAY_TASK_ID = {}) but {k} is not set: \
                 give --shard I/N, or --no-shard to run every point",
                qkdsim::scenario::fmt_text(&id_text)
            );
        };
        text.trim().parse::<u64>().map_err(|_| {
            anyhow::anyhow!(
                "{k} = {} is not a whole number: give --shard I/N, or --no-shard to run \
                 every point",
                qkdsim::scenario::fmt_text(&text)
            )
        })
    };
    let (id, min, count) = (
        number("SLURM_ARRAY_TASK_ID")?,
        number("SLURM_ARRAY_TASK_MIN")?,
        number("SLURM_ARRAY_TASK_COUNT")?,
    );
    let step = match var("SLURM_ARRAY_TASK_STEP") {
        Some(_) => number("SLURM_ARRAY_TASK_STEP")?.max(1),
        None => 1,
    };
    let offset = id.checked_sub(min).filter(|d| d % step == 0);
    let shard = offset
        .and_then(|d| Shard::new(d / step + 1, count).ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "Slurm array task {id} (SLURM_ARRAY_TASK_MIN = {min}, \
                 SLURM_ARRAY_TASK_COUNT = {count}, step {step}) has no place in a \
                 contiguous array: submit the array as --array=A-B (or A-B:S), or give \
                 --shard I/N, or --no-shard to run every point"
            )
        })?;
    note(format_args!(
        "qkdsim: Slurm array task {id} (SLURM_ARRAY_TASK_ID = {id}, SLURM_ARRAY_TASK_MIN = \
         {min}, SLURM_ARRAY_TASK_COUNT = {count}): running shard {shard} of the sweep \
         (--shard I/N overrides, --no-shard runs every point)"
    ));
    Ok(Some(shard))
}

/// Runs the subcommand.
pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    let mut scenario = super::load_scenario(&args.scenario)?;
    if let Some(engine) = &args.engine {
        let mut spec = scenario.spec.clone();
        spec.simulation.engine = engine.clone();
        scenario = qkdsim::Scenario::from_spec(spec).context("--engine")?;
    }
    let (spec, names, names2) = merged_spec(&args, scenario.spec.sweep.as_ref())?;
    let grid = PointGrid::from_spec_named(&spec, &names, &names2)
        .with_context(|| format!("invalid sweep for {}", args.scenario.display()))?;
    // Check the keys and every point before any simulation starts.
    let point_scenarios = grid
        .scenarios(&scenario)
        .with_context(|| format!("invalid sweep for {}", args.scenario.display()))?;
    let shard = resolve_shard(&args)?;
    if shard.is_none() && args.resume {
        bail!(
            "--resume continues a shard (--shard I/N, or a Slurm array task): it skips the \
             points the shard's journal holds; for a whole sweep that can be resumed, run it \
             as --shard 1/1 --resume --out PARTS and then qkdsim merge PARTS --out DIR"
        );
    }
    let options = RunOptions {
        seed: args.seed,
        pulses: args.pulses,
        ..RunOptions::default()
    };
    if let Some(shard) = shard {
        return run_shard(&args, shard, &scenario, grid, &point_scenarios, &options);
    }
    // A taken output name fails now rather than after the sweep.
    if let Some(dir) = &args.out {
        preflight(dir, "--out")?;
    }
    let total_pulses: u64 = point_scenarios
        .iter()
        .map(|s| options.pulses.unwrap_or_else(|| s.pulses()))
        .sum();
    let n_points = grid.len() as u64;
    let bar = progress_bar(total_pulses, std::io::stderr().is_terminal(), n_points);
    let report = super::with_threads(args.threads, || {
        sweep_grid_points(&scenario, &grid, &options, &|pulses, points| {
            bar.set_position(pulses);
            bar.set_message(format!("{points}/{n_points} points"));
        })
    })??;
    bar.finish_and_clear();
    if let Some(dir) = &args.out {
        write_outputs(dir, &report, &scenario, &sweep_command_line())?;
        note(format_args!(
            "wrote {}/results.json, results.csv, report.md and the charts",
            dir.display()
        ));
    }
    print_report(&report, args.json)
}

/// The table, or with `json` the JSON document, of a sweep on stdout.
pub fn print_report(report: &SweepReport, json: bool) -> anyhow::Result<()> {
    if json {
        super::output::print(&format!("{}\n", qkdsim::report::json::sweep_json(report)))
    } else {
        super::output::print(&qkdsim::report::table::sweep_table(report))
    }
}

/// The name of shard `shard`'s part file.
pub fn part_file_name(shard: Shard) -> String {
    format!("part-{}-of-{}.jsonl", shard.index, shard.count)
}

/// Where a shard bound for `dir` keeps its journal: a hidden file beside `dir`.
fn journal_path(dir: &Path) -> anyhow::Result<PathBuf> {
    let Some(name) = dir.file_name() else {
        bail!(
            "--out {}: must name a directory to create or replace, such as parts/shard-1 \
             (not . or ..)",
            dir.display()
        );
    };
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(parent.join(format!(".{}.qkdsim-journal.jsonl", name.to_string_lossy())))
}

fn read_part(path: &Path) -> anyhow::Result<Part> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read part file {}", path.display()))?;
    Ok(parse_part(
        &text,
        &path.display().to_string(),
        env!("CARGO_PKG_VERSION"),
    )?)
}

/// Runs one shard: its points not yet in the journal (with `--resume`), each appended to
/// the journal as it finishes, then the part file written whole into `--out DIR`.
fn run_shard(
    args: &SweepArgs,
    shard: Shard,
    scenario: &qkdsim::Scenario,
    grid: PointGrid,
    point_scenarios: &[qkdsim::Scenario],
    options: &RunOptions,
) -> anyhow::Result<()> {
    let Some(dir) = &args.out else {
        bail!(
            "shard {shard} needs --out DIR: a shard writes its part file there, and qkdsim \
             merge puts the parts together (--no-shard runs every point instead)"
        );
    };
    if args.json {
        bail!(
            "--json: shard {shard} writes its points to its part file in --out; qkdsim merge \
             prints the sweep's JSON document"
        );
    }
    preflight(dir, "--out")?;
    let n = grid.len();
    let definition = SweepDefinition {
        grid,
        seed: options.seed.unwrap_or(scenario.spec.simulation.seed),
        pulses: options.pulses,
        points: n,
    };
    let header = PartHeader::new(
        scenario,
        definition,
        shard,
        env!("CARGO_PKG_VERSION"),
        sweep_command_line(),
    );
    let grid = &header.sweep.grid;
    let part_name = part_file_name(shard);
    let journal = journal_path(dir)?;
    let mut done: Vec<PointRecord> = Vec::new();
    let mut keep_bytes = None;
    if args.resume {
        let finished = dir.join(&part_name);
        if finished.is_file() {
            let part = read_part(&finished)?;
            let diff = header.sweep_differences(&part.header);
            if !diff.is_empty() || part.header.shard != shard {
                bail!(
                    "--resume: {} is shard {} of another sweep ({}); run without --resume to \
                     replace it",
                    finished.display(),
                    part.header.shard,
                    if diff.is_empty() {
                        "another shard".to_string()
                    } else {
                        diff.join("; ")
                    }
                );
            }
            if part.complete {
                note(format_args!(
                    "shard {shard}: already complete in {} ({} points); nothing to run",
                    finished.display(),
                    part.records.len()
                ));
                return Ok(());
            }
        }
        if journal.is_file() {
            let part = read_part(&journal)?;
            let diff = header.sweep_differences(&part.header);
            if !diff.is_empty() || part.header.shard != shard {
                bail!(
                    "--resume: the journal {} belongs to shard {} of another sweep ({}); \
                     remove it or run without --resume",
                    journal.display(),
                    part.header.shard,
                    if diff.is_empty() {
                        "another shard".to_string()
                    } else {
                        diff.join("; ")
                    }
                );
            }
            keep_bytes = Some(part.valid_bytes as u64);
            done = part.records.into_iter().map(|(_, r)| r).collect();
            done.sort_by_key(|r| r.index);
            done.dedup_by_key(|r| r.index);
        }
    }
    // The journal: kept up to its last complete record when resuming, else started anew.
    if let Some(parent) = journal.parent() {
        std::fs::create_dir_all(parent).with_context(|| {
            format!(
                "--out {}: cannot create the parent directory {}",
                dir.display(),
                parent.display()
            )
        })?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&journal)
        .with_context(|| format!("cannot open the shard's journal {}", journal.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "the shard's journal {} is in use by another qkdsim process: shard {shard} is \
             already running into --out {}",
            journal.display(),
            dir.display()
        ),
        // Some cluster file systems do not lock (Lustre without -o flock): go on unlocked.
        Err(std::fs::TryLockError::Error(e)) => note(format_args!(
            "warning: cannot lock the shard's journal {} ({e}); make sure no other process \
             runs shard {shard} into the same --out",
            journal.display()
        )),
    }
    let journal_ctx = || format!("cannot write the shard's journal {}", journal.display());
    match keep_bytes {
        // Appends go to the end, wherever it now is.
        Some(len) => file.set_len(len).with_context(journal_ctx)?,
        None => {
            file.set_len(0).with_context(journal_ctx)?;
            file.write_all(header_line(&header).as_bytes())
                .with_context(journal_ctx)?;
        }
    }
    let mine = shard.points(n);
    let todo: Vec<usize> = mine
        .iter()
        .copied()
        .filter(|i| done.binary_search_by_key(i, |r| r.index).is_err())
        .collect();
    note(format_args!(
        "shard {shard}: {} of the sweep's {n} points{}",
        mine.len(),
        if done.is_empty() {
            String::new()
        } else {
            format!(
                "; {} already in the journal (--resume), {} to run",
                done.len(),
                todo.len()
            )
        }
    ));
    let total_pulses: u64 = todo
        .iter()
        .map(|&i| {
            options
                .pulses
                .unwrap_or_else(|| point_scenarios[i].pulses())
        })
        .sum();
    let n_todo = todo.len() as u64;
    let bar = progress_bar(total_pulses, std::io::stderr().is_terminal(), n_todo);
    let journal_file = Mutex::new(file);
    let on_point = |record: &PointRecord| -> qkdsim::Result<()> {
        let line = record_line(record);
        let mut f = journal_file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(line.as_bytes()).map_err(|e| {
            qkdsim::Error::InvalidArgument(format!(
                "cannot append point {} to the shard's journal {}: {e}",
                record.index,
                journal.display()
            ))
        })
    };
    let records = super::with_threads(args.threads, || {
        run_points(
            scenario,
            grid,
            options,
            &todo,
            &|pulses, points| {
                bar.set_position(pulses);
                bar.set_message(format!("{points}/{n_todo} points"));
            },
            &on_point,
        )
    })??;
    bar.finish_and_clear();
    done.extend(records);
    let mut set = OutputSet::begin(dir, "--out")?;
    set.write(&part_name, part_text(&header, &done).as_bytes())?;
    set.commit()?;
    drop(journal_file);
    if let Err(e) = std::fs::remove_file(&journal) {
        note(format_args!(
            "warning: part file written, but the journal {} could not be removed: {e}",
            journal.display()
        ));
    }
    note(format_args!(
        "shard {shard}: wrote {} ({} points); put the shards together with qkdsim merge",
        dir.join(&part_name).display(),
        done.len()
    ));
    Ok(())
}

fn progress_bar(total: u64, visible: bool, points: u64) -> indicatif::ProgressBar {
    if !visible {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} sweeping [{bar:40}] {msg} ({elapsed}, ETA {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(format!("0/{points} points"));
    bar
}

/// The sweep's command line for `report.md`: as typed, but the program named `qkdsim` and
/// without the flags that do not change the results (`--out`, `--threads`, `--json`,
/// `--shard`, `--no-shard`, `--resume`), so a sweep run in one process and the same sweep
/// run in shards and merged record the same command.
pub fn sweep_command_line() -> String {
    let args: Vec<String> = std::env::args().collect();
    let mut kept = vec!["qkdsim".to_string()];
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        let with_value = ["--out", "--threads", "--shard"];
        let alone = ["--json", "--no-shard", "--resume"];
        if with_value.contains(&a.as_str()) {
            i += 2;
            continue;
        }
        if alone.contains(&a.as_str()) || with_value.iter().any(|f| a.starts_with(&format!("{f}=")))
        {
            i += 1;
            continue;
        }
        kept.push(quote(a));
        i += 1;
    }
    kept.join(" ")
}

fn quote(a: &str) -> String {
    if a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
        format!("'{}'", a.replace('\'', "'\\''"))
    } else {
        a.to_string()
    }
}

/// The command line as typed, for `report.md`.
pub fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes every chart as `<stem>.png` and `<stem>.svg` into the set.
pub fn write_charts(set: &mut OutputSet, charts: &[NamedChart]) -> anyhow::Result<()> {
    for c in charts {
        let png = c.png()?;
        set.write(&format!("{}.png", c.stem), &png)?;
        let svg = c.svg()?;
        set.write(&format!("{}.svg", c.stem), svg.as_bytes())?;
    }
    Ok(())
}

/// Writes the output set of a whole sweep (from one process, or merged from shards):
/// `results.json`, `results.csv`, the charts (line charts for one axis, heat maps for two)
/// and `report.md` recording `command`.
pub fn write_outputs(
    dir: &Path,
    report: &SweepReport,
    scenario: &qkdsim::Scenario,
    command: &str,
) -> anyhow::Result<()> {
    let mut set = OutputSet::begin(dir, "--out")?;
    set.write(
        "results.json",
        qkdsim::report::json::sweep_json(report).as_bytes(),
    )?;
    set.write(
        "results.csv",
        qkdsim::report::csv::sweep_csv(report)?.as_bytes(),
    )?;
    let provenance = Provenance {
        version: env!("CARGO_PKG_VERSION").into(),
        command: command.to_string(),
    };
    let markdown = if report.param2.is_some() {
        let maps = qkdsim::report::grid::sweep_heatmaps(report);
        for m in &maps {
            let png = qkdsim::report::heatmap::render_png(&m.spec)?;
            set.write(&format!("{}.png", m.stem), &png)?;
            let svg = qkdsim::report::heatmap::render_svg(&m.spec)?;
            set.write(&format!("{}.svg", m.stem), svg.as_bytes())?;
        }
        qkdsim::report::grid::grid_markdown(report, scenario, &maps, &provenance)
    } else {
        let charts = sweep_charts(report);
        write_charts(&mut set, &charts)?;
        sweep_markdown(report, scenario, &charts, &provenance)
    };
    set.write("report.md", markdown.as_bytes())?;
    set.commit()
}
