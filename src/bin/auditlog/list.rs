//! `auditlog list`: the rows of a query, streamed as a table, a JSON array,
//! NDJSON or CSV.

use std::io::{self, BufWriter, IsTerminal, Write};

use auditlog::export::{export, ExportOptions};
use auditlog::Record;
use unicode_width::UnicodeWidthChar;

use crate::common::{out_err, CliError, Global};
use crate::query_args::{paged_query, print_next_cursor, Paged, QueryArgs, QUERY_HELP};

const AFTER_HELP: &str = "\
Examples:
  auditlog list --limit 20
  auditlog list --customer 42 --start 2026-01-15 --end 2026-01-16
  auditlog list --customer 3 --scope recursive --where action:exact:CreateUser
  auditlog list --where name:contains/i:smith --sort name --desc --format json
  auditlog list --limit 100 --format ndjson          # prints `next cursor: C` on stderr
  auditlog list --limit 100 --format ndjson --cursor C

Formats: table (aligned, long cells truncated, time to the second; the
default on a terminal), json (one array), ndjson (one record per line, the
default otherwise), csv (the native columns with a header). Rows stream:
every matching row is printed unless --limit is given.";

/// `list` flags.
#[derive(clap::Args, Debug)]
#[command(after_help = format!("{AFTER_HELP}\n\n{QUERY_HELP}"))]
pub struct Args {
    #[command(flatten)]
    query: QueryArgs,

    /// Output format [default: table on a terminal, ndjson otherwise].
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<ListFormat>,
}

/// How `list` prints rows.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    /// Aligned columns for people.
    Table,
    /// One JSON array of native records.
    Json,
    /// One native JSON record per line.
    Ndjson,
    /// CSV with the native columns and a header row.
    Csv,
}

pub fn run(g: &Global, args: Args) -> Result<(), CliError> {
    let q = args.query.to_query()?;
    let format = args.format.unwrap_or(if io::stdout().is_terminal() {
        ListFormat::Table
    } else {
        ListFormat::Ndjson
    });
    let log = g.open_existing()?;
    let iter = log.query(&paged_query(&q))?;
    let mut rows = Paged::new(iter, &q);
    let stdout = io::stdout();
    match format {
        ListFormat::Ndjson | ListFormat::Csv => {
            let opts = if format == ListFormat::Csv {
                ExportOptions::csv()
            } else {
                ExportOptions::ndjson()
            };
            export(
                &mut rows,
                stdout.lock(),
                &opts.destination("stdout"),
                &mut |_| {},
            )?;
        }
        ListFormat::Json => write_json(&mut rows, stdout.lock())?,
        ListFormat::Table => {
            let n = write_table(&mut rows, stdout.lock())?;
            if io::stderr().is_terminal() {
                errln!("({} row{})", n, if n == 1 { "" } else { "s" });
            }
        }
    }
    print_next_cursor(&rows);
    Ok(())
}

fn write_json(
    rows: &mut dyn Iterator<Item = auditlog::Result<Record>>,
    out: impl Write,
) -> Result<(), CliError> {
    let mut w = BufWriter::with_capacity(256 * 1024, out);
    let err = |e: io::Error| out_err(e, "stdout");
    w.write_all(b"[").map_err(err)?;
    let mut first = true;
    for r in rows {
        let r = r?;
        w.write_all(if first { b"\n" } else { b",\n" })
            .map_err(err)?;
        first = false;
        serde_json::to_writer(&mut w, &r)
            .map_err(|e| CliError::runtime(format!("writing record {}: {e}", r.id)))?;
    }
    w.write_all(if first { b"]\n" } else { b"\n]\n" })
        .map_err(err)?;
    w.flush().map_err(err)
}

/// The table's columns: title and widest width.
const COLUMNS: [(&str, usize); 12] = [
    ("ID", 20),
    ("TIME (UTC)", 19),
    ("CUSTOMER", 20),
    ("PERSON", 16),
    ("SOURCE", 15),
    ("ACTION", 18),
    ("OBJECT", 14),
    ("OBJECT_ID", 12),
    ("NAME", 24),
    ("FIELD", 14),
    ("OLD", 18),
    ("NEW", 18),
];

/// How many rows the column widths are measured on before printing.
const MEASURE_ROWS: usize = 200;

fn cells(r: &Record) -> [String; 12] {
    [
        r.id.to_string(),
        r.time.to_sql(),
        r.customer.to_string(),
        r.person.clone(),
        r.source.clone(),
        r.action.clone(),
        r.object.clone(),
        r.object_id.clone(),
        r.name.clone(),
        r.field.clone(),
        r.old.clone(),
        r.new.clone(),
    ]
}

/// A cell made printable (control characters escaped) and cut to `max`
/// display columns (ending with `…` when cut); returns the text and its
/// width.
fn fit(s: &str, max: usize) -> (String, usize) {
    fn piece(c: char) -> (String, usize) {
        let p = match c {
            '\n' => "\\n".to_string(),
            '\r' => "\\r".to_string(),
            '\t' => "\\t".to_string(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        };
        let w = p.chars().map(|c| c.width().unwrap_or(0)).sum();
        (p, w)
    }
    let mut out = String::with_capacity(s.len().min(4 * max));
    let mut w = 0;
    let mut cut = None;
    for c in s.chars() {
        let (p, pw) = piece(c);
        if w + pw > max {
            cut = Some(());
            break;
        }
        out.push_str(&p);
        w += pw;
    }
    if cut.is_none() {
        return (out, w);
    }
    // Make room for the ellipsis.
    while w + 1 > max {
        match out.pop() {
            Some(c) => w -= piece(c).1.min(w),
            None => break,
        }
    }
    // Popping one char of an escape (`\n`) leaves a lone backslash: fine.
    out.push('…');
    (out, w + 1)
}

pub fn write_table(
    rows: &mut dyn Iterator<Item = auditlog::Result<Record>>,
    out: impl Write,
) -> Result<u64, CliError> {
    let mut w = BufWriter::with_capacity(64 * 1024, out);
    let err = |e: io::Error| out_err(e, "stdout");
    // Measure the first rows, then keep those widths (rows stream).
    let mut head: Vec<[String; 12]> = Vec::new();
    for r in &mut *rows {
        head.push(cells(&r?));
        if head.len() == MEASURE_ROWS {
            break;
        }
    }
    let mut widths = [0usize; 12];
    for (i, (title, max)) in COLUMNS.iter().enumerate() {
        let widest = head.iter().map(|c| fit(&c[i], *max).1).max().unwrap_or(0);
        widths[i] = widest.max(title.len());
    }
    let mut line = String::new();
    let mut emit = |w: &mut BufWriter<_>, cols: &[String; 12]| -> io::Result<()> {
        line.clear();
        for (i, c) in cols.iter().enumerate() {
            let (text, tw) = fit(c, widths[i]);
            let numeric = matches!(i, 0 | 2);
            if i > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(widths[i].saturating_sub(tw));
            if numeric {
                line.push_str(&pad);
                line.push_str(&text);
            } else {
                line.push_str(&text);
                if i + 1 < cols.len() {
                    line.push_str(&pad);
                }
            }
        }
        let trimmed = line.trim_end();
        w.write_all(trimmed.as_bytes())?;
        w.write_all(b"\n")
    };
    let titles: [String; 12] = COLUMNS.map(|(t, _)| t.to_string());
    emit(&mut w, &titles).map_err(err)?;
    let mut n = 0u64;
    for c in &head {
        emit(&mut w, c).map_err(err)?;
        n += 1;
    }
    drop(head);
    for r in rows {
        emit(&mut w, &cells(&r?)).map_err(err)?;
        n += 1;
    }
    w.flush().map_err(err)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn fit_truncates_and_escapes() {
        assert_eq!(fit("abc", 5), ("abc".into(), 3));
        assert_eq!(fit("abcdef", 4), ("abc…".into(), 4));
        assert_eq!(fit("abcd", 4), ("abcd".into(), 4));
        assert_eq!(fit("a\nb", 5), ("a\\nb".into(), 4));
        assert_eq!(fit("日本語", 4), ("日…".into(), 3));
    }
}
