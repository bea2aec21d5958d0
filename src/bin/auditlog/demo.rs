//! `auditlog demo`: the first command to run. Fills an empty data
//! directory with a generated sample (the SPEC 6 workload and its customer
//! tree), then lists, counts and exports from it with timings, and prints
//! the commands to try next. Running it again reuses the data.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use auditlog::export::{export, ExportOptions};
use auditlog::query::{Field, MatchMode, Predicate, Query, Scope};
use auditlog::workload::Workload;
use auditlog::{AuditLog, Timestamp};

use crate::common::{bytes, progress, rate, thousands, AtomicFile, CliError, Global};

/// `demo` flags.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Generates deterministic sample records (1,000 customers under 10 resellers,
30 days from 2026-01-01) into the data directory when it holds no records,
then shows a few rows, counts, an export and timings. Nothing is generated
when the directory already holds records, so it is safe to run again.

Examples:
  auditlog demo
  auditlog --data /tmp/demo demo --records 1000000")]
pub struct Args {
    /// How many records to generate into an empty data directory.
    #[arg(long, value_name = "N", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    records: u64,
}

/// Records per appended batch while generating.
const BATCH: usize = 10_000;

pub fn run(g: &Global, a: Args) -> Result<(), CliError> {
    let log = g.open_rw()?;
    let w = Workload::default();
    let existing = log.stats()?.records;
    outln!("data directory: {}", g.data.display());
    let n = if existing == 0 {
        generate(&log, &w, a.records)?;
        a.records
    } else {
        outln!(
            "it already holds {} records: nothing generated (remove the directory to start over)",
            thousands(existing)
        );
        existing
    };
    tour(g, &log, &w, n)
}

fn generate(log: &AuditLog, w: &Workload, n: u64) -> Result<(), CliError> {
    outln!(
        "generating {} sample records (1,000 customers under 10 resellers, 30 days from 2026-01-01)...",
        thousands(n)
    );
    log.set_parents(
        &w.customer_parents()
            .into_iter()
            .map(|(c, p)| (c, Some(p)))
            .collect::<Vec<_>>(),
    )?;
    let pb = progress(Some(n), false);
    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for r in w.records(n) {
        batch.push(r);
        if batch.len() == BATCH {
            log.append_batch(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))?;
            pb.inc(BATCH as u64);
        }
    }
    if !batch.is_empty() {
        log.append_batch(batch)?;
    }
    log.sync()?;
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let st = log.stats()?;
    outln!(
        "stored {} records in {secs:.2} s ({} records/s, durability {}), {} on disk ({} bytes/record)",
        thousands(n),
        rate(n, secs),
        st.durability,
        bytes(st.live_bytes),
        st.live_bytes / n.max(1)
    );
    Ok(())
}

fn ms(t: Instant) -> String {
    format!("{:.1} ms", t.elapsed().as_secs_f64() * 1000.0)
}

/// `2026-01-16T07:12:00Z`.
fn short_time(t: Timestamp) -> String {
    format!("{}Z", t.to_sql().replace(' ', "T"))
}

fn tour(g: &Global, log: &AuditLog, w: &Workload, n: u64) -> Result<(), CliError> {
    let qs = w.queries(n);
    let customer = qs.customer_all.customer;
    let reseller = qs.subtree_day.reseller;
    let needle = qs.name_contains.needle.clone();
    let day = &qs.name_contains.window;
    let (day_start, day_end) = (day.start, day.end);

    outln!();
    outln!("== the 5 newest records of customer {customer}");
    let q = Query::new()
        .with_scope(Scope::Own(customer))
        .with_sort(Field::Time, true)
        .with_limit(5);
    let t = Instant::now();
    crate::list::write_table(&mut log.query(&q)?, io::stdout().lock())?;
    outln!("({})", ms(t));

    outln!();
    outln!("== counts");
    let line = |label: String, n: u64, t: Instant| {
        outln!("{label:<50} {:>9}  ({})", thousands(n), ms(t));
    };
    let t = Instant::now();
    line("every record".into(), log.count(&Query::new())?, t);
    let t = Instant::now();
    let c = log.count(&Query::new().with_scope(Scope::Own(customer)))?;
    line(format!("customer {customer} (own)"), c, t);
    let t = Instant::now();
    let c = log.count(&Query::new().with_scope(Scope::Descendants(reseller)))?;
    line(
        format!("every customer under reseller {reseller} (recursive)"),
        c,
        t,
    );
    let t = Instant::now();
    let c = log.count(
        &Query::new()
            .with_range(Some(day_start), Some(day_end))
            .with_predicate(
                Predicate::new(Field::Name, MatchMode::Contains, &needle).ignore_case(),
            ),
    )?;
    line(
        format!(
            "name contains {needle:?} (any case) on {}",
            day_start.to_date()
        ),
        c,
        t,
    );

    outln!();
    outln!("== export");
    let dir = g.data.join("exports");
    std::fs::create_dir_all(&dir).map_err(|e| CliError::io("create directory", &dir, e))?;
    let path = dir.join(format!("demo-customer-{customer}.csv"));
    let mut f = AtomicFile::create(&path)?;
    let t = Instant::now();
    let rows = export(
        log.query(&Query::new().with_scope(Scope::Own(customer)))?,
        f.file()?,
        &ExportOptions::csv().destination(&path),
        &mut |_| {},
    )?;
    f.commit()?;
    let secs = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    outln!(
        "customer {customer}: {} rows, {} in {:.1} ms ({} rows/s) -> {}",
        thousands(rows),
        bytes(size),
        secs * 1000.0,
        rate(rows, secs),
        path.display()
    );

    let me = invocation(&g.data);
    let slice = &qs.time_slice.window;
    let (s0, s1) = (slice.start, slice.end);
    let person = &qs.person_window.person;
    outln!();
    outln!("== try next");
    outln!("{me} list --limit 10");
    outln!(
        "{me} list --start {} --end {} --limit 20",
        short_time(s0),
        short_time(s1)
    );
    outln!(
        "{me} list --customer {customer} --where action:exact:CreateUser --format json --limit 3"
    );
    outln!(
        "{me} list --customer {reseller} --scope recursive --start {} --end {} --limit 10",
        day_start.to_date(),
        day_end.to_date()
    );
    outln!(
        "{me} list --where name:contains/i:{needle} --start {} --end {} --sort name --limit 10",
        day_start.to_date(),
        day_end.to_date()
    );
    outln!("{me} list --where person:exact:{person} --format csv --limit 5");
    outln!("{me} export --customer {customer} --format ndjson -o customer-{customer}.ndjson");
    outln!("{me} report create --customer {reseller} --scope recursive --start 2026-01-01 --end 2026-01-08 --wait");
    outln!("{me} report list");
    outln!("{me} report download 1 -o report-1.csv");
    outln!("{me} stats");
    outln!("{me} verify");
    outln!("printf '%s\\n' 'a password' | {me} hash-password   # for the users file of serve");
    outln!("{me} serve --users users.toml                     # the HTTP APIs (docs/server.md)");
    outln!("{me} --help");
    Ok(())
}

/// How to call this program in the printed commands: `auditlog`, or
/// `cargo run --release --` when run through cargo; with `--data` when the
/// data directory is not the default one.
fn invocation(data: &Path) -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let via_cargo = std::env::var_os("CARGO_MANIFEST_DIR").is_some()
        && exe.components().any(|c| c.as_os_str() == "target");
    let mut s = if via_cargo {
        let release = exe.components().any(|c| c.as_os_str() == "release");
        if release {
            "cargo run --release --".to_string()
        } else {
            "cargo run --".to_string()
        }
    } else {
        "auditlog".to_string()
    };
    let default = PathBuf::from("./auditlog-data");
    let from_env = std::env::var_os("AUDITLOG_DATA").map(PathBuf::from);
    if data != default && from_env.as_deref() != Some(data) {
        s.push_str(" --data ");
        s.push_str(&shell_quote(&data.display().to_string()));
    }
    s
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:=,@%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
