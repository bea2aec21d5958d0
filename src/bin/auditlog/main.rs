//! `auditlog`: the command-line tool of SPEC section 5.2.
//!
//! This file only parses the command line and dispatches; every subcommand
//! group lives in its own module and does its work through the library's
//! public API. To add a subcommand: add a module, one variant to
//! [`Command`] (one per line) and one arm to [`dispatch`].
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

#[macro_use]
mod common;
#[cfg(feature = "sqlite-bench")]
mod bench;
mod customers;
mod demo;
mod export;
mod ingest;
mod list;
mod maintenance;
mod password;
mod query_args;
mod report;
#[cfg(feature = "server")]
mod serve;

use std::process::ExitCode;

/// jemalloc rather than glibc's malloc: under the server's many threads
/// glibc keeps freed memory in per-thread arenas, and resident memory grew
/// for as long as a load test ran (by 90 MiB in two minutes; with two
/// arenas it levelled off). jemalloc returns unused pages over time.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::{Parser, Subcommand};

use common::{CliError, Global};

const AFTER_HELP: &str = "\
Start here:
  auditlog demo                      # generate a sample log in ./auditlog-data and tour it
  auditlog ingest records.ndjson     # append NDJSON records (one JSON object per line)
  auditlog list --customer 42 --limit 20
  auditlog export --start 2026-01-01 --end 2026-02-01 -o january.csv

Every command works on the data directory given by --data (or AUDITLOG_DATA,
default ./auditlog-data). Exit status: 0 success, 1 runtime failure (I/O,
damage, a locked directory), 2 bad usage or bad input.";

/// An embedded, append-only audit log: ingest, search, export and report
/// on audit records.
#[derive(Parser, Debug)]
#[command(name = "auditlog", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a sample log (if the data directory is empty) and tour it
    Demo(demo::Args),
    /// Append NDJSON records from files or standard input
    Ingest(ingest::Args),
    /// List records matching a query (table, JSON, NDJSON or CSV)
    List(list::Args),
    /// Export records matching a query to CSV, NDJSON or Parquet
    Export(export::Args),
    /// Asynchronous reports: create, list, show, download
    #[command(subcommand)]
    Report(report::Command),
    /// The customer tree (customer -> parent) used by scopes
    #[command(subcommand)]
    Customers(customers::Command),
    /// Move old sealed segments to the archive tier
    Archive(maintenance::ArchiveArgs),
    /// Delete old segments for good (retention)
    Retain(maintenance::RetainArgs),
    /// Check every frame and the hash chain of every segment; exit 1 on damage
    Verify(maintenance::VerifyArgs),
    /// Print a signed checkpoint (last id, chain head) to keep off the machine
    Checkpoint(maintenance::CheckpointArgs),
    /// Throw the index away and rebuild it from the log
    Reindex(maintenance::ReindexArgs),
    /// Records, segments, bytes, time span, index and durability
    Stats(maintenance::StatsArgs),
    /// Hash a password (one line on stdin) for the server users file
    HashPassword(password::Args),
    /// Serve the Enswitch and Voximplant audit-log APIs over HTTP
    #[cfg(feature = "server")]
    Serve(serve::ServeArgs),
    /// Run the SPEC section 6 benchmark, side by side with SQLite
    #[cfg(feature = "sqlite-bench")]
    Bench(bench::BenchArgs),
}

fn dispatch(g: &Global, command: Command) -> Result<(), CliError> {
    match command {
        Command::Demo(a) => demo::run(g, a),
        Command::Ingest(a) => ingest::run(g, a),
        Command::List(a) => list::run(g, a),
        Command::Export(a) => export::run(g, a),
        Command::Report(c) => report::run(g, c),
        Command::Customers(c) => customers::run(g, c),
        Command::Archive(a) => maintenance::archive(g, a),
        Command::Retain(a) => maintenance::retain(g, a),
        Command::Verify(a) => maintenance::verify(g, a),
        Command::Checkpoint(a) => maintenance::checkpoint(g, a),
        Command::Reindex(a) => maintenance::reindex(g, a),
        Command::Stats(a) => maintenance::stats(g, a),
        Command::HashPassword(a) => password::run(g, a),
        #[cfg(feature = "server")]
        Command::Serve(a) => serve::run(&g.data, g.options(), a).map_err(CliError::from),
        #[cfg(feature = "sqlite-bench")]
        Command::Bench(a) => bench::run(a, g.segment_mib).map_err(CliError::from),
    }
}

fn main() -> ExitCode {
    common::install_logger();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return common::clap_error(&e),
    };
    match dispatch(&cli.global, cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(),
    }
}
