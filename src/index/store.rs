//! The sled side of the index: the segment catalogue (which sealed
//! segments are indexed, with the footer facts they were built from) and
//! the per-segment blobs. sled is a cache here: nothing in it is the only
//! copy of anything, and every value carries a CRC so damage is noticed.
//!
//! Trees: `catalog` (first id, 8 bytes BE -> [`SegMeta`]) and `blobs`
//! (first id BE ++ kind byte ++ chunk number u32 BE -> a chunk of the blob;
//! kind 0 offsets, 1 times, 2.. the postings of each indexed field). A
//! segment's catalogue entry is written after its blobs: it is the commit
//! point.
//!
//! Blobs are cut into chunks of at most [`CHUNK`] bytes; chunk 0 starts
//! with the blob's total length (u32 LE). sled reads and caches whole tree
//! nodes, and a node holding a segment's multi-megabyte blobs side by side
//! is loaded (and kept in sled's cache) whole to read any one of them: a
//! full scan that only needs each segment's offsets and times then pulled
//! every segment's postings into memory. Small values keep sled's nodes,
//! and what a read drags in with it, small.

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

/// The sled database of the index.
pub struct Store {
    /// Where it lives.
    pub path: PathBuf,
    db: sled::Db,
    catalog: sled::Tree,
    blobs: sled::Tree,
}

/// The largest chunk of a blob stored under one sled key.
pub const CHUNK: usize = 32 << 10;

fn blob_prefix(first_id: u64, kind: u8) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[..8].copy_from_slice(&first_id.to_be_bytes());
    k[8] = kind;
    k
}

fn chunk_key(first_id: u64, kind: u8, chunk: u32) -> [u8; 13] {
    let mut k = [0u8; 13];
    k[..9].copy_from_slice(&blob_prefix(first_id, kind));
    k[9..].copy_from_slice(&chunk.to_be_bytes());
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
    pub fn open(path: &Path) -> Result<Store> {
        let p = path.to_path_buf();
        let opened = catch_unwind(AssertUnwindSafe(
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
        ));
        let bad = |reason: String| Error::Index {
            path: p.clone(),
            reason,
        };
        match opened {
            Ok(Ok((db, catalog, blobs))) => Ok(Store {
                path: p.clone(),
                db,
                catalog,
                blobs,
            }),
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

    /// Stores a sealed segment's blobs, then its catalogue entry.
    pub fn put(&self, first_id: u64, meta: SegMeta, blobs: &[Vec<u8>]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (kind, b) in blobs.iter().enumerate() {
            let total = u32::try_from(b.len())
                .map_err(|_| self.err(format!("index blob of segment {first_id} is over 4 GiB")))?;
            let mut first = Vec::with_capacity(4 + b.len().min(CHUNK));
            first.extend_from_slice(&total.to_le_bytes());
            first.extend_from_slice(&b[..b.len().min(CHUNK)]);
            batch.insert(&chunk_key(first_id, kind as u8, 0), first);
            for (i, c) in b.chunks(CHUNK).enumerate().skip(1) {
                batch.insert(&chunk_key(first_id, kind as u8, i as u32), c);
            }
        }
        self.blobs.apply_batch(batch).map_err(|e| self.err(e))?;
        self.catalog
            .insert(first_id.to_be_bytes(), meta.encode())
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// One blob, put back together from its chunks; `None` when it is
    /// missing, incomplete or unreadable (the caller rebuilds it).
    pub fn blob(&self, first_id: u64, kind: u8) -> Option<Vec<u8>> {
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
        Ok(())
    }

    /// Removes everything.
    pub fn clear(&self) -> Result<()> {
        self.catalog.clear().map_err(|e| self.err(e))?;
        self.blobs.clear().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Bytes sled occupies on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Asks sled to write its buffers out (not a durability promise: the
    /// index is a cache).
    pub fn flush(&self) {
        if let Err(e) = self.db.flush() {
            log::warn!("index flush of {} failed: {e}", self.path.display());
        }
    }
}
