//! Indexes: a cache of the log that answers "which records of this
//! segment can match?" without reading them.
//!
//! The active segment's index lives in memory ([`ActiveIndex`]), fed by the
//! writer on every append and rebuilt from the log at open. When a segment
//! is sealed its index is frozen into compact blobs and written to sled
//! with one catalogue entry (the watermark: a sealed segment is indexed
//! iff its entry is there and matches its footer). At open the catalogue
//! is reconciled with the log: missing or mismatching segments are indexed
//! from their bytes, entries for segments that no longer exist are
//! dropped, and a sled that cannot be opened is moved aside and rebuilt.
//! Nothing here is ever the only copy of anything.

pub mod field;
pub mod postings;
pub mod segindex;
pub mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::error::{Error, Result};
use crate::format::codec::StoredRecord;
use crate::log::segment::{walk_source, FileWindow};
use crate::log::{lock_mutex, AppendSink, LogObserver, Segment, Snapshot};
pub use postings::IndexedField;
pub use segindex::{ActiveIndex, Probe, SealedIndex};
use store::{SegMeta, Store};

/// Name of the index directory inside the data directory.
pub const INDEX_DIR: &str = "index";

/// Memory kept for sealed-segment indexes read back from sled (the most
/// recently used ones; a full 64 MiB segment's offsets and times take about
/// 4 MiB, its postings a few MiB per field once a query needs them). Kept
/// small so that a scan of a log far larger than memory (a full export)
/// stays flat: an evicted index is read back from sled in milliseconds.
const CACHE_BUDGET: usize = 24 << 20;

struct Cache {
    map: HashMap<u64, (Arc<SealedIndex>, u64)>,
    tick: u64,
    /// Segments whose index could not be written to sled: kept in memory.
    pinned: HashMap<u64, Arc<SealedIndex>>,
}

/// The index of a data directory.
pub struct Index {
    dir: PathBuf,
    store: RwLock<Arc<Store>>,
    active: RwLock<ActiveIndex>,
    /// Indexes of segments sealed but not yet written to sled.
    frozen: RwLock<HashMap<u64, Arc<ActiveIndex>>>,
    cache: Mutex<Cache>,
    warnings: Mutex<Vec<String>>,
}

fn loader_from_store(
    store: Arc<Store>,
    first_id: u64,
) -> Box<dyn Fn(IndexedField) -> Option<Vec<u8>> + Send + Sync> {
    Box::new(move |f| store.blob(first_id, 2 + f.slot() as u8))
}

fn loader_from_blobs(
    blobs: Arc<Vec<Vec<u8>>>,
) -> Box<dyn Fn(IndexedField) -> Option<Vec<u8>> + Send + Sync> {
    Box::new(move |f| blobs.get(2 + f.slot()).cloned())
}

impl Index {
    /// Opens the index in `data_dir/index`; if sled cannot open it, moves
    /// it aside and starts empty (the caller then reconciles with the log).
    pub fn open(data_dir: &Path) -> Result<Index> {
        let dir = data_dir.join(INDEX_DIR);
        let mut warnings = Vec::new();
        let store = match Store::open(&dir) {
            Ok(s) => s,
            // The disk, not the index (a full disk): nothing to move aside.
            Err(e @ Error::Io { .. }) => return Err(e),
            Err(e) => {
                let aside = data_dir.join(format!(
                    "{INDEX_DIR}.broken-{}",
                    crate::time::Timestamp::now().as_micros()
                ));
                let msg = format!(
                    "{e}; moved it to {} and rebuilding the index from the log",
                    aside.display()
                );
                log::warn!("{msg}");
                warnings.push(msg);
                std::fs::rename(&dir, &aside).map_err(|e| Error::io("move aside", &dir, e))?;
                Store::open(&dir)?
            }
        };
        Ok(Index {
            dir,
            store: RwLock::new(Arc::new(store)),
            active: RwLock::new(ActiveIndex::default()),
            frozen: RwLock::new(HashMap::new()),
            cache: Mutex::new(Cache {
                map: HashMap::new(),
                tick: 0,
                pinned: HashMap::new(),
            }),
            warnings: Mutex::new(warnings),
        })
    }

    fn store(&self) -> Arc<Store> {
        self.store.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Messages about repairs made (moved-aside sled, rebuilt segments).
    pub fn warnings(&self) -> Vec<String> {
        lock_mutex(&self.warnings).clone()
    }

    fn warn(&self, msg: String) {
        log::warn!("{msg}");
        lock_mutex(&self.warnings).push(msg);
    }

    /// Brings the catalogue in line with the log's sealed segments.
    pub fn reconcile(&self, snap: &Snapshot) -> Result<()> {
        let store = self.store();
        let catalog: HashMap<u64, Option<SegMeta>> = store.catalog()?.into_iter().collect();
        let mut live = std::collections::HashSet::new();
        for seg in snap.segments.iter() {
            let Some(f) = seg.footer else { continue };
            live.insert(seg.first_id);
            let ok = matches!(catalog.get(&seg.first_id), Some(Some(m)) if m.count == f.count && m.body_crc == f.body_crc);
            if !ok {
                self.index_sealed(seg)?;
            }
        }
        for id in catalog.keys() {
            if !live.contains(id) {
                store.remove(*id)?;
            }
        }
        store.flush();
        Ok(())
    }

    /// Throws the whole index away and rebuilds it from the log.
    pub fn reindex(&self, snap: &Snapshot) -> Result<()> {
        self.store().clear()?;
        {
            let mut c = lock_mutex(&self.cache);
            c.map.clear();
            c.pinned.clear();
        }
        self.reconcile(snap)
    }

    /// Reads a sealed segment and writes its index (used when the
    /// catalogue lacks it or disagrees with it).
    fn index_sealed(&self, seg: &Segment) -> Result<Arc<SealedIndex>> {
        // Read through a window, not the map: re-indexing a whole log
        // (`reindex`) would otherwise leave every segment's pages resident.
        let len = seg
            .file
            .len()
            .map_err(|e| Error::io("stat", &seg.path, e))?;
        let mut win = FileWindow::new(&seg.file, &seg.path, len)?;
        let mut ai = ActiveIndex::new(seg.first_id);
        let w = walk_source(&mut win, seg.first_id, seg.prev_head, |off, rec, _| {
            ai.add(off, rec)
        })?;
        let ai = ai;
        let Some(footer) = seg.footer else {
            return Err(Error::invalid(
                "segment",
                "only sealed segments are indexed in sled",
            ));
        };
        if w.offsets.len() as u64 != footer.count {
            return Err(crate::log::segment::corrupt(
                &seg.path,
                w.stop.as_ref().map_or(w.end, |s| s.0) as u64,
                Some(seg.first_id + w.offsets.len() as u64),
                w.stop.map_or("frames stop early".into(), |s| s.1),
            ));
        }
        Ok(self.store_sealed(&ai, footer))
    }

    fn store_sealed(&self, ai: &ActiveIndex, f: crate::format::layout::Footer) -> Arc<SealedIndex> {
        let first_id = ai.first_id;
        let blobs = Arc::new(ai.encode());
        let meta = SegMeta {
            count: f.count,
            body_crc: f.body_crc,
            min_time: f.min_time,
            max_time: f.max_time,
        };
        let store = self.store();
        let stored = store.put(first_id, meta, &blobs);
        // Once stored, postings load from the store on first use, like
        // those of an index read back: the cache's budget counts decoded
        // postings, and encoded blobs held here would escape it (memory
        // grew with every segment sealed).
        let loader = match &stored {
            Ok(()) => loader_from_store(store, first_id),
            Err(_) => loader_from_blobs(blobs),
        };
        let idx = Arc::new(SealedIndex::new(
            first_id,
            ai.offsets.clone(),
            ai.times.clone(),
            loader,
        ));
        if let Err(e) = stored {
            self.warn(format!("could not store the index of segment {first_id} in sled ({e}); keeping it in memory"));
            lock_mutex(&self.cache).pinned.insert(first_id, idx.clone());
        } else {
            Self::cache_insert(&mut lock_mutex(&self.cache), first_id, idx.clone());
        }
        idx
    }

    fn cache_insert(c: &mut Cache, first_id: u64, idx: Arc<SealedIndex>) {
        c.tick += 1;
        let t = c.tick;
        c.map.insert(first_id, (idx, t));
        let mut total: usize = c.map.values().map(|(i, _)| i.heap_bytes()).sum();
        while total > CACHE_BUDGET && c.map.len() > 1 {
            let Some((&victim, _)) = c
                .map
                .iter()
                .filter(|(k, _)| **k != first_id)
                .min_by_key(|(_, (_, t))| *t)
            else {
                break;
            };
            if let Some((i, _)) = c.map.remove(&victim) {
                total -= i.heap_bytes();
            }
        }
    }

    /// The index of a sealed segment: the frozen in-memory one while the
    /// background sealer has not stored it yet, else from the cache, from
    /// sled, or rebuilt from the segment when sled lost or damaged it.
    pub fn segment_index(&self, seg: &Segment) -> Result<SegIndexRef> {
        if let Some(f) = self
            .frozen
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&seg.first_id)
        {
            return Ok(SegIndexRef::Frozen(f.clone()));
        }
        self.sealed(seg).map(SegIndexRef::Sealed)
    }

    fn sealed(&self, seg: &Segment) -> Result<Arc<SealedIndex>> {
        {
            let mut c = lock_mutex(&self.cache);
            if let Some(i) = c.pinned.get(&seg.first_id) {
                return Ok(i.clone());
            }
            c.tick += 1;
            let t = c.tick;
            if let Some((i, used)) = c.map.get_mut(&seg.first_id) {
                *used = t;
                return Ok(i.clone());
            }
        }
        let store = self.store();
        let loaded = (|| {
            let f = seg.footer?;
            let offsets = postings::decode_u32s(&store.blob(seg.first_id, 0)?)?;
            let times = postings::decode_i64s(&store.blob(seg.first_id, 1)?)?;
            (offsets.len() as u64 == f.count && times.len() as u64 == f.count)
                .then_some((offsets, times))
        })();
        match loaded {
            Some((offsets, times)) => {
                let idx = Arc::new(SealedIndex::new(
                    seg.first_id,
                    offsets,
                    times,
                    loader_from_store(store, seg.first_id),
                ));
                Self::cache_insert(&mut lock_mutex(&self.cache), seg.first_id, idx.clone());
                Ok(idx)
            }
            None => {
                self.warn(format!(
                    "the index of segment {} ({}) is missing or damaged; rebuilding it from {}",
                    seg.first_id,
                    store.blob_path(seg.first_id).display(),
                    seg.path.display()
                ));
                self.index_sealed(seg)
            }
        }
    }

    /// The index of a segment that a reader's snapshot shows as active but
    /// that has been sealed since (the active index has moved on): the
    /// frozen one, else the stored one (memory, sled) through its footer,
    /// now on disk. `None` when the file holds no valid footer.
    pub fn sealed_since(&self, seg: &Segment) -> Result<Option<SegIndexRef>> {
        if let Some(f) = self
            .frozen
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&seg.first_id)
        {
            return Ok(Some(SegIndexRef::Frozen(f.clone())));
        }
        {
            let c = lock_mutex(&self.cache);
            if let Some(i) = c
                .pinned
                .get(&seg.first_id)
                .or_else(|| c.map.get(&seg.first_id).map(|(i, _)| i))
            {
                return Ok(Some(SegIndexRef::Sealed(i.clone())));
            }
        }
        use crate::format::layout::{Footer, FOOTER_LEN};
        let len = seg
            .file
            .len()
            .map_err(|e| Error::io("stat", &seg.path, e))?;
        let Some(at) = len.checked_sub(FOOTER_LEN as u64) else {
            return Ok(None);
        };
        let mut tail = [0u8; FOOTER_LEN];
        seg.file
            .read_exact_at(&mut tail, at)
            .map_err(|e| Error::io("read footer of", &seg.path, e))?;
        let Some(f) =
            Footer::decode(&tail).filter(|f| f.body_len == at && f.first_id == seg.first_id)
        else {
            return Ok(None);
        };
        let sealed = Segment {
            first_id: seg.first_id,
            tier: seg.tier,
            path: seg.path.clone(),
            file: seg.file.clone(),
            footer: Some(f),
            map: None,
            created: seg.created,
            prev_head: seg.prev_head,
        };
        self.segment_index(&sealed).map(Some)
    }

    /// Drops a cached index whose postings turned out damaged, and rebuilds it.
    pub fn rebuild_segment(&self, seg: &Segment) -> Result<SegIndexRef> {
        {
            let mut c = lock_mutex(&self.cache);
            c.map.remove(&seg.first_id);
            c.pinned.remove(&seg.first_id);
        }
        self.warn(format!(
            "index postings of segment {} are damaged; rebuilding from {}",
            seg.first_id,
            seg.path.display()
        ));
        self.index_sealed(seg).map(SegIndexRef::Sealed)
    }

    /// Runs `f` on the active segment's index.
    pub fn with_active<R>(&self, f: impl FnOnce(&ActiveIndex) -> R) -> R {
        f(&self.active.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Bytes the index occupies on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.store().disk_bytes()
    }

    /// Number of sealed segments in the catalogue.
    pub fn cataloged(&self) -> usize {
        self.store().catalog().map(|c| c.len()).unwrap_or(0)
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Flushes sled's buffers.
    pub fn flush(&self) {
        self.store().flush();
    }
}

/// The index of one sealed segment, in whichever form is at hand.
#[derive(Clone)]
pub enum SegIndexRef {
    /// Read back from sled (or rebuilt).
    Sealed(Arc<SealedIndex>),
    /// Still the in-memory index of a just-sealed segment.
    Frozen(Arc<ActiveIndex>),
}

impl SegIndexRef {
    /// The frame offset of ordinal `ord`.
    pub fn offset(&self, ord: usize) -> Option<u32> {
        match self {
            SegIndexRef::Sealed(s) => s.offsets.get(ord).copied(),
            SegIndexRef::Frozen(f) => f.offsets.get(ord).copied(),
        }
    }

    /// Number of records indexed.
    pub fn len(&self) -> usize {
        match self {
            SegIndexRef::Sealed(s) => s.offsets.len(),
            SegIndexRef::Frozen(f) => f.offsets.len(),
        }
    }

    /// Whether no record is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Crash-test hook: when the environment variable `AUDITLOG_FAILPOINT`
/// names this point, the process aborts here (as a kill -9 would). Used by
/// tests/index_rebuild.rs to stop between a log write and its index update.
fn failpoint(name: &str) {
    if std::env::var_os("AUDITLOG_FAILPOINT").is_some_and(|v| v == name) {
        std::process::abort();
    }
}

/// Feeds one append into the active index, holding its lock once per batch.
struct ActiveSink<'a>(std::sync::RwLockWriteGuard<'a, ActiveIndex>);

impl AppendSink for ActiveSink<'_> {
    fn add(&mut self, offset: u32, rec: &StoredRecord<'_>) {
        self.0.add(offset, rec);
    }

    fn add_batch(&mut self, recs: &[(u32, StoredRecord<'_>)]) {
        self.0.add_batch(recs);
    }
}

impl LogObserver for Index {
    fn begin(&self, segment: u64) -> Box<dyn AppendSink + '_> {
        let mut a = self.active.write().unwrap_or_else(|p| p.into_inner());
        if a.first_id != segment {
            *a = ActiveIndex::new(segment);
        }
        Box::new(ActiveSink(a))
    }

    fn rewind(&self, segment: u64, keep: u64) {
        let mut a = self.active.write().unwrap_or_else(|p| p.into_inner());
        if a.first_id == segment {
            a.truncate(keep as usize);
        }
    }

    fn rolled(&self, old: u64, new: u64) {
        let mut a = self.active.write().unwrap_or_else(|p| p.into_inner());
        if a.first_id != old {
            // Nothing indexed for it in memory: the sealer rebuilds from the segment.
            *a = ActiveIndex::new(new);
            return;
        }
        let next = ActiveIndex::sized_like(new, &a);
        let frozen = std::mem::replace(&mut *a, next);
        self.frozen
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(old, Arc::new(frozen));
    }

    fn sealed(&self, seg: &Arc<Segment>) {
        let Some(f) = seg.footer else { return };
        failpoint("after-seal-before-index");
        let frozen = self
            .frozen
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&seg.first_id)
            .cloned();
        match frozen {
            Some(ai) if ai.offsets.len() as u64 == f.count => {
                self.store_sealed(&ai, f);
            }
            Some(_) => {
                self.warn(format!(
                    "in-memory index of segment {} disagrees with its footer; rebuilding",
                    seg.first_id
                ));
                if let Err(e) = self.index_sealed(seg) {
                    self.warn(format!("could not index segment {}: {e}", seg.first_id));
                }
            }
            // Removed by retention meanwhile, or never indexed in memory.
            None => {
                if self
                    .store()
                    .catalog()
                    .is_ok_and(|c| !c.iter().any(|(id, _)| *id == seg.first_id))
                {
                    if let Err(e) = self.index_sealed(seg) {
                        self.warn(format!("could not index segment {}: {e}", seg.first_id));
                    }
                }
                return;
            }
        }
        self.frozen
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&seg.first_id);
    }

    fn removed(&self, first_ids: &[u64]) {
        let store = self.store();
        let mut fz = self.frozen.write().unwrap_or_else(|p| p.into_inner());
        for id in first_ids {
            fz.remove(id);
        }
        drop(fz);
        let mut c = lock_mutex(&self.cache);
        for id in first_ids {
            c.map.remove(id);
            c.pinned.remove(id);
            if let Err(e) = store.remove(*id) {
                log::warn!("could not drop the index of segment {id}: {e}");
            }
        }
    }
}
