//! The persistent side of the index: the segment catalogue in sled (which
//! sealed segments are indexed, with the footer facts they were built
//! from) and each segment's blobs in one file of its own. The index is a
//! cache here: nothing in it is the only copy of anything, and every blob
//! carries a CRC so damage is noticed.
//!
//! sled tree `catalog`: first id, 8 bytes BE -> [`SegMeta`]. A segment's
//! blobs (kind 0 offsets, 1 times, 2.. the postings of each indexed field)
//! live in `segments/<first id, 20 digits>.idx` beside sled's files,
//! written whole under a temporary name, fsynced and renamed before the
//! catalogue entry, which is the commit point. Why not in sled: sled keeps
//! every node it has read in memory, whatever its cache size says, so a
//! full scan that read each segment's offsets and times from sled grew by
//! about 4 MiB per segment read (70 MiB over a 5,000,000-record export);
//! a file read with one positional read per blob keeps nothing.
//!
//! Blob file layout (all integers little-endian):
//!
//! ```text
//! 0   magic "ALIX"
//! 4   version u32 (1)
//! 8   n u32: number of blobs
//! 12  n x { offset u64, len u64 }: where each blob lies in the file
//! ..  crc32 u32 of bytes 0..(12 + 16 n)
//! ..  the blobs, back to back (each ends in its own CRC, see the postings
//!     and column formats)
//! ```
//!
//! Older data directories kept the blobs in a sled tree `blobs` (first id
//! BE ++ kind ++ chunk number u32 BE -> chunk of at most 32 KiB, chunk 0
//! starting with the total length u32 LE); they are still read from there
//! when a segment has no blob file, and removed with the segment.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Catalogue facts about one indexed sealed segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegMeta {
    /// Number of records.
    pub count: u64,
    /// The segment's body CRC from its footer (identifies its bytes).
    pub body_crc: u32,
    /// Smallest record time.
    pub min_time: i64,
    /// Largest record time.
    pub max_time: i64,
}

const META_VERSION: u8 = 1;

impl SegMeta {
    fn encode(&self) -> Vec<u8> {
        let mut b = vec![META_VERSION];
        b.extend_from_slice(&self.count.to_le_bytes());
        b.extend_from_slice(&self.body_crc.to_le_bytes());
        b.extend_from_slice(&self.min_time.to_le_bytes());
        b.extend_from_slice(&self.max_time.to_le_bytes());
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<SegMeta> {
        if b.len() != 33 || b[0] != META_VERSION {
            return None;
        }
        if crc32fast::hash(&b[..29]).to_le_bytes() != b[29..33] {
            return None;
        }
        Some(SegMeta {
            count: u64::from_le_bytes(b[1..9].try_into().ok()?),
            body_crc: u32::from_le_bytes(b[9..13].try_into().ok()?),
            min_time: i64::from_le_bytes(b[13..21].try_into().ok()?),
            max_time: i64::from_le_bytes(b[21..29].try_into().ok()?),
        })
    }
}

/// How long [`Store::open`] waits for sled's lock to be released by the
/// I/O threads of an instance of this process that was just closed.
pub const SLED_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The sled database of the index and the directory of blob files.
pub struct Store {
    /// Where it lives.
    pub path: PathBuf,
    db: sled::Db,
    catalog: sled::Tree,
    /// Blobs of data directories written before blob files (read only).
    blobs: sled::Tree,
    files: PathBuf,
}

/// Directory of the blob files, inside the index directory.
pub const BLOB_DIR: &str = "segments";
const BLOB_MAGIC: &[u8; 4] = b"ALIX";
const BLOB_VERSION: u32 = 1;
/// More blob kinds than this in one file is damage.
const MAX_KINDS: u32 = 64;

fn blob_prefix(first_id: u64, kind: u8) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[..8].copy_from_slice(&first_id.to_be_bytes());
    k[8] = kind;
    k
}

impl Store {
    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::Index {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// Opens sled at `path`. A panic inside sled (it has been seen on
    /// damaged files) is caught and returned as an error.
    ///
    /// sled's own file lock can still be held for a moment by the I/O
    /// threads of an instance this process just closed (the data
    /// directory's lock file already rules out another process): a lock
    /// that is busy is retried for up to [`SLED_LOCK_WAIT`] before it
    /// counts as an error.
    pub fn open(path: &Path) -> Result<Store> {
        let p = path.to_path_buf();
        let try_open = || {
            catch_unwind(AssertUnwindSafe(
                || -> std::result::Result<_, sled::Error> {
                    let db = sled::Config::new()
                        .path(&p)
                        .cache_capacity(8 << 20)
                        .open()?;
                    let catalog = db.open_tree("catalog")?;
                    let blobs = db.open_tree("blobs")?;
                    // Touch every catalogue entry: damage shows here, not mid-query.
                    for kv in catalog.iter() {
                        kv?;
                    }
                    Ok((db, catalog, blobs))
                },
            ))
        };
        let deadline = std::time::Instant::now() + SLED_LOCK_WAIT;
        let opened = loop {
            let res = try_open();
            // sled 0.34.7 (pinned) reports a busy lock as an `Other` I/O
            // error with this message (src/config.rs).
            let busy = matches!(&res, Ok(Err(sled::Error::Io(e)))
                if e.to_string().starts_with("could not acquire lock on"));
            if !busy || std::time::Instant::now() >= deadline {
                break res;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        let bad = |reason: String| Error::Index {
            path: p.clone(),
            reason,
        };
        match opened {
            // A full disk is not a broken index: moving it aside would
            // throw a good cache away (and pile up copies at every try).
            Ok(Err(sled::Error::Io(e)))
                if e.raw_os_error() == Some(28) || e.kind() == std::io::ErrorKind::StorageFull =>
            {
                Err(Error::io("open the index (sled) in", &p, e))
            }
            Ok(Ok((db, catalog, blobs))) => {
                let files = p.join(BLOB_DIR);
                std::fs::create_dir_all(&files).map_err(|e| Error::io("create", &files, e))?;
                Ok(Store {
                    path: p.clone(),
                    db,
                    catalog,
                    blobs,
                    files,
                })
            }
            Ok(Err(e)) => Err(bad(format!("sled cannot open it: {e}"))),
            Err(_) => Err(bad("sled panicked while opening it".into())),
        }
    }

    /// Every catalogue entry (damaged entries come back as `None`).
    pub fn catalog(&self) -> Result<Vec<(u64, Option<SegMeta>)>> {
        let mut out = Vec::new();
        for kv in self.catalog.iter() {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let Ok(kb) = <[u8; 8]>::try_from(&k[..]) else {
                continue;
            };
            out.push((u64::from_be_bytes(kb), SegMeta::decode(&v)));
        }
        Ok(out)
    }

    /// The file of a sealed segment's index blobs.
    pub fn blob_path(&self, first_id: u64) -> PathBuf {
        self.files.join(format!("{first_id:020}.idx"))
    }

    /// Stores a sealed segment's blobs (one file, written whole: temporary
    /// name, fsync, rename), then its catalogue entry.
    pub fn put(&self, first_id: u64, meta: SegMeta, blobs: &[Vec<u8>]) -> Result<()> {
        let n = u32::try_from(blobs.len())
            .ok()
            .filter(|n| *n <= MAX_KINDS)
            .ok_or_else(|| {
                self.err(format!(
                    "{} index blobs for segment {first_id}",
                    blobs.len()
                ))
            })?;
        let head_len = 12 + 16 * blobs.len() + 4;
        let mut out = Vec::with_capacity(head_len + blobs.iter().map(Vec::len).sum::<usize>());
        out.extend_from_slice(BLOB_MAGIC);
        out.extend_from_slice(&BLOB_VERSION.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        let mut at = head_len as u64;
        for b in blobs {
            out.extend_from_slice(&at.to_le_bytes());
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            at += b.len() as u64;
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        for b in blobs {
            out.extend_from_slice(b);
        }
        let path = self.blob_path(first_id);
        let tmp = self.files.join(format!(".{first_id:020}.idx.tmp"));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&out)?;
            f.sync_data()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| Error::io("write index blobs to", &path, e))?;
        self.catalog
            .insert(first_id.to_be_bytes(), meta.encode())
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// One blob of a segment: from its blob file (one positional read of
    /// the table, one of the blob), else from sled (older directories).
    /// `None` when it is missing, incomplete or unreadable (the caller
    /// rebuilds it).
    pub fn blob(&self, first_id: u64, kind: u8) -> Option<Vec<u8>> {
        match std::fs::File::open(self.blob_path(first_id)) {
            Ok(f) => read_blob(&f, kind),
            Err(_) => self.sled_blob(first_id, kind),
        }
    }

    /// One blob in sled, put back together from its chunks.
    fn sled_blob(&self, first_id: u64, kind: u8) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut total = None;
        for (i, kv) in self
            .blobs
            .scan_prefix(blob_prefix(first_id, kind))
            .enumerate()
        {
            let (k, v) = kv.ok()?;
            if k.len() != 13 || k[9..] != (i as u32).to_be_bytes() {
                return None;
            }
            let data: &[u8] = if i == 0 {
                let t = u32::from_le_bytes(v.get(..4)?.try_into().ok()?) as usize;
                // A damaged length must not allocate: grow as chunks arrive.
                out.reserve(t.min(8 << 20));
                total = Some(t);
                &v[4..]
            } else {
                &v[..]
            };
            out.extend_from_slice(data);
            if out.len() > total? {
                return None;
            }
        }
        (out.len() == total?).then_some(out)
    }

    /// Forgets a segment.
    pub fn remove(&self, first_id: u64) -> Result<()> {
        self.catalog
            .remove(first_id.to_be_bytes())
            .map_err(|e| self.err(e))?;
        let mut batch = sled::Batch::default();
        for kv in self.blobs.scan_prefix(first_id.to_be_bytes()) {
            let (k, _) = kv.map_err(|e| self.err(e))?;
            batch.remove(k);
        }
        self.blobs.apply_batch(batch).map_err(|e| self.err(e))?;
        let path = self.blob_path(first_id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &path, e)),
        }
    }

    /// Removes everything.
    pub fn clear(&self) -> Result<()> {
        self.catalog.clear().map_err(|e| self.err(e))?;
        self.blobs.clear().map_err(|e| self.err(e))?;
        let entries =
            std::fs::read_dir(&self.files).map_err(|e| Error::io("list", &self.files, e))?;
        for entry in entries {
            let p = entry.map_err(|e| Error::io("list", &self.files, e))?.path();
            std::fs::remove_file(&p).map_err(|e| Error::io("remove", &p, e))?;
        }
        Ok(())
    }

    /// Bytes the index occupies on disk (sled and the blob files).
    pub fn disk_bytes(&self) -> u64 {
        let files: u64 = std::fs::read_dir(&self.files)
            .map(|d| {
                d.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        self.db.size_on_disk().unwrap_or(0) + files
    }

    /// Asks sled to write its buffers out (not a durability promise: the
    /// index is a cache).
    pub fn flush(&self) {
        if let Err(e) = self.db.flush() {
            log::warn!("index flush of {} failed: {e}", self.path.display());
        }
    }
}

/// Reads blob `kind` of a blob file; `None` when the file is damaged or
/// does not hold it. Nothing is allocated from an unchecked length: the
/// table is checked against its CRC and the file's size first.
fn read_blob(f: &std::fs::File, kind: u8) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let size = f.metadata().ok()?.len();
    let mut fixed = [0u8; 12];
    f.read_exact_at(&mut fixed, 0).ok()?;
    if &fixed[..4] != BLOB_MAGIC || u32::from_le_bytes(fixed[4..8].try_into().ok()?) != BLOB_VERSION
    {
        return None;
    }
    let n = u32::from_le_bytes(fixed[8..12].try_into().ok()?);
    if n > MAX_KINDS || u32::from(kind) >= n {
        return None;
    }
    let mut head = vec![0u8; 12 + 16 * n as usize + 4];
    f.read_exact_at(&mut head, 0).ok()?;
    let (table, crc) = head.split_at(head.len() - 4);
    if crc32fast::hash(table).to_le_bytes() != crc {
        return None;
    }
    let e = 12 + 16 * usize::from(kind);
    let at = u64::from_le_bytes(table.get(e..e + 8)?.try_into().ok()?);
    let len = u64::from_le_bytes(table.get(e + 8..e + 16)?.try_into().ok()?);
    if at.checked_add(len)? > size {
        return None;
    }
    let mut out = vec![0u8; usize::try_from(len).ok()?];
    f.read_exact_at(&mut out, at).ok()?;
    Some(out)
}
