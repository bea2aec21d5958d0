//! Minimal entry point for the `bench` subcommand only (branch `harness`).
//! At merge, keep the `cli` branch's main.rs and add the `bench` module and
//! the `Bench(bench::BenchArgs)` variant to it.

#[cfg(feature = "sqlite-bench")]
mod bench;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "auditlog",
    version,
    about = "Embedded append-only audit-log engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the SPEC section 6 benchmark (with `--compare sqlite`: side by side).
    #[cfg(feature = "sqlite-bench")]
    Bench(bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(feature = "sqlite-bench")]
        Command::Bench(args) => bench::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
