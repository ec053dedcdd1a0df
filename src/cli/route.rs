//! `qkdsim route` and `qkdsim route plan`: routes through trusted nodes (DESIGN §6, §7).
//!
//! `qkdsim route ROUTE.toml` reads the route file (its `base` scenario resolved against the
//! route file's folder), simulates every span in parallel with a progress bar on stderr,
//! relays the keys and prints the planner's summary, or with `--json` the route record.
//! `qkdsim route plan ROUTE.toml --min-rate-bps R` chooses trusted-node sites along the
//! corridor the file describes, prints the plan, then simulates the chosen route.
//! `--out DIR` writes one output set, whole or not at all (see [`super::output`]).
//!
//! This module and the rest of `cli` are the only places that touch files or the terminal;
//! the records, tables, CSV, charts and `report.md` come from `qkdsim::report::route`.

use super::output::{OutputSet, note, preflight};
use anyhow::Context;
use clap::{Args, Subcommand};
use qkdsim::report::markdown::Provenance;
use qkdsim::report::route as rr;
use qkdsim::route::plan::Plan;
use qkdsim::route::simulate::{RouteOptions, simulate_route, span_pulses};
use qkdsim::route::spec::parse_route;
use qkdsim::route::{Route, RouteReport};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Files of `route --out`, in the order they are written.
const ROUTE_FILES: &str = "results.json, results.csv, demands.csv, stores.csv, route.png, \
                           route.svg, stores.png, stores.svg and report.md";

/// Arguments of `qkdsim route`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Route file (TOML): name, base (a scenario file relative to the route \
                  file's folder, or an inline [base] table), [[nodes]] name, lat, lon, \
                  trusted; [[spans]] from, to, length_km and scenario overrides; [[demands]] \
                  from, to, rate_bps; [simulation] duration_s, seed; [relay] chunk_bits, \
                  auth_tag_bits, link_auth.\n\n\
                  --out DIR writes results.json (the record of --json), results.csv (one row \
                  per span), demands.csv (one row per demand), stores.csv (span, time_s, \
                  bits: every span's key store over link time), route.png/.svg (the route, \
                  bottleneck spans thick and red), stores.png/.svg and report.md. The \
                  directory is written whole or not at all: it must be new, empty, or written \
                  by an earlier qkdsim run, and is then replaced as a whole.\n\n\
                  Exit status: 0 on success; 2 on bad input (flags, route file, base \
                  scenario) or an I/O error, with the reason on stderr."
)]
pub struct RouteArgs {
    /// Plan trusted-node sites instead of simulating the route as written.
    #[command(subcommand)]
    pub command: Option<RouteCommand>,
    /// Route file (TOML).
    #[arg(required = true, value_name = "ROUTE.toml")]
    pub route: Option<PathBuf>,
    /// Simulation overrides.
    #[command(flatten)]
    pub sim: SimFlags,
    /// Output and threads.
    #[command(flatten)]
    pub output: OutputFlags,
}

/// Subcommands of `qkdsim route`.
#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// Choose the fewest trusted nodes along a corridor so every hop reaches a key rate,
    /// then simulate the chosen route.
    Plan(PlanArgs),
}

/// Arguments of `qkdsim route plan`.
#[derive(Debug, Args)]
#[command(
    after_help = "The route file describes a corridor: its spans form one chain, and \
                  every node on it is a candidate site (an inner node only if trusted). The \
                  plan keeps both ends and takes the fewest inner sites such that every hop's \
                  finite-key theory rate reaches --min-rate-bps, then the placement with the \
                  largest smallest hop rate; the chosen route is then simulated like \
                  `qkdsim route` (demands between chosen nodes are kept).\n\n\
                  When no placement reaches the rate, the plan says why and qkdsim exits 0 \
                  (an answer, not an input error); --json then prints {\"plan\": ..., \
                  \"route\": null}. With a placement, --json prints {\"plan\": ..., \
                  \"route\": <the route record of `qkdsim route --json`>}.\n\n\
                  --out DIR writes results.json (the --json document), plan.csv (one row \
                  per hop: from, to, length_km, theory_secret_key_rate_bps, min_rate_bps) \
                  and report.md, and with a placement also the route's results.csv, \
                  demands.csv, stores.csv and charts (route.png/.svg, stores.png/.svg); whole \
                  or not at all, like `qkdsim route --out`."
)]
pub struct PlanArgs {
    /// Route file describing the corridor (TOML).
    #[arg(value_name = "ROUTE.toml")]
    pub route: PathBuf,
    /// Key rate every hop must reach in the finite-key theory, bits per second.
    #[arg(long, value_name = "R", value_parser = parse_rate, allow_negative_numbers = true)]
    pub min_rate_bps: f64,
    /// Simulation overrides.
    #[command(flatten)]
    pub sim: SimFlags,
    /// Output and threads.
    #[command(flatten)]
    pub output: OutputFlags,
}

/// Flags that change what is simulated.
#[derive(Debug, Args)]
pub struct SimFlags {
    /// Link time every span simulates, seconds; must give a whole number of pulses at each
    /// span's repetition rate (default: the route's `simulation.duration_s`).
    #[arg(long, value_name = "S", value_parser = parse_duration, allow_negative_numbers = true)]
    pub duration_s: Option<f64>,
    /// Route seed; span i runs with a seed derived from (seed, i) (default: the route's
    /// `simulation.seed`).
    #[arg(long, value_name = "N", value_parser = super::parse_seed, allow_negative_numbers = true)]
    pub seed: Option<u64>,
}

/// Flags that choose where results go and how many workers run.
#[derive(Debug, Args)]
pub struct OutputFlags {
    /// Worker threads, 0 to 256 (0: one per core; up to the core count on larger machines).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = super::parse_threads, allow_negative_numbers = true)]
    pub threads: usize,
    /// Print one JSON document on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Write the output set into this directory (files listed below), whole or not at all.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Parses `--duration-s`: a finite number of seconds > 0. Whether it gives whole pulses
/// depends on each span's repetition rate and is checked once the route is read.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| {
        format!(
            "expected a duration in seconds such as 0.5 or 1e-2, got {}",
            qkdsim::scenario::fmt_text(s)
        )
    })?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!(
            "must be a finite number of seconds > 0, got {}",
            qkdsim::scenario::escape_controls(s)
        ));
    }
    Ok(v)
}

/// Parses `--min-rate-bps`: a finite rate > 0, at most the largest demand rate a route
/// file accepts.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let max = qkdsim::route::spec::MAX_RATE_BPS;
    let v: f64 = s.trim().parse().map_err(|_| {
        format!(
            "expected a key rate in bit/s such as 1000 or 1e4, got {}",
            qkdsim::scenario::fmt_text(s)
        )
    })?;
    if !(v.is_finite() && v > 0.0 && v <= max) {
        return Err(format!(
            "must be a rate in (0, {max:e}] bit/s, got {}",
            qkdsim::scenario::escape_controls(s)
        ));
    }
    Ok(v)
}

/// Reads and validates a route file; its `base` is read relative to the route file's
/// folder, and a base that cannot be read is named by its resolved path.
pub fn load_route(path: &Path) -> anyhow::Result<Route> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read route file {}", path.display()))?;
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let load_base = move |base: &str| -> Result<String, String> {
        let resolved = folder.join(base);
        std::fs::read_to_string(&resolved)
            .map_err(|e| format!("cannot read scenario file {}: {e}", resolved.display()))
    };
    parse_route(&text, &path.display().to_string(), &load_base).map_err(|e| match e {
        // Syntax errors and an unreadable base already start with the file's name.
        qkdsim::Error::RouteInvalid(_) => {
            anyhow::Error::new(e).context(format!("in route file {}", path.display()))
        }
        other => other.into(),
    })
}

/// Runs the subcommand.
pub fn run(args: RouteArgs) -> anyhow::Result<()> {
    match args.command {
        Some(RouteCommand::Plan(plan)) => run_plan(plan),
        None => {
            let path = args
                .route
                .context("give a route file: qkdsim route ROUTE.toml")?;
            run_route(&path, &args.sim, &args.output)
        }
    }
}

/// Checks the flags against the route and simulates it with a progress bar.
fn simulate(route: &Route, sim: &SimFlags, threads: usize) -> anyhow::Result<RouteReport> {
    let duration_s = sim.duration_s.unwrap_or(route.duration_s);
    // The same rule as the route's own duration, per span (each has its own pulse rate).
    let pulses = span_pulses(route, duration_s).map_err(|e| {
        let e = anyhow::Error::new(e);
        if sim.duration_s.is_some() {
            e.context(format!(
                "--duration-s {}",
                qkdsim::scenario::fmt_num(duration_s)
            ))
        } else {
            e
        }
    })?;
    let total: u64 = pulses.iter().sum();
    let options = RouteOptions {
        duration_s: sim.duration_s,
        seed: sim.seed,
        keep_keys: false,
        ..RouteOptions::default()
    };
    let bar = super::progress_bar(
        total,
        std::io::stderr().is_terminal() && total >= 300_000_000,
        &format!("simulating {} spans", route.spans.len()),
    );
    let done: Vec<AtomicU64> = pulses.iter().map(|_| AtomicU64::new(0)).collect();
    let progress = |span: usize, pulses_done: u64| {
        if let Some(d) = done.get(span) {
            d.store(pulses_done, Ordering::Relaxed);
        }
        bar.set_position(done.iter().map(|d| d.load(Ordering::Relaxed)).sum());
    };
    let output = super::with_threads(threads, || simulate_route(route, &options, &progress))??;
    bar.finish_and_clear();
    Ok(output.report)
}

fn provenance() -> Provenance {
    Provenance {
        version: env!("CARGO_PKG_VERSION").into(),
        command: super::sweep::command_line(),
    }
}

/// Writes a route's data files and charts into `set` (everything but `results.json` and
/// `report.md`).
fn write_route_files(set: &mut OutputSet, report: &RouteReport) -> anyhow::Result<()> {
    set.write("results.csv", rr::spans_csv(report)?.as_bytes())?;
    set.write("demands.csv", rr::demands_csv(report)?.as_bytes())?;
    set.write("stores.csv", rr::stores_csv(report)?.as_bytes())?;
    set.write("route.png", &rr::route_chart_png(report)?)?;
    set.write("route.svg", rr::route_chart_svg(report)?.as_bytes())?;
    super::sweep::write_charts(set, &rr::route_named_charts(report))?;
    Ok(())
}

fn run_route(path: &Path, sim: &SimFlags, out: &OutputFlags) -> anyhow::Result<()> {
    let route = load_route(path)?;
    // A taken output name fails now rather than after the simulation.
    if let Some(dir) = &out.out {
        preflight(dir, "--out")?;
    }
    let report = simulate(&route, sim, out.threads)?;
    if let Some(dir) = &out.out {
        let mut set = OutputSet::begin(dir, "--out")?;
        set.write("results.json", rr::route_json(&report).as_bytes())?;
        write_route_files(&mut set, &report)?;
        let md = rr::route_markdown(
            Some(&report),
            None,
            &rr::route_named_charts(&report),
            true,
            &provenance(),
            &route.name,
        );
        set.write("report.md", md.as_bytes())?;
        set.commit()?;
        note(format_args!("wrote {}/{ROUTE_FILES}", dir.display()));
    }
    if out.json {
        super::output::print(&format!("{}\n", rr::route_json(&report)))
    } else {
        super::output::print(&rr::route_table(&report))
    }
}

fn run_plan(args: PlanArgs) -> anyhow::Result<()> {
    let corridor = load_route(&args.route)?;
    if let Some(dir) = &args.output.out {
        preflight(dir, "--out")?;
    }
    let (plan, chosen): (Plan, Option<Route>) =
        qkdsim::route::plan::plan(&corridor, args.min_rate_bps)
            .with_context(|| format!("cannot plan the corridor of {}", args.route.display()))?;
    let report = match &chosen {
        Some(route) => Some(simulate(route, &args.sim, args.output.threads)?),
        None => None,
    };
    let json = rr::plan_json(&plan, report.as_ref());
    if let Some(dir) = &args.output.out {
        let mut set = OutputSet::begin(dir, "--out")?;
        set.write("results.json", json.as_bytes())?;
        set.write("plan.csv", rr::plan_csv(&plan)?.as_bytes())?;
        let charts = match &report {
            Some(r) => {
                write_route_files(&mut set, r)?;
                rr::route_named_charts(r)
            }
            None => Vec::new(),
        };
        let md = rr::route_markdown(
            report.as_ref(),
            Some(&plan),
            &charts,
            report.is_some(),
            &provenance(),
            &corridor.name,
        );
        set.write("report.md", md.as_bytes())?;
        set.commit()?;
        if report.is_some() {
            note(format_args!(
                "wrote {}/plan.csv and {ROUTE_FILES}",
                dir.display()
            ));
        } else {
            note(format_args!(
                "wrote {}/results.json, plan.csv and report.md",
                dir.display()
            ));
        }
    }
    if args.output.json {
        return super::output::print(&format!("{json}\n"));
    }
    let mut text = rr::plan_table(&corridor.name, &plan);
    if let Some(r) = &report {
        text.push('\n');
        text.push_str(&rr::route_table(r));
    }
    super::output::print(&text)
}
