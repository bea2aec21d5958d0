//! The writer: appends frames to the active segment, assigns ids, shares
//! fsyncs between concurrent appenders (group commit), seals full
//! segments and starts new ones.
//!
//! It must never acknowledge an append before the durability mode allows,
//! never leave a partial frame behind after a failed write, and never
//! retry an fsync that failed.

use std::ops::RangeInclusive;
use std::sync::{Arc, Weak};

use super::SealJob;
use std::time::Duration;

use super::group::InFlight;
use super::{create_segment, lock_mutex, segment::Segment, Log};
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::format::chain::{self, Head};
use crate::format::codec;
use crate::format::layout::{seal_frame_in_place, Footer, FOOTER_LEN, FRAME_HEADER_LEN};
use crate::record::Appendable;
use crate::time::Timestamp;

/// Largest batch accepted by one append, in encoded bytes (1 GiB).
pub const MAX_BATCH_BYTES: usize = 1 << 30;

/// In `always` mode, frames pending for the group-commit leader are
/// written by the appender that brings them to this size (64 KiB).
const PENDING_WRITE_BYTES: usize = 64 << 10;

/// The writer's state, behind the log's writer mutex.
pub(crate) struct Writer {
    pub active: Arc<Segment>,
    /// Bytes of the active segment that hold complete frames.
    pub len: u64,
    /// Length found at open (to know whether anything new was written).
    pub recovered_len: u64,
    pub next_id: u64,
    pub count: u64,
    pub min_time: i64,
    pub max_time: i64,
    /// The chain head after the last record written (the active
    /// segment's `prev_head` when it holds none).
    pub head: Head,
    hasher: crc32fast::Hasher,
    pub failed: Option<String>,
    buf: Vec<u8>,
    /// `always` mode: frames encoded but not yet written. The next
    /// group-commit leader writes them all with one write before its fsync
    /// (see [`Log::write_pending`]). Empty in the other modes.
    pending: Vec<u8>,
    /// The writer's state before the pending frames, restored when
    /// writing them fails.
    before_pending: Option<Undo>,
    /// Generation of the pending frames: a failed write fails the waiters
    /// of exactly this generation (their ids are given out again).
    pub gen: u64,
}

/// What the writer restores when pending frames could not be written.
struct Undo {
    len: u64,
    next_id: u64,
    count: u64,
    min_time: i64,
    max_time: i64,
    head: Head,
    hasher: crc32fast::Hasher,
}

/// What recovery learned walking the active segment's intact prefix.
pub(crate) struct Recovered {
    /// Where the intact frames end.
    pub end: u64,
    /// How many records they hold.
    pub count: u64,
    /// Their smallest time (`i64::MAX` when none).
    pub min_time: i64,
    /// Their largest time (`i64::MIN` when none).
    pub max_time: i64,
    /// The chain head after the last of them.
    pub head: Head,
}

impl Writer {
    /// Continues an active segment recovered at open, whose intact prefix
    /// recovery walked (`r`). Reads that prefix once more, in 1 MiB
    /// pieces, for the running checksum of the segment's body.
    pub(crate) fn resume(seg: Segment, r: &Recovered) -> Result<Writer> {
        let mut hasher = crc32fast::Hasher::new();
        let mut piece = vec![0u8; (1usize << 20).min(usize::try_from(r.end).unwrap_or(usize::MAX))];
        let mut at = 0u64;
        while at < r.end {
            let n = (r.end - at).min(piece.len() as u64) as usize;
            seg.file
                .read_exact_at(&mut piece[..n], at)
                .map_err(|e| Error::io("read", &seg.path, e))?;
            hasher.update(&piece[..n]);
            at += n as u64;
        }
        Ok(Writer {
            head: r.head,
            len: r.end,
            recovered_len: r.end,
            next_id: seg.first_id + r.count,
            count: r.count,
            min_time: r.min_time,
            max_time: r.max_time,
            hasher,
            failed: None,
            buf: Vec::new(),
            pending: Vec::new(),
            before_pending: None,
            gen: 0,
            active: Arc::new(seg),
        })
    }

    /// Starts a fresh active segment at `first_id`.
    pub fn create(
        storage: &dyn crate::storage::Storage,
        seg_dir: &std::path::Path,
        first_id: u64,
        prev_head: Head,
    ) -> Result<Writer> {
        let seg = create_segment(storage, seg_dir, first_id, prev_head)?;
        let header = crate::format::layout::Header {
            version: crate::format::layout::FORMAT_VERSION,
            first_id,
            created: seg.created,
            prev_head,
        }
        .encode();
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&header);
        Ok(Writer {
            len: header.len() as u64,
            recovered_len: header.len() as u64,
            next_id: first_id,
            count: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
            head: prev_head,
            hasher,
            failed: None,
            buf: Vec::new(),
            pending: Vec::new(),
            before_pending: None,
            gen: 0,
            active: Arc::new(seg),
        })
    }

    /// Bytes of the active segment written to the file: `len` less the
    /// pending frames.
    fn written(&self) -> u64 {
        self.len - self.pending.len() as u64
    }

    /// The last id written to the file and the chain head after it.
    pub fn written_head(&self) -> (u64, Head) {
        match &self.before_pending {
            Some(u) => (u.next_id - 1, u.head),
            None => (self.next_id - 1, self.head),
        }
    }

    /// Whether the active segment is older than `age`.
    pub fn age_exceeded(&self, age: Duration) -> bool {
        let age = i64::try_from(age.as_micros()).unwrap_or(i64::MAX);
        Timestamp::now()
            .as_micros()
            .saturating_sub(self.active.created)
            >= age
    }

    /// Passes `e` on; when it is a failed fsync, first stops the writer
    /// for good (the kernel may have dropped the dirty pages, so no
    /// later fsync can vouch for them) and returns [`Error::WriterFailed`].
    fn fail(&mut self, e: Error) -> Error {
        if !is_fsync_failure(&e) {
            return e;
        }
        let reason = e.to_string();
        self.failed = Some(reason.clone());
        Error::WriterFailed { reason }
    }

    fn check(&self) -> Result<()> {
        match &self.failed {
            Some(reason) => Err(Error::WriterFailed {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }
}

impl Log {
    /// Appends records as one unit: all are written or none. Returns the
    /// ids assigned. Returns once the durability mode allows.
    pub fn append_batch<R: Appendable>(&self, records: Vec<R>) -> Result<RangeInclusive<u64>> {
        if records.is_empty() {
            let w = lock_mutex(&self.writer);
            return Ok(w.next_id..=w.next_id - 1);
        }
        let _in_flight =
            (self.opts.durability == Durability::Always).then(|| InFlight::enter(self));
        let now = Timestamp::now();
        let always = self.opts.durability == Durability::Always;
        // The records' views for the index (freed outside the lock).
        let mut rows = Vec::new();
        let (first, last, gen) = {
            let mut guard = lock_mutex(&self.writer);
            let w = &mut *guard;
            w.check()?;
            if w.count > 0
                && (w.len >= self.opts.segment_size
                    || self.opts.segment_max_age.is_some_and(|a| w.age_exceeded(a)))
            {
                self.roll(w)?;
            }
            // Encode every frame first: a record that fails to encode
            // rejects the batch before anything is written.
            let mut buf = std::mem::take(&mut w.buf);
            buf.clear();
            let first = w.next_id;
            let n = records.len() as u64;
            // The batch's own time range (merged into the segment's once
            // it is known which segment takes it).
            let (mut lo, mut hi) = (i64::MAX, i64::MIN);
            // The chain head advances in a local: a batch that is not
            // written leaves the writer's head where it was.
            let mut head = w.head;
            // Encode in one pass, keeping each record's view for the
            // index, which then takes the batch field by field (each
            // field's table stays in cache for the whole batch); the index
            // is taken back if the batch is not written after all.
            rows.reserve(records.len());
            let encoded = {
                let mut res = Ok(());
                for (i, nr) in records.iter().enumerate() {
                    // Checked here rather than in a pass of its own: the
                    // record's bytes are read once, and a record over the
                    // limits rejects the batch before anything is written.
                    if let Err(e) = nr.check() {
                        res = Err(in_batch(e, i, records.len()));
                        break;
                    }
                    let at = buf.len();
                    buf.resize(at + FRAME_HEADER_LEN, 0);
                    let sr = nr.stored(first + i as u64, now, Vec::new());
                    if let Err(e) = codec::encode_stored_into(&sr, &mut buf) {
                        res = Err(in_batch(e, i, records.len()));
                        break;
                    }
                    // The frame just encoded is the tail of `buf`: hash its
                    // payload where it lies (no copy, no allocation).
                    head = chain::link(&head, &buf[at + FRAME_HEADER_LEN..]);
                    seal_frame_in_place(&mut buf[..], at, &chain::tag_of(&head));
                    if w.len + buf.len() as u64 > u64::from(u32::MAX) || buf.len() > MAX_BATCH_BYTES
                    {
                        res = Err(Error::invalid(
                            "batch",
                            format!("over {MAX_BATCH_BYTES} bytes or past 4 GiB in one segment; split it"),
                        ));
                        break;
                    }
                    lo = lo.min(sr.time);
                    hi = hi.max(sr.time);
                    // Offset within the batch for now (`at` < 4 GiB:
                    // checked just above).
                    rows.push((at as u32, sr));
                }
                // A batch that would take the segment (sealed: with its
                // footer) past its size bound goes to the next segment
                // (unless the segment is empty): a segment exceeds the
                // bound only by a first batch larger than the bound.
                let sealed_len = w.len + (buf.len() + FOOTER_LEN) as u64;
                if res.is_ok() && w.count > 0 && sealed_len > self.opts.segment_size {
                    res = self.roll(w);
                }
                res
            };
            if let Err(e) = encoded {
                buf.clear();
                w.buf = buf;
                return Err(e);
            }
            let seg = w.active.first_id;
            // Frame offsets in the segment that takes the batch.
            let base = w.len as u32;
            for (at, _) in &mut rows {
                *at += base;
            }
            self.observer.begin(seg).add_batch(&rows);
            let (lo, hi) = (w.min_time.min(lo), w.max_time.max(hi));
            let encoded_len = buf.len() as u64;
            if always {
                // Written by the group-commit leader, with the frames of
                // the other appenders of its group.
                if w.pending.is_empty() {
                    w.before_pending = Some(Undo {
                        len: w.len,
                        next_id: w.next_id,
                        count: w.count,
                        min_time: w.min_time,
                        max_time: w.max_time,
                        head: w.head,
                        hasher: w.hasher.clone(),
                    });
                    // The batch's buffer becomes the pending one (no copy).
                    std::mem::swap(&mut w.pending, &mut buf);
                    w.hasher.update(&w.pending);
                } else {
                    w.pending.extend_from_slice(&buf);
                    w.hasher.update(&buf);
                }
            } else if let Err(e) = w.active.file.write_all_at(&buf, w.len) {
                self.observer.rewind(seg, w.count);
                // Leave no partial frame behind.
                if let Err(e2) = w.active.file.set_len(w.len) {
                    w.failed = Some(format!(
                        "could not remove a partial write from {}: {e2}",
                        w.active.path.display()
                    ));
                }
                w.buf = buf;
                return Err(Error::io("append to", &w.active.path, e));
            } else {
                w.hasher.update(&buf);
            }
            w.head = head;
            w.min_time = lo;
            w.max_time = hi;
            w.len += encoded_len;
            w.count += n;
            w.next_id += n;
            w.buf = buf;
            // Large pending frames are written at once: the write then
            // overlaps the fsync in progress instead of following it, and
            // the pending buffer stays small.
            if always && w.pending.len() >= PENDING_WRITE_BYTES {
                self.write_pending(w)?;
            }
            let last = w.next_id - 1;
            if !always {
                self.publish(last, w.active.first_id, w.len);
            }
            (first, last, w.gen)
        };
        // The consumed records are freed outside the writer lock.
        drop(rows);
        drop(records);
        if always {
            self.wait_durable(last, gen)?;
        }
        Ok(first..=last)
    }

    fn publish(&self, last_id: u64, active_first: u64, active_len: u64) {
        let mut sh = self.shared.write().unwrap_or_else(|p| p.into_inner());
        // Only forwards: an fsync that started before a roll publishes a
        // position in the segment sealed since, which must not take the
        // visible prefix back (the roll published further already).
        if (active_first, active_len) > (sh.visible.active_first, sh.visible.active_len) {
            sh.visible = super::Visible {
                last_id,
                active_first,
                active_len,
            };
        }
    }

    /// Writes the pending frames, fsyncs everything written so far and
    /// publishes it. Returns the last id the fsync covers, or `None` when
    /// writing the pending frames failed (their waiters have the error;
    /// the writer goes on). An error stops the writer.
    pub(crate) fn sync_once(&self) -> Result<Option<u64>> {
        let (file, path, last, first, len) = {
            let mut w = lock_mutex(&self.writer);
            w.check()?;
            if self.write_pending(&mut w).is_err() {
                return match &w.failed {
                    Some(reason) => Err(Error::WriterFailed {
                        reason: reason.clone(),
                    }),
                    None => Ok(None),
                };
            }
            (
                w.active.file.clone(),
                w.active.path.clone(),
                w.next_id - 1,
                w.active.first_id,
                w.len,
            )
        };
        // Segments sealed before that whose fsync the background sealer
        // has not done yet (`never` mode): durable first, in order.
        let unsynced = lock_mutex(&self.unsynced_seals).clone();
        for seg in unsynced {
            if let Err(e) = seg.file.sync_data() {
                let reason = format!("fsync of {} while sealing failed: {e}", seg.path.display());
                lock_mutex(&self.writer).failed = Some(reason.clone());
                return Err(Error::WriterFailed { reason });
            }
            lock_mutex(&self.unsynced_seals).retain(|s| s.first_id != seg.first_id);
        }
        if let Err(e) = file.sync_data() {
            let reason = format!("fsync of {} failed: {e}", path.display());
            lock_mutex(&self.writer).failed = Some(reason.clone());
            return Err(Error::WriterFailed { reason });
        }
        self.publish(last, first, len);
        Ok(Some(last))
    }

    /// Makes everything appended so far durable, whatever the mode.
    pub fn sync(&self) -> Result<()> {
        let (last, gen) = {
            let w = lock_mutex(&self.writer);
            // With nothing pending, every id is written already: no
            // generation of pending frames can fail this wait.
            let gen = if w.pending.is_empty() {
                u64::MAX
            } else {
                w.gen
            };
            (w.next_id - 1, gen)
        };
        self.wait_durable(last, gen)
    }

    /// Writes the frames appenders left pending (`always` mode) with one
    /// write. When it fails, no partial frame stays, the writer goes back
    /// to its state before them (their ids will be given out again), and
    /// the waiters of their generation leave with the error.
    pub(crate) fn write_pending(&self, w: &mut Writer) -> Result<()> {
        if w.pending.is_empty() {
            return Ok(());
        }
        let gen = w.gen;
        w.gen += 1;
        let at = w.written();
        let res = w.active.file.write_all_at(&w.pending, at);
        w.pending.clear();
        let undo = w.before_pending.take();
        let e = match res {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if let Err(e2) = w.active.file.set_len(at) {
            w.failed = Some(format!(
                "could not remove a partial write from {}: {e2}",
                w.active.path.display()
            ));
        }
        if let Some(u) = undo {
            w.len = u.len;
            w.next_id = u.next_id;
            w.count = u.count;
            w.min_time = u.min_time;
            w.max_time = u.max_time;
            w.head = u.head;
            w.hasher = u.hasher;
        }
        self.observer.rewind(w.active.first_id, w.count);
        let released = self.fail_generation(&mut lock_mutex(&self.sync), gen, &w.active.path, &e);
        super::group::wake(released);
        Err(Error::io("append to", &w.active.path, e))
    }

    /// Seals the active segment and starts the next one. Order: the footer
    /// is written (and fsynced, but in `never` mode), then the new segment
    /// is created and made durable, then the segment list switches and
    /// STATE is rewritten (see docs/format.md, "Rollover").
    pub(crate) fn roll(&self, w: &mut Writer) -> Result<()> {
        w.check()?;
        self.write_pending(w)?;
        let footer = Footer {
            first_id: w.active.first_id,
            count: w.count,
            min_time: if w.count > 0 { w.min_time } else { 0 },
            max_time: if w.count > 0 { w.max_time } else { 0 },
            body_len: w.len,
            body_crc: w.hasher.clone().finalize(),
            head: w.head,
        };
        let old = w.active.clone();
        if let Err(e) = old.file.write_all_at(&footer.encode(), w.len) {
            if let Err(e2) = old.file.set_len(w.len) {
                w.failed = Some(format!(
                    "could not remove a partial footer from {}: {e2}",
                    old.path.display()
                ));
            }
            return Err(Error::io("seal", &old.path, e));
        }
        // In `always` mode everything visible must be durable, so the seal
        // is fsynced here. So it is in `interval` mode: the next segment
        // and STATE are made durable below, and were this one's tail not,
        // a power loss would leave a hole before them that open must
        // refuse (the log would not open at all, rather than lose at most
        // an interval). In `never` mode the background sealer does it
        // (open completes a seal that a crash interrupted), and `sync`
        // fsyncs whatever seal is still pending.
        let sync_inline = self.opts.durability != Durability::Never;
        if sync_inline {
            if let Err(e) = old.file.sync_data() {
                let reason = format!("fsync of {} while sealing failed: {e}", old.path.display());
                w.failed = Some(reason.clone());
                return Err(Error::WriterFailed { reason });
            }
        }
        let new = match create_segment(&*self.storage, &self.seg_dir, w.next_id, w.head) {
            Ok(n) => n,
            Err(e) => {
                // Unseal: the footer goes and the segment stays active.
                if let Err(e2) = old.file.set_len(w.len) {
                    w.failed = Some(format!(
                        "could not remove the footer from {}: {e2}",
                        old.path.display()
                    ));
                }
                return Err(w.fail(e));
            }
        };
        let map = old
            .file
            .map()
            .map_err(|e| Error::io("mmap", &old.path, e))?;
        let sealed = Arc::new(Segment {
            first_id: old.first_id,
            tier: old.tier,
            path: old.path.clone(),
            file: old.file.clone(),
            footer: Some(footer),
            map,
            created: old.created,
            prev_head: old.prev_head,
        });
        let header_len = new
            .file
            .len()
            .map_err(|e| Error::io("stat", &new.path, e))?;
        let mut hb = vec![0u8; header_len as usize];
        new.file
            .read_exact_at(&mut hb, 0)
            .map_err(|e| Error::io("read header of", &new.path, e))?;
        let new = Arc::new(new);
        let last = w.next_id - 1;
        self.observer.rolled(old.first_id, new.first_id);
        {
            let mut sh = self.shared.write().unwrap_or_else(|p| p.into_inner());
            let mut list: Vec<Arc<Segment>> = sh.segments.iter().cloned().collect();
            if let Some(slot) = list.last_mut() {
                *slot = sealed.clone();
            }
            list.push(new.clone());
            sh.segments = Arc::new(list);
            // `always`, `interval`: the sealed segment was just fsynced. `never`:
            // everything written was visible already.
            sh.visible = super::Visible {
                last_id: last,
                active_first: new.first_id,
                active_len: header_len,
            };
        }
        if sync_inline {
            let released = self.mark_durable(&mut lock_mutex(&self.sync), last);
            super::group::wake(released);
        }
        let job = SealJob {
            seg: sealed.clone(),
            fsync: !sync_inline,
        };
        if !sync_inline {
            lock_mutex(&self.unsynced_seals).push(sealed.clone());
        }
        let handed = match lock_mutex(&self.sealer).as_ref() {
            Some(tx) => tx.send(job).is_ok(),
            None => false,
        };
        if !handed {
            // No sealer thread (shutting down): do its work here.
            if !sync_inline {
                if let Err(e) = sealed.file.sync_data() {
                    let reason = format!(
                        "fsync of {} while sealing failed: {e}",
                        sealed.path.display()
                    );
                    w.failed = Some(reason.clone());
                    return Err(Error::WriterFailed { reason });
                }
                lock_mutex(&self.unsynced_seals).retain(|s| s.first_id != sealed.first_id);
            }
            self.observer.sealed(&sealed);
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&hb);
        w.active = new;
        w.len = header_len;
        w.recovered_len = 0;
        w.count = 0;
        w.min_time = i64::MAX;
        w.max_time = i64::MIN;
        w.hasher = hasher;
        let st = super::state::LogState {
            version: crate::format::layout::FORMAT_VERSION,
            active: w.active.first_id,
            horizon: self
                .shared
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .horizon,
        };
        // The roll is done, but the append that asked for it fails: STATE
        // is what catches a deleted active segment, so failing to update
        // it is not ignored (and a failed fsync stops the writer).
        super::state::write(&*self.storage, &self.dir, &st).map_err(|e| w.fail(e))
    }
}

/// The background sealer: fsyncs sealed segments (in `never` mode)
/// and lets the indexes store them, in seal order. A failed fsync stops
/// the writer for good.
pub(crate) fn sealer(
    log: Weak<Log>,
    observer: Arc<dyn super::LogObserver>,
    jobs: std::sync::mpsc::Receiver<SealJob>,
    unsynced: Arc<std::sync::Mutex<Vec<Arc<Segment>>>>,
) {
    for job in jobs {
        if job.fsync {
            let res = job.seg.file.sync_data();
            if res.is_ok() {
                lock_mutex(&unsynced).retain(|s| s.first_id != job.seg.first_id);
            }
            if let Err(e) = res {
                let reason = format!(
                    "fsync of {} while sealing failed: {e}",
                    job.seg.path.display()
                );
                log::error!("{reason}; the writer is stopped");
                if let Some(l) = log.upgrade() {
                    lock_mutex(&l.writer).failed.get_or_insert(reason.clone());
                    let released = l.fail_durable(&mut lock_mutex(&l.sync), reason);
                    super::group::wake(released);
                }
                continue;
            }
        }
        observer.sealed(&job.seg);
    }
}

/// Whether `e` is a failed fsync of a file or a directory.
pub(crate) fn is_fsync_failure(e: &Error) -> bool {
    matches!(
        e,
        Error::Io {
            op: "fsync" | "fsync directory",
            ..
        }
    )
}

/// Background fsync for [`Durability::Interval`].
pub(crate) fn flusher(log: Weak<Log>, every: Duration) {
    loop {
        let Some(l) = log.upgrade() else { return };
        {
            let s = lock_mutex(&l.sync);
            let (s, _) = l
                .sync_cv
                .wait_timeout_while(s, every, |s| !s.shutdown)
                .unwrap_or_else(|p| p.into_inner());
            if s.shutdown {
                return;
            }
        }
        let dirty = {
            let w = lock_mutex(&l.writer);
            let s = lock_mutex(&l.sync);
            w.failed.is_none() && w.next_id - 1 > s.synced_id
        };
        if dirty {
            if let Err(e) = l.sync() {
                log::error!("background fsync failed; the writer is stopped: {e}");
                return;
            }
        }
    }
}

/// A record's error, saying which record of a batch of `n` it is (the
/// `i`th, from 0) when there are several.
fn in_batch(e: Error, i: usize, n: usize) -> Error {
    match e {
        Error::InvalidRecord { field, reason } if n > 1 => Error::InvalidRecord {
            field,
            reason: format!("in record {} of {n} of the batch: {reason}", i + 1),
        },
        e => e,
    }
}
