//! The query flags shared by `list`, `export` and `report create`, and
//! their translation into an [`auditlog::Query`].

use auditlog::query::{Cursor, Field, MatchMode, Predicate, Query, Scope};
use auditlog::Timestamp;
use serde_json::{json, Map, Value};

use crate::common::CliError;

/// The `--help` text shared by the query commands.
pub const QUERY_HELP: &str = "\
Times (--start, --end) accept RFC 3339 (2026-01-15T10:00:00Z, any offset),
\"YYYY-MM-DD HH:MM:SS\" (UTC), \"YYYY-MM-DD\" (midnight UTC) or unix seconds.
The range is [start, end): start inclusive, end exclusive.

Scope: without --customer every customer is covered (system); --customer ID
alone covers that customer (own); --scope all covers the customers directly
under ID, --scope recursive every customer under ID at any depth (neither
includes ID itself). The tree is set with `auditlog customers`.

--where FIELD:MATCH:VALUE (repeatable; all must hold):
  FIELD  id, customer, person, source, action, object, object_id, name,
         field, old, new, refs (any entry), relation (object_id or any ref)
  MATCH  exact, start (prefix), end (suffix), contains (substring); add /i
         for ASCII case-insensitive matching (contains/i), or pass
         --ignore-case to make every --where case-insensitive
  VALUE  everything after the second colon: it may contain colons and may
         be empty (name:exact: matches an empty name)

Sort fields: id, time (default), customer, person, source, action, object,
object_id, name, field, old, new; ties are broken by id in the same
direction. --cursor continues after the last row of a previous page (the
`next cursor:` line a page with --limit prints on stderr); use it with the
same sort.";

/// Which customers a query covers.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeArg {
    /// Exactly the customer of --customer.
    Own,
    /// The customers directly under --customer (not itself).
    All,
    /// Every customer under --customer at any depth (not itself).
    Recursive,
    /// Every customer (the default without --customer).
    System,
}

/// The query flags.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Query")]
pub struct QueryArgs {
    /// Only records at or after TIME.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub start: Option<Timestamp>,

    /// Only records before TIME (exclusive).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub end: Option<Timestamp>,

    /// The customer the scope is relative to (alone: only this customer).
    #[arg(long, value_name = "ID")]
    pub customer: Option<u64>,

    /// own, all (direct children), recursive (all descendants) or system
    /// (every customer).
    #[arg(long, value_enum, value_name = "SCOPE")]
    pub scope: Option<ScopeArg>,

    /// A condition FIELD:MATCH:VALUE, e.g. person:exact:alice or
    /// name:contains/i:smith (repeatable; all must hold).
    #[arg(long = "where", value_name = "FIELD:MATCH:VALUE", value_parser = parse_where)]
    pub wheres: Vec<Predicate>,

    /// Match every --where ASCII case-insensitively.
    #[arg(long, short = 'i')]
    pub ignore_case: bool,

    /// Only the record with this id (repeatable: any of them).
    #[arg(long = "id", value_name = "ID")]
    pub ids: Vec<u64>,

    /// Include records in archived segments.
    #[arg(long)]
    pub archive: bool,

    /// Sort by this field.
    #[arg(long, value_name = "FIELD", value_parser = parse_sort, default_value = "time")]
    pub sort: Field,

    /// Sort descending.
    #[arg(long)]
    pub desc: bool,

    /// At most N rows.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,

    /// Skip N rows first.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub offset: u64,

    /// Continue after the position of a previous page.
    #[arg(long, value_name = "CURSOR", value_parser = parse_cursor)]
    pub cursor: Option<Cursor>,
}

fn parse_time(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse_flexible(s).map_err(|_| {
        format!(
            "{s:?} is not a date (use RFC 3339, \"YYYY-MM-DD HH:MM:SS\" UTC, \"YYYY-MM-DD\" or unix seconds, within 1970..9999)"
        )
    })
}

fn field_names(ok: impl Fn(Field) -> bool) -> String {
    Field::ALL
        .into_iter()
        .filter(|f| ok(*f))
        .map(Field::name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_field(s: &str, ok: impl Fn(Field) -> bool + Copy, use_: &str) -> Result<Field, String> {
    match s.parse::<Field>() {
        Ok(f) if ok(f) => Ok(f),
        Ok(_) => Err(format!(
            "cannot {use_} {s:?} (expected one of: {})",
            field_names(ok)
        )),
        Err(_) => Err(format!(
            "unknown field {s:?} (expected one of: {})",
            field_names(ok)
        )),
    }
}

fn parse_sort(s: &str) -> Result<Field, String> {
    parse_field(s, Field::is_sortable, "sort by")
}

/// Parses `FIELD:MATCH:VALUE` (MATCH optionally suffixed with `/i`).
pub fn parse_where(s: &str) -> Result<Predicate, String> {
    let shape = || format!("{s:?} is not FIELD:MATCH:VALUE (for example person:exact:alice)");
    let (field, rest) = s.split_once(':').ok_or_else(shape)?;
    let (mode, value) = rest.split_once(':').ok_or_else(shape)?;
    if let Ok(f) = field.parse::<Field>() {
        if f == Field::Time {
            return Err("time cannot be used in --where (use --start and --end)".into());
        }
    }
    let field = parse_field(field, Field::is_filterable, "search")?;
    let (mode, ci) = match mode.strip_suffix("/i") {
        Some(m) => (m, true),
        None => (mode, false),
    };
    let mode: MatchMode = mode.parse().map_err(|_| {
        format!("unknown match mode {mode:?} (expected exact, start, end or contains, optionally followed by /i)")
    })?;
    // A number field never equals text that is not a number: say so
    // rather than print nothing (prefix, suffix and substring matches
    // on its digits are fine).
    if matches!(field, Field::Id | Field::Customer)
        && mode == MatchMode::Exact
        && value.parse::<u64>().is_err()
    {
        return Err(format!(
            "{} is a number and {value:?} is not one (0 to {})",
            field.name(),
            u64::MAX
        ));
    }
    let p = Predicate::new(field, mode, value);
    Ok(if ci { p.ignore_case() } else { p })
}

fn parse_cursor(s: &str) -> Result<Cursor, String> {
    Cursor::decode(s)
        .map_err(|_| format!("{s:?} is not a cursor (copy the value of a `next cursor:` line)"))
}

impl QueryArgs {
    /// The customer scope: system without --customer, own with it alone.
    pub fn scope(&self) -> Result<Scope, CliError> {
        Ok(match (self.scope, self.customer) {
            (None | Some(ScopeArg::System), None) => Scope::System,
            (None | Some(ScopeArg::Own), Some(c)) => Scope::Own(c),
            (Some(ScopeArg::All), Some(c)) => Scope::Children(c),
            (Some(ScopeArg::Recursive), Some(c)) => Scope::Descendants(c),
            (Some(ScopeArg::System), Some(_)) => {
                return Err(CliError::usage(
                    "--scope system covers every customer and takes no --customer",
                ))
            }
            (Some(s), None) => {
                let name = match s {
                    ScopeArg::Own => "own",
                    ScopeArg::All => "all",
                    _ => "recursive",
                };
                return Err(CliError::usage(format!(
                    "--scope {name} needs --customer ID (the customer it is relative to)"
                )));
            }
        })
    }

    /// The query these flags describe, validated.
    pub fn to_query(&self) -> Result<Query, CliError> {
        let mut q = Query::new()
            .with_range(self.start, self.end)
            .with_scope(self.scope()?)
            .with_archived(self.archive)
            .with_sort(self.sort, self.desc)
            .with_offset(self.offset);
        if let (Some(s), Some(e)) = (self.start, self.end) {
            if s > e {
                return Err(CliError::usage(format!("--start {s} is after --end {e}")));
            }
        }
        for p in &self.wheres {
            let p = if self.ignore_case {
                p.clone().ignore_case()
            } else {
                p.clone()
            };
            q = q.with_predicate(p);
        }
        if !self.ids.is_empty() {
            q = q.with_ids(self.ids.clone());
        }
        if let Some(l) = self.limit {
            q = q.with_limit(l);
        }
        if let Some(c) = &self.cursor {
            if c.sort != q.sort {
                let dir = |d: bool| if d { " --desc" } else { "" };
                return Err(CliError::usage(format!(
                    "--cursor belongs to --sort {}{}, not --sort {}{}",
                    c.sort.field,
                    dir(c.sort.descending),
                    q.sort.field,
                    dir(q.sort.descending)
                )));
            }
            q = q.with_cursor(c.clone());
        }
        q.validate()?;
        Ok(q)
    }

    /// The flags as given, as a JSON object (kept with a report for display).
    pub fn to_filters(&self) -> Value {
        let mut m = Map::new();
        if let Some(t) = self.start {
            m.insert("start".into(), t.to_rfc3339().into());
        }
        if let Some(t) = self.end {
            m.insert("end".into(), t.to_rfc3339().into());
        }
        if let Some(c) = self.customer {
            m.insert("customer".into(), c.into());
        }
        if let Some(s) = self.scope {
            let name = match s {
                ScopeArg::Own => "own",
                ScopeArg::All => "all",
                ScopeArg::Recursive => "recursive",
                ScopeArg::System => "system",
            };
            m.insert("scope".into(), name.into());
        }
        if !self.wheres.is_empty() {
            let w: Vec<Value> = self
                .wheres
                .iter()
                .map(|p| {
                    let ci = if p.case_insensitive || self.ignore_case {
                        "/i"
                    } else {
                        ""
                    };
                    json!(format!(
                        "{}:{}{ci}:{}",
                        p.field,
                        p.mode.name(),
                        p.values.first().map_or("", String::as_str)
                    ))
                })
                .collect();
            m.insert("where".into(), w.into());
        }
        if !self.ids.is_empty() {
            m.insert("id".into(), json!(self.ids));
        }
        if self.archive {
            m.insert("archive".into(), true.into());
        }
        if self.sort != Field::Time {
            m.insert("sort".into(), self.sort.name().into());
        }
        if self.desc {
            m.insert("desc".into(), true.into());
        }
        if let Some(l) = self.limit {
            m.insert("limit".into(), l.into());
        }
        if self.offset != 0 {
            m.insert("offset".into(), self.offset.into());
        }
        Value::Object(m)
    }
}

/// Rows of a query with `--limit`, run with one row more than asked: the
/// extra row is not yielded, it only tells whether more rows follow, and
/// then [`Paged::next_cursor`] is where the next page starts.
pub struct Paged<I> {
    inner: I,
    sort: auditlog::query::Sort,
    left: Option<u64>,
    last: Option<Cursor>,
    more: bool,
    done: bool,
}

impl<I> Paged<I> {
    /// Wraps the rows of `q` run with `limit + 1` (see [`paged_query`]).
    pub fn new(inner: I, q: &Query) -> Self {
        Paged {
            inner,
            sort: q.sort,
            left: q.limit,
            last: None,
            more: false,
            done: false,
        }
    }

    /// The cursor of the next page, when more rows follow.
    pub fn next_cursor(&self) -> Option<&Cursor> {
        if self.more {
            self.last.as_ref()
        } else {
            None
        }
    }
}

/// The query to run for [`Paged`]: the same with one more row.
pub fn paged_query(q: &Query) -> Query {
    let mut run = q.clone();
    run.limit = q.limit.map(|l| l.saturating_add(1));
    run
}

impl<I: Iterator<Item = auditlog::Result<auditlog::Record>>> Iterator for Paged<I> {
    type Item = auditlog::Result<auditlog::Record>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.left {
            None => self.inner.next(),
            Some(0) => {
                if self.done {
                    return None;
                }
                self.done = true;
                // One row more than asked for: is there one?
                match self.inner.next() {
                    Some(Ok(_)) => {
                        self.more = true;
                        None
                    }
                    other => other,
                }
            }
            Some(n) => {
                let row = self.inner.next()?;
                if let Ok(r) = &row {
                    self.left = Some(n - 1);
                    if n == 1 {
                        self.last = Some(Cursor::after(self.sort, r));
                    }
                }
                Some(row)
            }
        }
    }
}

/// Prints `next cursor: ...` on stderr when more rows follow.
pub fn print_next_cursor<I>(rows: &Paged<I>) {
    if let Some(c) = rows.next_cursor() {
        errln!("next cursor: {}", c.encode());
    }
}
