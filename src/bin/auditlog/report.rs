//! `auditlog report create|list|show|download`: asynchronous reports
//! (Voximplant `GetAuditLogAsync`, `GetHistoryReports`,
//! `DownloadHistoryReport`) from the command line. The CLI is the
//! operator's tool: it sees every customer's reports.

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use auditlog::export::Format;
use auditlog::report::{Customers, DownloadEncoding, NewReport, Report, ReportFilter, ReportState};
use auditlog::{AuditLog, Timestamp};

/// Report file formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormatArg {
    /// Gzip-compressed CSV.
    Csv,
    /// Apache Parquet (zstd).
    #[cfg(feature = "parquet")]
    Parquet,
}

use crate::common::{bytes, out_err, progress, thousands, CliError, Global, Output};
use crate::export::LayoutArg;
use crate::query_args::{QueryArgs, QUERY_HELP};

const CREATE_HELP: &str = "\
A report stores the query at once and returns its id; a background worker
of the process that has the log open writes the file (gzip-compressed CSV,
or Parquet with --format parquet; kept for 30 days). The worker runs only while a process has the log open:
use --wait to stay until the report is done, or let `auditlog serve` (or a
later `auditlog report show ID --wait`) finish it.

The owner (--owner, default --customer) is the customer the report belongs
to: the HTTP API shows it only to that customer.

Examples:
  auditlog report create --customer 42 --start 2026-01-01 --end 2026-02-01 --wait
  auditlog report create --customer 3 --scope recursive --layout native --wait
  auditlog report create --owner 1 --where action:exact:DeleteUser
  auditlog report create --customer 42 --format parquet --wait";

/// `report` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create a report of a query (returns its id at once; --wait to stay until done)
    Create(CreateArgs),
    /// List reports
    List(ListArgs),
    /// Show one report
    Show(ShowArgs),
    /// Download a completed report's CSV
    Download(DownloadArgs),
}

/// `report create` flags.
#[derive(clap::Args, Debug)]
#[command(after_help = format!("{CREATE_HELP}\n\n{QUERY_HELP}"))]
pub struct CreateArgs {
    #[command(flatten)]
    query: QueryArgs,

    /// The customer owning the report [default: --customer].
    #[arg(long, value_name = "ID")]
    owner: Option<u64>,

    /// CSV columns.
    #[arg(long, value_enum, default_value = "voximplant", value_name = "LAYOUT")]
    layout: LayoutArg,

    /// The report's file format (Parquet: the native columns typed).
    #[arg(long, value_enum, default_value = "csv", value_name = "FORMAT")]
    format: ReportFormatArg,

    /// Leave out the CSV header row.
    #[arg(long)]
    no_header: bool,

    /// Write formula-like CSV cells as they are.
    #[arg(long)]
    no_neutralize: bool,

    /// Stay until the report is completed (or failed).
    #[arg(long)]
    wait: bool,
}

/// `report list` flags.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  auditlog report list\n  auditlog report list --customer 42 --completed --desc --count 10"
)]
pub struct ListArgs {
    /// Only reports owned by this customer.
    #[arg(long, value_name = "ID")]
    customer: Option<u64>,

    /// Only completed reports.
    #[arg(long, conflicts_with = "not_completed")]
    completed: bool,

    /// Only reports not completed (pending, running or failed).
    #[arg(long)]
    not_completed: bool,

    /// Newest first.
    #[arg(long)]
    desc: bool,

    /// At most N reports.
    #[arg(long, value_name = "N")]
    count: Option<u64>,

    /// Skip N reports first.
    #[arg(long, value_name = "N", default_value_t = 0)]
    offset: u64,

    /// Print JSON (`{"result":[HistoryReportType...],"count":N,"total_count":N}`).
    #[arg(long)]
    json: bool,
}

/// `report show` flags.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  auditlog report show 7\n  auditlog report show 7 --wait --json"
)]
pub struct ShowArgs {
    /// The report id.
    id: u64,

    /// Stay until the report is completed (or failed).
    #[arg(long)]
    wait: bool,

    /// Print the report as JSON (the HistoryReportType fields and the state).
    #[arg(long)]
    json: bool,
}

/// `report download` flags.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  auditlog report download 7 -o report-7.csv\n  auditlog report download 7 --gzip -o report-7.csv.gz"
)]
pub struct DownloadArgs {
    /// The report id.
    id: u64,

    /// Write to FILE (written as FILE.tmp, then renamed) instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Write the stored gzip bytes instead of the CSV.
    #[arg(long)]
    gzip: bool,

    /// Wait for the report to complete first.
    #[arg(long)]
    wait: bool,
}

pub fn run(g: &Global, c: Command) -> Result<(), CliError> {
    match c {
        Command::Create(a) => create(g, a),
        Command::List(a) => list(g, a),
        Command::Show(a) => show(g, a),
        Command::Download(a) => download(g, a),
    }
}

fn create(g: &Global, a: CreateArgs) -> Result<(), CliError> {
    let q = a.query.to_query()?;
    let owner = a.owner.or(a.query.customer).ok_or_else(|| {
        CliError::usage(
            "report create needs --customer ID or --owner ID (the customer owning the report)",
        )
    })?;
    let req = NewReport::new(owner, q)
        .filters(a.query.to_filters())
        .layout(a.layout.into())
        .header(!a.no_header)
        .neutralize(!a.no_neutralize)
        .format(match a.format {
            ReportFormatArg::Csv => Format::Csv,
            #[cfg(feature = "parquet")]
            ReportFormatArg::Parquet => Format::Parquet,
        });
    let log = g.open_existing()?;
    let id = log.create_report(req)?;
    if !a.wait {
        outln!("report {id} created (pending)");
        errln!(
            "it is written while a process has the log open: `auditlog report show {id} --wait` \
             finishes it now, `auditlog serve` in the background"
        );
        return Ok(());
    }
    let r = wait(&log, id)?;
    print_report(&r);
    finished_ok(&r)
}

/// Waits for report `id`, with a progress bar on a terminal.
fn wait(log: &AuditLog, id: u64) -> Result<Report, CliError> {
    let who = Customers::All;
    let pb = progress(None, false);
    loop {
        let r = log.reports().wait(id, &who, Duration::from_millis(200))?;
        if r.state.is_finished() {
            pb.finish_and_clear();
            return Ok(r);
        }
        if let Some(t) = r.rows_total {
            pb.set_length(t);
        }
        pb.set_position(r.rows_done);
        pb.set_message(format!("report {id}: {}", state_name(&r.state)));
    }
}

fn finished_ok(r: &Report) -> Result<(), CliError> {
    match &r.state {
        ReportState::Failed { reason } => Err(CliError::runtime(format!(
            "report {} failed: {reason}",
            r.history_report_id
        ))),
        _ => Ok(()),
    }
}

fn state_name(s: &ReportState) -> String {
    match s {
        ReportState::Pending => "pending".into(),
        ReportState::Running => "running".into(),
        ReportState::Completed => "completed".into(),
        ReportState::Failed { reason } => format!("failed: {reason}"),
    }
}

fn list(g: &Global, a: ListArgs) -> Result<(), CliError> {
    let log = g.open_existing()?;
    let who = a.customer.map_or(Customers::All, Customers::One);
    let mut f = ReportFilter::new().desc_order(a.desc).offset(a.offset);
    if a.completed {
        f = f.is_completed(true);
    }
    if a.not_completed {
        f = f.is_completed(false);
    }
    if let Some(c) = a.count {
        f = f.count(c);
    }
    let page = log.reports().list(&who, &f);
    if a.json {
        let v = serde_json::json!({
            "result": page.reports.iter().map(Report::to_history_report).collect::<Vec<_>>(),
            "count": page.reports.len(),
            "total_count": page.total_count,
        });
        outln!("{v}");
        return Ok(());
    }
    outln!(
        "{:>6}  {:>8}  {:<19}  {:<10}  {:>10}  {:>10}  {:<10}  {}",
        "ID",
        "CUSTOMER",
        "CREATED (UTC)",
        "STATE",
        "ROWS",
        "CSV SIZE",
        "KEEP UNTIL",
        "FILE"
    );
    for r in &page.reports {
        let state = match &r.state {
            ReportState::Failed { .. } => "failed".to_string(),
            s => state_name(s),
        };
        outln!(
            "{:>6}  {:>8}  {:<19}  {:<10}  {:>10}  {:>10}  {:<10}  {}",
            r.history_report_id,
            r.customer,
            r.created.to_sql(),
            state,
            thousands(r.rows_done),
            r.file_size.map_or_else(|| "-".into(), bytes),
            r.store_until,
            r.file_name
        );
    }
    if io::stderr().is_terminal() || page.reports.is_empty() {
        errln!(
            "({} of {} report{})",
            page.reports.len(),
            page.total_count,
            if page.total_count == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

fn show(g: &Global, a: ShowArgs) -> Result<(), CliError> {
    let log = g.open_existing()?;
    let r = if a.wait {
        wait(&log, a.id)?
    } else {
        log.reports().get(a.id, &Customers::All)?
    };
    if a.json {
        let mut v = r.to_history_report();
        if let Some(m) = v.as_object_mut() {
            m.insert("customer".into(), r.customer.into());
            m.insert("state".into(), state_name(&r.state).into());
            m.insert("rows".into(), r.rows_done.into());
            m.insert("layout".into(), r.layout.name().into());
        }
        outln!("{v}");
    } else {
        print_report(&r);
    }
    finished_ok(&r)
}

fn print_report(r: &Report) {
    let t = |t: Option<Timestamp>| t.map_or_else(|| "-".into(), |t| format!("{} UTC", t.to_sql()));
    outln!("report {}", r.history_report_id);
    outln!("  state:          {}", state_name(&r.state));
    outln!("  customer:       {}", r.customer);
    outln!("  created:        {}", t(Some(r.created)));
    outln!("  completed:      {}", t(r.completed));
    outln!("  rows:           {}", thousands(r.rows_done));
    outln!(
        "  file:           {} ({} CSV, {} gzip)",
        r.file_name,
        r.file_size.map_or_else(|| "-".into(), bytes),
        r.download_size.map_or_else(|| "-".into(), bytes)
    );
    outln!(
        "  layout:         {}{}",
        r.layout.name(),
        if r.header { "" } else { ", no header" }
    );
    outln!(
        "  downloads:      {} (last {})",
        r.download_count,
        t(r.last_downloaded)
    );
    outln!("  kept until:     {}", r.store_until);
    outln!("  filters:        {}", r.filters);
}

fn download(g: &Global, a: DownloadArgs) -> Result<(), CliError> {
    let log = g.open_existing()?;
    if a.wait {
        let r = wait(&log, a.id)?;
        finished_ok(&r)?;
    }
    let enc = if a.gzip {
        DownloadEncoding::Gzip
    } else {
        DownloadEncoding::Plain
    };
    let mut d = log.reports().download(a.id, &Customers::All, enc)?;
    let to_stdout = a.output.as_ref().is_none_or(|p| p.as_os_str() == "-");
    let binary =
        d.encoding == DownloadEncoding::Gzip || d.report.file_format().is_ok_and(|f| f.is_binary());
    if binary && to_stdout && io::stdout().is_terminal() {
        return Err(CliError::usage(format!(
            "refusing to write {} bytes to a terminal; use -o FILE or a pipe",
            if d.encoding == DownloadEncoding::Gzip {
                "gzip"
            } else {
                d.report.format.as_str()
            }
        )));
    }
    let mut out = Output::open(a.output.as_deref())?;
    let name = out.name();
    let started = Instant::now();
    let n = {
        let mut w = out.writer()?;
        io::copy(&mut d, &mut w).map_err(|e| {
            if e.kind() == io::ErrorKind::BrokenPipe {
                out_err(e, &name)
            } else {
                CliError::runtime(format!("downloading report {} to {name}: {e}", a.id))
            }
        })?
    };
    out.commit()?;
    if name != "stdout" {
        errln!(
            "wrote report {} ({}) to {name} in {:.2} s",
            a.id,
            bytes(n),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
