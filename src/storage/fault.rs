//! An in-memory [`Storage`] for tests: fails chosen operations and
//! simulates power loss.
//!
//! Each file keeps two images: *live* (what reads see now) and *durable*
//! (what survives power loss: the live bytes at the last `sync_data`). Each
//! directory likewise keeps live and durable entry tables (made durable by
//! `sync_dir`). [`FaultStorage::power_loss_image`] returns a new storage
//! holding only the durable state, as a machine would find it after a power
//! cut; [`FaultStorage::crash_image`] keeps everything written (a process
//! crash). Directories themselves are created durable (a documented
//! simplification: the engine creates its directories once, at first open).
//!
//! Faults: [`FaultStorage::fail_op`] makes the Nth mutating operation from
//! now (write, sync of a file or directory, truncate) fail once with the
//! chosen kind; [`FaultStorage::set_disk_full`] makes every write fail with
//! ENOSPC (after writing half of its bytes, the worst case) until cleared.
//! This module must never be used by production code paths.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{FileRef, Storage, StorageFile};

/// How an injected fault fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// EIO: nothing written.
    Eio,
    /// ENOSPC after writing half of the bytes.
    Enospc,
    /// A short write: half of the bytes written, then an error.
    ShortWrite,
}

#[derive(Clone, Default)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Clone, Default)]
struct State {
    inodes: HashMap<u64, Inode>,
    live_dirs: HashMap<PathBuf, BTreeMap<String, u64>>,
    durable_dirs: HashMap<PathBuf, BTreeMap<String, u64>>,
    next_inode: u64,
    ops: u64,
    /// File fsyncs that succeeded.
    file_syncs: u64,
    /// How long a file fsync takes (a device's flush latency).
    sync_latency: std::time::Duration,
    fail_at: Option<(u64, FaultKind)>,
    disk_full: bool,
    locks: BTreeMap<PathBuf, ()>,
}

/// The in-memory, fault-injecting file layer.
#[derive(Clone, Default)]
pub struct FaultStorage {
    state: Arc<Mutex<State>>,
}

fn split(path: &Path) -> (PathBuf, String) {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (dir, name)
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

impl FaultStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the `n`th mutating operation from now (1 = the next) fail once.
    pub fn fail_op(&self, n: u64, kind: FaultKind) {
        let mut s = self.lock_state();
        let at = s.ops + n;
        s.fail_at = Some((at, kind));
    }

    /// Clears a pending [`FaultStorage::fail_op`].
    pub fn clear_faults(&self) {
        let mut s = self.lock_state();
        s.fail_at = None;
        s.disk_full = false;
    }

    /// While true, every write fails with ENOSPC after writing half its bytes.
    pub fn set_disk_full(&self, full: bool) {
        self.lock_state().disk_full = full;
    }

    /// Number of mutating operations so far.
    pub fn ops(&self) -> u64 {
        self.lock_state().ops
    }

    /// Makes every file fsync take `latency` (outside the storage's lock,
    /// as a device's flush does), for tests of what overlaps an fsync.
    pub fn set_sync_latency(&self, latency: std::time::Duration) {
        self.lock_state().sync_latency = latency;
    }

    /// Number of successful file fsyncs so far (directory fsyncs are not
    /// counted).
    pub fn file_syncs(&self) -> u64 {
        self.lock_state().file_syncs
    }

    /// What a machine would find after a power cut now: only fsynced bytes
    /// and fsynced directory entries. No locks are held in the image.
    pub fn power_loss_image(&self) -> FaultStorage {
        let s = self.lock_state();
        let mut img = State {
            live_dirs: s.durable_dirs.clone(),
            durable_dirs: s.durable_dirs.clone(),
            next_inode: s.next_inode,
            ..Default::default()
        };
        for dir in s.durable_dirs.values() {
            for ino in dir.values() {
                if let Some(i) = s.inodes.get(ino) {
                    img.inodes.insert(
                        *ino,
                        Inode {
                            live: i.durable.clone(),
                            durable: i.durable.clone(),
                        },
                    );
                }
            }
        }
        FaultStorage {
            state: Arc::new(Mutex::new(img)),
        }
    }

    /// What a restarted process would find after a crash (kill -9): every
    /// byte written, durable or not. No locks are held in the image.
    pub fn crash_image(&self) -> FaultStorage {
        let s = self.lock_state();
        let mut img = s.clone();
        img.locks.clear();
        img.fail_at = None;
        img.disk_full = false;
        FaultStorage {
            state: Arc::new(Mutex::new(img)),
        }
    }

    /// Overwrites bytes of a file's live and durable images (damage
    /// injection for tests).
    pub fn poke(&self, path: &Path, offset: usize, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.lock_state();
        let (dir, name) = split(path);
        let ino = *s
            .live_dirs
            .get(&dir)
            .and_then(|d| d.get(&name))
            .ok_or_else(|| not_found(path))?;
        let i = s.inodes.get_mut(&ino).ok_or_else(|| not_found(path))?;
        for img in [&mut i.live, &mut i.durable] {
            if img.len() < offset + bytes.len() {
                img.resize(offset + bytes.len(), 0);
            }
            img[offset..offset + bytes.len()].copy_from_slice(bytes);
        }
        Ok(())
    }

    /// Counts a mutating operation; returns the fault to apply, if any.
    fn tick(s: &mut State) -> Option<FaultKind> {
        s.ops += 1;
        match s.fail_at {
            Some((at, kind)) if at == s.ops => {
                s.fail_at = None;
                Some(kind)
            }
            _ => None,
        }
    }
}

fn fault_error(kind: FaultKind) -> io::Error {
    match kind {
        FaultKind::Eio => io::Error::from_raw_os_error(5),
        FaultKind::Enospc => io::Error::from_raw_os_error(28),
        FaultKind::ShortWrite => io::Error::new(io::ErrorKind::WriteZero, "short write"),
    }
}

struct FaultFile {
    storage: FaultStorage,
    ino: u64,
}

impl FaultFile {
    fn with<R>(&self, f: impl FnOnce(&mut State, u64) -> io::Result<R>) -> io::Result<R> {
        let mut s = self.storage.lock_state();
        f(&mut s, self.ino)
    }
}

impl StorageFile for FaultFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.with(|s, ino| {
            let i = s
                .inodes
                .get(&ino)
                .ok_or_else(|| io::Error::other("stale file"))?;
            let off = usize::try_from(offset).map_err(io::Error::other)?;
            if off >= i.live.len() {
                return Ok(0);
            }
            let n = buf.len().min(i.live.len() - off);
            buf[..n].copy_from_slice(&i.live[off..off + n]);
            Ok(n)
        })
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.with(|s, ino| {
            let fault = FaultStorage::tick(s).or(if s.disk_full {
                Some(FaultKind::Enospc)
            } else {
                None
            });
            let n = match fault {
                None => buf.len(),
                Some(FaultKind::Eio) => 0,
                Some(_) => buf.len() / 2,
            };
            let off = usize::try_from(offset).map_err(io::Error::other)?;
            let i = s
                .inodes
                .get_mut(&ino)
                .ok_or_else(|| io::Error::other("stale file"))?;
            if n > 0 {
                if i.live.len() < off + n {
                    i.live.resize(off + n, 0);
                }
                i.live[off..off + n].copy_from_slice(&buf[..n]);
            }
            match fault {
                None => Ok(()),
                Some(k) => Err(fault_error(k)),
            }
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        let latency = self.with(|s, ino| {
            if let Some(k) = FaultStorage::tick(s) {
                return Err(fault_error(if k == FaultKind::ShortWrite {
                    FaultKind::Eio
                } else {
                    k
                }));
            }
            let i = s
                .inodes
                .get_mut(&ino)
                .ok_or_else(|| io::Error::other("stale file"))?;
            i.durable = i.live.clone();
            s.file_syncs += 1;
            Ok(s.sync_latency)
        })?;
        // Like a device's flush: the bytes are durable, and the call
        // returns after the latency, while other threads go on writing.
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.with(|s, ino| {
            if let Some(k) = FaultStorage::tick(s) {
                return Err(fault_error(k));
            }
            let len = usize::try_from(len).map_err(io::Error::other)?;
            let i = s
                .inodes
                .get_mut(&ino)
                .ok_or_else(|| io::Error::other("stale file"))?;
            i.live.resize(len, 0);
            Ok(())
        })
    }

    fn len(&self) -> io::Result<u64> {
        self.with(|s, ino| Ok(s.inodes.get(&ino).map(|i| i.live.len() as u64).unwrap_or(0)))
    }

    fn map(&self) -> io::Result<Option<Arc<dyn AsRef<[u8]> + Send + Sync>>> {
        Ok(None)
    }
}

struct FaultLock {
    storage: FaultStorage,
    path: PathBuf,
}

impl Drop for FaultLock {
    fn drop(&mut self) {
        self.storage.lock_state().locks.remove(&self.path);
    }
}

impl Storage for FaultStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock_state();
        let mut p = Some(path);
        while let Some(d) = p {
            if d.as_os_str().is_empty() {
                break;
            }
            s.live_dirs.entry(d.to_path_buf()).or_default();
            s.durable_dirs.entry(d.to_path_buf()).or_default();
            p = d.parent();
        }
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        let s = self.lock_state();
        if s.live_dirs.contains_key(path) {
            return true;
        }
        let (dir, name) = split(path);
        s.live_dirs.get(&dir).is_some_and(|d| d.contains_key(&name))
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let s = self.lock_state();
        let mut names: Vec<String> = s
            .live_dirs
            .get(path)
            .ok_or_else(|| not_found(path))?
            .keys()
            .cloned()
            .collect();
        // Subdirectories are entries too.
        for d in s.live_dirs.keys() {
            if d.parent() == Some(path) {
                if let Some(n) = d.file_name() {
                    names.push(n.to_string_lossy().into_owned());
                }
            }
        }
        Ok(names)
    }

    fn create_new(&self, path: &Path) -> io::Result<FileRef> {
        let mut s = self.lock_state();
        let (dir, name) = split(path);
        let ino = s.next_inode;
        let d = s.live_dirs.get_mut(&dir).ok_or_else(|| not_found(&dir))?;
        if d.contains_key(&name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", path.display()),
            ));
        }
        d.insert(name, ino);
        s.next_inode += 1;
        s.inodes.insert(ino, Inode::default());
        Ok(Arc::new(FaultFile {
            storage: self.clone(),
            ino,
        }))
    }

    fn open_rw(&self, path: &Path) -> io::Result<FileRef> {
        self.open_read(path)
    }

    fn open_read(&self, path: &Path) -> io::Result<FileRef> {
        let s = self.lock_state();
        let (dir, name) = split(path);
        let ino = *s
            .live_dirs
            .get(&dir)
            .and_then(|d| d.get(&name))
            .ok_or_else(|| not_found(path))?;
        Ok(Arc::new(FaultFile {
            storage: self.clone(),
            ino,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.lock_state();
        if let Some(k) = FaultStorage::tick(&mut s) {
            return Err(fault_error(k));
        }
        let (fd, fname) = split(from);
        let (td, tname) = split(to);
        let ino = s
            .live_dirs
            .get_mut(&fd)
            .and_then(|d| d.remove(&fname))
            .ok_or_else(|| not_found(from))?;
        s.live_dirs
            .get_mut(&td)
            .ok_or_else(|| not_found(&td))?
            .insert(tname, ino);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock_state();
        if let Some(k) = FaultStorage::tick(&mut s) {
            return Err(fault_error(k));
        }
        let (dir, name) = split(path);
        s.live_dirs
            .get_mut(&dir)
            .and_then(|d| d.remove(&name))
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock_state();
        if let Some(k) = FaultStorage::tick(&mut s) {
            return Err(fault_error(k));
        }
        let live = s
            .live_dirs
            .get(path)
            .cloned()
            .ok_or_else(|| not_found(path))?;
        s.durable_dirs.insert(path.to_path_buf(), live);
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn Any + Send + Sync>> {
        let mut s = self.lock_state();
        if s.locks.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "locked by another process",
            ));
        }
        s.locks.insert(path.to_path_buf(), ());
        Ok(Box::new(FaultLock {
            storage: self.clone(),
            path: path.to_path_buf(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_loss_keeps_only_synced_state() {
        let st = FaultStorage::new();
        let d = Path::new("/d");
        st.create_dir_all(d).unwrap();
        let f = st.create_new(&d.join("a")).unwrap();
        f.write_all_at(b"hello", 0).unwrap();
        // Not durable: neither the entry nor the bytes.
        assert!(!st.power_loss_image().exists(&d.join("a")));
        st.sync_dir(d).unwrap();
        let img = st.power_loss_image();
        assert_eq!(img.open_read(&d.join("a")).unwrap().len().unwrap(), 0);
        f.sync_data().unwrap();
        f.write_all_at(b" world", 5).unwrap();
        let img = st.power_loss_image();
        assert_eq!(
            super::super::read_all(&img, &d.join("a")).unwrap(),
            b"hello"
        );
        let img = st.crash_image();
        assert_eq!(
            super::super::read_all(&img, &d.join("a")).unwrap(),
            b"hello world"
        );
    }

    #[test]
    fn injected_faults_fire_once() {
        let st = FaultStorage::new();
        let d = Path::new("/d");
        st.create_dir_all(d).unwrap();
        let f = st.create_new(&d.join("a")).unwrap();
        st.fail_op(2, FaultKind::ShortWrite);
        f.write_all_at(b"ab", 0).unwrap();
        assert!(f.write_all_at(b"cdef", 2).is_err());
        assert_eq!(f.len().unwrap(), 4, "half of the failed write landed");
        f.write_all_at(b"cdef", 2).unwrap();
        st.set_disk_full(true);
        assert_eq!(
            f.write_all_at(b"x", 6).unwrap_err().raw_os_error(),
            Some(28)
        );
        st.set_disk_full(false);
        f.write_all_at(b"x", 6).unwrap();
    }
}
