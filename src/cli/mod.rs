//! Command-line front end: clap definitions, one file per subcommand, error printing and
//! exit codes. Errors from user input end as one paragraph on stderr and exit code 2.

use clap::{Parser, Subcommand};

mod reconcile;
mod theory;

/// Monte Carlo simulator of a decoy-state BB84 QKD fibre link.
#[derive(Debug, Parser)]
#[command(name = "qkdsim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Reconcile random keys with Cascade and report efficiency and speed.
    Reconcile(reconcile::ReconcileArgs),
    /// Closed-form key rates (GLLP, decoy, finite-key) and repeaterless bounds versus distance.
    Theory(theory::TheoryArgs),
}

/// Parses the command line, runs the subcommand, prints any error; returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Reconcile(args) => reconcile::run(args),
        Command::Theory(args) => theory::run(args),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}
