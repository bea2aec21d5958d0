//! One segment file: its identity, its bytes (memory-mapped when sealed,
//! positional reads while active), frame scans and the checks that
//! recovery and `verify` run over it.
//!
//! Owns reading a segment. It never writes; the writer owns the active
//! segment's bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::chain::{self, Head, GENESIS};
use crate::format::codec::StoredRecord;
use crate::format::layout::{
    read_frame, Footer, FrameRead, Header, HeaderError, FOOTER_LEN, FRAME_HEADER_LEN, HEADER_LEN,
};
use crate::storage::{FileRef, Storage};

/// Which tier a segment is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// The live tier (`segments/`).
    Live,
    /// The archive tier (`archive/`): read only by queries that ask for it.
    Archived,
}

/// A mapped, immutable view of a file.
pub type MapRef = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// One segment of the log.
pub struct Segment {
    /// Id of its first record (its file name).
    pub first_id: u64,
    /// Its tier.
    pub tier: Tier,
    /// Where it is.
    pub path: PathBuf,
    /// The open file.
    pub file: FileRef,
    /// The seal footer, when sealed.
    pub footer: Option<Footer>,
    /// The memory map of a sealed segment (when the file layer offers one).
    pub map: Option<MapRef>,
    /// Creation time from the header (microseconds).
    pub created: i64,
    /// The chain head before the segment's first record (from its header).
    pub prev_head: Head,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("first_id", &self.first_id)
            .field("tier", &self.tier)
            .field("path", &self.path)
            .field("footer", &self.footer)
            .finish_non_exhaustive()
    }
}

pub(crate) fn corrupt(
    path: &Path,
    offset: u64,
    id: Option<u64>,
    reason: impl Into<String>,
) -> Error {
    Error::Corrupt {
        segment: path.to_path_buf(),
        offset,
        id,
        reason: reason.into(),
    }
}

/// Reads and checks the header of the segment file `path`, named for
/// `first_id` (the id its damage is reported against).
pub(crate) fn read_header(path: &Path, file: &FileRef, first_id: u64) -> Result<Header> {
    let id = Some(first_id);
    let mut b = [0u8; HEADER_LEN];
    let len = file.len().map_err(|e| Error::io("stat", path, e))?;
    if len < HEADER_LEN as u64 {
        return Err(corrupt(
            path,
            0,
            id,
            format!("file is {len} bytes, shorter than the {HEADER_LEN}-byte header"),
        ));
    }
    file.read_exact_at(&mut b, 0)
        .map_err(|e| Error::io("read header of", path, e))?;
    Header::decode(&b).map_err(|e| match e {
        HeaderError::Version(v) => Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: v,
            supported: crate::format::layout::FORMAT_VERSION,
        },
        HeaderError::BadMagic => corrupt(path, 0, id, "not an auditlog segment (bad magic number)"),
        HeaderError::BadCrc => corrupt(path, 0, id, "segment header checksum mismatch"),
        HeaderError::Short => corrupt(path, 0, id, "segment header is truncated"),
    })
}

/// A read-ahead window over one segment file (see [`Segment::with_record`]),
/// and what a reader's recent reads looked like.
///
/// Reads of the active segment always go through the window. Reads of a
/// sealed segment go through its memory map while they jump about (index
/// lookups), and through the window once they stream: [`STREAM_AFTER`]
/// reads in a row each within [`STREAM_GAP`] bytes of the previous one.
/// A streaming scan then costs one positional read per window and leaves
/// the file's pages in the page cache only, not in the process's resident
/// set: a full export of a log far larger than memory keeps a flat
/// footprint, where a scan through the maps would add every page it
/// touched to the resident set until the maps are dropped.
#[derive(Debug, Default)]
pub struct ReadBuf {
    first_id: u64,
    start: u64,
    data: Vec<u8>,
    /// Segment and offset of the previous read.
    last_seg: u64,
    last_off: u64,
    /// Reads in a row close to their predecessor.
    streak: u32,
}

/// Size of one read-ahead refill.
const READ_AHEAD: usize = 256 << 10;
/// Reads within this many bytes of the previous one count as streaming.
const STREAM_GAP: u64 = 64 << 10;
/// Streaming reads in a row after which a sealed segment is read through
/// the window rather than its map.
const STREAM_AFTER: u32 = 8;

impl ReadBuf {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes a read of segment `first_id` at `offset`; returns whether the
    /// reads stream (see [`ReadBuf`]) and whether this one went backwards.
    fn note(&mut self, first_id: u64, offset: u64) -> (bool, bool) {
        let same = first_id == self.last_seg;
        let near = same && offset.abs_diff(self.last_off) <= STREAM_GAP;
        let backward = same && offset < self.last_off;
        self.streak = if near {
            self.streak.saturating_add(1)
        } else {
            0
        };
        self.last_seg = first_id;
        self.last_off = offset;
        (self.streak >= STREAM_AFTER, backward)
    }

    /// The bytes of `seg` from `offset` that hold the whole frame there
    /// (never past `limit`).
    fn frame(&mut self, seg: &Segment, offset: u64, limit: u64, backward: bool) -> Result<&[u8]> {
        let bad = |why: String| corrupt(&seg.path, offset, None, why);
        let have = |b: &ReadBuf, n: u64| {
            b.first_id == seg.first_id
                && offset >= b.start
                && offset + n <= b.start + b.data.len() as u64
        };
        if !have(self, FRAME_HEADER_LEN as u64) {
            self.fill(seg, offset, limit, FRAME_HEADER_LEN, backward)?;
        }
        let at = (offset - self.start) as usize;
        let h = self
            .data
            .get(at..at + FRAME_HEADER_LEN)
            .ok_or_else(|| bad("frame header beyond the readable end".into()))?;
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len == 0
            || len > crate::record::MAX_RECORD_BYTES
            || offset + (FRAME_HEADER_LEN + len) as u64 > limit
        {
            return Err(bad(format!("frame length {len} is invalid here")));
        }
        let need = FRAME_HEADER_LEN + len;
        if !have(self, need as u64) {
            self.fill(seg, offset, limit, need, backward)?;
        }
        let at = (offset - self.start) as usize;
        self.data
            .get(at..at + need)
            .ok_or_else(|| bad("frame beyond the readable end".into()))
    }

    /// Refills the window so that it holds `need` bytes from `offset`:
    /// starting at `offset`, or (for a reader going backwards) ending right
    /// after those bytes, so that the frames before it come along.
    fn fill(
        &mut self,
        seg: &Segment,
        offset: u64,
        limit: u64,
        need: usize,
        backward: bool,
    ) -> Result<()> {
        let avail = usize::try_from(limit.saturating_sub(offset)).unwrap_or(usize::MAX);
        if avail < need {
            return Err(corrupt(
                &seg.path,
                offset,
                None,
                "frame extends past the readable end",
            ));
        }
        let (start, n) = if backward {
            let end = offset + need as u64;
            let start = end.saturating_sub(READ_AHEAD.max(need) as u64);
            (start, (end - start) as usize)
        } else {
            (offset, READ_AHEAD.max(need).min(avail))
        };
        self.data.clear();
        self.data.resize(n, 0);
        seg.file
            .read_exact_at(&mut self.data, start)
            .map_err(|e| Error::io("read frame of", &seg.path, e))?;
        self.first_id = seg.first_id;
        self.start = start;
        Ok(())
    }
}

/// Reads the whole file into memory (the active segment at recovery, or a
/// sealed one when the file layer has no maps).
pub(crate) fn read_whole(path: &Path, file: &FileRef) -> Result<Vec<u8>> {
    let len = file.len().map_err(|e| Error::io("stat", path, e))?;
    let len = usize::try_from(len).map_err(|_| corrupt(path, 0, None, "file too large"))?;
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, 0)
        .map_err(|e| Error::io("read", path, e))?;
    Ok(buf)
}

/// The outcome of walking the frames of a segment's bytes.
#[derive(Debug)]
pub(crate) struct Walk {
    /// Offsets of the valid frames, in order.
    pub offsets: Vec<u32>,
    /// Where the valid frames end.
    pub end: usize,
    /// The footer, when the walk ended at a valid one that closes the file.
    pub footer: Option<Footer>,
    /// Where and why the walk stopped early, if it did.
    pub stop: Option<(usize, String)>,
    /// The chain head after the last valid frame (the header's
    /// `prev_head` when there is none).
    pub head: Head,
    /// The walk stopped at a checksummed frame whose chain tag does not
    /// match, or at a footer whose chain head does not: deliberate
    /// modification, never a torn write, so never truncated away.
    pub tampered: bool,
}

/// The chain head a segment's bytes start from: its header's
/// `prev_head` (zeros when the header does not decode; callers check the
/// header on their own).
pub(crate) fn start_head(buf: &[u8]) -> Head {
    Header::decode(buf).map_or(GENESIS, |h| h.prev_head)
}

/// Walks the frames of `buf` from the header on, checking CRCs, chain
/// tags (from the header's `prev_head`), decoding each record and checking
/// ids run from `first_id` without gaps. `visit` sees each decoded record
/// with its offset.
pub(crate) fn walk(
    buf: &[u8],
    first_id: u64,
    mut visit: impl FnMut(u32, &StoredRecord<'_>),
) -> Walk {
    walk_chain(buf, first_id, start_head(buf), |off, rec, _| {
        visit(off, rec)
    })
}

/// [`walk`] with the chain started from `prev`, and `visit` also seeing
/// each record's link.
pub(crate) fn walk_chain(
    buf: &[u8],
    first_id: u64,
    prev: Head,
    visit: impl FnMut(u32, &StoredRecord<'_>, &Head),
) -> Walk {
    let Ok(w) = walk_source(&mut &*buf, first_id, prev, visit);
    w
}

/// Bytes a walk reads: a whole buffer, or a file through a window.
pub(crate) trait WalkSource {
    /// Why the bytes could not be read (nothing, for a buffer).
    type Err;
    /// Length of the whole.
    fn total(&self) -> usize;
    /// The bytes from `pos` on: to the end, or at least one largest frame
    /// and a footer ahead of `pos`.
    fn at(&mut self, pos: usize) -> std::result::Result<&[u8], Self::Err>;
}

impl WalkSource for &[u8] {
    type Err = std::convert::Infallible;
    fn total(&self) -> usize {
        self.len()
    }
    fn at(&mut self, pos: usize) -> std::result::Result<&[u8], Self::Err> {
        Ok(self.get(pos..).unwrap_or(&[]))
    }
}

/// A file walked front to back through a window of a few MiB, so that
/// recovering a full 64 MiB active segment never holds it in memory.
pub(crate) struct FileWindow<'a> {
    file: &'a FileRef,
    path: &'a Path,
    len: usize,
    base: usize,
    buf: Vec<u8>,
}

/// Bytes a [`FileWindow`] reads at once.
const WINDOW: usize = 4 << 20;
/// The bytes a walk may need past a frame's start: the largest frame, or
/// the footer.
const LOOKAHEAD: usize = FRAME_HEADER_LEN + crate::record::MAX_RECORD_BYTES + FOOTER_LEN;

impl<'a> FileWindow<'a> {
    /// A window over the first `len` bytes of `file`.
    pub(crate) fn new(file: &'a FileRef, path: &'a Path, len: u64) -> Result<Self> {
        let len = usize::try_from(len).map_err(|_| corrupt(path, 0, None, "file too large"))?;
        Ok(FileWindow {
            file,
            path,
            len,
            base: 0,
            buf: Vec::new(),
        })
    }
}

impl WalkSource for FileWindow<'_> {
    type Err = Error;
    fn total(&self) -> usize {
        self.len
    }
    fn at(&mut self, pos: usize) -> Result<&[u8]> {
        let end = self.base + self.buf.len();
        let covered = pos >= self.base && pos <= end;
        if !covered || (end < self.len && end - pos < LOOKAHEAD) {
            let n = self.len.saturating_sub(pos).min(WINDOW.max(2 * LOOKAHEAD));
            self.buf.resize(n, 0);
            self.file
                .read_exact_at(&mut self.buf, pos as u64)
                .map_err(|e| Error::io("read", self.path, e))?;
            self.base = pos;
        }
        Ok(self.buf.get(pos - self.base..).unwrap_or(&[]))
    }
}

/// [`walk_chain`] over any [`WalkSource`].
pub(crate) fn walk_source<S: WalkSource>(
    src: &mut S,
    first_id: u64,
    prev: Head,
    mut visit: impl FnMut(u32, &StoredRecord<'_>, &Head),
) -> std::result::Result<Walk, S::Err> {
    let mut w = Walk {
        offsets: Vec::new(),
        end: HEADER_LEN,
        footer: None,
        stop: None,
        head: prev,
        tampered: false,
    };
    let mut pos = HEADER_LEN;
    let mut expect = first_id;
    let stop = |mut w: Walk, pos: usize, why: String| {
        w.end = pos;
        w.stop = Some((pos, why));
        w
    };
    loop {
        if pos >= src.total() {
            w.end = pos;
            return Ok(w);
        }
        let buf = src.at(pos)?;
        match read_frame(buf, 0) {
            FrameRead::Frame { payload, tag, next } => {
                let link = chain::link(&w.head, payload);
                let rec = StoredRecord::decode(payload);
                if chain::tag_of(&link) != tag {
                    let what = match &rec {
                        Ok(r) if r.id != expect => {
                            format!(" (it holds id {} where id {expect} was expected)", r.id)
                        }
                        _ => String::new(),
                    };
                    w.tampered = true;
                    return Ok(stop(
                        w,
                        pos,
                        format!("chain tag mismatch at record id {expect}{what}: a record was changed, inserted, deleted or reordered here"),
                    ));
                }
                let rec = match rec {
                    Ok(r) => r,
                    Err(e) => return Ok(stop(w, pos, format!("record does not decode: {e}"))),
                };
                if rec.id != expect {
                    return Ok(stop(
                        w,
                        pos,
                        format!(
                            "ids are not contiguous: record id {} where id {expect} was expected",
                            rec.id
                        ),
                    ));
                }
                let Ok(off) = u32::try_from(pos) else {
                    return Ok(stop(w, pos, "frame beyond 4 GiB".into()));
                };
                visit(off, &rec, &link);
                w.head = link;
                w.offsets.push(off);
                expect += 1;
                pos += next;
            }
            FrameRead::Footer => {
                let f = Footer::decode(buf);
                return Ok(match f {
                    Some(f)
                        if f.body_len == pos as u64
                            && f.count == w.offsets.len() as u64
                            && f.first_id == first_id =>
                    {
                        if f.head != w.head {
                            w.tampered = true;
                            return Ok(stop(
                                w,
                                pos,
                                "the chain head in the seal footer does not match the records (the segment was rewritten)".into(),
                            ));
                        }
                        w.end = pos;
                        w.footer = Some(f);
                        w
                    }
                    Some(_) => stop(
                        w,
                        pos,
                        "seal footer does not match the frames before it".into(),
                    ),
                    None => stop(w, pos, "incomplete or damaged seal footer".into()),
                });
            }
            FrameRead::Incomplete => return Ok(stop(w, pos, "incomplete frame".into())),
            FrameRead::BadLength(l) => {
                return Ok(stop(
                    w,
                    pos,
                    format!("frame length {l} is outside 1..=1 MiB"),
                ))
            }
            FrameRead::BadCrc => return Ok(stop(w, pos, "frame checksum mismatch".into())),
        }
    }
}

/// Whether any valid frame, or a seal footer that closes the file at the
/// offset it names, starts after `pos` (damage followed by either is
/// corruption: the writer completed what came before it; damage with
/// nothing valid after it is a torn tail).
pub(crate) fn valid_frame_after(buf: &[u8], pos: usize) -> Option<usize> {
    (pos + 1..buf.len().saturating_sub(FRAME_HEADER_LEN)).find(|p| match read_frame(buf, *p) {
        FrameRead::Frame { payload, .. } => StoredRecord::decode(payload).is_ok(),
        FrameRead::Footer => Footer::decode(&buf[*p..]).is_some_and(|f| f.body_len == *p as u64),
        _ => false,
    })
}

impl Segment {
    /// The bytes of the frames region readable now: the map of a sealed
    /// segment. `None` for the active segment or without maps.
    pub fn mapped(&self) -> Option<&[u8]> {
        self.map.as_ref().map(|m| (**m).as_ref())
    }

    /// Id of the last record of a sealed segment.
    pub fn last_id(&self) -> Option<u64> {
        self.footer.map(|f| f.last_id())
    }

    /// Reads the frame at `offset` (not past `limit` bytes) and calls `f`
    /// with its payload (checksummed, not yet decoded). Sealed segments are
    /// read through their map, unless the reads stream (see [`ReadBuf`]);
    /// the active one and streaming reads through `buf`, a read-ahead
    /// window refilled with one positional read of up to 256 KiB, so a
    /// scan costs one system call per window rather than two per record.
    pub fn with_payload<R>(
        &self,
        offset: u64,
        limit: u64,
        buf: &mut ReadBuf,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R> {
        let bad = |why: &str| corrupt(&self.path, offset, None, why.to_string());
        let (streaming, backward) = buf.note(self.first_id, offset);
        let map = self.mapped().filter(|_| !streaming);
        let payload: &[u8] = if let Some(m) = map {
            let m = m
                .get(..usize::try_from(limit).unwrap_or(usize::MAX).min(m.len()))
                .unwrap_or(m);
            match read_frame(m, usize::try_from(offset).map_err(|_| bad("offset"))?) {
                FrameRead::Frame { payload, .. } => payload,
                other => return Err(bad(&format!("expected a frame, found {other:?}"))),
            }
        } else {
            let window = buf.frame(self, offset, limit, backward)?;
            match read_frame(window, 0) {
                FrameRead::Frame { payload, .. } => payload,
                other => return Err(bad(&format!("expected a frame, found {other:?}"))),
            }
        };
        Ok(f(payload))
    }

    /// Like [`Segment::with_payload`], with the record decoded.
    pub fn with_record<R>(
        &self,
        offset: u64,
        limit: u64,
        buf: &mut ReadBuf,
        f: impl FnOnce(&StoredRecord<'_>) -> R,
    ) -> Result<R> {
        let path = &self.path;
        self.with_payload(offset, limit, buf, |payload| {
            StoredRecord::decode(payload)
                .map(|rec| f(&rec))
                .map_err(|e| corrupt(path, offset, None, e.to_string()))
        })?
    }

    /// Checks a sealed segment's footer against its file and (when `deep`)
    /// its body CRC; on a CRC mismatch walks the frames to name the first
    /// damaged one. Returns the footer.
    pub(crate) fn check_sealed(
        path: &Path,
        file: &FileRef,
        map: Option<&MapRef>,
        first_id: u64,
        deep: bool,
    ) -> Result<Footer> {
        let len = file.len().map_err(|e| Error::io("stat", path, e))?;
        // The damage paths below need the whole file; the common path reads
        // only the footer and streams the body through a small buffer (so
        // checking a log at open does not fault every mapped page in).
        let whole = || -> Result<std::borrow::Cow<'_, [u8]>> {
            Ok(match map {
                Some(m) => std::borrow::Cow::Borrowed((**m).as_ref()),
                None => std::borrow::Cow::Owned(read_whole(path, file)?),
            })
        };
        let mut tail = [0u8; FOOTER_LEN];
        let footer = if len >= FOOTER_LEN as u64 {
            file.read_exact_at(&mut tail, len - FOOTER_LEN as u64)
                .map_err(|e| Error::io("read footer of", path, e))?;
            Footer::decode(&tail)
                .filter(|f| f.body_len + FOOTER_LEN as u64 == len && f.first_id == first_id)
        } else {
            None
        };
        let Some(footer) = footer else {
            // Truncated or damaged: find where the valid frames stop.
            let bytes = whole()?;
            let w = walk(&bytes, first_id, |_, _| {});
            let (at, why) = w
                .stop
                .unwrap_or((w.end, "seal footer missing (file truncated?)".into()));
            return Err(corrupt(
                path,
                at as u64,
                Some(first_id + w.offsets.len() as u64),
                format!("sealed segment is damaged: {why}; records from this id on are unreadable"),
            ));
        };
        if deep {
            let mut h = crc32fast::Hasher::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut off = 0u64;
            while off < footer.body_len {
                let n = (footer.body_len - off).min(buf.len() as u64) as usize;
                file.read_exact_at(&mut buf[..n], off)
                    .map_err(|e| Error::io("read", path, e))?;
                h.update(&buf[..n]);
                off += n as u64;
            }
            if h.finalize() != footer.body_crc {
                let bytes = whole()?;
                let w = walk(&bytes, first_id, |_, _| {});
                let (at, why) = w
                    .stop
                    .unwrap_or((0, "segment checksum mismatch (header damaged?)".into()));
                return Err(corrupt(
                    path,
                    at as u64,
                    Some(first_id + w.offsets.len() as u64),
                    format!("sealed segment is damaged: {why}"),
                ));
            }
        }
        Ok(footer)
    }

    /// Opens and checks a sealed segment.
    pub(crate) fn open_sealed(
        storage: &dyn Storage,
        path: PathBuf,
        first_id: u64,
        tier: Tier,
        deep: bool,
    ) -> Result<Segment> {
        let file = storage
            .open_read(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        let header = read_header(&path, &file, first_id)?;
        if header.first_id != first_id {
            return Err(corrupt(
                &path,
                12,
                Some(first_id),
                format!(
                    "header says first id {} but the file is named for {first_id}",
                    header.first_id
                ),
            ));
        }
        let map = file.map().map_err(|e| Error::io("mmap", &path, e))?;
        let footer = Self::check_sealed(&path, &file, map.as_ref(), first_id, deep)?;
        Ok(Segment {
            first_id,
            tier,
            path,
            file,
            footer: Some(footer),
            map,
            created: header.created,
            prev_head: header.prev_head,
        })
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;
    use crate::storage::fs::FsStorage;
    use crate::{Durability, NewRecord, Options};

    /// Walking a file through the window gives exactly the walk of its whole
    /// bytes, for files longer than several windows and cut anywhere,
    /// including inside frames that straddle a window boundary.
    #[test]
    fn window_walk_equals_whole_walk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Options::new(dir.path())
            .durability(Durability::Never)
            .open()
            .expect("open");
        let pad = "x".repeat(700);
        for b in 0..6u64 {
            let recs: Vec<NewRecord> = (b * 5_000..(b + 1) * 5_000)
                .map(|i| {
                    NewRecord::new(i % 7)
                        .person(format!("p{i}"))
                        .name(&pad[..(i as usize * 37) % 700])
                })
                .collect();
            log.append_batch(recs).expect("append");
        }
        drop(log);
        let segs = dir.path().join("segments");
        let mut names = std::fs::read_dir(&segs)
            .expect("segments")
            .map(|e| e.expect("entry").path())
            .collect::<Vec<_>>();
        names.sort();
        let path = names.last().expect("a segment").clone();
        let whole = std::fs::read(&path).expect("read");
        assert!(whole.len() > 2 * WINDOW + LOOKAHEAD, "{}", whole.len());
        let reference = walk(&whole, 1, |_, _| {});
        let cuts = [
            whole.len(),
            whole.len() - 1,
            WINDOW - 3,
            WINDOW + 17,
            2 * WINDOW - LOOKAHEAD + 5,
            whole.len() - LOOKAHEAD,
            HEADER_LEN,
            HEADER_LEN + 5,
        ];
        let copy = dir.path().join("copy");
        for cut in cuts {
            let bytes = &whole[..cut];
            std::fs::write(&copy, bytes).expect("write copy");
            let file = FsStorage.open_read(&copy).expect("open copy");
            let mut win = FileWindow::new(&file, &copy, cut as u64).expect("window");
            let mut seen = Vec::new();
            let w = walk_source(&mut win, 1, start_head(bytes), |off, rec, _| {
                seen.push((off, rec.id))
            })
            .expect("walk");
            let want = walk(bytes, 1, |_, _| {});
            assert_eq!(w.offsets, want.offsets, "cut {cut}");
            assert_eq!(w.end, want.end, "cut {cut}");
            assert_eq!(w.stop, want.stop, "cut {cut}");
            assert_eq!(w.head, want.head, "cut {cut}");
            assert_eq!(w.footer, want.footer, "cut {cut}");
            assert_eq!(seen.len(), want.offsets.len());
            assert!(seen
                .iter()
                .enumerate()
                .all(|(i, (_, id))| *id == 1 + i as u64));
        }
        assert_eq!(reference.offsets.len(), 30_000);
    }
}
