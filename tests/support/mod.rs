//! Helpers for the storage-core tests: directory copies, segment file
//! listings, frame walking, memory high-water mark, and a storage wrapper
//! that calls a hook before every mutating operation.
#![allow(dead_code)]

use std::any::Any;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use auditlog::format::layout::{read_frame, FrameRead, HEADER_LEN};
use auditlog::storage::{FileRef, Storage, StorageFile};

/// Copies a directory tree (files and subdirectories).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// The live segment files of a data directory, in id order.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

/// The `(start, end)` of every complete frame of a segment's bytes, and
/// whether the walk stopped at a seal footer.
pub fn frames(bytes: &[u8]) -> (Vec<(usize, usize)>, bool) {
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    loop {
        match read_frame(bytes, pos) {
            FrameRead::Frame { next, .. } => {
                out.push((pos, next));
                pos = next;
            }
            FrameRead::Footer => return (out, true),
            _ => return (out, false),
        }
    }
}

/// The process's peak resident set size (VmHWM), in KiB.
pub fn vm_hwm_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// A mutating operation, as `FaultStorage` counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Write,
    SyncData,
    SetLen,
    Rename,
    Remove,
    SyncDir,
}

impl Op {
    pub fn is_sync(self) -> bool {
        matches!(self, Op::SyncData | Op::SyncDir)
    }
}

/// Called before each mutating operation with the operation, its path and
/// (for writes) the bytes to be written.
pub type Hook = Arc<dyn Fn(Op, &Path, &[u8]) + Send + Sync>;

/// Wraps a storage and calls a hook before each operation that
/// `FaultStorage` counts (file writes, syncs and truncations; renames,
/// removals and directory syncs), so a test can trace or act at the Nth.
/// Hook and operation run under one lock, so the hooks see operations in
/// the order the storage counts them, whatever the threads.
#[derive(Clone)]
pub struct Hooked {
    inner: Arc<dyn Storage>,
    hook: Hook,
    serial: Option<Arc<Mutex<()>>>,
}

struct HookedFile {
    inner: FileRef,
    path: PathBuf,
    hook: Hook,
    serial: Option<Arc<Mutex<()>>>,
}

fn serially<R>(m: &Option<Arc<Mutex<()>>>, f: impl FnOnce() -> R) -> R {
    let _g = m
        .as_ref()
        .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()));
    f()
}

impl StorageFile for HookedFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        serially(&self.serial, || {
            (self.hook)(Op::Write, &self.path, buf);
            self.inner.write_all_at(buf, offset)
        })
    }
    fn sync_data(&self) -> io::Result<()> {
        serially(&self.serial, || {
            (self.hook)(Op::SyncData, &self.path, &[]);
            self.inner.sync_data()
        })
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        serially(&self.serial, || {
            (self.hook)(Op::SetLen, &self.path, &[]);
            self.inner.set_len(len)
        })
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn map(&self) -> io::Result<Option<Arc<dyn AsRef<[u8]> + Send + Sync>>> {
        self.inner.map()
    }
}

impl Hooked {
    pub fn new(inner: Arc<dyn Storage>, hook: Hook) -> Hooked {
        Hooked {
            inner,
            hook,
            serial: Some(Arc::new(Mutex::new(()))),
        }
    }

    /// Without the lock: the hook may block one thread's operation while
    /// other threads' operations go on.
    pub fn concurrent(inner: Arc<dyn Storage>, hook: Hook) -> Hooked {
        Hooked {
            inner,
            hook,
            serial: None,
        }
    }

    fn wrap(&self, path: &Path, f: FileRef) -> FileRef {
        Arc::new(HookedFile {
            inner: f,
            path: path.to_path_buf(),
            hook: self.hook.clone(),
            serial: self.serial.clone(),
        })
    }
}

impl Storage for Hooked {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn create_new(&self, path: &Path) -> io::Result<FileRef> {
        Ok(self.wrap(path, self.inner.create_new(path)?))
    }
    fn open_rw(&self, path: &Path) -> io::Result<FileRef> {
        Ok(self.wrap(path, self.inner.open_rw(path)?))
    }
    fn open_read(&self, path: &Path) -> io::Result<FileRef> {
        Ok(self.wrap(path, self.inner.open_read(path)?))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        serially(&self.serial, || {
            (self.hook)(Op::Rename, from, &[]);
            self.inner.rename(from, to)
        })
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        serially(&self.serial, || {
            (self.hook)(Op::Remove, path, &[]);
            self.inner.remove_file(path)
        })
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        serially(&self.serial, || {
            (self.hook)(Op::SyncDir, path, &[]);
            self.inner.sync_dir(path)
        })
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn Any + Send + Sync>> {
        self.inner.lock(path)
    }
}
