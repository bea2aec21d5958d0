//! What every subcommand shares: the global flags, opening the log, the
//! error type with its exit status, atomic output files, progress bars and
//! number formatting.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use auditlog::{AuditLog, Durability, Error, Options};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `println!` that never panics: a closed stdout (`| head`) is ignored
/// here; commands that stream data see write errors through their writers.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// `eprint!` that never panics.
macro_rules! err {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($t)*);
    }};
}

/// Exit status of a runtime failure (I/O, damage, a locked directory).
pub const EXIT_RUNTIME: u8 = 1;
/// Exit status of bad usage or bad input.
pub const EXIT_USAGE: u8 = 2;

/// Flags accepted by every subcommand.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The data directory.
    ///
    /// ingest, customers set/import, demo and serve create it; the other
    /// commands never do (a missing directory is an error).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "AUDITLOG_DATA",
        default_value = "./auditlog-data"
    )]
    pub data: PathBuf,

    /// When appends are durable: always, interval:MS (interval alone: 100 ms) or never.
    ///
    /// `always`: an append returns once fsynced. `interval:MS`: fsync in the
    /// background every MS milliseconds (`interval` alone: every 100 ms).
    /// `never`: fsync only when a segment
    /// is sealed and when a command ends. Matters for commands that write.
    #[arg(
        long,
        global = true,
        value_name = "MODE",
        default_value = "always",
        value_parser = parse_durability
    )]
    pub durability: Durability,

    /// Seal the active segment at this size, in MiB (the log is a series of
    /// segment files; sealed ones are read-only, indexed on disk and can be
    /// archived). Matters for commands that write.
    #[arg(
        long,
        global = true,
        value_name = "MIB",
        default_value_t = 64,
        value_parser = clap::value_parser!(u64).range(1..=4096)
    )]
    pub segment_mib: u64,
}

fn parse_durability(s: &str) -> Result<Durability, String> {
    s.parse::<Durability>().map_err(|_| {
        format!("{s:?} is not a durability mode (expected always, never, interval or interval:MS)")
    })
}

impl Global {
    /// The engine options these flags give.
    pub fn options(&self) -> Options {
        Options::new(&self.data)
            .durability(self.durability)
            .segment_size(self.segment_mib << 20)
    }

    /// Opens the log for a command that writes (creating the directory
    /// when it does not exist).
    pub fn open_rw(&self) -> Result<AuditLog, CliError> {
        check_data_dir(&self.data)?;
        finish_open(self.options().open())
    }

    /// Opens an existing log for a command that signs (checkpoints,
    /// retention horizons) with the key in `key` (a 32-byte Ed25519 seed,
    /// raw or 64 hex digits) instead of the data directory's own. A
    /// missing directory is an error, never a new empty log.
    pub fn open_existing_with_key(&self, key: Option<&Path>) -> Result<AuditLog, CliError> {
        check_data_dir(&self.data)?;
        let mut opts = self.options().create_if_missing(false);
        if let Some(k) = key {
            opts = opts.checkpoint_key(auditlog::tamper::read_signing_key(
                &auditlog::storage::fs::FsStorage,
                k,
            )?);
        }
        finish_open(opts.open())
    }

    /// Opens an existing log, for a command that reads it or maintains it
    /// (archive, reindex, a report): a missing directory is an error (a
    /// mistyped `--data`), never a new empty log.
    pub fn open_existing(&self) -> Result<AuditLog, CliError> {
        check_data_dir(&self.data)?;
        finish_open(self.options().create_if_missing(false).open())
    }
}

/// The open's warnings (torn tail truncated, index rebuilt) reach stderr
/// once, through the logger of [`install_logger`], as they happen.
fn finish_open(res: auditlog::Result<AuditLog>) -> Result<AuditLog, CliError> {
    Ok(res?)
}

/// Refuses a directory that exists, is not empty and holds no log: the
/// engine would otherwise turn any directory (a home directory, a source
/// tree) into a log by creating its files there.
fn check_data_dir(dir: &Path) -> Result<(), CliError> {
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        // Missing: the engine decides (creates it, or says it is missing).
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("open data directory", dir, e).into()),
    };
    if !meta.is_dir() {
        return Err(CliError::usage(format!(
            "data directory {} is not a directory",
            dir.display()
        )));
    }
    if dir.join(auditlog::log::SEGMENTS_DIR).is_dir() {
        return Ok(());
    }
    let mut entries = std::fs::read_dir(dir).map_err(|e| Error::io("list directory", dir, e))?;
    if entries.next().is_some() {
        return Err(CliError::usage(format!(
            "{} is not an auditlog data directory (it is not empty and has no {}/ inside); \
             choose another --data",
            dir.display(),
            auditlog::log::SEGMENTS_DIR
        )));
    }
    Ok(())
}

/// A failed command: what to print and the exit status.
#[derive(Debug)]
pub struct CliError {
    /// The exit status (0 means: stop quietly, for example on a closed
    /// pipe).
    pub code: u8,
    /// One line, printed after `auditlog: `.
    pub msg: String,
}

impl CliError {
    /// Bad usage or bad input (exit status 2).
    pub fn usage(msg: impl Into<String>) -> Self {
        CliError {
            code: EXIT_USAGE,
            msg: msg.into(),
        }
    }

    /// A runtime failure (exit status 1).
    pub fn runtime(msg: impl Into<String>) -> Self {
        CliError {
            code: EXIT_RUNTIME,
            msg: msg.into(),
        }
    }

    /// An I/O failure of the tool itself (not of the engine).
    pub fn io(op: &'static str, path: impl AsRef<Path>, e: io::Error) -> Self {
        Error::io(op, path.as_ref(), e).into()
    }

    /// Prefixes the message with some context.
    pub fn context(mut self, what: impl std::fmt::Display) -> Self {
        self.msg = format!("{what}: {}", self.msg);
        self
    }

    /// Prints the error (one line on stderr) and returns the exit status.
    pub fn report(self) -> ExitCode {
        if self.code != 0 {
            errln!("auditlog: {}", one_line(&self.msg));
        }
        ExitCode::from(self.code)
    }
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        if let Error::Io { source, .. } = &e {
            if source.kind() == io::ErrorKind::BrokenPipe {
                // The reader went away (`auditlog list | head`): not a failure.
                return CliError {
                    code: 0,
                    msg: String::new(),
                };
            }
        }
        let code = if e.is_bad_input() || matches!(e, Error::NoDataDir { .. }) {
            EXIT_USAGE
        } else {
            EXIT_RUNTIME
        };
        CliError {
            code,
            msg: e.to_string(),
        }
    }
}

/// Writes to stdout/stderr that fail with a broken pipe stop quietly.
pub fn out_err(e: io::Error, what: &str) -> CliError {
    Error::io("write", what, e).into()
}

fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prints a clap parse error as one line (help and version as they are).
pub fn clap_error(e: &clap::Error) -> ExitCode {
    if !e.use_stderr() {
        // --help, --version: print them whole, on stdout.
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    // The first paragraph is the error (with its possible values); the
    // rest is usage and tips.
    let first: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let msg = first.join(" ");
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
    errln!("auditlog: {msg} (see --help)");
    ExitCode::from(EXIT_USAGE)
}

/// Prints a warning on stderr.
pub fn warn(msg: &str) {
    errln!("auditlog: warning: {}", one_line(msg));
}

struct StderrLogger;

impl log::Log for StderrLogger {
    /// Warnings and errors of this crate; not those of its dependencies
    /// (sled's complaints about an index it cannot read come with the
    /// engine's own warning that it moved the index aside and rebuilt it).
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn && m.target().starts_with("auditlog")
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            warn(&r.args().to_string());
        }
    }
    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// Shows the library's warnings (recovery, rebuilt indexes) on stderr.
pub fn install_logger() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

/// Whether stderr is a terminal (progress bars are drawn only then).
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// A progress bar on stderr when it is a terminal, hidden otherwise.
/// `total` in units of `unit` (`bytes` or rows); `None`: a spinner.
pub fn progress(total: Option<u64>, bytes: bool) -> ProgressBar {
    if !stderr_is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = match total {
        Some(t) => {
            let tpl = if bytes {
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta}) {msg}"
            } else {
                "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({per_sec}, {eta}) {msg}"
            };
            let pb = ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(tpl) {
                pb.set_style(style);
            }
            pb
        }
        None => {
            let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {human_pos} {msg}")
            {
                pb.set_style(style);
            }
            pb
        }
    };
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    indicatif::HumanCount(n).to_string()
}

/// Bytes as `12.3 MiB`.
pub fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// A rate per second, as a whole number with separators.
pub fn rate(n: u64, secs: f64) -> String {
    if secs <= 0.0 {
        return "-".into();
    }
    thousands((n as f64 / secs).round() as u64)
}

/// An output file written under `FILE.tmp` and renamed to `FILE` only
/// once complete and fsynced, so that a failed run never leaves a half file
/// under the final name. Dropped without [`AtomicFile::commit`], the
/// temporary file is removed.
///
/// When `FILE` already exists and is not a regular file (a device such as
/// `/dev/null`, a FIFO, a socket), it is opened and written in place:
/// renaming over it would replace the device with a plain file.
pub struct AtomicFile {
    path: PathBuf,
    /// Empty when writing in place (or once committed).
    tmp: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Creates (truncates) `FILE.tmp`, or opens `FILE` itself for writing
    /// when it is a device, FIFO or socket.
    pub fn create(path: &Path) -> Result<Self, CliError> {
        if let Ok(meta) = std::fs::metadata(path) {
            if !meta.is_file() && !meta.is_dir() {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| CliError::io("open", path, e))?;
                return Ok(AtomicFile {
                    path: path.to_path_buf(),
                    tmp: PathBuf::new(),
                    file: Some(file),
                });
            }
        }
        let mut name = path.as_os_str().to_owned();
        name.push(".tmp");
        let tmp = PathBuf::from(name);
        let file = File::create(&tmp).map_err(|e| CliError::io("create", &tmp, e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            file: Some(file),
        })
    }

    /// The file to write to.
    pub fn file(&mut self) -> Result<&mut File, CliError> {
        self.file
            .as_mut()
            .ok_or_else(|| CliError::runtime(format!("{} is closed", self.tmp.display())))
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fsyncs the temporary file and renames it to the final name (a
    /// special file written in place is only flushed).
    pub fn commit(mut self) -> Result<(), CliError> {
        if self.tmp.as_os_str().is_empty() {
            if let Some(mut f) = self.file.take() {
                f.flush()
                    .map_err(|e| CliError::io("write", &self.path, e))?;
            }
            return Ok(());
        }
        if let Some(f) = self.file.take() {
            f.sync_all()
                .map_err(|e| CliError::io("fsync", &self.tmp, e))?;
        }
        std::fs::rename(&self.tmp, &self.path)
            .map_err(|e| CliError::io("rename into place", &self.path, e))?;
        // Make the rename itself durable (best effort: not every platform
        // can open a directory).
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.file.take();
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Where an output goes: a file (atomically) or stdout.
pub enum Output {
    /// Standard output.
    Stdout,
    /// A file written atomically.
    File(AtomicFile),
}

impl Output {
    /// `None` or `-`: stdout; otherwise the file.
    pub fn open(path: Option<&Path>) -> Result<Self, CliError> {
        match path {
            None => Ok(Output::Stdout),
            Some(p) if p.as_os_str() == "-" => Ok(Output::Stdout),
            Some(p) => Ok(Output::File(AtomicFile::create(p)?)),
        }
    }

    /// What the output is called in messages.
    pub fn name(&self) -> String {
        match self {
            Output::Stdout => "stdout".into(),
            Output::File(f) => f.path().display().to_string(),
        }
    }

    /// A writer (unbuffered; callers buffer).
    pub fn writer(&mut self) -> Result<Box<dyn Write + '_>, CliError> {
        match self {
            Output::Stdout => Ok(Box::new(io::stdout().lock())),
            Output::File(f) => Ok(Box::new(f.file()?)),
        }
    }

    /// Finishes: renames a file into place, flushes stdout.
    pub fn commit(self) -> Result<(), CliError> {
        match self {
            Output::Stdout => io::stdout().flush().map_err(|e| out_err(e, "stdout")),
            Output::File(f) => f.commit(),
        }
    }
}

/// The current unix time in whole seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
