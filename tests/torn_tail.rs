//! Guards against recovery mishandling a torn tail of the active segment:
//! keeping a partial frame, dropping a complete one, losing track of the
//! next id, truncating without saying where, or trusting a huge length
//! field at the tail and allocating it (a crash mid-append must cost at
//! most the frame being written, and must never take the engine down).

mod common;
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};

use auditlog::{AuditLog, Durability, NewRecord, Options};
use common::{gen_record, Rng};
use support::{copy_dir, frames, segment_files, vm_hwm_kib};

const SEGMENT: u64 = 8 << 10;

fn open(dir: &Path) -> AuditLog {
    Options::new(dir)
        .durability(Durability::Never)
        .segment_size(SEGMENT)
        .open()
        .unwrap()
}

struct Template {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    recs: Vec<NewRecord>,
}

/// A closed log of a few sealed segments and an active one holding at
/// least three frames.
fn template(seed: u64) -> Template {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut rng = Rng(seed);
    let mut recs = Vec::new();
    {
        let log = open(&dir);
        let mut i = 0;
        loop {
            let r = gen_record(&mut rng, i, 1_700_000_000_000_000);
            i += 1;
            log.append(r.clone()).unwrap();
            recs.push(r);
            let files = segment_files(&dir);
            if files.len() >= 4 {
                let bytes = std::fs::read(files.last().unwrap()).unwrap();
                if frames(&bytes).0.len() >= 5 {
                    break;
                }
            }
        }
    }
    Template {
        _tmp: tmp,
        dir,
        recs,
    }
}

/// Checks the log holds exactly `recs[..n]` as ids 1..=n.
fn check_prefix(log: &AuditLog, recs: &[NewRecord], n: u64, what: &str) {
    assert_eq!(log.last_id(), n, "{what}: last id");
    let all: Vec<_> = log.range(..).collect::<Result<_, _>>().unwrap();
    assert_eq!(all.len() as u64, n, "{what}: record count");
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.id, i as u64 + 1, "{what}");
        assert_eq!(r.to_new(), recs[i], "{what}: record {}", r.id);
    }
}

#[test]
fn every_cut_in_the_last_two_frames() {
    let t = template(7);
    let n = t.recs.len() as u64;
    let active = segment_files(&t.dir).pop().unwrap();
    let name = active.file_name().unwrap().to_owned();
    let bytes = std::fs::read(&active).unwrap();
    let (fr, sealed) = frames(&bytes);
    assert!(!sealed && fr.len() >= 5);
    assert_eq!(
        fr.last().unwrap().1,
        bytes.len(),
        "active segment ends with a frame"
    );
    let first_in_active = n - fr.len() as u64 + 1;
    let from = fr[fr.len() - 2].0;

    let mut rng = Rng(99);
    for cut in from..bytes.len() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        copy_dir(&t.dir, &dir);
        let seg = dir.join("segments").join(&name);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(cut as u64)
            .unwrap();
        // Frames wholly before the cut survive; the one it splits goes.
        let whole = fr.iter().filter(|f| f.1 <= cut).count() as u64;
        let kept = first_in_active - 1 + whole;
        let boundary = fr.iter().map(|f| f.1).filter(|&e| e <= cut).max().unwrap();
        let what = format!("cut at {cut}");

        let log = open(&dir);
        let w = log.warnings();
        if boundary == cut {
            assert!(
                w.is_empty(),
                "{what}: a cut at a frame boundary warned: {w:?}"
            );
        } else {
            assert_eq!(w.len(), 1, "{what}: {w:?}");
            assert!(
                w[0].contains(&seg.display().to_string())
                    && w[0].contains(&format!("offset {boundary}")),
                "{what}: warning does not name {} and offset {boundary}: {}",
                seg.display(),
                w[0]
            );
        }
        assert_eq!(
            std::fs::metadata(&seg).unwrap().len(),
            boundary as u64,
            "{what}: file length"
        );
        check_prefix(&log, &t.recs, kept, &what);

        // Appends continue with the next id, and survive another reopen.
        let extra = gen_record(&mut rng, n + 10, 1_700_000_000_000_000);
        assert_eq!(
            log.append(extra.clone()).unwrap(),
            kept + 1,
            "{what}: next id"
        );
        drop(log);
        let log = open(&dir);
        assert!(
            log.warnings().is_empty(),
            "{what}: second reopen warned: {:?}",
            log.warnings()
        );
        let mut want = t.recs[..kept as usize].to_vec();
        want.push(extra);
        check_prefix(&log, &want, kept + 1, &what);
        assert!(log.verify().unwrap().is_ok(), "{what}");
    }
}

/// Appends `junk` to the active segment of a copy of the template, reopens
/// and checks it is cut away with a warning naming the file and offset.
fn junk_is_truncated(t: &Template, junk: &[u8], what: &str) {
    let n = t.recs.len() as u64;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    copy_dir(&t.dir, &dir);
    let seg = segment_files(&dir).pop().unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&seg)
        .unwrap()
        .write_all(junk)
        .unwrap();
    let report = AuditLog::verify_dir(&dir).unwrap();
    assert!(
        report.is_ok(),
        "{what}: a torn tail is not damage: {report:?}"
    );
    assert_eq!(report.notes.len(), 1, "{what}: {report:?}");

    let log = open(&dir);
    let w = log.warnings();
    assert_eq!(w.len(), 1, "{what}: {w:?}");
    assert!(
        w[0].contains(&seg.display().to_string()) && w[0].contains(&format!("offset {len}")),
        "{what}: warning does not name {} and offset {len}: {}",
        seg.display(),
        w[0]
    );
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        len,
        "{what}: not truncated"
    );
    check_prefix(&log, &t.recs, n, what);
    assert_eq!(
        log.append(t.recs[0].clone()).unwrap(),
        n + 1,
        "{what}: next id"
    );
}

#[test]
fn garbage_after_the_last_frame_is_truncated() {
    let t = template(8);
    for k in [1usize, 3, 4, 7, 8, 9, 100, 5000] {
        junk_is_truncated(&t, &vec![0u8; k], &format!("{k} zero bytes"));
    }
    let mut rng = Rng(5);
    for k in [1usize, 2, 5, 8, 13, 64, 300, 4096, 70_000] {
        for _ in 0..3 {
            let junk: Vec<u8> = (0..k).map(|_| rng.next() as u8).collect();
            junk_is_truncated(&t, &junk, &format!("{k} random bytes"));
        }
    }
    // A plausible frame header (a valid length) whose payload never came.
    let mut h = (1000u32).to_le_bytes().to_vec();
    h.extend_from_slice(&[0xaa; 4]);
    h.extend_from_slice(&[0x55; 300]);
    junk_is_truncated(&t, &h, "frame header with a short payload");
    // A footer marker with no footer behind it.
    junk_is_truncated(&t, &[0xff; 20], "a lone footer marker");
}

#[test]
fn huge_length_field_at_the_tail_allocates_nothing() {
    let t = template(9);
    let before = vm_hwm_kib();
    for len in [
        u32::MAX - 1,
        0xFFFF_FFF0,
        0x8000_0000,
        (1 << 20) + 1,
        1 << 20,
    ] {
        let mut junk = len.to_le_bytes().to_vec();
        junk.extend_from_slice(&0x1234_5678u32.to_le_bytes());
        junk.extend_from_slice(&[7u8; 64]);
        junk_is_truncated(&t, &junk, &format!("length field {len:#x}"));
    }
    let after = vm_hwm_kib();
    assert!(
        after.saturating_sub(before) < 100 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
}

/// A crash right after a roll created the next segment file, before its
/// header was written: the file holds no record. Verify notes it, open
/// replaces it (with a warning naming it) and appends go on from there.
#[test]
fn new_segment_without_a_complete_header() {
    let t = template(10);
    let n = t.recs.len() as u64;
    for len in [0usize, 1, 31] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        copy_dir(&t.dir, &dir);
        // Seal the active segment as a roll would, then leave the next
        // segment file cut short.
        {
            let log = open(&dir);
            let more = t.recs.clone();
            while segment_files(&dir).len() == segment_files(&t.dir).len() {
                log.append(more[0].clone()).unwrap();
            }
            let last = log.last_id();
            drop(log);
            let next = segment_files(&dir).pop().unwrap();
            std::fs::remove_file(&next).unwrap();
            // Drop the record written into the new segment: rebuild it empty.
            assert_eq!(
                next.file_name().unwrap().to_str().unwrap(),
                format!("{last:020}.seg")
            );
            let f = std::fs::File::create(&next).unwrap();
            f.set_len(len as u64).unwrap();
            // STATE names the new segment only once its header is
            // durable: before that it still names the one before.
            let files = segment_files(&dir);
            let prev = &files[files.len() - 2];
            let prev_first: u64 = prev.file_stem().unwrap().to_str().unwrap().parse().unwrap();
            let state = dir.join("STATE");
            let mut v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
            v["active"] = prev_first.into();
            std::fs::write(&state, serde_json::to_vec(&v).unwrap()).unwrap();
        }
        let seg = segment_files(&dir).pop().unwrap();
        let what = format!("{len}-byte new segment");
        let rep = AuditLog::verify_dir(&dir).unwrap();
        assert!(rep.is_ok(), "{what}: {rep:?}");
        assert!(
            rep.notes.len() == 1 && rep.notes[0].contains(&seg.display().to_string()),
            "{what}: {rep:?}"
        );
        let log = open(&dir);
        let w = log.warnings();
        assert!(
            w.len() == 1 && w[0].contains(&seg.display().to_string()),
            "{what}: {w:?}"
        );
        let kept = log.last_id();
        assert!(kept >= n, "{what}");
        assert_eq!(log.append(t.recs[1].clone()).unwrap(), kept + 1, "{what}");
        assert!(log.verify().unwrap().is_ok(), "{what}");
        drop(log);
        let log = open(&dir);
        assert!(log.warnings().is_empty(), "{what}: {:?}", log.warnings());
        assert_eq!(log.get(kept + 1).unwrap().unwrap().to_new(), t.recs[1]);
    }
}
