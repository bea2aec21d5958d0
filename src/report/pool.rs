//! The report pool: the catalogue in memory, the worker threads that write
//! report files, the janitor that deletes expired reports, and the public
//! [`Reports`] handle.
//!
//! Owns every state change of a report and persists each one before it is
//! visible to a download. It never marks a report completed before its file
//! is fsynced and renamed into place, never serves a file of a report that
//! is not completed, and never lets a caller see a report outside its
//! customers.

use std::fs::{self, File};
use std::io::{BufReader, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::catalog::{self, all_paths, file_path, remove_quietly, sync_dir, tmp_path, Catalog};
use super::{
    store_until, Customers, Download, DownloadEncoding, NewReport, Report, ReportFilter,
    ReportPage, ReportSource, ReportState, ReportsConfig, HISTORY_TYPE,
};
use crate::error::{Error, Result};
use crate::export::{export, ExportOptions, Format, Layout};
use crate::query::Query;
use crate::time::Timestamp;

/// The asynchronous report service over one report directory.
///
/// Creating a report stores it (pending) and returns its id at once; a
/// worker thread then writes its file. Dropping the handle, or
/// [`Reports::close`], stops the workers: a report being written stays
/// pending and is written again when the directory is next opened.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use auditlog::report::{Customers, DownloadEncoding, NewReport, ReportSource, Reports, ReportsConfig};
/// use auditlog::{NewRecord, Query, Record, Result, Timestamp};
///
/// struct Two;
/// impl ReportSource for Two {
///     fn rows(&self, _q: &Query) -> Result<Box<dyn Iterator<Item = Result<Record>> + Send + '_>> {
///         let t = Timestamp::from_unix_seconds(1_800_000_000)?;
///         Ok(Box::new((1..=2).map(move |id| Ok(NewRecord::new(7).action("Login").into_record(id, t)))))
///     }
///     fn count(&self, _q: &Query) -> Result<u64> { Ok(2) }
/// }
///
/// let dir = tempfile::tempdir().unwrap();
/// let reports = Reports::open(dir.path(), Arc::new(Two), ReportsConfig::new()).unwrap();
/// let id = reports.create(NewReport::new(7, Query::new()), 2).unwrap();
/// let done = reports.wait(id, &Customers::One(7), Duration::from_secs(30)).unwrap();
/// assert!(done.state.is_completed());
/// let mut csv = String::new();
/// use std::io::Read;
/// reports.download(id, &Customers::One(7), DownloadEncoding::Plain).unwrap()
///     .read_to_string(&mut csv).unwrap();
/// assert_eq!(csv.lines().count(), 3); // header + 2 rows
/// ```
pub struct Reports {
    shared: Arc<Shared>,
    /// Job and janitor senders; dropped to stop the threads.
    senders: Mutex<Option<(Sender<u64>, Sender<()>)>>,
    /// Keeps the job channel open even without workers.
    _jobs: Arc<Mutex<Receiver<u64>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

struct Shared {
    dir: PathBuf,
    source: Arc<dyn ReportSource>,
    config: ReportsConfig,
    state: Mutex<State>,
    /// Notified on every state change of a report.
    changed: Condvar,
    /// Set when closing: workers stop after the current row.
    stop: AtomicBool,
}

struct State {
    cat: Catalog,
    closed: bool,
}

/// What a worker needs to write one report.
struct Job {
    format: Format,
    query: Query,
    layout: Layout,
    header: bool,
    neutralize: bool,
}

/// The outcome of writing one report file.
struct Written {
    rows: u64,
    file_size: u64,
    download_size: u64,
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn not_found(id: u64) -> Error {
    Error::NotFound {
        what: format!("report {id}"),
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the catalogue consistent
        // (every change is a plain field update), so keep going.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn persist(&self, st: &State) -> Result<()> {
        catalog::save(&self.dir, &st.cat)
    }

    /// Persists a change whose failure must not stop the caller (the
    /// in-memory state is right; the next successful save or the recovery
    /// on open repairs the file).
    fn persist_or_warn(&self, st: &State) {
        if let Err(e) = self.persist(st) {
            log::warn!("could not save the report catalogue: {e}");
        }
    }

    fn visible<'a>(st: &'a State, id: u64, who: &Customers) -> Result<&'a Report> {
        st.cat
            .reports
            .get(&id)
            .filter(|r| who.contains(r.customer))
            .ok_or_else(|| not_found(id))
    }

    /// Runs one queued report to completion, failure or interruption.
    fn run(&self, id: u64) {
        let job = {
            let mut st = self.lock();
            let Some(r) = st.cat.reports.get_mut(&id) else {
                return; // purged while queued
            };
            if r.state != ReportState::Pending {
                return;
            }
            let format = match r.file_format() {
                Ok(f) => f,
                Err(e) => {
                    r.state = ReportState::Failed {
                        reason: e.to_string(),
                    };
                    self.persist_or_warn(&st);
                    self.changed.notify_all();
                    return;
                }
            };
            r.state = ReportState::Running;
            r.rows_done = 0;
            r.rows_total = None;
            let job = Job {
                format,
                query: r.query.clone(),
                layout: r.layout,
                header: r.header,
                neutralize: r.neutralize,
            };
            self.persist_or_warn(&st);
            self.changed.notify_all();
            job
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| self.write_file(id, &job)));
        let tmp = tmp_path(&self.dir, id, job.format);
        let mut st = self.lock();
        let result = match outcome {
            Ok(r) => r,
            Err(p) => Err(Error::invalid(
                format!("report {id}"),
                format!("the report writer panicked: {}", panic_message(&*p)),
            )),
        };
        match result {
            Ok(w) => match st.cat.reports.get_mut(&id) {
                Some(r) => {
                    r.state = ReportState::Completed;
                    r.completed = Some(Timestamp::now());
                    r.file_size = Some(w.file_size);
                    r.download_size = Some(w.download_size);
                    r.rows_done = w.rows;
                    r.rows_total = Some(w.rows);
                }
                None => {
                    // Purged while it was written.
                    if let Err(e) = remove_quietly(&file_path(&self.dir, id, job.format)) {
                        log::warn!("{e}");
                    }
                }
            },
            Err(e) => {
                if let Err(e) = remove_quietly(&tmp) {
                    log::warn!("{e}");
                }
                if let Some(r) = st.cat.reports.get_mut(&id) {
                    r.rows_done = 0;
                    if matches!(e, Error::Closed) {
                        // Shutting down (or the engine closed): resume on
                        // the next open.
                        r.state = ReportState::Pending;
                        r.rows_total = None;
                    } else {
                        log::warn!("report {id} failed: {e}");
                        r.state = ReportState::Failed {
                            reason: e.to_string(),
                        };
                    }
                }
            }
        }
        self.persist_or_warn(&st);
        self.changed.notify_all();
    }

    fn set_progress(&self, id: u64, rows: u64) {
        if let Some(r) = self.lock().cat.reports.get_mut(&id) {
            r.rows_done = rows;
        }
    }

    /// Writes `<id>.csv.gz.tmp` (or `<id>.parquet.tmp`), fsyncs it and
    /// renames it to `<id>.csv.gz` (`<id>.parquet`).
    fn write_file(&self, id: u64, job: &Job) -> Result<Written> {
        let total = self.source.count(&job.query)?;
        if let Some(r) = self.lock().cat.reports.get_mut(&id) {
            r.rows_total = Some(total);
        }
        let rows = self.source.rows(&job.query)?;
        let stop = &self.stop;
        let rows = rows.map(|r| {
            if stop.load(Ordering::Relaxed) {
                Err(Error::Closed)
            } else {
                r
            }
        });
        let tmp = tmp_path(&self.dir, id, job.format);
        let file = File::create(&tmp).map_err(|e| Error::io("create report file", &tmp, e))?;
        #[cfg(feature = "parquet")]
        if job.format == Format::Parquet {
            let mut out = Counting {
                inner: file,
                count: 0,
            };
            let opts = ExportOptions::new()
                .format(Format::Parquet)
                .destination(&tmp);
            let n = export(rows, &mut out, &opts, &mut |n| self.set_progress(id, n))?;
            out.inner
                .sync_all()
                .map_err(|e| Error::io("fsync report file", &tmp, e))?;
            drop(out.inner);
            let dst = file_path(&self.dir, id, job.format);
            fs::rename(&tmp, &dst).map_err(|e| Error::io("rename report file", &tmp, e))?;
            sync_dir(&self.dir)?;
            return Ok(Written {
                rows: n,
                file_size: out.count,
                download_size: out.count,
            });
        }
        let mut gz = GzEncoder::new(
            Counting {
                inner: file,
                count: 0,
            },
            Compression::fast(),
        );
        let mut plain = Counting {
            inner: &mut gz,
            count: 0,
        };
        let opts = ExportOptions::csv()
            .layout(job.layout)
            .header(job.header)
            .neutralize(job.neutralize)
            .destination(&tmp);
        let n = export(rows, &mut plain, &opts, &mut |n| self.set_progress(id, n))?;
        let file_size = plain.count;
        let counted = gz
            .finish()
            .map_err(|e| Error::io("compress report file", &tmp, e))?;
        let download_size = counted.count;
        counted
            .inner
            .sync_all()
            .map_err(|e| Error::io("fsync report file", &tmp, e))?;
        drop(counted);
        let dst = file_path(&self.dir, id, job.format);
        fs::rename(&tmp, &dst).map_err(|e| Error::io("rename report file", &tmp, e))?;
        sync_dir(&self.dir)?;
        Ok(Written {
            rows: n,
            file_size,
            download_size,
        })
    }

    fn purge_expired(&self, now: Timestamp) -> Result<usize> {
        let today = now.to_date();
        let mut st = self.lock();
        let expired: Vec<u64> = st
            .cat
            .reports
            .values()
            .filter(|r| r.store_until < today && r.state != ReportState::Running)
            .map(|r| r.history_report_id)
            .collect();
        if expired.is_empty() {
            return Ok(0);
        }
        let removed: Vec<Report> = expired
            .iter()
            .filter_map(|id| st.cat.reports.remove(id))
            .collect();
        if let Err(e) = self.persist(&st) {
            for r in removed {
                st.cat.reports.insert(r.history_report_id, r);
            }
            return Err(e);
        }
        // The catalogue no longer names them; a file that cannot be removed
        // now is swept on the next open.
        for id in &expired {
            for p in all_paths(&self.dir, *id) {
                if let Err(e) = remove_quietly(&p) {
                    log::warn!("{e}");
                }
            }
        }
        if let Err(e) = sync_dir(&self.dir) {
            log::warn!("{e}");
        }
        log::info!("deleted {} expired report(s)", expired.len());
        self.changed.notify_all();
        Ok(expired.len())
    }
}

fn worker(shared: Arc<Shared>, jobs: Arc<Mutex<Receiver<u64>>>) {
    loop {
        let next = {
            let rx = jobs.lock().unwrap_or_else(PoisonError::into_inner);
            rx.recv()
        };
        let Ok(id) = next else { return };
        if shared.stop.load(Ordering::Relaxed) {
            return; // the report stays pending for the next open
        }
        shared.run(id);
    }
}

fn janitor(shared: Arc<Shared>, stop: Receiver<()>) {
    loop {
        match stop.recv_timeout(shared.config.purge_interval) {
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = shared.purge_expired(Timestamp::now()) {
                    log::warn!("could not delete expired reports: {e}");
                }
            }
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

impl Reports {
    /// Opens (creating if needed) the report directory `dir`, recovers what
    /// a crash or shutdown left behind, deletes expired reports and starts
    /// the workers.
    ///
    /// Recovery: reports left pending or running go back to pending and
    /// are queued (their query is checked first; one that no longer
    /// validates is marked failed with the reason); a completed report
    /// whose file is missing is marked failed; temporary files and files of
    /// reports that are not completed are deleted.
    ///
    /// One pool per directory: the engine's data-directory lock keeps a
    /// second process out; within a process, open it once and share it.
    pub fn open(
        dir: impl AsRef<Path>,
        source: Arc<dyn ReportSource>,
        config: ReportsConfig,
    ) -> Result<Reports> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| Error::io("create report directory", &dir, e))?;
        let mut cat = catalog::load(&dir)?;
        let mut queue = Vec::new();
        for (id, r) in &mut cat.reports {
            match &r.state {
                ReportState::Pending | ReportState::Running => {
                    r.rows_done = 0;
                    r.rows_total = None;
                    match r.query.validate() {
                        Ok(()) => {
                            r.state = ReportState::Pending;
                            queue.push(*id);
                        }
                        Err(e) => {
                            r.state = ReportState::Failed {
                                reason: format!("the stored query is no longer valid: {e}"),
                            }
                        }
                    }
                }
                ReportState::Completed => match r.file_format().map(|f| file_path(&dir, *id, f)) {
                    Err(e) => {
                        r.state = ReportState::Failed {
                            reason: e.to_string(),
                        }
                    }
                    Ok(path) if !path.is_file() => {
                        r.state = ReportState::Failed {
                            reason: format!("the report file {} is missing", path.display()),
                        }
                    }
                    Ok(_) => {}
                },
                ReportState::Failed { .. } => {}
            }
        }
        catalog::sweep(&dir, &cat)?;
        catalog::save(&dir, &cat)?;
        let shared = Arc::new(Shared {
            dir,
            source,
            config,
            state: Mutex::new(State { cat, closed: false }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        shared.purge_expired(Timestamp::now())?;

        let (job_tx, job_rx) = mpsc::channel::<u64>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let jobs = Arc::new(Mutex::new(job_rx));
        let reports = Reports {
            shared: Arc::clone(&shared),
            senders: Mutex::new(Some((job_tx, stop_tx))),
            _jobs: Arc::clone(&jobs),
            threads: Mutex::new(Vec::new()),
        };
        let spawn_err = |e| Error::io("start report thread for", &shared.dir, e);
        {
            let mut threads = reports
                .threads
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for i in 0..shared.config.workers {
                let (s, j) = (Arc::clone(&shared), Arc::clone(&jobs));
                let h = std::thread::Builder::new()
                    .name(format!("auditlog-report-{i}"))
                    .spawn(move || worker(s, j))
                    .map_err(spawn_err)?;
                threads.push(h);
            }
            let s = Arc::clone(&shared);
            let h = std::thread::Builder::new()
                .name("auditlog-report-janitor".into())
                .spawn(move || janitor(s, stop_rx))
                .map_err(spawn_err)?;
            threads.push(h);
        }
        reports.enqueue(queue);
        Ok(reports)
    }

    fn enqueue(&self, ids: impl IntoIterator<Item = u64>) {
        let senders = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((tx, _)) = senders.as_ref() {
            for id in ids {
                // The receiver lives as long as `self`; a failed send can
                // only mean closing, and the report stays pending.
                let _ = tx.send(id);
            }
        }
    }

    /// Stores a new report (pending) and queues it; returns its id at once.
    ///
    /// `last_id` is the id of the last record in the log now: the report's
    /// query is capped there (`until_id`), so that the report holds the
    /// rows of this moment even if it is written (or rewritten after a
    /// crash) later. The query is validated first.
    pub fn create(&self, req: NewReport, last_id: u64) -> Result<u64> {
        self.create_at(req, last_id, Timestamp::now())
    }

    /// [`Reports::create`] with an explicit creation time.
    pub(crate) fn create_at(&self, req: NewReport, last_id: u64, now: Timestamp) -> Result<u64> {
        req.query.validate()?;
        let format = report_format(req.format)?;
        let mut query = req.query;
        query.until_id = Some(query.until_id.map_or(last_id, |u| u.min(last_id)));
        let sh = &self.shared;
        let mut st = sh.lock();
        if st.closed {
            return Err(Error::Closed);
        }
        let id = st.cat.next_id;
        let report = Report {
            history_report_id: id,
            history_type: HISTORY_TYPE.to_string(),
            created: now,
            format: format.to_string(),
            completed: None,
            file_name: format!("audit_{id}.{}", format.extension()),
            file_size: None,
            download_size: None,
            download_count: 0,
            last_downloaded: None,
            store_until: store_until(now, sh.config.retention_days),
            filters: req.filters,
            customer: req.customer,
            query,
            layout: req.layout,
            header: req.header,
            neutralize: req.neutralize,
            state: ReportState::Pending,
            rows_done: 0,
            rows_total: None,
        };
        st.cat.next_id += 1;
        st.cat.reports.insert(id, report);
        if let Err(e) = sh.persist(&st) {
            st.cat.reports.remove(&id);
            st.cat.next_id -= 1;
            return Err(e);
        }
        sh.changed.notify_all();
        drop(st);
        self.enqueue([id]);
        Ok(id)
    }

    /// The report `id` if it belongs to one of `who`'s customers;
    /// [`Error::NotFound`] otherwise (whether it exists or not).
    pub fn get(&self, id: u64, who: &Customers) -> Result<Report> {
        let st = self.shared.lock();
        Shared::visible(&st, id, who).cloned()
    }

    /// Waits until report `id` is completed or failed, the pool closes, or
    /// `timeout` passes, and returns the report as it is then (check
    /// [`Report::state`]). [`Error::NotFound`] as for [`Reports::get`],
    /// also when the report is purged while waiting.
    pub fn wait(&self, id: u64, who: &Customers, timeout: Duration) -> Result<Report> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            let r = Shared::visible(&st, id, who)?;
            let now = Instant::now();
            if r.state.is_finished() || st.closed || now >= deadline {
                return Ok(r.clone());
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The reports of `who`'s customers that pass `filter`, one page of
    /// them, and how many matched in all.
    pub fn list(&self, who: &Customers, filter: &ReportFilter) -> ReportPage {
        let st = self.shared.lock();
        let matching: Vec<&Report> = st
            .cat
            .reports
            .values()
            .filter(|r| who.contains(r.customer) && filter.matches(r))
            .collect();
        let total_count = matching.len() as u64;
        let skip = usize::try_from(filter.offset).unwrap_or(usize::MAX);
        let take = filter
            .count
            .map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(usize::MAX));
        let page = |it: &mut dyn Iterator<Item = &&Report>| -> Vec<Report> {
            it.skip(skip).take(take).map(|r| (*r).clone()).collect()
        };
        let reports = if filter.desc_order {
            page(&mut matching.iter().rev())
        } else {
            page(&mut matching.iter())
        };
        ReportPage {
            reports,
            total_count,
        }
    }

    /// Opens the file of a completed report for download and counts the
    /// download (`download_count`, `last_downloaded`). A Parquet report is
    /// served as stored whatever `encoding` asks ([`Download::encoding`]
    /// then says [`DownloadEncoding::Plain`]).
    ///
    /// [`Error::NotFound`] for an unknown id or one of another customer;
    /// [`Error::Invalid`] ("report N is not completed yet") for a pending
    /// or running report, and naming the reason for a failed one.
    pub fn download(
        &self,
        id: u64,
        who: &Customers,
        encoding: DownloadEncoding,
    ) -> Result<Download> {
        let sh = &self.shared;
        let mut st = sh.lock();
        let r = Shared::visible(&st, id, who)?;
        match &r.state {
            ReportState::Completed => {}
            ReportState::Failed { reason } => {
                return Err(Error::invalid(
                    "history_report_id",
                    format!("report {id} failed: {reason}"),
                ))
            }
            ReportState::Pending | ReportState::Running => {
                return Err(Error::invalid(
                    "history_report_id",
                    format!("report {id} is not completed yet"),
                ))
            }
        }
        let format = r.file_format()?;
        let path = file_path(&sh.dir, id, format);
        // Opened under the lock, so a purge cannot delete it in between
        // (an open file stays readable after removal).
        let file = File::open(&path).map_err(|e| Error::io("open report file", &path, e))?;
        let Some(r) = st.cat.reports.get_mut(&id) else {
            return Err(not_found(id));
        };
        r.download_count += 1;
        r.last_downloaded = Some(Timestamp::now());
        let report = r.clone();
        sh.persist_or_warn(&st);
        drop(st);
        let (reader, len, encoding): (Box<dyn Read + Send>, u64, DownloadEncoding) =
            match (format, encoding) {
                // Parquet is compressed already: served as stored.
                #[cfg(feature = "parquet")]
                (Format::Parquet, _) => (
                    Box::new(file),
                    report.file_size.unwrap_or(0),
                    DownloadEncoding::Plain,
                ),
                (_, DownloadEncoding::Gzip) => (
                    Box::new(file),
                    report.download_size.unwrap_or(0),
                    DownloadEncoding::Gzip,
                ),
                (_, DownloadEncoding::Plain) => (
                    Box::new(GzDecoder::new(BufReader::with_capacity(64 * 1024, file))),
                    report.file_size.unwrap_or(0),
                    DownloadEncoding::Plain,
                ),
            };
        Ok(Download {
            report,
            encoding,
            len,
            reader,
            path,
        })
    }

    /// Deletes the reports whose `store_until` day is before `now`'s day
    /// (UTC), entries first, then files; returns how many. Reports being
    /// written are left for the next purge. Runs when the pool opens and
    /// every [`ReportsConfig::purge_interval`] while it runs.
    pub fn purge_expired(&self, now: Timestamp) -> Result<usize> {
        self.shared.purge_expired(now)
    }

    /// The report directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Asks the workers to stop without waiting for them: no new report is
    /// accepted ([`Error::Closed`]), queued reports stay pending, and a
    /// report being written stops after its current row and goes back to
    /// pending (all of them are written on the next open). Listing, `get`
    /// and downloads keep working.
    pub fn request_stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        {
            let mut st = self.shared.lock();
            st.closed = true;
            self.shared.changed.notify_all();
        }
        // Dropping the senders wakes idle workers and the janitor.
        self.senders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// [`Reports::request_stop`], then waits for every thread to end.
    /// Dropping the handle does the same.
    pub fn close(&self) {
        self.request_stop();
        let threads: Vec<JoinHandle<()>> = self
            .threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        for h in threads {
            if h.join().is_err() {
                log::warn!("a report thread panicked");
            }
        }
    }
}

impl Drop for Reports {
    fn drop(&mut self) {
        self.close();
    }
}

/// The format a new report is written in: CSV or Parquet (NDJSON is not a
/// report format).
fn report_format(f: Format) -> Result<Format> {
    match f {
        Format::Ndjson => Err(Error::invalid(
            "format",
            "reports are written as CSV or Parquet, not NDJSON",
        )),
        f => Ok(f),
    }
}
