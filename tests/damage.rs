//! Guards against recovery papering over damage that is not a torn tail:
//! a bad frame or header in a sealed segment, a missing or truncated
//! sealed segment, a missing active segment, or a bad frame in the active
//! segment with valid frames after it. Open must refuse with an error
//! naming segment, offset and record id (and leave the files as they
//! were), `verify_dir` must report the same place, and no record after the
//! damage may be silently dropped. And against the opposite mistake: a
//! damaged or missing seal footer over intact frames loses nothing (it is
//! what a crash during a background seal leaves) and is resealed.

mod common;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use auditlog::format::layout::{FOOTER_LEN, HEADER_LEN};
use auditlog::{AuditLog, Durability, Error, NewRecord, Options};
use common::{gen_record, Rng};
use support::{copy_dir, frames, segment_files};

const SEGMENT: u64 = 8 << 10;

fn opts(dir: &Path) -> Options {
    Options::new(dir)
        .durability(Durability::Never)
        .segment_size(SEGMENT)
}

struct Template {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    recs: Vec<NewRecord>,
}

/// A closed log of at least five sealed segments and an active one with
/// at least four frames; with `empty_active`, the active segment has just
/// been started and holds no frame.
fn template(seed: u64, empty_active: bool) -> Template {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut rng = Rng(seed);
    let mut recs = Vec::new();
    {
        let log = opts(&dir).open().unwrap();
        let mut i = 0;
        loop {
            let r = gen_record(&mut rng, i, 1_700_000_000_000_000);
            i += 1;
            log.append(r.clone()).unwrap();
            recs.push(r);
            let files = segment_files(&dir);
            if files.len() >= 6 {
                let bytes = std::fs::read(files.last().unwrap()).unwrap();
                let nf = frames(&bytes).0.len();
                if (empty_active && nf == 1) || (!empty_active && nf >= 4) {
                    break;
                }
            }
        }
        if empty_active {
            // Undo the one frame in the new segment by hand (as if the
            // log had been closed right after the roll).
            recs.pop();
        }
    }
    if empty_active {
        let active = segment_files(&dir).pop().unwrap();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&active)
            .unwrap();
        f.set_len(HEADER_LEN as u64).unwrap();
    }
    let t = Template {
        _tmp: tmp,
        dir,
        recs,
    };
    let rep = AuditLog::verify_dir(&t.dir).unwrap();
    assert!(rep.is_ok(), "untouched template: {rep:?}");
    assert!(rep.notes.is_empty(), "{rep:?}");
    assert_eq!(rep.last_id, Some(t.recs.len() as u64));
    t
}

/// First id held by each segment file (from its name).
fn first_id(p: &Path) -> u64 {
    p.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    for sub in ["segments", "archive"] {
        let d = dir.join(sub);
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            m.insert(
                format!("{sub}/{}", e.file_name().to_string_lossy()),
                std::fs::read(e.path()).unwrap(),
            );
        }
    }
    m.insert("STATE".into(), std::fs::read(dir.join("STATE")).unwrap());
    m
}

/// Open must fail with `Error::Corrupt` at exactly (segment, offset, id),
/// without changing a segment file, twice in a row; `verify_dir` must
/// report the same place.
fn expect_corrupt(dir: &Path, segment: &Path, offset: u64, id: u64, what: &str) {
    let before = files_of(dir);
    for attempt in 0..2 {
        let err = match opts(dir).open() {
            Ok(_) => panic!("{what}: the damaged log opened (attempt {attempt})"),
            Err(e) => e,
        };
        let shown = err.to_string();
        match &err {
            Error::Corrupt {
                segment: s,
                offset: o,
                id: i,
                ..
            } => {
                assert_eq!(
                    (s.as_path(), *o, *i),
                    (segment, offset, Some(id)),
                    "{what}: wrong location in {shown}"
                );
            }
            other => panic!("{what}: expected Error::Corrupt, got {other:?}"),
        }
        for part in [
            segment.display().to_string(),
            format!("offset {offset}"),
            format!("record id {id}"),
        ] {
            assert!(
                shown.contains(&part),
                "{what}: {shown:?} does not say {part:?}"
            );
        }
        assert!(
            files_of(dir) == before,
            "{what}: a refused open changed the segment files"
        );
    }
    let rep = AuditLog::verify_dir(dir).unwrap();
    let d = rep
        .damage
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: verify_dir found no damage: {rep:?}"));
    assert_eq!(
        (d.segment.as_path(), d.offset, d.id),
        (segment, offset, Some(id)),
        "{what}: verify_dir reports {d}"
    );
    assert!(!rep.is_ok());
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x5a;
    std::fs::write(path, b).unwrap();
}

fn fresh_copy(t: &Template) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    copy_dir(&t.dir, &dir);
    (tmp, dir)
}

#[test]
fn untouched_log_verifies_clean_and_opens() {
    let t = template(1, false);
    let rep = AuditLog::verify_dir(&t.dir).unwrap();
    assert!(rep.is_ok() && rep.notes.is_empty(), "{rep:?}");
    assert_eq!(rep.records, t.recs.len() as u64);
    assert_eq!(rep.segments, segment_files(&t.dir).len() as u64);
    let log = opts(&t.dir).open().unwrap();
    assert!(log.warnings().is_empty(), "{:?}", log.warnings());
    assert!(log.verify().unwrap().is_ok());
    let all: Vec<_> = log.range(..).collect::<Result<_, _>>().unwrap();
    assert_eq!(all.len(), t.recs.len());
    for (r, want) in all.iter().zip(&t.recs) {
        assert_eq!(&r.to_new(), want);
    }
}

#[test]
fn flipped_byte_in_a_sealed_frame() {
    let t = template(2, false);
    for (si, seg_i) in [0usize, 2, 4].into_iter().enumerate() {
        let seg = &segment_files(&t.dir)[seg_i];
        let bytes = std::fs::read(seg).unwrap();
        let (fr, sealed) = frames(&bytes);
        assert!(sealed);
        let k = [0, fr.len() / 2, fr.len() - 1][si];
        let (start, end) = fr[k];
        // In the length field, the CRC field, and the payload.
        for at in [
            start,
            start + 1,
            start + 5,
            start + 8,
            (start + end) / 2,
            end - 1,
        ] {
            let (_tmp, dir) = fresh_copy(&t);
            let s = dir.join("segments").join(seg.file_name().unwrap());
            flip(&s, at);
            expect_corrupt(
                &dir,
                &s,
                start as u64,
                first_id(&s) + k as u64,
                &format!("segment {seg_i} frame {k} byte {at}"),
            );
        }
    }
}

#[test]
fn flipped_byte_in_a_sealed_header() {
    let t = template(3, false);
    let seg = segment_files(&t.dir)[1].clone();
    for at in 0..HEADER_LEN {
        let (_tmp, dir) = fresh_copy(&t);
        let s = dir.join("segments").join(seg.file_name().unwrap());
        flip(&s, at);
        expect_corrupt(&dir, &s, 0, first_id(&s), &format!("header byte {at}"));
    }
}

/// A sealed segment whose footer is damaged or missing while every frame
/// is intact and its ids run into the next segment is what a crash during
/// a background seal leaves (the footer is made durable after the next
/// segment is in use): nothing is lost, so open rewrites the footer (with
/// a warning naming the file) and verify notes it rather than call it
/// damage. The rewritten footer is the original one, byte for byte.
#[test]
fn damaged_or_missing_footer_is_resealed() {
    for empty_active in [false, true] {
        let t = template(4, empty_active);
        let files = segment_files(&t.dir);
        // A middle segment, and the last sealed one (just before the
        // active segment, which may be empty: that must not pass for an
        // interrupted roll).
        for seg in [&files[2], &files[files.len() - 2]] {
            let orig = std::fs::read(seg).unwrap();
            let (fr, sealed) = frames(&orig);
            assert!(sealed);
            let foot = fr.last().unwrap().1;
            assert_eq!(foot + FOOTER_LEN, orig.len());
            let flips = (foot..orig.len())
                .step_by(3)
                .chain([orig.len() - 1])
                .map(Some);
            let cuts = [foot, foot + 1, foot + 10, orig.len() - 1].map(|c| (None, c));
            for (flip_at, cut) in flips.map(|f| (f, orig.len())).chain(cuts) {
                let (_tmp, dir) = fresh_copy(&t);
                let s = dir.join("segments").join(seg.file_name().unwrap());
                let what = format!(
                    "{} footer flip {flip_at:?} cut {cut} (empty active: {empty_active})",
                    s.display()
                );
                if let Some(at) = flip_at {
                    flip(&s, at);
                }
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&s)
                    .unwrap()
                    .set_len(cut as u64)
                    .unwrap();
                let rep = AuditLog::verify_dir(&dir).unwrap();
                assert!(rep.is_ok(), "{what}: {rep:?}");
                assert!(
                    rep.notes.len() == 1 && rep.notes[0].contains(&s.display().to_string()),
                    "{what}: {rep:?}"
                );
                let log = opts(&dir).open().unwrap();
                let w = log.warnings();
                assert!(
                    w.len() == 1
                        && w[0].contains(&s.display().to_string())
                        && w[0].contains("interrupted seal"),
                    "{what}: {w:?}"
                );
                assert_eq!(
                    std::fs::read(&s).unwrap(),
                    orig,
                    "{what}: footer not restored"
                );
                let all: Vec<_> = log.range(..).collect::<Result<_, _>>().unwrap();
                assert_eq!(all.len(), t.recs.len(), "{what}");
                for (r, want) in all.iter().zip(&t.recs) {
                    assert_eq!(&r.to_new(), want, "{what}");
                }
                drop(log);
                let log = opts(&dir).open().unwrap();
                assert!(log.warnings().is_empty(), "{what}: {:?}", log.warnings());
                drop(log);
                let rep = AuditLog::verify_dir(&dir).unwrap();
                assert!(rep.is_ok() && rep.notes.is_empty(), "{what}: {rep:?}");
            }
        }
    }
}

#[test]
fn deleted_sealed_segment() {
    let t = template(5, false);
    let files = segment_files(&t.dir);
    for i in [0, 2, files.len() - 2] {
        let (_tmp, dir) = fresh_copy(&t);
        let gone = dir.join("segments").join(files[i].file_name().unwrap());
        let next = dir.join("segments").join(files[i + 1].file_name().unwrap());
        std::fs::remove_file(&gone).unwrap();
        expect_corrupt(
            &dir,
            &next,
            0,
            first_id(&gone),
            &format!("deleted segment {i}"),
        );
    }
}

#[test]
fn truncated_sealed_segment() {
    for empty_active in [false, true] {
        let t = template(6, empty_active);
        let files = segment_files(&t.dir);
        for seg in [&files[1], &files[files.len() - 2]] {
            let bytes = std::fs::read(seg).unwrap();
            let (fr, _) = frames(&bytes);
            let k = fr.len() / 2;
            let (start, end) = fr[k];
            // Mid-frame, at a frame boundary, and inside the last frame:
            // records are gone (a cut in the footer only is resealed, see
            // above).
            let (last_start, last_end) = *fr.last().unwrap();
            for (cut, off, id_ord) in [
                ((start + end) / 2, start, k),
                (start, start, k),
                (last_end - 1, last_start, fr.len() - 1),
            ] {
                let (_tmp, dir) = fresh_copy(&t);
                let s = dir.join("segments").join(seg.file_name().unwrap());
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&s)
                    .unwrap()
                    .set_len(cut as u64)
                    .unwrap();
                expect_corrupt(
                    &dir,
                    &s,
                    off as u64,
                    first_id(&s) + id_ord as u64,
                    &format!(
                        "{} cut at {cut} (empty active: {empty_active})",
                        s.display()
                    ),
                );
            }
        }
    }
}

#[test]
fn deleted_active_segment() {
    for empty_active in [false, true] {
        let t = template(7, empty_active);
        let (_tmp, dir) = fresh_copy(&t);
        let active = segment_files(&dir).pop().unwrap();
        std::fs::remove_file(&active).unwrap();
        expect_corrupt(
            &dir,
            &active,
            0,
            first_id(&active),
            &format!("deleted active segment (empty: {empty_active})"),
        );
    }
}

#[test]
fn bad_frame_in_the_active_segment_followed_by_valid_frames() {
    let t = template(8, false);
    let active = segment_files(&t.dir).pop().unwrap();
    let bytes = std::fs::read(&active).unwrap();
    let (fr, sealed) = frames(&bytes);
    assert!(!sealed && fr.len() >= 4);
    // Every frame but the last (after which no valid frame follows).
    for (k, &(start, end)) in fr.iter().enumerate().take(fr.len() - 1) {
        for at in [start + 4, start + 9, end - 1] {
            let (_tmp, dir) = fresh_copy(&t);
            let s = dir.join("segments").join(active.file_name().unwrap());
            flip(&s, at);
            expect_corrupt(
                &dir,
                &s,
                start as u64,
                first_id(&s) + k as u64,
                &format!("active frame {k} byte {at}"),
            );
        }
    }
    // The active segment's header.
    for at in [0, 9, 13, 30] {
        let (_tmp, dir) = fresh_copy(&t);
        let s = dir.join("segments").join(active.file_name().unwrap());
        flip(&s, at);
        expect_corrupt(
            &dir,
            &s,
            0,
            first_id(&s),
            &format!("active header byte {at}"),
        );
    }
}

#[test]
fn active_segment_cut_inside_its_header() {
    // STATE names the active segment only once its header is durable: a
    // shorter file is damage (its records are gone), not a roll that a
    // crash interrupted, and its ids must not be given out again.
    for empty_active in [false, true] {
        let t = template(11, empty_active);
        let (_tmp, dir) = fresh_copy(&t);
        let active = segment_files(&dir).pop().unwrap();
        for len in [0, 30] {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&active)
                .unwrap()
                .set_len(len)
                .unwrap();
            expect_corrupt(
                &dir,
                &active,
                len,
                first_id(&active),
                &format!("active segment cut to {len} bytes (empty: {empty_active})"),
            );
        }
    }
}

/// Rewrites the retention horizon in STATE.
fn set_state_horizon(dir: &Path, horizon: u64) {
    let path = dir.join("STATE");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["horizon"] = horizon.into();
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn a_damaged_horizon_in_state_removes_nothing() {
    let t = template(12, false);
    let files = segment_files(&t.dir);
    let second = first_id(&files[1]);
    // Not a segment start, and a segment start that no retention
    // (no signed horizon file) vouches for.
    for horizon in [7, second] {
        let (_tmp, dir) = fresh_copy(&t);
        set_state_horizon(&dir, horizon);
        let first = &segment_files(&dir)[0];
        let before = files_of(&dir);
        let err = opts(&dir).open().unwrap_err();
        let shown = err.to_string();
        assert!(matches!(err, Error::Corrupt { .. }), "{shown}");
        assert!(shown.contains(&first.display().to_string()), "{shown}");
        assert!(shown.contains("nothing was removed"), "{shown}");
        assert!(files_of(&dir) == before, "horizon {horizon}: files changed");
        let rep = AuditLog::verify_dir(&dir).unwrap();
        assert!(!rep.is_ok(), "horizon {horizon}: {rep:?}");
    }
}

#[test]
fn a_missing_state_file_is_written_anew_with_a_warning() {
    let t = template(13, false);
    let (_tmp, dir) = fresh_copy(&t);
    std::fs::remove_file(dir.join("STATE")).unwrap();
    let log = opts(&dir).open().unwrap();
    assert!(
        log.warnings()
            .iter()
            .any(|w| w.contains("STATE was missing")),
        "{:?}",
        log.warnings()
    );
    assert_eq!(log.last_id(), t.recs.len() as u64);
    drop(log);
    assert!(dir.join("STATE").exists());
    let log = opts(&dir).open().unwrap();
    assert!(log.warnings().is_empty(), "{:?}", log.warnings());
}

#[test]
fn an_interrupted_retention_is_finished_at_open() {
    let t = template(14, false);
    let (_tmp, dir) = fresh_copy(&t);
    let before = files_of(&dir);
    let removed = {
        let log = opts(&dir).open().unwrap();
        log.retain(auditlog::Timestamp::now()).unwrap()
    };
    assert!(removed.len() >= 2, "{removed:?}");
    // As if the process had stopped between recording the horizon and
    // deleting the files: put them back.
    for (name, bytes) in &before {
        let p = dir.join(name);
        if name.starts_with("segments/") && !p.exists() {
            std::fs::write(&p, bytes).unwrap();
        }
    }
    let log = opts(&dir).open().unwrap();
    let w = log.warnings();
    assert_eq!(
        w.iter()
            .filter(|m| m.contains("left behind by an interrupted retention"))
            .count(),
        removed.len(),
        "{w:?}"
    );
    for id in &removed {
        assert!(!dir.join(format!("segments/{id:020}.seg")).exists());
    }
    assert!(log.verify().unwrap().is_ok());
}
