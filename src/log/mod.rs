//! The log: the ordered set of segments, id assignment, appends with group
//! commit, sealing and rollover, recovery on open, archive moves and
//! retention deletes.
//!
//! Safety properties (see `docs/format.md` for the argument):
//! - ids are gap-free from the retention horizon to the last record;
//! - a reader sees a prefix of the log and never a record that has not been
//!   acknowledged under the durability mode;
//! - an append that fails leaves no partial frame behind;
//! - a failed fsync stops the writer for good (no retry can later
//!   acknowledge data that may not be on disk);
//! - recovery truncates only a torn tail of the last segment and refuses
//!   to open on any other damage.
//!
//! The log never interprets records beyond their id and time; indexes hear
//! about appends and seals through [`LogObserver`].

mod group;
pub mod segment;
pub mod state;
pub mod verify;
mod writer;

use group::{GroupCommit, SyncState};

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;

use crate::config::{Durability, Options};
use crate::error::{Error, Result};
use crate::format::chain::{Head, GENESIS};
use crate::format::codec::StoredRecord;
use crate::format::layout::{
    parse_segment_file_name, segment_file_name, Footer, Header, FOOTER_LEN, FORMAT_VERSION,
};
use crate::storage::{FileRef, Storage};
use crate::time::Timestamp;
use segment::{corrupt, read_header, read_whole, valid_frame_after, walk, walk_source, FileWindow};
pub use segment::{Segment, Tier};
use state::LogState;
pub(crate) use writer::Writer;

/// Name of the live-tier directory.
pub const SEGMENTS_DIR: &str = "segments";
/// Name of the archive-tier directory.
pub const ARCHIVE_DIR: &str = "archive";

/// Hears what the log does, to keep indexes in step. Called with the
/// writer lock held, in id order.
pub trait LogObserver: Send + Sync {
    /// Starts adding the records of one append to the active segment
    /// `segment` (also used for every record found in it at open). The
    /// sink is fed before the bytes are written; if the write fails,
    /// [`LogObserver::rewind`] takes the batch back out.
    fn begin(&self, segment: u64) -> Box<dyn AppendSink + '_>;
    /// Forgets everything of the active segment `segment` after its first
    /// `keep` records (an append that failed).
    fn rewind(&self, segment: u64, keep: u64);
    /// The active segment `old` was sealed and `new` started (called under
    /// the writer lock: keep it cheap).
    fn rolled(&self, old: u64, new: u64);
    /// A sealed segment's footer is durable (called from the background
    /// sealer, in seal order): its index can be written out.
    fn sealed(&self, seg: &Arc<Segment>);
    /// Segments were deleted by retention.
    fn removed(&self, first_ids: &[u64]);
}

/// Receives the records of one append, in id order.
pub trait AppendSink {
    /// The record at `offset` of the active segment.
    fn add(&mut self, offset: u32, rec: &StoredRecord<'_>);
    /// The records of one append, each at its offset, in id order.
    fn add_batch(&mut self, recs: &[(u32, StoredRecord<'_>)]) {
        for (offset, rec) in recs {
            self.add(*offset, rec);
        }
    }
}

/// What a reader may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Visible {
    /// The last visible record id (horizon - 1 when none).
    pub last_id: u64,
    /// First id of the active segment.
    pub active_first: u64,
    /// Bytes of the active segment a reader may read.
    pub active_len: u64,
}

/// A consistent view: the segments and how far a reader may read.
#[derive(Clone)]
pub struct Snapshot {
    /// Every segment, in id order; the last one is the active segment.
    pub segments: Arc<Vec<Arc<Segment>>>,
    /// The visible prefix.
    pub visible: Visible,
    /// The first id kept.
    pub horizon: u64,
}

impl Snapshot {
    /// The segment holding `id`, if visible.
    pub fn segment_of(&self, id: u64) -> Option<&Arc<Segment>> {
        if id > self.visible.last_id || id < self.horizon {
            return None;
        }
        let i = self.segments.partition_point(|s| s.first_id <= id);
        self.segments.get(i.checked_sub(1)?)
    }

    /// Readable length of `seg` under this snapshot.
    pub fn limit_of(&self, seg: &Segment) -> u64 {
        match seg.footer {
            Some(f) => f.body_len,
            None if seg.first_id == self.visible.active_first => self.visible.active_len,
            None => 0,
        }
    }

    /// The last visible id of `seg` (first_id - 1 when it has none).
    pub fn last_id_of(&self, seg: &Segment) -> u64 {
        match seg.footer {
            Some(f) => f.last_id(),
            None => self.visible.last_id.max(seg.first_id - 1),
        }
    }
}

/// Work for the background sealer: make a sealed segment's footer durable
/// (unless the writer already did), then let the indexes store it.
pub(crate) struct SealJob {
    pub seg: Arc<Segment>,
    pub fsync: bool,
}

pub(crate) struct Shared {
    pub segments: Arc<Vec<Arc<Segment>>>,
    pub visible: Visible,
    pub horizon: u64,
}

/// The segmented log.
pub struct Log {
    pub(crate) dir: PathBuf,
    pub(crate) seg_dir: PathBuf,
    pub(crate) arch_dir: PathBuf,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) opts: Options,
    pub(crate) shared: RwLock<Shared>,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) sync: Mutex<SyncState>,
    /// Wakes the interval flusher when it is to stop.
    pub(crate) sync_cv: Condvar,
    /// Group commit's lock-free side.
    pub(crate) group: GroupCommit,
    pub(crate) observer: Arc<dyn LogObserver>,
    pub(crate) warnings: Vec<String>,
    /// Serialises archive and retention (they rewrite the segment list).
    pub(crate) maintenance: Mutex<()>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    /// Hands sealed segments to the background sealer (fsync + index).
    pub(crate) sealer: Mutex<Option<std::sync::mpsc::Sender<SealJob>>>,
    /// Sealed segments whose footer fsync the sealer has not done yet
    /// (`never` mode); `sync` does it first.
    pub(crate) unsynced_seals: Arc<Mutex<Vec<Arc<Segment>>>>,
    sealer_thread: Mutex<Option<JoinHandle<()>>>,
    _lock: Box<dyn Any + Send + Sync>,
}

pub(crate) fn lock_mutex<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Creates the data directory if allowed and takes its lock. The lock is
/// taken before anything else in the directory is touched.
pub fn lock_dir(opts: &Options) -> Result<Box<dyn Any + Send + Sync>> {
    let storage = &opts.storage;
    let dir = &opts.dir;
    if !storage.exists(dir) {
        if !opts.create_if_missing {
            return Err(Error::NoDataDir { path: dir.clone() });
        }
        storage
            .create_dir_all(dir)
            .map_err(|e| Error::io("create directory", dir, e))?;
    }
    storage.lock(&dir.join("LOCK")).map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            Error::Locked { path: dir.clone() }
        } else {
            Error::io("lock", dir.join("LOCK"), e)
        }
    })
}

/// Whether the file ends in a seal footer that names the offset it starts
/// at (a sealed segment), judged from its last bytes alone.
fn ends_in_footer(file: &FileRef, flen: u64) -> bool {
    let Some(at) = flen.checked_sub(FOOTER_LEN as u64) else {
        return false;
    };
    let mut tail = [0u8; FOOTER_LEN];
    file.read_exact_at(&mut tail, at).is_ok()
        && Footer::decode(&tail).is_some_and(|f| f.body_len == at)
}

/// Whether the last two segment files, `prev` then `last`, are what a
/// roll cut short leaves behind: `last` holds no frame (at most a header)
/// and `prev` is not sealed. STATE is rewritten only once a roll is done
/// (the new segment in use, the old one's footer written): when it names
/// `last` as the active segment, the roll finished, and `prev` is a
/// segment whose seal was interrupted or that is damaged; never a reason
/// to throw `last` away.
pub(crate) fn interrupted_roll(
    storage: &dyn Storage,
    prev: &Path,
    last: &Path,
    last_first_id: u64,
    st: Option<LogState>,
) -> Result<bool> {
    if st.is_some_and(|s| s.active == last_first_id) {
        return Ok(false);
    }
    let last_len = storage
        .open_read(last)
        .map_err(|e| Error::io("open", last, e))?
        .len()
        .map_err(|e| Error::io("stat", last, e))?;
    if last_len > crate::format::layout::HEADER_LEN as u64 {
        return Ok(false);
    }
    let prev_file = storage
        .open_read(prev)
        .map_err(|e| Error::io("open", prev, e))?;
    let prev_len = prev_file.len().map_err(|e| Error::io("stat", prev, e))?;
    let mut tail = [0u8; FOOTER_LEN];
    let prev_sealed = prev_len >= FOOTER_LEN as u64
        && prev_file
            .read_exact_at(&mut tail, prev_len - FOOTER_LEN as u64)
            .is_ok()
        && Footer::decode(&tail).is_some_and(|f| f.body_len + FOOTER_LEN as u64 == prev_len);
    Ok(!prev_sealed)
}

struct Found {
    first_id: u64,
    tier: Tier,
    path: PathBuf,
}

impl Log {
    /// Opens the log in `opts.dir`, recovering as `docs/format.md` says.
    pub fn open(
        opts: Options,
        observer: Arc<dyn LogObserver>,
        lock: Box<dyn Any + Send + Sync>,
    ) -> Result<Arc<Log>> {
        let storage = opts.storage.clone();
        let dir = opts.dir.clone();
        let seg_dir = dir.join(SEGMENTS_DIR);
        let arch_dir = dir.join(ARCHIVE_DIR);
        for d in [&seg_dir, &arch_dir] {
            if !storage.exists(d) {
                storage
                    .create_dir_all(d)
                    .map_err(|e| Error::io("create directory", d, e))?;
                storage
                    .sync_dir(&dir)
                    .map_err(|e| Error::io("fsync directory", &dir, e))?;
            }
        }
        let st = state::read(&*storage, &dir)?;
        let horizon = st.map_or(1, |s| s.horizon);
        let mut warnings = Vec::new();

        // Every segment file of both tiers, in id order.
        let mut found = Vec::new();
        for (d, tier) in [(&seg_dir, Tier::Live), (&arch_dir, Tier::Archived)] {
            for name in storage
                .list_dir(d)
                .map_err(|e| Error::io("list directory", d, e))?
            {
                if let Some(first_id) = parse_segment_file_name(&name) {
                    found.push(Found {
                        first_id,
                        tier,
                        path: d.join(&name),
                    });
                }
            }
        }
        found.sort_by_key(|f| f.first_id);
        if let Some(w) = found.windows(2).find(|w| w[0].first_id == w[1].first_id) {
            return Err(corrupt(
                &w[1].path,
                0,
                Some(w[1].first_id),
                format!(
                    "two segments start at id {} ({})",
                    w[0].first_id,
                    w[0].path.display()
                ),
            ));
        }
        if st.is_none() && !found.is_empty() {
            warn_into(
                &mut warnings,
                format!(
                    "{} was missing: written anew from the segments found (a deleted active segment cannot be told this time)",
                    state::state_path(&dir).display()
                ),
            );
        }
        // Finish an interrupted retention: files below the horizon go. But
        // only when that retention is on record: it wrote the signed
        // horizon file with the same horizon before STATE, and a segment
        // starts at the horizon. Otherwise STATE is damaged and the files
        // below it are records, not leftovers.
        if let Some(f) = found.first().filter(|f| f.first_id < horizon) {
            let on_record = crate::tamper::read_horizon(&*storage, &dir)
                .ok()
                .flatten()
                .is_some_and(|h| h.first_id == horizon)
                && found.iter().any(|g| g.first_id == horizon);
            if !on_record {
                return Err(corrupt(
                    &f.path,
                    0,
                    Some(f.first_id),
                    format!(
                        "{} puts the retention horizon at id {horizon}, but no retention to that id is on record ({} names another, or none, or no segment starts there): STATE is damaged; nothing was removed",
                        state::state_path(&dir).display(),
                        crate::tamper::HORIZON_FILE
                    ),
                ));
            }
        }
        while found.first().is_some_and(|f| f.first_id < horizon) {
            let f = found.remove(0);
            storage
                .remove_file(&f.path)
                .map_err(|e| Error::io("remove", &f.path, e))?;
            warn_into(
                &mut warnings,
                format!(
                    "removed {} left behind by an interrupted retention",
                    f.path.display()
                ),
            );
        }
        // Finish an interrupted roll: an empty new segment after an
        // unsealed one is removed, and the unsealed one stays active.
        if let [.., prev, last] = &found[..] {
            if interrupted_roll(&*storage, &prev.path, &last.path, last.first_id, st)? {
                storage
                    .remove_file(&last.path)
                    .map_err(|e| Error::io("remove", &last.path, e))?;
                warn_into(
                    &mut warnings,
                    format!(
                        "removed empty segment {} left by an interrupted roll",
                        last.path.display()
                    ),
                );
                found.pop();
            }
        }

        let mut segments: Vec<Arc<Segment>> = Vec::with_capacity(found.len() + 1);
        let mut expect = horizon;
        let n = found.len();
        let next_first: Vec<u64> = found.iter().map(|f| f.first_id).chain([u64::MAX]).collect();
        let mut active: Option<(Segment, writer::Recovered)> = None;
        let mut recreate: Option<u64> = None;
        for (i, f) in found.into_iter().enumerate() {
            if f.first_id != expect {
                return Err(corrupt(
                    &f.path,
                    0,
                    Some(expect),
                    format!(
                        "records {expect}..={} are missing (a segment was deleted?)",
                        f.first_id - 1
                    ),
                ));
            }
            if i + 1 < n {
                if let Some(msg) =
                    complete_interrupted_seal(&*storage, &f.path, f.first_id, next_first[i + 1])?
                {
                    warn_into(&mut warnings, msg);
                }
                let s = Segment::open_sealed(
                    &*storage,
                    f.path,
                    f.first_id,
                    f.tier,
                    opts.verify_sealed_on_open,
                )?;
                check_continues(segments.last(), &s.path, s.first_id, &s.prev_head)?;
                expect = s.last_id().unwrap_or(expect - 1) + 1;
                segments.push(Arc::new(s));
                continue;
            }
            // The last segment: sealed, or the active one with maybe a torn tail.
            let file = storage
                .open_rw(&f.path)
                .map_err(|e| Error::io("open", &f.path, e))?;
            let flen = file.len().map_err(|e| Error::io("stat", &f.path, e))?;
            if flen < crate::format::layout::HEADER_LEN as u64 && f.tier == Tier::Live {
                // Unless it is a whole header of another format version
                // (version 1 headers were 32 bytes): that is refused by name.
                let mut head = vec![0u8; flen as usize];
                if file.read_exact_at(&mut head, 0).is_ok() {
                    if let Err(crate::format::layout::HeaderError::Version(v)) =
                        Header::decode(&head)
                    {
                        return Err(Error::UnsupportedVersion {
                            path: f.path,
                            found: v,
                            supported: FORMAT_VERSION,
                        });
                    }
                }
                // STATE names a segment only once its header is durable:
                // this one lost its header afterwards, with its records.
                if st.is_some_and(|s| s.active == f.first_id) {
                    return Err(corrupt(
                        &f.path,
                        flen,
                        Some(f.first_id),
                        format!(
                            "the active segment named in STATE is only {flen} bytes, shorter than its header (truncated?); records from this id on are unreadable"
                        ),
                    ));
                }
                // Created but its header never reached the disk: it held no records.
                drop(file);
                storage
                    .remove_file(&f.path)
                    .map_err(|e| Error::io("remove", &f.path, e))?;
                warn_into(
                    &mut warnings,
                    format!(
                        "removed {} whose header was never completed ({flen} bytes)",
                        f.path.display()
                    ),
                );
                recreate = Some(f.first_id);
                continue;
            }
            let header = read_header(&f.path, &file, f.first_id)?;
            if header.first_id != f.first_id {
                return Err(corrupt(
                    &f.path,
                    12,
                    Some(f.first_id),
                    format!(
                        "header says first id {} but the file is named for {}",
                        header.first_id, f.first_id
                    ),
                ));
            }
            // A file that ends in a seal footer is a sealed segment (the walk
            // confirms it); any other is the active one, whose records the
            // walk also replays into the in-memory index. The file is read
            // through a window, never whole: it may be a full 64 MiB.
            let sealed_tail = ends_in_footer(&file, flen);
            let (mut lo, mut hi) = (i64::MAX, i64::MIN);
            let w = {
                let mut sink =
                    (!sealed_tail && f.tier == Tier::Live).then(|| observer.begin(f.first_id));
                let mut win = FileWindow::new(&file, &f.path, flen)?;
                walk_source(&mut win, f.first_id, header.prev_head, |off, rec, _| {
                    lo = lo.min(rec.time);
                    hi = hi.max(rec.time);
                    if let Some(s) = sink.as_mut() {
                        s.add(off, rec);
                    }
                })?
            };
            if let (true, Some((pos, why))) = (w.tampered, &w.stop) {
                return Err(corrupt(
                    &f.path,
                    *pos as u64,
                    Some(f.first_id + w.offsets.len() as u64),
                    format!("{why}; refusing to open (verify reports the details)"),
                ));
            }
            check_continues(segments.last(), &f.path, f.first_id, &header.prev_head)?;
            if let Some(footer) = w.footer {
                let s = Segment::open_sealed(
                    &*storage,
                    f.path,
                    f.first_id,
                    f.tier,
                    opts.verify_sealed_on_open,
                )?;
                expect = footer.last_id() + 1;
                segments.push(Arc::new(s));
                continue;
            }
            if f.tier == Tier::Archived {
                return Err(corrupt(
                    &f.path,
                    w.end as u64,
                    None,
                    "an archived segment is not sealed",
                ));
            }
            if let Some((pos, why)) = &w.stop {
                let next_id = f.first_id + w.offsets.len() as u64;
                // Damage is rare: only then is the whole file read, to look
                // for valid frames after it.
                let buf = read_whole(&f.path, &file)?;
                if let Some(later) = valid_frame_after(&buf, *pos) {
                    return Err(corrupt(&f.path, *pos as u64, Some(next_id), format!("{why}, followed by a valid frame or seal footer at offset {later}; refusing to drop the records after the damage")));
                }
                let dropped = flen - *pos as u64;
                file.set_len(*pos as u64)
                    .map_err(|e| Error::io("truncate torn tail of", &f.path, e))?;
                file.sync_data()
                    .map_err(|e| Error::io("fsync", &f.path, e))?;
                let msg = format!("truncated a torn tail of {} at offset {pos} ({dropped} bytes: {why}); last intact record id {}", f.path.display(), next_id - 1);
                warn_into(&mut warnings, msg);
            }
            if sealed_tail {
                // The tail looked like a seal footer but the walk did not
                // accept it (a footer that does not match the frames, cut
                // away above as a torn tail): the segment is the active one
                // after all, and its records were not replayed. Rare: walk
                // the kept frames again for the index.
                let mut sink = observer.begin(f.first_id);
                let mut win = FileWindow::new(&file, &f.path, w.end as u64)?;
                walk_source(&mut win, f.first_id, header.prev_head, |off, rec, _| {
                    sink.add(off, rec)
                })?;
            }
            let recovered = writer::Recovered {
                end: w.end as u64,
                count: w.offsets.len() as u64,
                min_time: lo,
                max_time: hi,
                head: w.head,
            };
            expect = f.first_id + w.offsets.len() as u64;
            active = Some((
                Segment {
                    first_id: f.first_id,
                    tier: Tier::Live,
                    path: f.path,
                    file,
                    footer: None,
                    map: None,
                    created: header.created,
                    prev_head: header.prev_head,
                },
                recovered,
            ));
        }
        if let Some(st) = st {
            let last_first = active
                .as_ref()
                .map(|a| a.0.first_id)
                .or(recreate)
                .or(segments.last().map(|s| s.first_id));
            if last_first.is_none_or(|l| st.active > l) {
                let path = seg_dir.join(segment_file_name(st.active));
                return Err(corrupt(&path, 0, Some(st.active), "the active segment named in STATE is missing; records from this id on are lost"));
            }
        }

        let mut writer = match active {
            // Its records were replayed into the indexes by the walk above.
            Some((seg, recovered)) => Writer::resume(seg, &recovered)?,
            None => {
                // The new active segment continues the chain of the last
                // sealed one (or starts it).
                let prev_head = match segments.last().and_then(|s| s.footer) {
                    Some(f) => f.head,
                    None if expect <= 1 => GENESIS,
                    None => {
                        crate::tamper::read_horizon_head(&*storage, &dir, expect).unwrap_or(GENESIS)
                    }
                };
                Writer::create(&*storage, &seg_dir, expect, prev_head)?
            }
        };
        writer.recovered_len = writer.len;
        let active_seg = writer.active.clone();
        segments.push(active_seg.clone());
        let last_id = writer.next_id - 1;
        state::write(
            &*storage,
            &dir,
            &LogState {
                version: FORMAT_VERSION,
                active: active_seg.first_id,
                horizon,
            },
        )?;

        let log = Arc::new(Log {
            dir,
            seg_dir,
            arch_dir,
            storage,
            shared: RwLock::new(Shared {
                segments: Arc::new(segments),
                visible: Visible {
                    last_id,
                    active_first: active_seg.first_id,
                    active_len: writer.len,
                },
                horizon,
            }),
            writer: Mutex::new(writer),
            sync: Mutex::new(SyncState::new(last_id)),
            sync_cv: Condvar::new(),
            group: GroupCommit::new(last_id),
            observer,
            warnings,
            maintenance: Mutex::new(()),
            flusher: Mutex::new(None),
            sealer: Mutex::new(None),
            sealer_thread: Mutex::new(None),
            unsynced_seals: Arc::default(),
            _lock: lock,
            opts,
        });
        let (tx, rx) = std::sync::mpsc::channel::<SealJob>();
        let weak = Arc::downgrade(&log);
        let observer = log.observer.clone();
        let h = std::thread::Builder::new()
            .name("auditlog-sealer".into())
            .spawn({
                let unsynced = log.unsynced_seals.clone();
                move || writer::sealer(weak, observer, rx, unsynced)
            })
            .map_err(|e| Error::io("spawn sealer thread", PathBuf::new(), e))?;
        *lock_mutex(&log.sealer) = Some(tx);
        *lock_mutex(&log.sealer_thread) = Some(h);
        if let Durability::Interval(every) = log.opts.durability {
            let weak = Arc::downgrade(&log);
            let h = std::thread::Builder::new()
                .name("auditlog-flusher".into())
                .spawn(move || writer::flusher(weak, every))
                .map_err(|e| Error::io("spawn flusher thread", PathBuf::new(), e))?;
            *lock_mutex(&log.flusher) = Some(h);
        }
        Ok(log)
    }

    /// Warnings from recovery (torn tails truncated, leftovers removed).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// A consistent view for readers.
    pub fn snapshot(&self) -> Snapshot {
        let s = self.shared.read().unwrap_or_else(|p| p.into_inner());
        Snapshot {
            segments: s.segments.clone(),
            visible: s.visible,
            horizon: s.horizon,
        }
    }

    /// Moves sealed live segments whose newest record is older than
    /// `cutoff` to the archive tier. Returns the segments moved.
    pub fn archive(&self, cutoff: Timestamp) -> Result<Vec<u64>> {
        let _m = lock_mutex(&self.maintenance);
        self.seal_if_old(cutoff)?;
        let snap = self.snapshot();
        let mut moved = Vec::new();
        let mut replaced: Vec<Arc<Segment>> = Vec::new();
        for s in snap.segments.iter() {
            match s.footer {
                Some(f)
                    if s.tier == Tier::Live && f.count > 0 && f.max_time < cutoff.as_micros() =>
                {
                    let to = self.arch_dir.join(segment_file_name(s.first_id));
                    self.storage
                        .rename(&s.path, &to)
                        .map_err(|e| Error::io("move to archive", &s.path, e))?;
                    self.storage
                        .sync_dir(&self.arch_dir)
                        .map_err(|e| Error::io("fsync directory", &self.arch_dir, e))?;
                    self.storage
                        .sync_dir(&self.seg_dir)
                        .map_err(|e| Error::io("fsync directory", &self.seg_dir, e))?;
                    replaced.push(Arc::new(Segment {
                        first_id: s.first_id,
                        tier: Tier::Archived,
                        path: to,
                        file: s.file.clone(),
                        footer: s.footer,
                        map: s.map.clone(),
                        created: s.created,
                        prev_head: s.prev_head,
                    }));
                    moved.push(s.first_id);
                }
                _ => {}
            }
        }
        if !replaced.is_empty() {
            let mut sh = self.shared.write().unwrap_or_else(|p| p.into_inner());
            let mut list: Vec<Arc<Segment>> = sh.segments.iter().cloned().collect();
            for r in replaced {
                if let Some(slot) = list.iter_mut().find(|s| s.first_id == r.first_id) {
                    *slot = r;
                }
            }
            sh.segments = Arc::new(list);
        }
        Ok(moved)
    }

    /// Deletes whole sealed segments, oldest first, while their newest
    /// record is older than `cutoff` (a prefix of the log, so ids stay
    /// gap-free above the new horizon). Returns the segments deleted.
    ///
    /// `horizon` is called (before anything changes) with the first id
    /// kept, the chain head before it and the last id removed, to record
    /// the signed retention horizon; if it fails nothing is deleted.
    pub fn retain(
        &self,
        cutoff: Timestamp,
        horizon: &dyn Fn(u64, Head, u64) -> Result<()>,
    ) -> Result<Vec<u64>> {
        self.retain_through(cutoff, u64::MAX, horizon)
    }

    /// [`Log::retain`], but deleting no segment whose first id is above
    /// `through` (the lake's `--lake-only` removes exactly the segments it
    /// has written out, and nothing sealed after it looked).
    pub fn retain_through(
        &self,
        cutoff: Timestamp,
        through: u64,
        horizon: &dyn Fn(u64, Head, u64) -> Result<()>,
    ) -> Result<Vec<u64>> {
        let _m = lock_mutex(&self.maintenance);
        self.seal_if_old(cutoff)?;
        let snap = self.snapshot();
        let doomed: Vec<Arc<Segment>> = snap
            .segments
            .iter()
            .take_while(|s| {
                s.first_id <= through && s.footer.is_some_and(|f| f.max_time < cutoff.as_micros())
            })
            .cloned()
            .collect();
        let Some(last) = doomed.last() else {
            return Ok(Vec::new());
        };
        let new_horizon = last.last_id().unwrap_or(last.first_id) + 1;
        let active = snap.visible.active_first;
        let kept_prev = snap
            .segments
            .iter()
            .find(|s| s.first_id == new_horizon)
            .map_or(last.footer.map_or(GENESIS, |f| f.head), |s| s.prev_head);
        horizon(new_horizon, kept_prev, new_horizon - 1)?;
        // Record the horizon first: a crash after this finishes the job at open.
        state::write(
            &*self.storage,
            &self.dir,
            &LogState {
                version: FORMAT_VERSION,
                active,
                horizon: new_horizon,
            },
        )?;
        {
            let mut sh = self.shared.write().unwrap_or_else(|p| p.into_inner());
            let list: Vec<Arc<Segment>> = sh
                .segments
                .iter()
                .filter(|s| s.first_id >= new_horizon)
                .cloned()
                .collect();
            sh.segments = Arc::new(list);
            sh.horizon = new_horizon;
        }
        let ids: Vec<u64> = doomed.iter().map(|s| s.first_id).collect();
        self.observer.removed(&ids);
        for s in &doomed {
            self.storage
                .remove_file(&s.path)
                .map_err(|e| Error::io("remove", &s.path, e))?;
        }
        for d in [&self.seg_dir, &self.arch_dir] {
            self.storage
                .sync_dir(d)
                .map_err(|e| Error::io("fsync directory", d, e))?;
        }
        Ok(ids)
    }

    /// Seals the active segment when all of its records are older than
    /// `cutoff` and it is older than the age bound, so maintenance can
    /// reach it.
    fn seal_if_old(&self, cutoff: Timestamp) -> Result<()> {
        let mut w = lock_mutex(&self.writer);
        if w.count > 0
            && w.max_time < cutoff.as_micros()
            && self
                .opts
                .segment_max_age
                .is_some_and(|age| w.age_exceeded(age))
        {
            self.roll(&mut w)?;
        }
        Ok(())
    }

    /// The last id written and the chain head after it (the head the
    /// active segment starts from when the log holds no record). Frames
    /// still pending in `always` mode do not count: their write may fail
    /// and their ids be given out again.
    pub fn chain_head(&self) -> (u64, Head) {
        lock_mutex(&self.writer).written_head()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Joins a background thread, unless this is that thread (the last
/// reference to the log can go away on it): it exits on its own.
fn join_unless_self(h: Option<JoinHandle<()>>) {
    if let Some(h) = h {
        if h.thread().id() != std::thread::current().id() {
            let _ = h.join();
        }
    }
}

impl Log {
    /// Stops the background flusher of [`Durability::Interval`] and waits
    /// for it. The flusher holds a strong reference to the log while it
    /// waits for its next tick, so the owner calls this before dropping
    /// its reference: otherwise the log (and the directory lock) outlives
    /// the owner's drop, and the last reference goes on the flusher thread.
    pub(crate) fn stop_flusher(&self) {
        {
            let mut s = lock_mutex(&self.sync);
            s.shutdown = true;
        }
        self.sync_cv.notify_all();
        let h = lock_mutex(&self.flusher).take();
        join_unless_self(h);
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.stop_flusher();
        // Let pending seals finish (footer fsync, index write).
        drop(lock_mutex(&self.sealer).take());
        let h = lock_mutex(&self.sealer_thread).take();
        join_unless_self(h);
        // A clean close makes everything written durable, whatever the mode.
        let w = lock_mutex(&self.writer);
        if w.failed.is_none() && w.len > w.recovered_len {
            if let Err(e) = w.active.file.sync_data() {
                log::error!("fsync of {} at close failed: {e}", w.active.path.display());
            }
        }
    }
}

/// A segment that is not the last one but has no valid seal footer was
/// being sealed when the process or machine stopped (the footer is written
/// before the next segment is used, but made durable in the background).
/// If its frames are intact up to the tail and its ids run exactly into the
/// next segment's first id, nothing is missing: the footer is rewritten
/// and fsynced. Anything else is left for the sealed-segment check to
/// report as damage. Returns a warning when it repaired something.
fn complete_interrupted_seal(
    storage: &dyn Storage,
    path: &Path,
    first_id: u64,
    next_first: u64,
) -> Result<Option<String>> {
    let file = storage
        .open_rw(path)
        .map_err(|e| Error::io("open", path, e))?;
    let len = file.len().map_err(|e| Error::io("stat", path, e))?;
    if len >= FOOTER_LEN as u64 {
        let mut tail = [0u8; FOOTER_LEN];
        file.read_exact_at(&mut tail, len - FOOTER_LEN as u64)
            .map_err(|e| Error::io("read", path, e))?;
        if Footer::decode(&tail).is_some_and(|f| f.body_len + FOOTER_LEN as u64 == len) {
            return Ok(None);
        }
    }
    let buf = read_whole(path, &file)?;
    let Some(footer) = interrupted_seal(&buf, first_id, next_first) else {
        return Ok(None);
    };
    let count = footer.count;
    let end = footer.body_len;
    file.set_len(end)
        .map_err(|e| Error::io("truncate", path, e))?;
    file.write_all_at(&footer.encode(), end)
        .map_err(|e| Error::io("seal", path, e))?;
    file.sync_data().map_err(|e| Error::io("fsync", path, e))?;
    Ok(Some(format!(
        "completed the interrupted seal of {} ({count} intact records, ids {first_id}..={})",
        path.display(),
        first_id + count - 1
    )))
}

/// The footer that completes the interrupted seal of a segment (not the
/// last one) whose bytes are `buf`: when its frames are intact up to the
/// tail (whatever follows them holds no valid frame) and its ids run
/// exactly into the next segment's first id, nothing is missing and the
/// footer can be rewritten. `None` otherwise (that is damage).
pub(crate) fn interrupted_seal(buf: &[u8], first_id: u64, next_first: u64) -> Option<Footer> {
    let (mut min_time, mut max_time) = (i64::MAX, i64::MIN);
    let w = walk(buf, first_id, |_, r| {
        min_time = min_time.min(r.time);
        max_time = max_time.max(r.time);
    });
    let count = w.offsets.len() as u64;
    let tail_ok = match &w.stop {
        None => true,
        Some((pos, _)) => valid_frame_after(buf, *pos).is_none(),
    };
    if w.tampered || !tail_ok || first_id + count != next_first || count == 0 {
        return None;
    }
    Some(Footer {
        first_id,
        count,
        min_time,
        max_time,
        body_len: w.end as u64,
        body_crc: crc32fast::hash(buf.get(..w.end).unwrap_or(buf)),
        head: w.head,
    })
}

/// Creates a fresh active segment file: header, fsync, directory fsync.
pub(crate) fn create_segment(
    storage: &dyn Storage,
    seg_dir: &Path,
    first_id: u64,
    prev_head: Head,
) -> Result<Segment> {
    let path = seg_dir.join(segment_file_name(first_id));
    if storage.exists(&path) {
        // Left by a roll that failed before it was used; it holds no records.
        storage
            .remove_file(&path)
            .map_err(|e| Error::io("remove", &path, e))?;
    }
    let file = storage
        .create_new(&path)
        .map_err(|e| Error::io("create", &path, e))?;
    let created = Timestamp::now().as_micros();
    let header = Header {
        version: FORMAT_VERSION,
        first_id,
        created,
        prev_head,
    }
    .encode();
    // The op names matter: the writer stops for good on "fsync" and
    // "fsync directory" failures (see `writer::is_fsync_failure`).
    let res = file
        .write_all_at(&header, 0)
        .map_err(|e| Error::io("write header of", &path, e))
        .and_then(|()| file.sync_data().map_err(|e| Error::io("fsync", &path, e)))
        .and_then(|()| {
            storage
                .sync_dir(seg_dir)
                .map_err(|e| Error::io("fsync directory", seg_dir, e))
        });
    if let Err(e) = res {
        let _ = storage.remove_file(&path);
        return Err(e);
    }
    Ok(Segment {
        first_id,
        tier: Tier::Live,
        path,
        file,
        footer: None,
        map: None,
        created,
        prev_head,
    })
}

/// Checks that a segment whose header says `prev_head` continues the
/// chain of the segment before it (`prev`: its footer's head), or starts
/// the log's chain (id 1: zeros). The first segment after a retention
/// horizon is checked by `verify` against the signed horizon.
fn check_continues(
    prev: Option<&Arc<Segment>>,
    path: &Path,
    first_id: u64,
    prev_head: &Head,
) -> Result<()> {
    let (want, what) = match prev {
        Some(p) => match p.footer {
            Some(f) => (
                f.head,
                format!(
                    "the chain head of the previous segment {} (ids {}..={})",
                    p.path.display(),
                    f.first_id,
                    f.last_id()
                ),
            ),
            None => return Ok(()),
        },
        None if first_id == 1 => (GENESIS, "the start of the log (zeros)".to_string()),
        None => return Ok(()),
    };
    if *prev_head == want {
        return Ok(());
    }
    Err(corrupt(
        path,
        28,
        Some(first_id),
        format!(
            "the segment's prev_head does not continue {what}: a segment was replaced or forged"
        ),
    ))
}

/// Records an open-time warning for [`crate::AuditLog::warnings`] and
/// sends it to the `log` facade (a host with a logger sees it once there;
/// the CLI prints it through its logger).
fn warn_into(warnings: &mut Vec<String>, msg: String) {
    log::warn!("{msg}");
    warnings.push(msg);
}
