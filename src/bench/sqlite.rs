//! The SQLite baseline of SPEC section 6: the same records in one SQLite
//! table, loaded and queried the way a competent SQLite user would.
//!
//! Owns the baseline's schema and SQL, and nothing else. Exactly as SPEC 6
//! says: rusqlite with bundled SQLite, `journal_mode=WAL`,
//! `synchronous=NORMAL`, one `records` table with every record column (times
//! as integer microseconds, `refs` joined by `;`, `args` and `result` as JSON
//! text), indexes on `time` and on `(customer,time)`, `(person,time)`,
//! `(source,time)`, `(action,time)`, `(object_id,time)`, and inserts through
//! one prepared statement in transactions of 10,000 rows. The customer tree
//! lives in a `customers (id, parent)` table for the subtree query.
//!
//! Query methods read every column of every row into a [`Record`], as a real
//! client would, and order rows by `(time, id)` like the engine's default
//! (the name sort by `(name, id)`). This module must never tune SQLite beyond
//! what SPEC 6 states (no `ANALYZE`, cache or mmap settings), never touch the
//! engine's files, and never delete a file it did not create: [`create`]
//! refuses an existing path.
//!
//! Lossy edge, irrelevant to the workload: `refs` entries containing `;`,
//! or a `refs` of exactly one empty string, do not survive the `;` join.
//!
//! [`create`]: SqliteBaseline::create

use std::fmt;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use rusqlite::types::Type;
use rusqlite::{params, Connection, Row};

use crate::error::{Error, Result};
use crate::record::{Json, Record};
use crate::time::Timestamp;

/// Rows per insert transaction (SPEC 6: "10,000-row transactions").
pub const BATCH_ROWS: usize = 10_000;

/// The native CSV columns, in order (SPEC section 4).
pub const CSV_COLUMNS: [&str; 15] = [
    "id",
    "time",
    "customer",
    "person",
    "source",
    "action",
    "object",
    "object_id",
    "name",
    "field",
    "old",
    "new",
    "refs",
    "args",
    "result",
];

const SCHEMA: &str = "\
CREATE TABLE records (
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    customer INTEGER NOT NULL,
    person TEXT NOT NULL,
    source TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    object_id TEXT NOT NULL,
    name TEXT NOT NULL,
    field TEXT NOT NULL,
    old TEXT NOT NULL,
    new TEXT NOT NULL,
    refs TEXT NOT NULL,
    args TEXT,
    result TEXT
);
CREATE INDEX records_time ON records (time);
CREATE INDEX records_customer_time ON records (customer, time);
CREATE INDEX records_person_time ON records (person, time);
CREATE INDEX records_source_time ON records (source, time);
CREATE INDEX records_action_time ON records (action, time);
CREATE INDEX records_object_id_time ON records (object_id, time);
CREATE TABLE customers (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL);
CREATE INDEX customers_parent ON customers (parent);
";

const INSERT: &str = "INSERT INTO records \
    (id, time, customer, person, source, action, object, object_id, name, field, old, new, refs, args, result) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

const INSERT_CUSTOMER: &str = "INSERT OR REPLACE INTO customers (id, parent) VALUES (?1, ?2)";

/// `SELECT <every column, in CSV_COLUMNS order> FROM records <rest>`.
macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT id, time, customer, person, source, action, object, object_id, name, \
             field, old, new, refs, args, result FROM records ",
            $rest
        )
    };
}

const TIME_SLICE: &str = select!("WHERE time >= ?1 AND time < ?2 ORDER BY time, id");
const PERSON_WINDOW: &str =
    select!("WHERE person = ?1 AND time >= ?2 AND time < ?3 ORDER BY time, id");
const CUSTOMER_ALL: &str = select!("WHERE customer = ?1 ORDER BY time, id");
const NAME_CONTAINS: &str =
    select!("WHERE time >= ?2 AND time < ?3 AND instr(name, ?1) > 0 ORDER BY time, id");
const SUBTREE: &str = select!(
    "WHERE customer IN (SELECT id FROM customers WHERE parent = ?1) \
     AND time >= ?2 AND time < ?3 ORDER BY time, id"
);
const SORT_BY_NAME: &str = select!("WHERE time >= ?1 AND time < ?2 ORDER BY name, id LIMIT ?3");
const EXPORT: &str = select!("ORDER BY time, id");
const LAST_ID: &str = "SELECT max(id) FROM records";
const CHECKPOINT: &str = "PRAGMA wal_checkpoint(TRUNCATE)";

/// An SQLite database holding the benchmark records (see the module docs).
///
/// ```
/// # fn main() -> auditlog::Result<()> {
/// use auditlog::bench::SqliteBaseline;
/// use auditlog::workload::Workload;
/// use auditlog::Timestamp;
///
/// let dir = tempfile::tempdir().unwrap();
/// let w = Workload::default();
/// let records: Vec<_> = w
///     .records(1_000)
///     .enumerate()
///     .map(|(i, r)| r.into_record(i as u64 + 1, Timestamp::MIN))
///     .collect();
/// let mut db = SqliteBaseline::create(dir.path().join("baseline.sqlite"))?;
/// db.insert_batch(&records)?;
/// db.set_customers(&w.customer_parents())?;
/// let q = w.queries(1_000);
/// let rows = db.customer_all(q.customer_all.customer)?;
/// assert!(rows.iter().all(|r| r.customer == q.customer_all.customer));
/// # Ok(())
/// # }
/// ```
pub struct SqliteBaseline {
    conn: Connection,
    path: PathBuf,
}

impl fmt::Debug for SqliteBaseline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteBaseline")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteBaseline {
    /// Creates a new database at `path` (which must not exist) with WAL,
    /// `synchronous=NORMAL`, the `records` table and its six indexes, and
    /// the `customers` table.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if path.exists() {
            return Err(Error::invalid(
                "path",
                format!(
                    "{} already exists; the SQLite baseline only creates a fresh database",
                    path.display()
                ),
            ));
        }
        let conn = Connection::open(&path).map_err(sql_err(&path, "open"))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(sql_err(&path, "PRAGMA journal_mode=WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::invalid(
                "journal_mode",
                format!(
                    "SQLite kept journal mode {mode:?} for {}, not WAL",
                    path.display()
                ),
            ));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql_err(&path, "PRAGMA synchronous=NORMAL"))?;
        conn.execute_batch(SCHEMA)
            .map_err(sql_err(&path, "CREATE TABLE records ... (schema)"))?;
        Ok(SqliteBaseline { conn, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens an existing database (for example a copy of a baseline taken
    /// while it was open, to measure SQLite's recovery), with the same
    /// `journal_mode=WAL` and `synchronous=NORMAL`. Refuses a path that
    /// does not exist (it never creates a database).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(Error::invalid(
                "path",
                format!("{} is not an existing SQLite database", path.display()),
            ));
        }
        let conn = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql_err(&path, "open"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_err(&path, "PRAGMA journal_mode=WAL"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql_err(&path, "PRAGMA synchronous=NORMAL"))?;
        Ok(SqliteBaseline { conn, path })
    }

    /// The largest record id (0 when empty). The first read after
    /// [`SqliteBaseline::open`] of a crashed copy is what runs SQLite's WAL
    /// recovery.
    pub fn last_id(&self) -> Result<u64> {
        let id: Option<i64> = self
            .conn
            .query_row(LAST_ID, [], |r| r.get(0))
            .map_err(sql_err(&self.path, LAST_ID))?;
        Ok(id.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
    }

    /// Copies everything in the `-wal` file into the database and truncates
    /// the `-wal` (`PRAGMA wal_checkpoint(TRUNCATE)`), so that
    /// [`SqliteBaseline::disk_bytes`] measures the database at rest.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .query_row(CHECKPOINT, [], |_| Ok(()))
            .map_err(sql_err(&self.path, CHECKPOINT))
    }

    /// Streams every record, ordered by `(time, id)` like [`Self::export_csv`],
    /// into `f`, one at a time (memory does not grow with the table).
    /// Returns the number of records.
    pub fn scan_all(&self, f: &mut dyn FnMut(Record)) -> Result<u64> {
        let mut st = self
            .conn
            .prepare_cached(EXPORT)
            .map_err(sql_err(&self.path, EXPORT))?;
        let mut rows = st.query([]).map_err(sql_err(&self.path, EXPORT))?;
        let mut n = 0u64;
        while let Some(row) = rows.next().map_err(sql_err(&self.path, EXPORT))? {
            f(row_to_record(row).map_err(sql_err(&self.path, EXPORT))?);
            n += 1;
        }
        Ok(n)
    }

    /// Inserts records (with their ids) through one prepared statement, in
    /// transactions of at most [`BATCH_ROWS`] rows. Each call commits what
    /// it was given, so pass slices of 10,000 or more to get SPEC 6's
    /// batching. An id already present is an error; the transactions
    /// committed before a failure stay committed.
    pub fn insert_batch(&mut self, records: &[Record]) -> Result<()> {
        let path = &self.path;
        let mut refs = String::new();
        for chunk in records.chunks(BATCH_ROWS) {
            let tx = self.conn.transaction().map_err(sql_err(path, "BEGIN"))?;
            {
                let mut st = tx.prepare_cached(INSERT).map_err(sql_err(path, INSERT))?;
                for r in chunk {
                    refs.clear();
                    for (k, x) in r.refs.iter().enumerate() {
                        if k > 0 {
                            refs.push(';');
                        }
                        refs.push_str(x);
                    }
                    st.execute(params![
                        to_i64(r.id, "id")?,
                        r.time.as_micros(),
                        to_i64(r.customer, "customer")?,
                        r.person,
                        r.source,
                        r.action,
                        r.object,
                        r.object_id,
                        r.name,
                        r.field,
                        r.old,
                        r.new,
                        refs,
                        r.args.as_ref().map(Json::as_str),
                        r.result.as_ref().map(Json::as_str),
                    ])
                    .map_err(sql_err(path, INSERT))?;
                }
            }
            tx.commit().map_err(sql_err(path, "COMMIT"))?;
        }
        Ok(())
    }

    /// Stores the customer tree as `(child, parent)` pairs (replacing a
    /// child's previous parent), in one transaction.
    pub fn set_customers(&mut self, pairs: &[(u64, u64)]) -> Result<()> {
        let path = &self.path;
        let tx = self.conn.transaction().map_err(sql_err(path, "BEGIN"))?;
        {
            let mut st = tx
                .prepare_cached(INSERT_CUSTOMER)
                .map_err(sql_err(path, INSERT_CUSTOMER))?;
            for &(child, parent) in pairs {
                st.execute(params![
                    to_i64(child, "customer")?,
                    to_i64(parent, "parent")?
                ])
                .map_err(sql_err(path, INSERT_CUSTOMER))?;
            }
        }
        tx.commit().map_err(sql_err(path, "COMMIT"))
    }

    /// Every record with `start <= time < end` (SPEC 6 "1% time slice").
    pub fn time_slice(&self, start: Timestamp, end: Timestamp) -> Result<Vec<Record>> {
        self.rows(TIME_SLICE, params![start.as_micros(), end.as_micros()])
    }

    /// One person's records with `start <= time < end` (SPEC 6 "one person
    /// in a 10-day window").
    pub fn person_window(
        &self,
        person: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Record>> {
        self.rows(
            PERSON_WINDOW,
            params![person, start.as_micros(), end.as_micros()],
        )
    }

    /// Every record of one customer (SPEC 6 "one customer over the whole
    /// range").
    pub fn customer_all(&self, customer: u64) -> Result<Vec<Record>> {
        self.rows(CUSTOMER_ALL, params![to_i64(customer, "customer")?])
    }

    /// Records with `start <= time < end` whose `name` contains `needle`,
    /// case-sensitively (`instr`, like the engine's default `contains`;
    /// SPEC 6 "a `contains` search on `name` within one day").
    pub fn name_contains_in(
        &self,
        needle: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Record>> {
        self.rows(
            NAME_CONTAINS,
            params![needle, start.as_micros(), end.as_micros()],
        )
    }

    /// Records with `start <= time < end` whose customer's parent is
    /// `reseller` (SPEC 6 "subtree in a day"; the workload's tree has depth
    /// 1, so this is the `recursive` scope), through an `IN` subquery on the
    /// `customers` table.
    pub fn subtree_in(
        &self,
        reseller: u64,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Record>> {
        self.rows(
            SUBTREE,
            params![
                to_i64(reseller, "customer")?,
                start.as_micros(),
                end.as_micros()
            ],
        )
    }

    /// At most `limit` records with `start <= time < end`, ordered by
    /// `name` (UTF-8 bytes, SQLite's `BINARY` collation) then `id` (SPEC 6
    /// "an Enswitch-style sort by `name`").
    pub fn sort_by_name(
        &self,
        start: Timestamp,
        end: Timestamp,
        limit: u64,
    ) -> Result<Vec<Record>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.rows(
            SORT_BY_NAME,
            params![start.as_micros(), end.as_micros(), limit],
        )
    }

    /// Writes every record, ordered by `(time, id)`, as CSV with a header
    /// row in the native column order ([`CSV_COLUMNS`]: `time` in RFC 3339
    /// with six fractional digits, `refs` joined by `;`, `args` and `result`
    /// as compact JSON, empty when absent), with CRLF line ends and a
    /// 256 KiB buffer like the engine's own CSV export. Returns the number of records
    /// written (the header not counted). Cells are written as stored: the
    /// workload has none a spreadsheet would run as a formula.
    pub fn export_csv<W: io::Write>(&self, writer: W) -> Result<u64> {
        let path = &self.path;
        let csv_err = |e: csv::Error| Error::io("write CSV export of", path, io::Error::from(e));
        // The same csv writer settings as the engine's export
        // (`crate::export`): CRLF line ends (RFC 4180), a 256 KiB buffer.
        let mut out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .buffer_capacity(crate::export::BUFFER_BYTES)
            .from_writer(writer);
        out.write_record(CSV_COLUMNS).map_err(csv_err)?;
        let mut st = self
            .conn
            .prepare_cached(EXPORT)
            .map_err(sql_err(path, EXPORT))?;
        let mut rows = st.query([]).map_err(sql_err(path, EXPORT))?;
        let mut n = 0u64;
        let mut num = String::new();
        while let Some(row) = rows.next().map_err(sql_err(path, EXPORT))? {
            write_csv_row(row, &mut out, &mut num).map_err(|e| match e {
                RowError::Sql(e) => sql_err(path, EXPORT)(e),
                RowError::Csv(e) => csv_err(e),
            })?;
            n += 1;
        }
        out.flush()
            .map_err(|e| Error::io("write CSV export of", path, e))?;
        Ok(n)
    }

    /// Bytes on disk: the database file plus its `-wal` and `-shm` files.
    pub fn disk_bytes(&self) -> Result<u64> {
        let mut total = 0;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let p = PathBuf::from(p);
            match std::fs::metadata(&p) {
                Ok(m) => total += m.len(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("stat", p, e)),
            }
        }
        Ok(total)
    }

    fn rows(&self, sql: &'static str, params: &[&dyn rusqlite::ToSql]) -> Result<Vec<Record>> {
        let mut st = self
            .conn
            .prepare_cached(sql)
            .map_err(sql_err(&self.path, sql))?;
        let rows = st
            .query_map(params, row_to_record)
            .map_err(sql_err(&self.path, sql))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql_err(&self.path, sql))
    }
}

/// One row (columns in [`CSV_COLUMNS`] order) as a record.
fn row_to_record(row: &Row<'_>) -> rusqlite::Result<Record> {
    let id: i64 = row.get(0)?;
    let micros: i64 = row.get(1)?;
    let customer: i64 = row.get(2)?;
    let refs: String = row.get(12)?;
    Ok(Record {
        id: u64::try_from(id).map_err(|e| conversion(0, e))?,
        time: Timestamp::from_micros(micros).map_err(|e| conversion(1, e))?,
        customer: u64::try_from(customer).map_err(|e| conversion(2, e))?,
        person: row.get(3)?,
        source: row.get(4)?,
        action: row.get(5)?,
        object: row.get(6)?,
        object_id: row.get(7)?,
        name: row.get(8)?,
        field: row.get(9)?,
        old: row.get(10)?,
        new: row.get(11)?,
        refs: if refs.is_empty() {
            Vec::new()
        } else {
            refs.split(';').map(str::to_owned).collect()
        },
        // Written by `insert_batch` from `Json` values: already compact JSON.
        args: row.get::<_, Option<String>>(13)?.map(Json::from_trusted),
        result: row.get::<_, Option<String>>(14)?.map(Json::from_trusted),
    })
}

fn conversion(column: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, Type::Integer, Box::new(e))
}

enum RowError {
    Sql(rusqlite::Error),
    Csv(csv::Error),
}

/// Writes one exported row, straight from SQLite's buffers.
fn write_csv_row<W: io::Write>(
    row: &Row<'_>,
    out: &mut csv::Writer<W>,
    num: &mut String,
) -> std::result::Result<(), RowError> {
    let text = |i: usize| -> std::result::Result<&str, RowError> {
        row.get_ref(i)
            .and_then(|v| v.as_str_or_null().map_err(|e| conversion(i, e)))
            .map(Option::unwrap_or_default)
            .map_err(RowError::Sql)
    };
    let int = |i: usize| row.get::<_, i64>(i).map_err(RowError::Sql);
    num.clear();
    let _ = write!(num, "{}", int(0)?);
    out.write_field(num.as_bytes()).map_err(RowError::Csv)?;
    let time = Timestamp::from_micros(int(1)?).map_err(|e| RowError::Sql(conversion(1, e)))?;
    out.write_field(time.to_rfc3339()).map_err(RowError::Csv)?;
    num.clear();
    let _ = write!(num, "{}", int(2)?);
    out.write_field(num.as_bytes()).map_err(RowError::Csv)?;
    for i in 3..CSV_COLUMNS.len() {
        out.write_field(text(i)?).map_err(RowError::Csv)?;
    }
    out.write_record(None::<&[u8]>).map_err(RowError::Csv)
}

fn to_i64(v: u64, what: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| {
        Error::invalid(
            what,
            format!("{v} is beyond SQLite's largest integer {}", i64::MAX),
        )
    })
}

/// An SQLite failure and the statement that failed.
#[derive(Debug)]
struct SqlError {
    statement: &'static str,
    source: rusqlite::Error,
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "statement `{}` failed: {}", self.statement, self.source)
    }
}

impl std::error::Error for SqlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Maps an SQLite error to [`Error::Io`] naming the database file and the
/// statement (the rusqlite error stays reachable as the source).
fn sql_err<'a>(
    path: &'a Path,
    statement: &'static str,
) -> impl FnOnce(rusqlite::Error) -> Error + 'a {
    move |source| {
        Error::io(
            "sqlite",
            path,
            io::Error::other(SqlError { statement, source }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{match_one, MatchMode};
    use crate::workload::Workload;
    use std::collections::BTreeMap;

    const N: u64 = 20_000;

    fn records(w: &Workload, n: u64) -> Vec<Record> {
        w.records(n)
            .enumerate()
            .map(|(i, r)| r.into_record(i as u64 + 1, Timestamp::MIN))
            .collect()
    }

    fn by_time(mut v: Vec<Record>) -> Vec<Record> {
        v.sort_by(|a, b| a.time.cmp(&b.time).then(a.id.cmp(&b.id)));
        v
    }

    fn ids(v: &[Record]) -> Vec<u64> {
        v.iter().map(|r| r.id).collect()
    }

    /// Checks a query's rows against the naive answer: same count, same ids
    /// in the same order, and every column read back intact.
    fn same(what: &str, got: Vec<Record>, want: Vec<Record>) {
        assert_eq!(got.len(), want.len(), "{what}: row count");
        assert_eq!(ids(&got), ids(&want), "{what}: ids");
        assert_eq!(got, want, "{what}: columns");
    }

    #[test]
    fn queries_match_a_naive_filter() {
        let dir = tempfile::tempdir().unwrap();
        let w = Workload::default();
        let all = records(&w, N);
        let mut db = SqliteBaseline::create(dir.path().join("b.sqlite")).unwrap();
        // Two calls: 15,000 rows (a full and a partial transaction), then the rest.
        db.insert_batch(&all[..15_000]).unwrap();
        db.insert_batch(&all[15_000..]).unwrap();
        db.set_customers(&w.customer_parents()).unwrap();
        let parents: BTreeMap<u64, u64> = w.customer_parents().into_iter().collect();
        let q = w.queries(N);
        let filter =
            |f: &dyn Fn(&Record) -> bool| by_time(all.iter().filter(|r| f(r)).cloned().collect());

        let win = q.time_slice.window;
        let want = filter(&|r| win.contains(r.time));
        assert!(want.len() > 100);
        same(
            "time slice",
            db.time_slice(win.start, win.end).unwrap(),
            want,
        );

        let pw = &q.person_window;
        let want = filter(&|r| r.person == pw.person && pw.window.contains(r.time));
        assert!(want.len() > 100);
        same(
            "person window",
            db.person_window(&pw.person, pw.window.start, pw.window.end)
                .unwrap(),
            want,
        );

        let c = q.customer_all.customer;
        let want = filter(&|r| r.customer == c);
        assert!(want.len() > 500);
        same("customer all", db.customer_all(c).unwrap(), want);

        let nc = &q.name_contains;
        let want = filter(&|r| {
            nc.window.contains(r.time) && match_one(MatchMode::Contains, false, &r.name, &nc.needle)
        });
        assert!(want.len() > 50);
        same(
            "name contains",
            db.name_contains_in(&nc.needle, nc.window.start, nc.window.end)
                .unwrap(),
            want,
        );
        // Case-sensitive, like the engine's default.
        let upper = nc.needle.to_ascii_uppercase();
        let want = filter(&|r| {
            nc.window.contains(r.time) && match_one(MatchMode::Contains, false, &r.name, &upper)
        });
        same(
            "name contains (upper case)",
            db.name_contains_in(&upper, nc.window.start, nc.window.end)
                .unwrap(),
            want,
        );

        let sd = &q.subtree_day;
        let want = filter(&|r| {
            sd.window.contains(r.time) && parents.get(&r.customer) == Some(&sd.reseller)
        });
        assert!(want.len() > 50);
        same(
            "subtree",
            db.subtree_in(sd.reseller, sd.window.start, sd.window.end)
                .unwrap(),
            want,
        );
        // The reseller itself is not in its subtree.
        let want = filter(&|r| win.contains(r.time) && parents.get(&r.customer) == Some(&1));
        same(
            "subtree of reseller 1",
            db.subtree_in(1, win.start, win.end).unwrap(),
            want,
        );

        let sb = &q.sort_by_name;
        let mut want: Vec<Record> = all
            .iter()
            .filter(|r| sb.window.contains(r.time))
            .cloned()
            .collect();
        want.sort_by(|a, b| {
            a.name
                .as_bytes()
                .cmp(b.name.as_bytes())
                .then(a.id.cmp(&b.id))
        });
        assert_eq!(want.len(), N as usize, "a small workload sorts everything");
        same(
            "sort by name, limit 1,000",
            db.sort_by_name(sb.window.start, sb.window.end, 1_000)
                .unwrap(),
            want[..1_000].to_vec(),
        );
        same(
            "sort by name",
            db.sort_by_name(sb.window.start, sb.window.end, sb.limit)
                .unwrap(),
            want,
        );

        // The empty window and an unknown person give nothing.
        assert!(db.time_slice(win.start, win.start).unwrap().is_empty());
        assert!(db
            .person_window("nobody", win.start, win.end)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn export_writes_every_row_in_native_columns() {
        let dir = tempfile::tempdir().unwrap();
        let w = Workload::new(3);
        let all = records(&w, 3_000);
        let mut db = SqliteBaseline::create(dir.path().join("e.sqlite")).unwrap();
        db.insert_batch(&all).unwrap();
        let mut out = Vec::new();
        assert_eq!(db.export_csv(&mut out).unwrap(), 3_000);

        let mut rd = csv::Reader::from_reader(out.as_slice());
        assert_eq!(
            rd.headers().unwrap().iter().collect::<Vec<_>>(),
            CSV_COLUMNS
        );
        let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
        let want = by_time(all);
        assert_eq!(rows.len(), want.len());
        for (row, r) in rows.iter().zip(&want) {
            let refs = r.refs.join(";");
            let json = |j: &Option<Json>| {
                j.as_ref()
                    .map(|j| j.as_str().to_string())
                    .unwrap_or_default()
            };
            let cells = [
                r.id.to_string(),
                r.time.to_rfc3339(),
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
                refs,
                json(&r.args),
                json(&r.result),
            ];
            assert_eq!(row.iter().collect::<Vec<_>>(), cells, "record {}", r.id);
        }
    }

    #[test]
    fn files_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.sqlite");
        let w = Workload::default();
        let all = records(&w, 500);
        let mut db = SqliteBaseline::create(&path).unwrap();
        assert_eq!(db.path(), path);
        db.insert_batch(&all).unwrap();
        // WAL mode: the -wal file exists and is counted.
        let wal = std::fs::metadata(dir.path().join("f.sqlite-wal"))
            .unwrap()
            .len();
        let main = std::fs::metadata(&path).unwrap().len();
        assert!(wal > 0);
        assert!(db.disk_bytes().unwrap() >= wal + main);
        let mode: String = db
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = db
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1, "NORMAL");

        // A duplicate id fails, naming the statement and the file.
        let e = db.insert_batch(&all[..1]).unwrap_err().to_string();
        assert!(
            e.contains("INSERT INTO records") && e.contains("f.sqlite"),
            "{e}"
        );
        // Ids beyond SQLite's integers are refused, not wrapped.
        let mut big = all[0].clone();
        big.id = u64::MAX;
        let e = db.insert_batch(&[big]).unwrap_err().to_string();
        assert!(e.contains("invalid id"), "{e}");
        // So does a query on a broken database.
        db.conn.execute_batch("DROP TABLE records").unwrap();
        let e = db.customer_all(1).unwrap_err().to_string();
        assert!(e.contains("WHERE customer = ?1"), "{e}");
        let e = db.export_csv(Vec::new()).unwrap_err().to_string();
        assert!(e.contains("ORDER BY time, id"), "{e}");
        drop(db);

        // An existing path is never reused or overwritten.
        let e = SqliteBaseline::create(&path).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
    }

    /// Quick figures for 200,000 records. Run with
    /// `cargo test --release --lib bench::sqlite::tests::rates -- --ignored --nocapture`.
    #[test]
    #[ignore = "a timing, not a check: run by hand in release mode"]
    fn rates() {
        use std::time::Instant;
        let n = 200_000;
        let dir = tempfile::tempdir().unwrap();
        let w = Workload::default();
        let all = records(&w, n);
        let mut db = SqliteBaseline::create(dir.path().join("r.sqlite")).unwrap();
        let t = Instant::now();
        for chunk in all.chunks(BATCH_ROWS) {
            db.insert_batch(chunk).unwrap();
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "ingest: {n} records in {secs:.2} s = {:.0} records/s",
            n as f64 / secs
        );
        db.set_customers(&w.customer_parents()).unwrap();
        let wal = std::fs::metadata(dir.path().join("r.sqlite-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "disk: {:.0} bytes/record ({} MiB, of which -wal {} MiB)",
            db.disk_bytes().unwrap() as f64 / n as f64,
            db.disk_bytes().unwrap() >> 20,
            wal >> 20
        );
        let q = w.queries(n);
        let time = |what: &str, f: &dyn Fn() -> usize| {
            let t = Instant::now();
            let rows = f();
            println!(
                "{what}: {rows} rows in {:.1} ms",
                t.elapsed().as_secs_f64() * 1e3
            );
        };
        let (sl, pw, nc, sd, sb) = (
            &q.time_slice.window,
            &q.person_window,
            &q.name_contains,
            &q.subtree_day,
            &q.sort_by_name,
        );
        time("1% time slice", &|| {
            db.time_slice(sl.start, sl.end).unwrap().len()
        });
        time("person 10 days", &|| {
            db.person_window(&pw.person, pw.window.start, pw.window.end)
                .unwrap()
                .len()
        });
        time("customer all", &|| {
            db.customer_all(q.customer_all.customer).unwrap().len()
        });
        time("name contains in a day", &|| {
            db.name_contains_in(&nc.needle, nc.window.start, nc.window.end)
                .unwrap()
                .len()
        });
        time("subtree in a day", &|| {
            db.subtree_in(sd.reseller, sd.window.start, sd.window.end)
                .unwrap()
                .len()
        });
        time("sort by name", &|| {
            db.sort_by_name(sb.window.start, sb.window.end, sb.limit)
                .unwrap()
                .len()
        });
        let t = Instant::now();
        let rows = db.export_csv(io::sink()).unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "export: {rows} rows in {secs:.2} s = {:.0} rows/s",
            rows as f64 / secs
        );
        if let Some(peak) = crate::bench::mem::peak_rss_bytes() {
            println!("peak RSS: {} MiB", peak >> 20);
        }
    }
}
