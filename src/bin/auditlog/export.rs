//! `auditlog export`: the rows of a query to CSV, NDJSON or Parquet, in a
//! file (written atomically) or on stdout (not Parquet on a terminal).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use auditlog::export::{export, ExportOptions, Format, Layout};

use crate::common::{progress, rate, stderr_is_terminal, thousands, CliError, Global, Output};
use crate::query_args::{paged_query, print_next_cursor, Paged, QueryArgs, QUERY_HELP};

const AFTER_HELP: &str = "\
Examples:
  auditlog export -o all.csv
  auditlog export --customer 42 --start 2026-01-01 --end 2026-02-01 -o jan-42.csv
  auditlog export --format ndjson --where action:exact:DeleteUser > deletes.ndjson
  auditlog export --layout voximplant --no-header -o vox.csv
  auditlog export --format parquet --start 2026-01-01 -o 2026.parquet

With -o FILE the export is written to FILE.tmp and renamed to FILE only once
complete, so a failed export never leaves a half-written FILE. CSV is RFC
4180 (CRLF line ends); cells a spreadsheet would run as a formula (starting
with = + - @, tab or CR) get a leading ' unless --no-neutralize is given.
Native columns: id,time,customer,person,source,action,object,object_id,name,
field,old,new,refs,args,result (refs joined by ;). NDJSON is one native
JSON record per line. Parquet (zstd, row groups of 262,144 rows) has the
same columns typed: id and customer UInt64, time Timestamp(us, UTC), the
text fields UTF-8, refs a list of strings, args and result JSON text (null
when absent); --layout, --no-header and --no-neutralize do not apply, and
it is never written to a terminal.";

/// `export` flags.
#[derive(clap::Args, Debug)]
#[command(after_help = format!("{AFTER_HELP}\n\n{QUERY_HELP}"))]
pub struct Args {
    #[command(flatten)]
    query: QueryArgs,

    /// Output format.
    #[arg(long, value_enum, default_value = "csv", value_name = "FORMAT")]
    format: ExportFormat,

    /// CSV columns: native (every field) or voximplant (the report columns).
    #[arg(long, value_enum, default_value = "native", value_name = "LAYOUT")]
    layout: LayoutArg,

    /// Leave out the CSV header row.
    #[arg(long)]
    no_header: bool,

    /// Write CSV cells as they are, without the leading ' on formula-like
    /// cells (for programs rather than spreadsheets).
    #[arg(long)]
    no_neutralize: bool,

    /// Write to FILE instead of stdout (`-`: stdout). Written to FILE.tmp
    /// and renamed once complete.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Export formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// CSV (RFC 4180).
    Csv,
    /// One native JSON record per line.
    Ndjson,
    /// Apache Parquet, typed columns, zstd (needs a file or a pipe).
    #[cfg(feature = "parquet")]
    Parquet,
}

/// CSV layouts.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutArg {
    /// id,time,customer,person,source,action,object,object_id,name,field,old,new,refs,args,result
    Native,
    /// audit_log_id,account_id,subuser_name,requested,ip,cmd_name,cmd_args,cmd_result
    Voximplant,
}

impl From<LayoutArg> for Layout {
    fn from(l: LayoutArg) -> Layout {
        match l {
            LayoutArg::Native => Layout::Native,
            LayoutArg::Voximplant => Layout::Voximplant,
        }
    }
}

pub fn run(g: &Global, args: Args) -> Result<(), CliError> {
    let q = args.query.to_query()?;
    let format = match args.format {
        ExportFormat::Csv => Format::Csv,
        ExportFormat::Ndjson => Format::Ndjson,
        #[cfg(feature = "parquet")]
        ExportFormat::Parquet => Format::Parquet,
    };
    let to_stdout = args.output.as_ref().is_none_or(|p| p.as_os_str() == "-");
    if format.is_binary() && to_stdout && std::io::stdout().is_terminal() {
        return Err(CliError::usage(format!(
            "refusing to write {format} (binary) to a terminal; use --output FILE or a pipe"
        )));
    }
    let log = g.open_existing()?;
    let mut out = Output::open(args.output.as_deref())?;
    let name = out.name();
    let opts = ExportOptions::new()
        .format(format)
        .layout(args.layout.into())
        .header(!args.no_header)
        .neutralize(!args.no_neutralize)
        .destination(&name);
    // The bar's total costs a count; only pay it when a bar is drawn.
    let pb = if stderr_is_terminal() {
        let total = log.count(&q)?.saturating_sub(q.offset);
        let total = q.limit.map_or(total, |l| total.min(l));
        progress(Some(total), false)
    } else {
        progress(None, false)
    };
    let started = Instant::now();
    let mut rows = Paged::new(log.query(&paged_query(&q))?, &q);
    let n = {
        let w = out.writer()?;
        export(&mut rows, w, &opts, &mut |n| pb.set_position(n))?
    };
    out.commit()?;
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    errln!(
        "exported {} records to {name} in {secs:.2} s ({} records/s)",
        thousands(n),
        rate(n, secs)
    );
    print_next_cursor(&rows);
    Ok(())
}
