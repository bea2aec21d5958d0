//! `auditlog ingest`: NDJSON records from files or stdin, appended in
//! batches.
//!
//! A pipeline keeps the engine busy: one thread reads the inputs and cuts
//! them into chunks of lines; worker threads parse chunks
//! ([`NewRecord::from_json`]) in parallel and append them one after the
//! other in input order ([`AuditLog::append_batch`], one batch per chunk;
//! see [`Shared`] for who appends). So parsing the next chunks overlaps
//! appending (and fsyncing) this one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Instant;

use indicatif::ProgressBar;

use auditlog::{AuditLog, NewRecord, Timestamp};

use crate::common::{progress, rate, thousands, unix_now, warn, CliError, Global};

const AFTER_HELP: &str = "\
Each line is one JSON object:
  {\"time\":\"2026-11-01T12:00:00.123456Z\",\"customer\":42,\"person\":\"admin_7\",
   \"source\":\"203.0.113.5\",\"action\":\"CreateUser\",\"object\":\"user\",\"object_id\":\"55\",
   \"name\":\"Alice\",\"field\":\"email\",\"old\":\"a@example.com\",\"new\":\"b@example.com\",
   \"refs\":[\"74951234567\"],\"args\":{\"user_name\":\"alice\"},\"result\":{\"user_id\":55}}
`customer` is required; `time` (RFC 3339 or unix seconds) defaults to now;
other missing strings are empty; `id` must be absent (the engine assigns it).
Blank lines are skipped.

On a bad line ingest stops, names the line and the reason, and says how many
records before it were stored (all of them durably); exit status 2. With
--skip-invalid bad lines are copied to a reject file instead and ingest goes on.

Examples:
  auditlog ingest records.ndjson
  zcat 2026-*.ndjson.gz | auditlog ingest
  auditlog ingest --skip-invalid --reject bad.ndjson a.ndjson b.ndjson
  auditlog --durability never ingest big.ndjson   # fsync once at the end";

/// `ingest` flags.
#[derive(clap::Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// NDJSON files, read in order (`-` or none: standard input).
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,

    /// Copy bad lines to a reject file and go on instead of stopping.
    #[arg(long)]
    skip_invalid: bool,

    /// The reject file of --skip-invalid [default: <data>/rejects-<unix time>.ndjson].
    #[arg(long, value_name = "FILE", requires = "skip_invalid")]
    reject: Option<PathBuf>,

    /// Records per appended batch.
    #[arg(long, value_name = "N", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: u64,

    /// Threads parsing and appending in turn [default: the number of CPUs, 2 to 4].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    threads: Option<u64>,
}

/// Longest line read (a record is at most 1 MiB encoded; JSON escapes can
/// make its line several times longer).
const MAX_LINE: usize = 16 << 20;
/// A chunk is cut at this many bytes even with fewer lines.
const MAX_CHUNK_BYTES: usize = 8 << 20;
/// Lines longer than this are test-encoded by the parser, so that a record
/// over the engine's size limit is reported as its own line rather than as
/// a failed batch.
const CHECK_ENCODED_ABOVE: usize = auditlog::record::MAX_RECORD_BYTES / 2;
/// How many skipped lines are described on stderr.
const SHOW_SKIPPED: u64 = 10;

/// An input and what it is called in messages.
struct Input {
    name: String,
    reader: Box<dyn Read + Send>,
}

/// A chunk of lines as read.
struct RawChunk {
    seq: u64,
    input: usize,
    /// Number (1-based, within its input) of the chunk's first line.
    first_line: u64,
    data: Vec<u8>,
    /// Each line's byte range in `data` (without its line end); `None`
    /// for a line over [`MAX_LINE`] (not kept).
    lines: Lines,
    /// Input bytes the chunk covers.
    bytes: u64,
}

/// A bad line.
struct Bad {
    line: u64,
    /// How many of the chunk's records come before it.
    records_before: usize,
    reason: String,
    /// Its bytes in the chunk's data (`None`: too long to keep).
    raw: Option<(usize, usize)>,
}

/// A chunk parsed.
struct Parsed {
    input: usize,
    first_line: u64,
    last_line: u64,
    records: Vec<NewRecord>,
    bad: Vec<Bad>,
    /// The chunk's bytes, kept only when some line is bad.
    data: Vec<u8>,
    bytes: u64,
}

/// What the reader hands the workers, in input order.
enum Work {
    Chunk(RawChunk),
    /// Reading failed; this is the chunk sequence number it takes.
    Fail(u64, CliError),
}

/// Chunk buffers handed back by the parse threads for the reader to reuse
/// (fresh megabyte-sized buffers for every chunk cost more than parsing
/// a few lines).
#[derive(Default)]
struct Pool(Mutex<Vec<(Vec<u8>, Lines)>>);

/// Each line's byte range in a chunk (`None`: a line too long to keep).
type Lines = Vec<Option<(usize, usize)>>;

impl Pool {
    const KEEP: usize = 16;

    fn take(&self, batch: usize) -> (Vec<u8>, Lines) {
        let got = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop();
        got.unwrap_or_else(|| (Vec::with_capacity(2 << 20), Vec::with_capacity(batch)))
    }

    fn give(&self, mut data: Vec<u8>, mut lines: Lines) {
        data.clear();
        lines.clear();
        let mut v = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if v.len() < Self::KEEP {
            v.push((data, lines));
        }
    }
}

pub fn run(g: &Global, args: Args) -> Result<(), CliError> {
    let inputs = open_inputs(&args.files)?;
    let total_bytes = input_size(&args.files);
    let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let multi =
        !(args.files.is_empty() || args.files.len() == 1 && args.files[0].as_os_str() == "-");
    let locate = |input: usize, line: u64| -> String {
        if multi {
            format!("{} line {line}", names[input])
        } else {
            format!("line {line}")
        }
    };

    let log = g.open_rw()?;
    let workers = args.threads.map_or_else(
        || thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4)),
        |n| n as usize,
    );
    let batch = args.batch as usize;
    let (tx, rx) = sync_channel::<Work>(workers);
    let pool = Arc::new(Pool::default());
    {
        // Not joined: it may be blocked reading a stdin that never ends
        // when a bad line stops ingest; it ends when the process does.
        let pool = pool.clone();
        thread::Builder::new()
            .name("ingest-read".into())
            .spawn(move || read_inputs(inputs, batch, &tx, &pool))
            .map_err(|e| CliError::runtime(format!("cannot start a thread: {e}")))?;
    }

    let pb = progress(total_bytes, true);
    let started = Instant::now();
    let shared = Shared {
        queue: Mutex::new(Queue {
            next: 0,
            ready: BTreeMap::new(),
            appending: false,
            stopped: false,
        }),
        moved: Condvar::new(),
        turn: Mutex::new(Turn {
            stop: None,
            st: State {
                log: &log,
                stored: 0,
                first_id: None,
                last_id: 0,
                skipped: 0,
                reject: None,
                reject_path: args
                    .reject
                    .clone()
                    .unwrap_or_else(|| g.data.join(format!("rejects-{}.ndjson", unix_now()))),
            },
        }),
        max_ready: workers * 2,
        skip_invalid: args.skip_invalid,
        locate: &locate,
        pb: &pb,
    };
    let rx = Mutex::new(rx);
    let spawned = thread::scope(|s| {
        for i in 0..workers {
            let (sh, rx, pool) = (&shared, &rx, &*pool);
            thread::Builder::new()
                .name(format!("ingest-{i}"))
                .spawn_scoped(s, move || worker(sh, rx, pool))
                .map_err(|e| CliError::runtime(format!("cannot start a thread: {e}")))?;
        }
        Ok::<(), CliError>(())
    });
    // The reader's next send fails from here on.
    drop(rx);
    let Turn { stop, mut st, .. } = shared
        .turn
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    let res = match (spawned, stop) {
        (Err(e), _) | (Ok(()), Some(e)) => Err(e),
        (Ok(()), None) => Ok(()),
    };
    pb.finish_and_clear();
    // Whatever happened, what was stored is made durable before saying so.
    let synced = log.sync();
    let reject_done = st.close_reject();
    res?;
    synced?;
    reject_done?;
    let secs = started.elapsed().as_secs_f64();
    let ids = match st.first_id {
        Some(a) => format!(" (ids {a}..={})", st.last_id),
        None => String::new(),
    };
    outln!(
        "ingested {} records{ids} in {secs:.2} s ({} records/s)",
        thousands(st.stored),
        rate(st.stored, secs)
    );
    if st.skipped > 0 {
        outln!(
            "skipped {} invalid line{}, copied to {}",
            thousands(st.skipped),
            if st.skipped == 1 { "" } else { "s" },
            st.reject_path.display()
        );
    }
    Ok(())
}

fn open_inputs(files: &[PathBuf]) -> Result<Vec<Input>, CliError> {
    if files.is_empty() {
        return Ok(vec![stdin_input()]);
    }
    let mut v = Vec::with_capacity(files.len());
    for f in files {
        if f.as_os_str() == "-" {
            v.push(stdin_input());
            continue;
        }
        let file = File::open(f)
            .map_err(|e| CliError::usage(format!("cannot open {}: {e}", f.display())))?;
        v.push(Input {
            name: f.display().to_string(),
            reader: Box::new(file),
        });
    }
    Ok(v)
}

fn stdin_input() -> Input {
    Input {
        name: "stdin".into(),
        reader: Box::new(io::stdin()),
    }
}

/// The total size of the inputs when all are regular files.
fn input_size(files: &[PathBuf]) -> Option<u64> {
    if files.is_empty() {
        return None;
    }
    let mut total = 0;
    for f in files {
        let m = std::fs::metadata(f).ok().filter(|m| m.is_file())?;
        total += m.len();
    }
    Some(total)
}

/// The reader thread: cuts the inputs into chunks of at most `batch` lines.
fn read_inputs(inputs: Vec<Input>, batch: usize, raw: &SyncSender<Work>, pool: &Pool) {
    let mut seq = 0u64;
    let new_chunk = |seq: u64, input: usize, first_line: u64| {
        let (data, lines) = pool.take(batch);
        RawChunk {
            seq,
            input,
            first_line,
            data,
            lines,
            bytes: 0,
        }
    };
    for (idx, input) in inputs.into_iter().enumerate() {
        let mut r = BufReader::with_capacity(1 << 20, input.reader);
        let mut line_no = 1u64;
        let mut chunk = new_chunk(seq, idx, line_no);
        // The line being read: where it starts in `chunk.data`, whether it
        // went over MAX_LINE.
        let mut start = 0usize;
        let mut long = false;
        let mut at_start_of_input = true;
        loop {
            let buf = match r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // The complete lines read so far go first.
                    if chunk.data.len() > start {
                        chunk.data.truncate(start);
                    }
                    if !chunk.lines.is_empty() {
                        if raw.send(Work::Chunk(chunk)).is_err() {
                            return;
                        }
                        seq += 1;
                    }
                    let _ = raw.send(Work::Fail(
                        seq,
                        CliError::io("read", &input.name, e)
                            .context(format!("after line {}", line_no - 1)),
                    ));
                    return;
                }
            };
            if buf.is_empty() {
                break;
            }
            let mut buf = buf;
            let mut consumed = 0;
            if at_start_of_input {
                at_start_of_input = false;
                if buf.starts_with(b"\xEF\xBB\xBF") {
                    buf = &buf[3..];
                    consumed = 3;
                }
            }
            let (piece, ends_line) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], true),
                None => (buf, false),
            };
            if !long {
                if chunk.data.len() - start + piece.len() > MAX_LINE {
                    long = true;
                    chunk.data.truncate(start);
                } else {
                    chunk.data.extend_from_slice(piece);
                }
            }
            consumed += piece.len() + usize::from(ends_line);
            chunk.bytes += consumed as u64;
            r.consume(consumed);
            if ends_line {
                end_line(&mut chunk, &mut start, &mut long);
                line_no += 1;
                if chunk.lines.len() >= batch || chunk.data.len() >= MAX_CHUNK_BYTES {
                    let full = std::mem::replace(&mut chunk, new_chunk(seq + 1, idx, line_no));
                    seq += 1;
                    start = 0;
                    if raw.send(Work::Chunk(full)).is_err() {
                        return;
                    }
                }
            }
        }
        if chunk.data.len() > start || long {
            // A last line without a line end.
            end_line(&mut chunk, &mut start, &mut long);
        }
        if !chunk.lines.is_empty() {
            seq += 1;
            if raw.send(Work::Chunk(chunk)).is_err() {
                return;
            }
        }
    }
}

fn end_line(chunk: &mut RawChunk, start: &mut usize, long: &mut bool) {
    if *long {
        chunk.lines.push(None);
    } else {
        let mut end = chunk.data.len();
        if end > *start && chunk.data[end - 1] == b'\r' {
            end -= 1;
        }
        chunk.lines.push(Some((*start, end)));
    }
    *start = chunk.data.len();
    *long = false;
}

/// What the workers share.
///
/// Parsed chunks wait in `queue` until they are next in input order.
/// Whoever hands in a chunk while nobody is appending becomes the appender
/// and appends every chunk that is next, in order, until the next one is
/// not parsed yet (flat combining): no thread ever sleeps waiting for its
/// turn, and appends follow each other without a hand-over.
struct Shared<'a> {
    queue: Mutex<Queue>,
    /// Signalled when the queue shrinks or ingest stops.
    moved: Condvar,
    /// Locked by the appender only.
    turn: Mutex<Turn<'a>>,
    /// Most parsed chunks waiting (bounds memory).
    max_ready: usize,
    skip_invalid: bool,
    locate: &'a (dyn Fn(usize, u64) -> String + Sync),
    pb: &'a ProgressBar,
}

struct Queue {
    /// The sequence number of the chunk to append next.
    next: u64,
    ready: BTreeMap<u64, Result<Parsed, CliError>>,
    /// Whether a worker is appending.
    appending: bool,
    stopped: bool,
}

struct Turn<'a> {
    /// Why ingest stopped.
    stop: Option<CliError>,
    st: State<'a>,
}

impl<'a> Shared<'a> {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn turn(&self) -> MutexGuard<'_, Turn<'a>> {
        self.turn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands in chunk `seq`; true when the caller is now the appender.
    /// Waits while too many chunks are waiting (never for the next one).
    fn hand_in(&self, seq: u64, item: Result<Parsed, CliError>) -> bool {
        let mut q = self.queue();
        while q.ready.len() >= self.max_ready && seq != q.next && !q.stopped {
            q = self.moved.wait(q).unwrap_or_else(PoisonError::into_inner);
        }
        if q.stopped {
            return false;
        }
        q.ready.insert(seq, item);
        if q.appending {
            return false;
        }
        q.appending = true;
        true
    }

    /// The appender's next chunk, or `None` (and no appender any more).
    fn take_next(&self) -> Option<Result<Parsed, CliError>> {
        let mut q = self.queue();
        let next = q.next;
        match q.ready.remove(&next) {
            Some(item) if !q.stopped => {
                q.next += 1;
                drop(q);
                self.moved.notify_all();
                Some(item)
            }
            _ => {
                q.appending = false;
                None
            }
        }
    }

    fn stop(&self) {
        let mut q = self.queue();
        q.stopped = true;
        q.ready.clear();
        drop(q);
        self.moved.notify_all();
    }

    fn stopped(&self) -> bool {
        self.queue().stopped
    }

    /// Appends chunks while the next one is ready.
    fn append_ready(&self) {
        while let Some(item) = self.take_next() {
            let mut t = self.turn();
            let res = match item {
                Ok(p) => t.st.apply(p, self.skip_invalid, self.locate, self.pb),
                Err(e) => Err(t.st.stop(e)),
            };
            if let Err(e) = res {
                t.stop = Some(e);
                drop(t);
                self.stop();
                return;
            }
        }
    }
}

/// A worker: takes the next chunk, parses it, hands it in, and appends
/// while it is the appender.
fn worker(sh: &Shared<'_>, rx: &Mutex<Receiver<Work>>, pool: &Pool) {
    loop {
        if sh.stopped() {
            return;
        }
        let work = {
            let rx = rx.lock().unwrap_or_else(PoisonError::into_inner);
            match rx.recv() {
                Ok(w) => w,
                Err(_) => return,
            }
        };
        let (seq, item) = match work {
            Work::Chunk(c) => (c.seq, Ok(parse_chunk(c, pool))),
            Work::Fail(seq, e) => (seq, Err(e)),
        };
        if sh.hand_in(seq, item) {
            sh.append_ready();
        }
    }
}

fn parse_chunk(c: RawChunk, pool: &Pool) -> Parsed {
    let mut records = Vec::with_capacity(c.lines.len());
    let mut bad = Vec::new();
    for (i, range) in c.lines.iter().enumerate() {
        let line = c.first_line + i as u64;
        let Some((a, b)) = *range else {
            bad.push(Bad {
                line,
                records_before: records.len(),
                reason: format!("line is longer than {} MiB", MAX_LINE >> 20),
                raw: None,
            });
            continue;
        };
        let bytes = &c.data[a..b];
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_line(bytes) {
            Ok(r) => records.push(r),
            Err(reason) => bad.push(Bad {
                line,
                records_before: records.len(),
                reason,
                raw: Some((a, b)),
            }),
        }
    }
    let last_line = c.first_line + c.lines.len() as u64 - 1;
    let data = if bad.is_empty() {
        pool.give(c.data, c.lines);
        Vec::new()
    } else {
        c.data
    };
    Parsed {
        input: c.input,
        first_line: c.first_line,
        last_line,
        records,
        data,
        bad,
        bytes: c.bytes,
    }
}

fn parse_line(bytes: &[u8]) -> Result<NewRecord, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1))?;
    let rec = NewRecord::from_json(text).map_err(|e| e.to_string())?;
    if bytes.len() > CHECK_ENCODED_ABOVE {
        let probe = rec.clone().into_record(u64::MAX, Timestamp::now());
        auditlog::format::codec::encode_into(&probe, &mut Vec::new()).map_err(|e| e.to_string())?;
    }
    Ok(rec)
}

struct State<'a> {
    log: &'a AuditLog,
    stored: u64,
    first_id: Option<u64>,
    last_id: u64,
    skipped: u64,
    reject: Option<BufWriter<File>>,
    reject_path: PathBuf,
}

impl State<'_> {
    /// Appends one parsed chunk (in its turn); an error stops ingest (a bad
    /// line without --skip-invalid, a failed append).
    fn apply(
        &mut self,
        mut p: Parsed,
        skip_invalid: bool,
        locate: &dyn Fn(usize, u64) -> String,
        pb: &ProgressBar,
    ) -> Result<(), CliError> {
        if !p.bad.is_empty() && !skip_invalid {
            let b = &p.bad[0];
            let keep = b.records_before;
            let (input, line, reason) = (p.input, b.line, b.reason.clone());
            let mut good = std::mem::take(&mut p.records);
            good.truncate(keep);
            self.append(good, &p, locate)?;
            return Err(CliError::usage(format!(
                "{}: {reason}; {} stored (durably), nothing after it \
                 (--skip-invalid skips bad lines)",
                locate(input, line),
                stored_before(self.stored),
            )));
        }
        for b in &p.bad {
            self.reject_line(b, &p.data, &locate(p.input, b.line))?;
        }
        let records = std::mem::take(&mut p.records);
        self.append(records, &p, locate)?;
        pb.inc(p.bytes);
        pb.set_message(format!("{} records", thousands(self.stored)));
        Ok(())
    }

    fn append(
        &mut self,
        records: Vec<NewRecord>,
        p: &Parsed,
        locate: &dyn Fn(usize, u64) -> String,
    ) -> Result<(), CliError> {
        if records.is_empty() {
            return Ok(());
        }
        let n = records.len() as u64;
        match self.log.append_batch(records) {
            Ok(ids) => {
                self.first_id.get_or_insert(*ids.start());
                self.last_id = *ids.end();
                self.stored += n;
                Ok(())
            }
            Err(e) => {
                let ctx = format!(
                    "appending {} to {}",
                    locate(p.input, p.first_line),
                    p.last_line
                );
                Err(self.stop(CliError::from(e).context(ctx)))
            }
        }
    }

    /// Adds how many records were stored to an error that stops ingest.
    fn stop(&self, e: CliError) -> CliError {
        CliError {
            code: e.code,
            msg: format!("{}; {} stored (durably)", e.msg, stored_before(self.stored)),
        }
    }

    fn reject_line(&mut self, b: &Bad, data: &[u8], at: &str) -> Result<(), CliError> {
        self.skipped += 1;
        if self.skipped <= SHOW_SKIPPED {
            warn(&format!("{at}: {} (skipped)", b.reason));
        } else if self.skipped == SHOW_SKIPPED + 1 {
            warn("more invalid lines skipped; see the reject file");
        }
        let Some((a, z)) = b.raw else {
            return Ok(());
        };
        if self.reject.is_none() {
            let f = File::create(&self.reject_path)
                .map_err(|e| CliError::io("create reject file", &self.reject_path, e))?;
            self.reject = Some(BufWriter::new(f));
        }
        if let Some(w) = self.reject.as_mut() {
            w.write_all(&data[a..z])
                .and_then(|()| w.write_all(b"\n"))
                .map_err(|e| CliError::io("write", &self.reject_path, e))?;
        }
        Ok(())
    }

    fn close_reject(&mut self) -> Result<(), CliError> {
        if let Some(w) = self.reject.take() {
            let f = w
                .into_inner()
                .map_err(|e| CliError::io("write", &self.reject_path, e.into_error()))?;
            f.sync_all()
                .map_err(|e| CliError::io("fsync", &self.reject_path, e))?;
        }
        Ok(())
    }
}

/// `3 records before it were` / `1 record before it was`.
fn stored_before(n: u64) -> String {
    if n == 1 {
        "1 record before it was".into()
    } else {
        format!("{} records before it were", thousands(n))
    }
}
