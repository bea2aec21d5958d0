//! The `STATE` file: the little that the segment files cannot say about
//! themselves. It names the active segment (so a deleted active segment is
//! caught) and the retention horizon (the first id still kept). Written
//! atomically (temporary name, fsync, rename, fsync of the directory).
//! This module must never hold anything that sled could lose.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::{read_all, write_atomic_steps, Storage};

/// The persisted state.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogState {
    /// Format version of the data directory.
    pub version: u32,
    /// First id of the active segment when the file was written.
    pub active: u64,
    /// First id still kept (retention deleted everything below).
    pub horizon: u64,
}

/// Path of the state file in `dir`.
pub fn state_path(dir: &Path) -> PathBuf {
    dir.join("STATE")
}

/// Reads the state file, if there is one.
pub fn read(storage: &dyn Storage, dir: &Path) -> Result<Option<LogState>> {
    let path = state_path(dir);
    if !storage.exists(&path) {
        return Ok(None);
    }
    let bytes = read_all(storage, &path).map_err(|e| Error::io("read", &path, e))?;
    let st: LogState = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
        segment: path.clone(),
        offset: 0,
        id: None,
        reason: format!("state file does not parse: {e}"),
    })?;
    if st.version != crate::format::layout::FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            path,
            found: st.version,
            supported: crate::format::layout::FORMAT_VERSION,
        });
    }
    Ok(Some(st))
}

/// Writes the state file atomically and durably.
pub fn write(storage: &dyn Storage, dir: &Path, st: &LogState) -> Result<()> {
    let path = state_path(dir);
    let bytes = serde_json::to_vec(st).map_err(|e| Error::invalid("state", e.to_string()))?;
    write_atomic_steps(storage, &path, &bytes).map_err(|f| Error::io(f.step, f.path, f.error))
}
