//! `verify`: walks every frame of every segment and reports the first
//! damage with its location. Read-only: it never repairs, truncates or
//! takes the directory lock, so it can check a log that is in use.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::segment::{read_header, valid_frame_after, walk_chain, MapRef};
use super::{state, Snapshot, ARCHIVE_DIR, SEGMENTS_DIR};
use crate::error::{Error, Result};
use crate::format::chain::{to_hex, Head, GENESIS};
use crate::format::layout::{parse_segment_file_name, segment_file_name, HEADER_LEN};
use crate::storage::{FileRef, Storage};
use crate::tamper::{self, Checkpoint, CheckpointReport};
use ed25519_dalek::VerifyingKey;

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
    /// The chain head after the last record checked (hex; the head the
    /// log starts from when it holds none). `None` when damage stopped
    /// the walk.
    pub chain_head: Option<String>,
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
    /// STATE names it as the active segment (so its header was durable).
    named_active: bool,
}

/// Where the chain starts: the head before the first record kept.
pub(crate) struct ChainStart {
    /// The expected `prev_head` of the first segment (`None`: cannot be
    /// checked, for example when no horizon vouches for it).
    head: Option<Head>,
    /// Damage found before any segment (missing oldest records, a bad
    /// horizon): (the first id affected, why).
    damage: Option<(u64, String)>,
    /// Remarks.
    notes: Vec<String>,
    /// What the first segment's `prev_head` is compared with, in words.
    what: &'static str,
}

impl ChainStart {
    /// The start a log that begins at `first` has with nothing else known.
    fn plain(first: u64) -> ChainStart {
        ChainStart {
            head: (first <= 1).then_some(GENESIS),
            damage: None,
            notes: Vec::new(),
            what: "the start of the log (32 zero bytes)",
        }
    }
}

/// Works out where the chain of the log in `dir`, whose oldest record
/// kept is `first`, starts: id 1 starts from zeros; a later first id needs
/// a signed retention horizon (`horizon.json`) whose signature checks
/// under `trusted` (else the data directory's `checkpoint.pub`).
pub(crate) fn chain_start(
    storage: &dyn Storage,
    dir: &Path,
    first: u64,
    trusted: Option<&VerifyingKey>,
) -> Result<ChainStart> {
    let mut start = ChainStart::plain(first);
    if first <= 1 {
        return Ok(start);
    }
    start.what = "the chain head recorded in the signed retention horizon";
    let missing = |why: String| Some((1, why));
    let h = match tamper::read_horizon(storage, dir) {
        Ok(Some(h)) => h,
        Ok(None) => {
            start.damage = missing(format!(
                "the log starts at id {first}: records 1..={} are missing and no retention horizon ({}) vouches for their removal",
                first - 1,
                tamper::HORIZON_FILE
            ));
            return Ok(start);
        }
        Err(e) => {
            start.damage = missing(format!("the retention horizon cannot be read: {e}"));
            return Ok(start);
        }
    };
    let key = match trusted {
        Some(k) => Some(*k),
        None => tamper::dir_public_key(storage, dir)?,
    };
    let Some(key) = key else {
        start.damage = missing(format!(
            "the log starts at id {first} and its retention horizon cannot be checked: no public key ({} is missing; give the trusted one, e.g. verify --public-key FILE)",
            tamper::PUBLIC_KEY_FILE
        ));
        return Ok(start);
    };
    if let Err(why) = h.check_signature(&key) {
        start.damage = missing(format!(
            "the log starts at id {first} but its retention horizon is not valid: {why}"
        ));
        return Ok(start);
    }
    match h.first_id.cmp(&first) {
        std::cmp::Ordering::Equal => start.head = h.head(),
        std::cmp::Ordering::Greater => start.notes.push(format!(
            "the retention horizon starts at id {} but segments from id {first} are still present (an interrupted retention; opening the log finishes it)",
            h.first_id
        )),
        std::cmp::Ordering::Less => {
            start.damage = Some((
                h.first_id,
                format!(
                    "records {}..={} are missing: the signed retention horizon says the log starts at id {}",
                    h.first_id,
                    first - 1,
                    h.first_id
                ),
            ))
        }
    }
    Ok(start)
}

fn check(
    items: Vec<Item>,
    horizon: u64,
    start: ChainStart,
    head_at: Option<u64>,
) -> Result<(VerifyReport, Option<Head>)> {
    let mut rep = VerifyReport {
        notes: start.notes,
        ..VerifyReport::default()
    };
    if let Some((id, why)) = start.damage {
        rep.damage = Some(Damage {
            segment: items.first().map(|i| i.path.clone()).unwrap_or_default(),
            offset: 0,
            id: Some(id),
            reason: why,
        });
        return Ok((rep, None));
    }
    let mut chain = start.head;
    let mut captured = match (head_at, chain) {
        (Some(at), Some(h)) if at + 1 == horizon => Some(h),
        _ => None,
    };
    let mut prev_desc = start.what.to_string();
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
                    "records {expect}..={} are missing (a segment was deleted?)",
                    it.first_id.saturating_sub(1)
                ),
            );
            return Ok((rep, None));
        }
        // As open does: a live last segment whose header never reached the
        // disk (a crash right after it was created) holds no record; open
        // removes and recreates it.
        let live = it.path.parent().and_then(|p| p.file_name()) == Some(SEGMENTS_DIR.as_ref());
        if is_last && live && it.limit.is_none() {
            let len = it.file.len().map_err(|e| Error::io("stat", &it.path, e))?;
            if len < HEADER_LEN as u64 && it.named_active {
                // STATE names a segment only once its header is durable.
                damage(
                    &mut rep,
                    len,
                    Some(expect),
                    format!("the active segment named in STATE is only {len} bytes, shorter than its header (truncated?)"),
                );
                return Ok((rep, None));
            }
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
                return Ok((rep, None));
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
            return Ok((rep, None));
        }
        if chain.is_some_and(|w| w != header.prev_head) {
            damage(
                &mut rep,
                28,
                Some(it.first_id),
                format!(
                    "the segment's prev_head does not continue {prev_desc}: this segment (or the one before it) was replaced or forged"
                ),
            );
            return Ok((rep, None));
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
        let w = walk_chain(bytes, it.first_id, header.prev_head, |_, rec, link| {
            if head_at == Some(rec.id) {
                captured = Some(*link);
            }
        });
        if let (true, Some((pos, why))) = (w.tampered, &w.stop) {
            damage(
                &mut rep,
                *pos as u64,
                Some(it.first_id + w.offsets.len() as u64),
                why.clone(),
            );
            return Ok((rep, None));
        }
        let next = it.first_id + w.offsets.len() as u64;
        if let Some(f) = w.footer {
            if crc32fast::hash(bytes.get(..f.body_len as usize).unwrap_or(bytes)) != f.body_crc {
                // Damage to the whole segment: none of its records counts.
                damage(
                    &mut rep,
                    0,
                    Some(it.first_id),
                    "segment checksum in the seal footer does not match its bytes".into(),
                );
                return Ok((rep, None));
            }
        }
        // The records walked, with their ids (also when damage further on
        // in this segment stops the walk below: they come before it).
        rep.records += w.offsets.len() as u64;
        if !w.offsets.is_empty() {
            rep.first_id.get_or_insert(it.first_id);
            rep.last_id = Some(next - 1);
        }
        // Unsealed: what open repairs, a torn tail, or damage.
        if w.footer.is_none() {
            if let Some(seal) = firsts
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
                        Some(l) => {
                            format!(", followed by a valid frame or seal footer at offset {l}")
                        }
                        None => String::new(),
                    };
                    damage(&mut rep, pos as u64, Some(next), format!("{why}{tail}"));
                    return Ok((rep, None));
                }
            } else if !is_last {
                damage(
                    &mut rep,
                    w.end as u64,
                    Some(next),
                    "segment is not sealed but is not the last one (truncated?)".into(),
                );
                return Ok((rep, None));
            }
        }
        if w.offsets.is_empty() && !is_last && w.footer.is_some_and(|f| f.count > 0) {
            damage(
                &mut rep,
                0,
                Some(next),
                "sealed segment holds no frames".into(),
            );
            return Ok((rep, None));
        }
        expect = next;
        chain = Some(w.head);
        prev_desc = format!(
            "the chain head of the previous segment {} (ids {}..={})",
            it.path.display(),
            it.first_id,
            next.saturating_sub(1)
        );
    }
    rep.chain_head = chain.map(|h| to_hex(&h));
    Ok((rep, captured))
}

fn snapshot_items(snap: &Snapshot) -> Vec<Item> {
    snap.segments
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
            named_active: false,
        })
        .collect()
}

/// Verifies the log of an open engine under a snapshot. The chain is
/// checked from the start of the log when it starts at id 1; the first
/// segment after a retention horizon is not checked against the signed
/// horizon (use [`verify_snapshot_in`]).
pub fn verify_snapshot(snap: &Snapshot) -> Result<VerifyReport> {
    let start = ChainStart::plain(snap.horizon);
    Ok(check(snapshot_items(snap), snap.horizon, start, None)?.0)
}

/// Verifies the log of an open engine under a snapshot, with the chain
/// started from the signed retention horizon of `dir` (checked under
/// `trusted`, else the directory's public key). Also returns the chain
/// head after record `head_at`, when asked and reached.
pub fn verify_snapshot_in(
    snap: &Snapshot,
    storage: &dyn Storage,
    dir: &Path,
    trusted: Option<&VerifyingKey>,
    head_at: Option<u64>,
) -> Result<(VerifyReport, Option<Head>)> {
    let start = chain_start(storage, dir, snap.horizon, trusted)?;
    check(snapshot_items(snap), snap.horizon, start, head_at)
}

/// Verifies the log in `dir` without opening the engine (works on a log
/// that would refuse to open, and on one in use by another process).
pub fn verify_dir(storage: &dyn Storage, dir: &Path) -> Result<VerifyReport> {
    Ok(verify_dir_with(storage, dir, None, None)?.0)
}

/// [`verify_dir`] with the retention horizon checked under `trusted`
/// (else the directory's public key), also returning the chain head after
/// record `head_at` when asked and reached. The third value is the
/// log's first kept id (the retention horizon).
pub fn verify_dir_with(
    storage: &dyn Storage,
    dir: &Path,
    trusted: Option<&VerifyingKey>,
    head_at: Option<u64>,
) -> Result<(VerifyReport, Option<Head>, u64)> {
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
            named_active: st.is_some_and(|s| s.active == first_id),
        });
    }
    let start = chain_start(storage, dir, horizon, trusted)?;
    let (mut rep, at) = check(items, horizon, start, head_at)?;
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
    Ok((rep, at, horizon))
}

/// Judges a checkpoint against a verification of the log: the
/// signature under `trusted`, the log still holding `last_id`, the chain
/// head there (`head_at`, from the verification) equal to the signed one,
/// and the checkpoint not older than the retention horizon (`first_kept`).
pub fn judge_checkpoint(
    rep: &VerifyReport,
    head_at: Option<Head>,
    first_kept: u64,
    cp: &Checkpoint,
    trusted: &VerifyingKey,
) -> CheckpointReport {
    let problem = (|| {
        cp.check_signature(trusted)?;
        let want = cp.head().map_err(|e| e.to_string())?;
        if let Some(d) = &rep.damage {
            return Err(format!("the log is damaged, so it cannot be shown to extend the checkpoint: {d}"));
        }
        if cp.last_id == 0 {
            return Ok(());
        }
        if cp.last_id + 1 < first_kept {
            return Err(format!(
                "checkpoint covers up to id {} but retention removed records through id {}: it cannot be proved beyond the retention horizon",
                cp.last_id,
                first_kept - 1
            ));
        }
        let log_last = rep.last_id.unwrap_or(first_kept.saturating_sub(1));
        if log_last < cp.last_id {
            return Err(format!(
                "checkpoint covers up to id {}, log ends at id {log_last}: the newest records were removed (truncation)",
                cp.last_id
            ));
        }
        match head_at {
            Some(h) if h == want => Ok(()),
            Some(h) => Err(format!(
                "the chain head at id {} is {} but the checkpoint signed {}: records up to id {} were rewritten",
                cp.last_id,
                to_hex(&h),
                cp.chain_head,
                cp.last_id
            )),
            None => Err(format!(
                "the chain head at id {} could not be recomputed (the start of the chain is not vouched for)",
                cp.last_id
            )),
        }
    })()
    .err();
    CheckpointReport {
        checkpoint_last_id: cp.last_id,
        log_last_id: rep.last_id,
        problem,
    }
}

/// Verifies the log in `dir` (as [`verify_dir`]) and judges `cp` against
/// it under the `trusted` public key.
pub fn verify_checkpoint_dir(
    storage: &dyn Storage,
    dir: &Path,
    cp: &Checkpoint,
    trusted: &VerifyingKey,
) -> Result<(VerifyReport, CheckpointReport)> {
    let (rep, at, first) = verify_dir_with(storage, dir, Some(trusted), Some(cp.last_id))?;
    let judged = judge_checkpoint(&rep, at, first, cp, trusted);
    Ok((rep, judged))
}
