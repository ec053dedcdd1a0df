//! The `qkdsim` command line (DESIGN §3). Owns argument parsing, file I/O and the terminal;
//! the library never sees any of these.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
