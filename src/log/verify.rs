//! `verify`: walks every frame of every segment and reports the first
//! damage with its location. Read-only: it never repairs, truncates or
//! takes the directory lock, so it can check a log that is in use.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::segment::{read_header, valid_frame_after, walk, MapRef};
use super::{state, Snapshot, ARCHIVE_DIR, SEGMENTS_DIR};
use crate::error::{Error, Result};
use crate::format::layout::{parse_segment_file_name, segment_file_name, HEADER_LEN};
use crate::storage::{FileRef, Storage};

/// Where the log is damaged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Damage {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset of the damage.
    pub offset: u64,
    /// The first record id affected, when known.
    pub id: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {}", self.segment.display(), self.offset)?;
        if let Some(id) = self.id {
            write!(f, " (record id {id})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The result of a verification.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Segments checked.
    pub segments: u64,
    /// Records checked.
    pub records: u64,
    /// Bytes checked.
    pub bytes: u64,
    /// First record id (when any).
    pub first_id: Option<u64>,
    /// Last record id (when any).
    pub last_id: Option<u64>,
    /// The first damage found; `None` means the log is intact.
    pub damage: Option<Damage>,
    /// Remarks that are not damage (a torn tail that open would truncate).
    pub notes: Vec<String>,
}

impl VerifyReport {
    /// True when no damage was found.
    pub fn is_ok(&self) -> bool {
        self.damage.is_none()
    }
}

struct Item {
    path: PathBuf,
    first_id: u64,
    file: FileRef,
    map: Option<MapRef>,
    /// Readable bytes (None: the whole file).
    limit: Option<u64>,
}

fn check(items: Vec<Item>, horizon: u64) -> Result<VerifyReport> {
    let mut rep = VerifyReport::default();
    let mut expect = horizon;
    let n = items.len();
    let firsts: Vec<u64> = items.iter().map(|it| it.first_id).collect();
    for (i, it) in items.into_iter().enumerate() {
        let is_last = i + 1 == n;
        rep.segments += 1;
        let damage = |rep: &mut VerifyReport, offset: u64, id: Option<u64>, reason: String| {
            rep.damage = Some(Damage {
                segment: it.path.clone(),
                offset,
                id,
                reason,
            });
        };
        if it.first_id != expect {
            damage(
                &mut rep,
                0,
                Some(expect),
                format!(
                    "records {expect}..{} are missing (a segment was deleted?)",
                    it.first_id.saturating_sub(1)
                ),
            );
            return Ok(rep);
        }
        // As open does: a live last segment whose header never reached the
        // disk (a crash right after it was created) holds no record; open
        // removes and recreates it.
        let live = it.path.parent().and_then(|p| p.file_name()) == Some(SEGMENTS_DIR.as_ref());
        if is_last && live && it.limit.is_none() {
            let len = it.file.len().map_err(|e| Error::io("stat", &it.path, e))?;
            if len < HEADER_LEN as u64 {
                rep.notes.push(format!(
                    "{}: header never completed ({len} bytes); opening the log replaces the file",
                    it.path.display()
                ));
                break;
            }
        }
        let header = match read_header(&it.path, &it.file, it.first_id) {
            Ok(h) => h,
            Err(Error::Corrupt { offset, reason, .. }) => {
                damage(&mut rep, offset, Some(expect), reason);
                return Ok(rep);
            }
            Err(e) => return Err(e),
        };
        if header.first_id != it.first_id {
            damage(
                &mut rep,
                12,
                Some(expect),
                format!(
                    "header says first id {} but the file is named for {}",
                    header.first_id, it.first_id
                ),
            );
            return Ok(rep);
        }
        let owned;
        let mut bytes: &[u8] = match &it.map {
            Some(m) => (**m).as_ref(),
            None => {
                owned = super::segment::read_whole(&it.path, &it.file)?;
                &owned
            }
        };
        if let Some(l) = it.limit {
            bytes = bytes
                .get(..usize::try_from(l).unwrap_or(usize::MAX))
                .unwrap_or(bytes);
        }
        rep.bytes += bytes.len() as u64;
        let w = walk(bytes, it.first_id, |_, _| {});
        rep.records += w.offsets.len() as u64;
        let next = it.first_id + w.offsets.len() as u64;
        if let Some(f) = w.footer {
            if crc32fast::hash(bytes.get(..f.body_len as usize).unwrap_or(bytes)) != f.body_crc {
                damage(
                    &mut rep,
                    0,
                    Some(it.first_id),
                    "segment checksum in the seal footer does not match its bytes".into(),
                );
                return Ok(rep);
            }
        } else if let Some(seal) = firsts
            .get(i + 1)
            .filter(|_| it.limit.is_none())
            .and_then(|&next_first| super::interrupted_seal(bytes, it.first_id, next_first))
        {
            // What open repairs: frames intact, ids running into the next
            // segment, only the footer missing or damaged.
            rep.notes.push(format!(
                "{}: seal footer missing or damaged after {} intact records; opening the log completes the seal",
                it.path.display(),
                seal.count
            ));
        } else if let Some((pos, why)) = w.stop {
            let later = valid_frame_after(bytes, pos);
            if is_last && later.is_none() && it.limit.is_none() {
                rep.notes.push(format!(
                    "{}: torn tail at offset {pos} ({why}); opening the log truncates it",
                    it.path.display()
                ));
            } else {
                let tail = match later {
                    Some(l) => format!(", followed by a valid frame or seal footer at offset {l}"),
                    None => String::new(),
                };
                damage(&mut rep, pos as u64, Some(next), format!("{why}{tail}"));
                return Ok(rep);
            }
        } else if !is_last {
            damage(
                &mut rep,
                w.end as u64,
                Some(next),
                "segment is not sealed but is not the last one (truncated?)".into(),
            );
            return Ok(rep);
        }
        if w.offsets.is_empty() && !is_last && w.footer.is_some_and(|f| f.count > 0) {
            damage(
                &mut rep,
                0,
                Some(next),
                "sealed segment holds no frames".into(),
            );
            return Ok(rep);
        }
        if !w.offsets.is_empty() {
            rep.first_id.get_or_insert(it.first_id);
            rep.last_id = Some(next - 1);
        }
        expect = next;
    }
    Ok(rep)
}

/// Verifies the log of an open engine under a snapshot.
pub fn verify_snapshot(snap: &Snapshot) -> Result<VerifyReport> {
    let items = snap
        .segments
        .iter()
        .map(|s| Item {
            path: s.path.clone(),
            first_id: s.first_id,
            file: s.file.clone(),
            map: s.map.clone(),
            limit: if s.footer.is_some() {
                None
            } else {
                Some(snap.limit_of(s))
            },
        })
        .collect();
    check(items, snap.horizon)
}

/// Verifies the log in `dir` without opening the engine (works on a log
/// that would refuse to open, and on one in use by another process).
pub fn verify_dir(storage: &dyn Storage, dir: &Path) -> Result<VerifyReport> {
    if !storage.exists(dir) {
        return Err(Error::NoDataDir {
            path: dir.to_path_buf(),
        });
    }
    let st = state::read(storage, dir)?;
    let horizon = st.map_or(1, |s| s.horizon);
    let mut found = Vec::new();
    for sub in [SEGMENTS_DIR, ARCHIVE_DIR] {
        let d = dir.join(sub);
        if !storage.exists(&d) {
            continue;
        }
        for name in storage
            .list_dir(&d)
            .map_err(|e| Error::io("list directory", &d, e))?
        {
            if let Some(first_id) = parse_segment_file_name(&name) {
                found.push((first_id, d.join(name)));
            }
        }
    }
    found.sort();
    // What open would do first: an empty segment left by an interrupted
    // roll is removed (a note, not damage).
    let mut notes = Vec::new();
    if let [.., (_, prev), (last_first, last)] = &found[..] {
        if super::interrupted_roll(storage, prev, last, *last_first, st)? {
            notes.push(format!(
                "{}: empty segment left by an interrupted roll; opening the log removes it",
                last.display()
            ));
            found.pop();
        }
    }
    let last_first = found.last().map(|f| f.0);
    let mut items = Vec::new();
    for (first_id, path) in found {
        let file = storage
            .open_read(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        items.push(Item {
            path,
            first_id,
            file,
            map: None,
            limit: None,
        });
    }
    let mut rep = check(items, horizon)?;
    rep.notes.splice(0..0, notes);
    // As at open: STATE names the active segment, so a deleted active
    // segment (the newest records) does not pass for a shorter log.
    if let Some(st) = st.filter(|_| rep.damage.is_none()) {
        if last_first.is_none_or(|l| st.active > l) {
            rep.damage = Some(Damage {
                segment: dir.join(SEGMENTS_DIR).join(segment_file_name(st.active)),
                offset: 0,
                id: Some(st.active),
                reason:
                    "the active segment named in STATE is missing; records from this id on are lost"
                        .into(),
            });
        }
    }
    Ok(rep)
}
