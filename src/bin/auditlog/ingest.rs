//! `auditlog ingest`: NDJSON records from files or stdin, appended in
//! batches.
//!
//! A pipeline keeps the engine busy: one thread reads the inputs and cuts
//! them into chunks of lines; worker threads take chunks in turn, parse
//! them in parallel ([`NewRecordRef::from_json`]: the records borrow their
//! text from the chunk, so a line's strings are not copied before they are
//! encoded), and append them one after the other in input order
//! ([`AuditLog::append_batch`], one batch per chunk), passing a turn from
//! chunk to chunk. So parsing the next chunks overlaps appending (and
//! fsyncing) this one, and a chunk's records are appended (and freed) by the
//! thread that just built them, while they are still in its cache.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

use auditlog::record::NewRecordRef;
use auditlog::AuditLog;

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

    /// The reject file of --skip-invalid, appended to if it exists [default: <data>/rejects-<unix time>.ndjson].
    #[arg(long, value_name = "FILE", requires = "skip_invalid")]
    reject: Option<PathBuf>,

    /// Records per appended batch.
    #[arg(long, value_name = "N", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: u64,

    /// Threads parsing and appending in turn [default: the number of CPUs, 2 to 4].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    threads: Option<u64>,

    /// After each appended batch, print a line on stderr: `stored N
    /// records (ids A..=B, T in total)`. For the logs of a long-running ingest fed
    /// by a pipe; with the default --durability always, a batch is durable
    /// when its line appears.
    #[arg(long)]
    log_batches: bool,
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

/// A chunk parsed; the records borrow from the chunk's bytes.
struct Parsed<'c> {
    input: usize,
    first_line: u64,
    last_line: u64,
    records: Vec<NewRecordRef<'c>>,
    bad: Vec<Bad>,
    /// The chunk's bytes.
    data: &'c [u8],
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
    // A chunk's lines encode to fewer bytes than they have: a quarter of
    // the segment bound keeps the last batch of a segment from sealing
    // it far below the bound (a batch that does not fit starts the next).
    let max_bytes = MAX_CHUNK_BYTES
        .min(usize::try_from((g.segment_mib << 20) / 4).unwrap_or(usize::MAX))
        .max(1);
    let (tx, rx) = sync_channel::<Work>(workers);
    let pool = Arc::new(Pool::default());
    {
        // Not joined: it may be blocked reading a stdin that never ends
        // when a bad line stops ingest; it ends when the process does.
        let pool = pool.clone();
        thread::Builder::new()
            .name("ingest-read".into())
            .spawn(move || read_inputs(inputs, batch, max_bytes, &tx, &pool))
            .map_err(|e| CliError::runtime(format!("cannot start a thread: {e}")))?;
    }

    let pb = progress(total_bytes, true);
    let started = Instant::now();
    let shared = Shared {
        turn: Mutex::new(Turn {
            next: 0,
            stop: None,
            st: State {
                log: &log,
                stored: 0,
                first_id: None,
                last_id: 0,
                skipped: 0,
                reject: None,
                log_batches: args.log_batches,
                reject_path: args
                    .reject
                    .clone()
                    .unwrap_or_else(|| g.data.join(format!("rejects-{}.ndjson", unix_now()))),
            },
        }),
        moved: Condvar::new(),
        stopped: AtomicBool::new(false),
        skip_invalid: args.skip_invalid,
        locate: &locate,
        pb: &pb,
    };
    let rx = Mutex::new(rx);
    let spawned = thread::scope(|s| {
        // Fewer workers than asked is fine; none is not.
        let mut started = 0;
        let mut failure = None;
        for i in 0..workers {
            let (sh, rx, pool) = (&shared, &rx, &*pool);
            match thread::Builder::new()
                .name(format!("ingest-{i}"))
                .spawn_scoped(s, move || worker(sh, rx, pool))
            {
                Ok(_) => started += 1,
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) if started == 0 => {
                Err(CliError::runtime(format!("cannot start a thread: {e}")))
            }
            _ => Ok(()),
        }
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
        "ingested {} record{}{ids} in {secs:.2} s ({} records/s)",
        thousands(st.stored),
        if st.stored == 1 { "" } else { "s" },
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
        // Opening a directory succeeds; reading it would fail only later.
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(CliError::usage(format!(
                "cannot ingest {}: it is a directory (give NDJSON files, or - for stdin)",
                f.display()
            )));
        }
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

/// How long the input may be idle before the complete lines read so far
/// are appended without waiting for a full batch (a producer that writes
/// a few lines now and then, or stays open after a bad line).
const IDLE: Duration = Duration::from_millis(200);
/// Bytes read from an input at a time.
const BLOCK: usize = 1 << 20;

/// What the pump thread reads.
enum Feed {
    /// Bytes of the current input (a recycled block).
    Data(Vec<u8>),
    /// The current input ended.
    End,
    /// Reading the current input failed.
    Fail(io::Error),
}

/// The pump thread: blocking reads of each input in turn.
fn pump(inputs: Vec<Input>, tx: &SyncSender<Feed>, spare: &Receiver<Vec<u8>>) {
    for mut input in inputs {
        loop {
            let mut block = spare.try_recv().unwrap_or_default();
            block.resize(BLOCK, 0);
            match input.reader.read(&mut block) {
                Ok(0) => break,
                Ok(n) => {
                    block.truncate(n);
                    if tx.send(Feed::Data(block)).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Feed::Fail(e));
                    return;
                }
            }
        }
        if tx.send(Feed::End).is_err() {
            return;
        }
    }
}

/// The chunker: cuts what the pump reads into chunks of at most `batch`
/// lines (or [`MAX_CHUNK_BYTES`]), or of the complete lines so far when the
/// input has been idle for [`IDLE`], and hands them to the workers in order.
struct Chunker<'a> {
    batch: usize,
    /// Bytes of lines at which a chunk is cut ([`MAX_CHUNK_BYTES`], less
    /// for small segments).
    max_bytes: usize,
    raw: &'a SyncSender<Work>,
    pool: &'a Pool,
    seq: u64,
    input: usize,
    /// Number of the next line of the input (1-based).
    line_no: u64,
    chunk: RawChunk,
    /// Where the line being read starts in `chunk.data`.
    start: usize,
    /// Whether the line being read went over [`MAX_LINE`].
    long: bool,
    /// Whether the next bytes are the first of the input (BOM check).
    at_input_start: bool,
}

impl Chunker<'_> {
    fn fresh(&self) -> RawChunk {
        let (data, lines) = self.pool.take(self.batch);
        RawChunk {
            seq: self.seq,
            input: self.input,
            first_line: self.line_no,
            data,
            lines,
            bytes: 0,
        }
    }

    /// Hands the complete lines over (the line being read moves to the
    /// next chunk); false when the workers are gone.
    fn cut(&mut self) -> bool {
        if self.chunk.lines.is_empty() {
            return true;
        }
        self.seq += 1;
        let mut next = self.fresh();
        next.data.extend_from_slice(&self.chunk.data[self.start..]);
        self.chunk.data.truncate(self.start);
        self.start = 0;
        let full = std::mem::replace(&mut self.chunk, next);
        self.raw.send(Work::Chunk(full)).is_ok()
    }

    /// Takes in a block of the current input; false when the workers are
    /// gone.
    fn feed(&mut self, mut buf: &[u8]) -> bool {
        if self.at_input_start && !buf.is_empty() {
            self.at_input_start = false;
            if let Some(rest) = buf.strip_prefix(b"\xEF\xBB\xBF") {
                buf = rest;
                self.chunk.bytes += 3;
            }
        }
        while !buf.is_empty() {
            let (piece, ends_line) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], true),
                None => (buf, false),
            };
            if !self.long {
                if self.chunk.data.len() - self.start + piece.len() > MAX_LINE {
                    self.long = true;
                    self.chunk.data.truncate(self.start);
                } else {
                    self.chunk.data.extend_from_slice(piece);
                }
            }
            let used = piece.len() + usize::from(ends_line);
            self.chunk.bytes += used as u64;
            buf = &buf[used..];
            if ends_line {
                end_line(&mut self.chunk, &mut self.start, &mut self.long);
                self.line_no += 1;
                if (self.chunk.lines.len() >= self.batch || self.chunk.data.len() >= self.max_bytes)
                    && !self.cut()
                {
                    return false;
                }
            }
        }
        true
    }

    /// The current input ended: its last line (without a line end) is a
    /// line too; the next input starts.
    fn end_input(&mut self) -> bool {
        if self.chunk.data.len() > self.start || self.long {
            end_line(&mut self.chunk, &mut self.start, &mut self.long);
        }
        if !self.cut() {
            return false;
        }
        self.input += 1;
        self.line_no = 1;
        self.at_input_start = true;
        self.chunk.input = self.input;
        self.chunk.first_line = 1;
        true
    }
}

/// The reader thread: starts the pump and cuts what it reads into chunks.
fn read_inputs(
    inputs: Vec<Input>,
    batch: usize,
    max_bytes: usize,
    raw: &SyncSender<Work>,
    pool: &Pool,
) {
    let (feed_tx, feed_rx) = sync_channel::<Feed>(4);
    let (spare_tx, spare_rx) = sync_channel::<Vec<u8>>(8);
    let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    // Detached like this thread: it may be blocked in a read.
    if let Err(e) = thread::Builder::new()
        .name("ingest-pump".into())
        .spawn(move || pump(inputs, &feed_tx, &spare_rx))
    {
        let _ = raw.send(Work::Fail(
            0,
            CliError::runtime(format!("cannot start a thread: {e}")),
        ));
        return;
    }
    let mut c = Chunker {
        batch,
        max_bytes,
        raw,
        pool,
        seq: 0,
        input: 0,
        line_no: 1,
        chunk: RawChunk {
            seq: 0,
            input: 0,
            first_line: 1,
            data: Vec::new(),
            lines: Vec::new(),
            bytes: 0,
        },
        start: 0,
        long: false,
        at_input_start: true,
    };
    c.chunk = c.fresh();
    loop {
        let ok = match feed_rx.recv_timeout(IDLE) {
            Ok(Feed::Data(block)) => {
                let ok = c.feed(&block);
                let _ = spare_tx.try_send(block);
                ok
            }
            Ok(Feed::End) => c.end_input(),
            Ok(Feed::Fail(e)) => {
                // The complete lines read so far go first.
                if c.cut() {
                    let name = names.get(c.input).map_or("input", String::as_str);
                    let _ = raw.send(Work::Fail(
                        c.seq,
                        CliError::io("read", name, e)
                            .context(format!("after line {}", c.line_no - 1)),
                    ));
                }
                return;
            }
            Err(RecvTimeoutError::Timeout) => c.cut(),
            // Every input was read.
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if !ok {
            return;
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

/// What the workers share: whose turn it is to append, and the state.
struct Shared<'a> {
    turn: Mutex<Turn<'a>>,
    /// Signalled whenever the turn moves on.
    moved: Condvar,
    /// Set when ingest stops early: workers waiting for a chunk that may
    /// never come (a stdin left open) give up.
    stopped: AtomicBool,
    skip_invalid: bool,
    locate: &'a (dyn Fn(usize, u64) -> String + Sync),
    pb: &'a ProgressBar,
}

struct Turn<'a> {
    /// The sequence number of the chunk to append next.
    next: u64,
    /// Why ingest stopped (then later chunks are dropped).
    stop: Option<CliError>,
    st: State<'a>,
}

impl<'a> Shared<'a> {
    fn lock(&self) -> MutexGuard<'_, Turn<'a>> {
        self.turn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until chunk `seq` may be appended, runs `f` on the state
    /// unless ingest has stopped, and passes the turn on. Returns whether
    /// ingest has stopped.
    fn take_turn(&self, seq: u64, f: impl FnOnce(&mut State<'a>) -> Result<(), CliError>) -> bool {
        let mut t = self.lock();
        while t.next != seq {
            t = self.moved.wait(t).unwrap_or_else(PoisonError::into_inner);
        }
        if t.stop.is_none() {
            if let Err(e) = f(&mut t.st) {
                t.stop = Some(e);
            }
        }
        t.next = seq + 1;
        let stopped = t.stop.is_some();
        drop(t);
        self.moved.notify_all();
        stopped
    }
}

/// A worker: takes the next chunk, parses it, waits for its turn, appends
/// it, passes the turn on.
fn worker(sh: &Shared<'_>, rx: &Mutex<Receiver<Work>>, pool: &Pool) {
    loop {
        let work = loop {
            if sh.stopped.load(Ordering::Relaxed) {
                return;
            }
            let rx = rx.lock().unwrap_or_else(PoisonError::into_inner);
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(w) => break w,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        let stopped = match work {
            Work::Chunk(c) => {
                let p = parse_chunk(&c);
                let stopped =
                    sh.take_turn(c.seq, |st| st.apply(p, sh.skip_invalid, sh.locate, sh.pb));
                pool.give(c.data, c.lines);
                stopped
            }
            Work::Fail(seq, e) => sh.take_turn(seq, |st| Err(st.stop(e))),
        };
        if stopped {
            sh.stopped.store(true, Ordering::Relaxed);
            return;
        }
    }
}

fn parse_chunk(c: &RawChunk) -> Parsed<'_> {
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
    Parsed {
        input: c.input,
        first_line: c.first_line,
        last_line,
        records,
        data: &c.data,
        bad,
        bytes: c.bytes,
    }
}

fn parse_line(bytes: &[u8]) -> Result<NewRecordRef<'_>, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1))?;
    let rec = NewRecordRef::from_json(text).map_err(|e| e.to_string())?;
    if bytes.len() > CHECK_ENCODED_ABOVE {
        rec.check_size().map_err(|e| e.to_string())?;
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
    /// `--log-batches`.
    log_batches: bool,
    reject_path: PathBuf,
}

impl State<'_> {
    /// Appends one parsed chunk (in its turn); an error stops ingest (a bad
    /// line without --skip-invalid, a failed append).
    fn apply(
        &mut self,
        mut p: Parsed<'_>,
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
            self.append(good, &p, locate, pb)?;
            return Err(CliError::usage(format!(
                "{}: {reason}; {} stored (durably), nothing after it \
                 (--skip-invalid skips bad lines)",
                locate(input, line),
                stored_before(self.stored),
            )));
        }
        for b in &p.bad {
            self.reject_line(b, p.data, &locate(p.input, b.line))?;
        }
        let records = std::mem::take(&mut p.records);
        self.append(records, &p, locate, pb)?;
        pb.inc(p.bytes);
        pb.set_message(format!("{} records", thousands(self.stored)));
        Ok(())
    }

    fn append(
        &mut self,
        records: Vec<NewRecordRef<'_>>,
        p: &Parsed<'_>,
        locate: &dyn Fn(usize, u64) -> String,
        pb: &ProgressBar,
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
                if self.log_batches {
                    pb.suspend(|| {
                        eprintln!(
                            "stored {} record{} (ids {}..={}, {} in total)",
                            thousands(n),
                            if n == 1 { "" } else { "s" },
                            ids.start(),
                            ids.end(),
                            thousands(self.stored)
                        )
                    });
                }
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
            // Appended to: a rerun with the same --reject keeps the
            // rejects of the runs before.
            let f = File::options()
                .create(true)
                .append(true)
                .open(&self.reject_path)
                .map_err(|e| CliError::io("open reject file", &self.reject_path, e))?;
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
