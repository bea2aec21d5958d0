//! The real file system behind the [`Storage`] trait.
//!
//! Owns the only `unsafe` in the crate: read-only memory maps of sealed
//! segments. It must never map a file that may still change.

use std::any::Any;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use super::{FileRef, Storage, StorageFile};

/// The operating system's files.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsStorage;

struct FsFile {
    file: File,
}

impl StorageFile for FsFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        loop {
            match self.file.read_at(buf, offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn map(&self) -> io::Result<Option<Arc<dyn AsRef<[u8]> + Send + Sync>>> {
        if self.len()? == 0 {
            return Ok(None);
        }
        // SAFETY: memmap2 requires that the mapped file is not modified or
        // truncated while the map lives, or reads through it are undefined.
        // The engine maps only sealed segments: after the footer is written
        // and fsynced the engine never writes to, truncates or reopens the
        // file for writing (sealed segments leave only whole, by rename to
        // the archive directory or by unlink, neither of which changes the
        // mapped inode's bytes). The data directory is locked against other
        // auditlog processes. A foreign process editing the file is outside
        // the threat model (docs/format.md, "Assumptions").
        let map = unsafe { memmap2::Mmap::map(&self.file)? };
        Ok(Some(Arc::new(map)))
    }
}

struct LockGuard {
    _file: File,
}

impl Storage for FsStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(path)? {
            out.push(e?.file_name().to_string_lossy().into_owned());
        }
        Ok(out)
    }

    fn create_new(&self, path: &Path) -> io::Result<FileRef> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(Arc::new(FsFile { file }))
    }

    fn create_new_private(&self, path: &Path) -> io::Result<FileRef> {
        let mut o = OpenOptions::new();
        o.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let file = o.open(path)?;
        Ok(Arc::new(FsFile { file }))
    }

    fn open_rw(&self, path: &Path) -> io::Result<FileRef> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Arc::new(FsFile { file }))
    }

    fn open_read(&self, path: &Path) -> io::Result<FileRef> {
        let file = File::open(path)?;
        Ok(Arc::new(FsFile { file }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn Any + Send + Sync>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(LockGuard { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "locked by another process",
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}
