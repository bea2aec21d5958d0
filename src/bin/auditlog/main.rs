//! The `auditlog` command-line tool.
//!
//! MINIMAL STAND-IN on branch `http`: only the global `--data` and
//! `--durability` flags and the `serve` subcommand, so that the server's
//! tests can run the real binary. The full CLI lives on branch `cli`; at
//! the merge keep that branch's main.rs and add to it `mod serve;`, the
//! variant `Serve(serve::ServeArgs)` of its subcommand enum, and the arm
//! `Command::Serve(args) => serve::run(&cli.data, cli.durability, args)`.

mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Embedded append-only audit-log engine.
#[derive(Parser, Debug)]
#[command(name = "auditlog", version)]
struct Cli {
    /// The data directory.
    #[arg(
        long,
        global = true,
        env = "AUDITLOG_DATA",
        default_value = "./auditlog-data"
    )]
    data: PathBuf,
    /// When appends are durable: always, never, interval, interval:MS.
    #[arg(long, global = true, default_value = "always")]
    durability: auditlog::Durability,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the HTTP APIs.
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(&cli.data, cli.durability, args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("auditlog: {e}");
            ExitCode::FAILURE
        }
    }
}
