//! `auditlog bench`: the synthetic workload of SPEC section 6, our engine
//! and (with `--compare sqlite`) SQLite measured side by side in one run,
//! printed as one table (or JSON). The measuring itself lives in
//! [`auditlog::bench::harness`]; this module only parses flags, picks the
//! working directory and prints.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use auditlog::bench::harness::{self, BenchConfig};

/// What to compare our engine against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Peer {
    /// SQLite (bundled): WAL, synchronous=NORMAL, the six indexes of SPEC 6,
    /// 10,000-row transactions.
    Sqlite,
}

/// Run the SPEC section 6 benchmark: ingest, bytes on disk, the six
/// queries, CSV export, peak memory and recovery.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Example:
  auditlog bench --records 1000000 --compare sqlite --json bench.json

Ours ingests with durability `never` in 10,000-record batches (and is also
measured with `always`). Every figure is the median of --repeats runs; the
ratio column is oriented so that above 1 means our engine is better. The
queries' rows are compared between the two engines: any disagreement is
printed as MISMATCH and makes the command fail.")]
pub struct BenchArgs {
    /// Records to generate and load into each engine.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub records: u64,

    /// Working directory (kept afterwards; must not already hold a previous
    /// run). Default: a fresh temporary directory, deleted at the end.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Measure this engine side by side (`sqlite`).
    #[arg(long, value_enum, value_name = "ENGINE")]
    pub compare: Option<Peer>,

    /// Timed runs per figure; the median is reported.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub repeats: usize,

    /// Print the report as JSON instead of the table; with a FILE, write
    /// the JSON there and still print the table.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    pub json: Option<PathBuf>,

    /// The workload's seed.
    #[arg(long, value_name = "SEED", default_value_t = auditlog::workload::DEFAULT_SEED)]
    pub seed: u64,

    /// Export into files in the working directory instead of a counting sink.
    #[arg(long)]
    pub export_to_file: bool,

    /// Skip the `always` ingest.
    #[arg(long)]
    pub no_always: bool,

    /// Skip the recovery figures.
    #[arg(long)]
    pub no_recovery: bool,

    /// Keep the temporary working directory (when --dir is not given).
    #[arg(long)]
    pub keep: bool,
}

/// Runs the benchmark and prints the table (or JSON) on stdout, progress
/// on stderr. Fails after printing when the engines disagreed on any row.
/// `segment_mib` (the global `--segment-mib`) is the segment size bound,
/// also the size of the segment the recovery figures replay.
pub fn run(args: BenchArgs, segment_mib: u64) -> auditlog::Result<()> {
    let tmp = match &args.dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("auditlog-bench-")
                .tempdir()
                .map_err(|e| auditlog::Error::io("create", std::env::temp_dir(), e))?,
        ),
    };
    let dir = match (&args.dir, &tmp) {
        (Some(d), _) => d.clone(),
        (None, Some(t)) => t.path().to_path_buf(),
        (None, None) => unreachable!("a temporary directory is made when --dir is absent"),
    };
    let mut cfg = BenchConfig::new(&dir);
    cfg.records = args.records;
    cfg.compare_sqlite = args.compare == Some(Peer::Sqlite);
    cfg.repeats = args.repeats;
    cfg.seed = args.seed;
    cfg.segment_size = segment_mib.max(1) << 20;
    cfg.export_to_file = args.export_to_file;
    cfg.ingest_always = !args.no_always;
    cfg.recovery = !args.no_recovery;

    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut progress = |msg: &str| {
        let secs = started.elapsed().as_secs_f64();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "[{secs:7.1}s] {msg}");
        if tty {
            let _ = err.flush();
        }
    };
    progress(&format!("working directory {}", dir.display()));
    let result = harness::run(&cfg, &mut progress);
    if let Some(t) = tmp {
        if args.keep {
            progress(&format!("kept {}", t.keep().display()));
        } else {
            progress(&format!("removing {}", dir.display()));
            drop(t);
        }
    }
    let report = result?;
    let mut out = std::io::stdout().lock();
    let text = match &args.json {
        Some(p) if p.as_os_str() == "-" => report.to_json(),
        Some(p) => {
            std::fs::write(p, report.to_json() + "\n")
                .map_err(|e| auditlog::Error::io("write", p, e))?;
            report.to_string()
        }
        None => report.to_string(),
    };
    writeln!(out, "{text}").map_err(|e| auditlog::Error::io("write", "stdout", e))?;
    report.check()
}
