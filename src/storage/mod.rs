//! The file layer: every byte the engine reads or writes goes through the
//! [`Storage`] and [`StorageFile`] traits.
//!
//! Two implementations: [`fs::FsStorage`], the real file system (with
//! read-only memory maps of sealed segments), and [`fault::FaultStorage`],
//! an in-memory twin that fails the Nth write or sync on demand and
//! simulates power loss by dropping everything not yet fsynced, including
//! directory entries. This module must never interpret file contents.

use std::any::Any;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod fault;
pub mod fs;

/// An open file: positional reads and writes, sync, truncate.
// `len` is fallible I/O, not a collection's size: no `is_empty` to pair.
#[allow(clippy::len_without_is_empty)]
pub trait StorageFile: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read
    /// (0 at end of file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`, or fails (possibly after writing a
    /// prefix).
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes the file's data durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// Sets the file's length (truncates or extends with zeros).
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The file's current length.
    fn len(&self) -> io::Result<u64>;
    /// A read-only view of the whole file when the layer supports memory
    /// maps and the file is immutable from now on (sealed segments only).
    fn map(&self) -> io::Result<Option<Arc<dyn AsRef<[u8]> + Send + Sync>>>;

    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.read_at(buf, offset)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file ended before the expected bytes",
                ));
            }
            buf = &mut buf[n..];
            offset += n as u64;
        }
        Ok(())
    }
}

/// A shared handle to an open file.
pub type FileRef = Arc<dyn StorageFile>;

/// Directories and files.
pub trait Storage: Send + Sync + 'static {
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Whether something exists at `path`.
    fn exists(&self, path: &Path) -> bool;
    /// Names of the entries of a directory.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Creates a new file (fails if it exists), open for reading and writing.
    fn create_new(&self, path: &Path) -> io::Result<FileRef>;
    /// Creates a new file readable and writable by its owner only (mode
    /// 0600 on Unix; secret keys). Layers without permissions create an
    /// ordinary file.
    fn create_new_private(&self, path: &Path) -> io::Result<FileRef> {
        self.create_new(path)
    }
    /// Opens an existing file for reading and writing.
    fn open_rw(&self, path: &Path) -> io::Result<FileRef>;
    /// Opens an existing file for reading.
    fn open_read(&self, path: &Path) -> io::Result<FileRef>;
    /// Renames a file (atomic replace).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries durable (fsync on the directory).
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Takes the exclusive lock of a data directory (held while the
    /// returned guard lives); `WouldBlock` when another holder has it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn Any + Send + Sync>>;
}

/// Writes `bytes` to `path` atomically and durably: a temporary file in
/// the same directory, fsync, rename over `path`, fsync of the directory.
pub fn write_atomic(storage: &dyn Storage, path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_steps(storage, path, bytes).map_err(|f| f.error)
}

/// [`write_atomic`] for a secret: the file is created readable by its
/// owner only ([`Storage::create_new_private`]).
pub fn write_atomic_private(storage: &dyn Storage, path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_inner(storage, path, bytes, true).map_err(|f| f.error)
}

/// Which step of [`write_atomic`] failed, on which path.
pub(crate) struct AtomicWriteFailure {
    /// `remove`, `create`, `write`, `fsync`, `rename` or `fsync directory`.
    pub step: &'static str,
    pub path: PathBuf,
    pub error: io::Error,
}

/// [`write_atomic`], saying which step failed (an fsync failure is not
/// like the others: see the writer).
pub(crate) fn write_atomic_steps(
    storage: &dyn Storage,
    path: &Path,
    bytes: &[u8],
) -> Result<(), AtomicWriteFailure> {
    write_atomic_inner(storage, path, bytes, false)
}

fn write_atomic_inner(
    storage: &dyn Storage,
    path: &Path,
    bytes: &[u8],
    private: bool,
) -> Result<(), AtomicWriteFailure> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp_name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let fail = |step: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |error| AtomicWriteFailure { step, path, error }
    };
    if storage.exists(&tmp) {
        storage.remove_file(&tmp).map_err(fail("remove", &tmp))?;
    }
    let f = if private {
        storage.create_new_private(&tmp)
    } else {
        storage.create_new(&tmp)
    }
    .map_err(fail("create", &tmp))?;
    f.write_all_at(bytes, 0).map_err(fail("write", &tmp))?;
    f.sync_data().map_err(fail("fsync", &tmp))?;
    drop(f);
    storage.rename(&tmp, path).map_err(fail("rename", &tmp))?;
    storage.sync_dir(dir).map_err(fail("fsync directory", dir))
}

/// Reads a whole (small) file.
pub fn read_all(storage: &dyn Storage, path: &Path) -> io::Result<Vec<u8>> {
    let f = storage.open_read(path)?;
    let len = usize::try_from(f.len()?).map_err(|_| io::Error::other("file too large"))?;
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}
