//! Tamper evidence (issue 7): deliberate edits that keep every CRC valid
//! (frame CRCs, and the seal footer's counts and body CRC when sealed) are
//! caught by the SHA-256 chain, `verify` naming the first bad id; signed
//! checkpoints catch truncation of the newest records and reject altered
//! documents and untrusted keys; retention leaves a signed horizon so the
//! rest of the log still verifies. Real files through the library, plus
//! the CLI (`checkpoint`, `verify --checkpoint --public-key`).

use std::path::{Path, PathBuf};
use std::process::Command;

use auditlog::format::chain::{self, Head, GENESIS};
use auditlog::format::codec;
use auditlog::format::layout::{
    encode_frame, read_frame, Footer, FrameRead, Header, FOOTER_LEN, FORMAT_VERSION, HEADER_LEN,
};
use auditlog::tamper::{self, SigningKey};
use auditlog::{AuditLog, Durability, Error, NewRecord, Options, Timestamp};

const BASE: i64 = 1_700_000_000_000_000;

fn opts(dir: &Path) -> Options {
    Options::new(dir)
        .durability(Durability::Never)
        .segment_size(8 << 10)
        .segment_max_age(None)
}

fn rec(i: u64) -> NewRecord {
    NewRecord::new(1 + i % 7)
        .person(format!("user{}", i % 13))
        .action("change")
        .object("user")
        .old(format!("o{i}"))
        .new_value(format!("n{i}"))
        .time(Timestamp::from_micros(BASE + i as i64 * 1_000_000).unwrap())
}

/// Live segment files in id order.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

fn first_id(p: &Path) -> u64 {
    p.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

/// A closed log with at least four sealed segments and an active one with
/// at least five records. Returns the temp dir, the data dir and the
/// number of records.
fn build() -> (tempfile::TempDir, PathBuf, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = opts(&dir).open().unwrap();
    let mut i = 0;
    loop {
        log.append_batch(vec![rec(i)]).unwrap();
        i += 1;
        let segs = segments(&dir);
        if segs.len() >= 5 && parse(&std::fs::read(segs.last().unwrap()).unwrap()).1.len() >= 5 {
            break;
        }
    }
    drop(log);
    let rep = AuditLog::verify_dir(&dir).unwrap();
    assert!(rep.is_ok() && rep.notes.is_empty(), "untouched: {rep:?}");
    assert_eq!(rep.last_id, Some(i));
    (tmp, dir, i)
}

/// A frame's payload and chain tag.
type Frame = (Vec<u8>, [u8; 8]);

/// A segment's header bytes, its frames and its footer.
fn parse(b: &[u8]) -> (Vec<u8>, Vec<Frame>, Option<Footer>) {
    let mut frames = Vec::new();
    let mut pos = HEADER_LEN;
    loop {
        match read_frame(b, pos) {
            FrameRead::Frame { payload, tag, next } => {
                frames.push((payload.to_vec(), tag));
                pos = next;
            }
            FrameRead::Footer => {
                let f = Footer::decode(&b[pos..]).expect("footer");
                return (b[..HEADER_LEN].to_vec(), frames, Some(f));
            }
            _ => return (b[..HEADER_LEN].to_vec(), frames, None),
        }
    }
}

/// Rebuilds a segment from its parts with every CRC right: frame CRCs
/// over the (kept) tags, and when `footer` is given, its count, body
/// length and body CRC fixed up (its chain head kept as it was).
fn assemble(header: &[u8], frames: &[Frame], footer: Option<Footer>) -> Vec<u8> {
    let mut out = header.to_vec();
    for (p, t) in frames {
        encode_frame(p, t, &mut out);
    }
    if let Some(mut f) = footer {
        f.count = frames.len() as u64;
        f.body_len = out.len() as u64;
        f.body_crc = crc32fast::hash(&out);
        out.extend_from_slice(&f.encode());
    }
    out
}

/// Changes one byte of the record payload (the `o` of its `old` value
/// becomes `x`): it still decodes, to a different record.
fn change_one_byte(payload: &mut [u8]) {
    let r = codec::decode(payload).unwrap();
    let at = payload
        .windows(r.old.len())
        .rposition(|w| w == r.old.as_bytes())
        .unwrap();
    payload[at] = b'x';
    let changed = codec::decode(payload).unwrap();
    assert!(changed.old.starts_with('x'));
}

fn damage_of(dir: &Path) -> auditlog::Damage {
    let rep = AuditLog::verify_dir(dir).unwrap();
    match rep.damage {
        Some(d) => d,
        None => panic!("verify found nothing: {rep:?}"),
    }
}

fn edit(path: &Path, f: impl FnOnce(&mut Vec<Frame>)) {
    let b = std::fs::read(path).unwrap();
    let (h, mut frames, footer) = parse(&b);
    f(&mut frames);
    std::fs::write(path, assemble(&h, &frames, footer)).unwrap();
}

#[test]
fn untouched_log_verifies_clean_with_and_without_opening() {
    let (_t, dir, n) = build();
    let log = opts(&dir).open().unwrap();
    let rep = log.verify().unwrap();
    assert!(rep.is_ok(), "{rep:?}");
    assert_eq!(rep.last_id, Some(n));
    assert!(rep.chain_head.is_some());
    // The chain crosses every segment: each header continues the footer
    // before it, the first starts from zeros.
    let mut prev: Head = GENESIS;
    for s in segments(&dir) {
        let (h, frames, footer) = parse(&std::fs::read(&s).unwrap());
        let h = Header::decode(&h).unwrap();
        assert_eq!(h.version, FORMAT_VERSION);
        assert_eq!(h.prev_head, prev, "{}", s.display());
        for (p, t) in &frames {
            prev = chain::link(&prev, p);
            assert_eq!(chain::tag_of(&prev), *t);
        }
        if let Some(f) = footer {
            assert_eq!(f.head, prev);
        }
    }
    assert_eq!(rep.chain_head.unwrap(), chain::to_hex(&prev));
}

#[test]
fn one_changed_byte_in_a_sealed_record_is_named() {
    let (_t, dir, _) = build();
    let seg = &segments(&dir)[1];
    let k = 3;
    edit(seg, |f| change_one_byte(&mut f[k].0));
    let d = damage_of(&dir);
    assert_eq!(d.id, Some(first_id(seg) + k as u64), "{d}");
    assert_eq!(&d.segment, seg);
    assert!(d.reason.contains("chain tag mismatch"), "{d}");
    // Open checks the (fixed-up) body CRC of a sealed segment, but the
    // index is rebuilt from its frames (the catalogue no longer matches),
    // which walks the chain: open refuses at the same id.
    match opts(&dir).open() {
        Err(Error::Corrupt { id, .. }) => assert_eq!(id, d.id),
        Err(e) => panic!("wrong error: {e}"),
        Ok(log) => assert_eq!(log.verify().unwrap().damage.unwrap().id, d.id),
    }
}

#[test]
fn one_changed_byte_in_the_active_segment_refuses_open() {
    let (_t, dir, _) = build();
    let seg = segments(&dir).pop().unwrap();
    let k = 2;
    edit(&seg, |f| change_one_byte(&mut f[k].0));
    let want = first_id(&seg) + k as u64;
    assert_eq!(damage_of(&dir).id, Some(want));
    // Even the last frame: a checksummed frame with a wrong tag is never
    // truncated away as a torn tail.
    match opts(&dir).open() {
        Err(Error::Corrupt {
            segment,
            id,
            reason,
            ..
        }) => {
            assert_eq!(segment, seg);
            assert_eq!(id, Some(want));
            assert!(reason.contains("chain tag mismatch"), "{reason}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a tampered active segment opened"),
    }
    let (_t2, dir2, _) = build();
    let seg2 = segments(&dir2).pop().unwrap();
    let mut last = 0;
    edit(&seg2, |f| {
        last = f.len() - 1;
        change_one_byte(&mut f[last].0);
    });
    assert!(matches!(opts(&dir2).open(), Err(Error::Corrupt { .. })));
    assert_eq!(damage_of(&dir2).id, Some(first_id(&seg2) + last as u64));
}

#[test]
fn a_deleted_record_is_named() {
    let (_t, dir, _) = build();
    let seg = &segments(&dir)[2];
    let k = 4;
    edit(seg, |f| {
        f.remove(k);
    });
    let d = damage_of(&dir);
    assert_eq!(d.id, Some(first_id(seg) + k as u64), "{d}");
    assert!(d.reason.contains("chain tag mismatch"), "{d}");
}

#[test]
fn a_deleted_record_renumbered_is_named() {
    // The attacker also renumbers the later records (each re-encoded with
    // its id minus one): ids are contiguous again, only the chain knows.
    let (_t, dir, _) = build();
    let seg = segments(&dir).pop().unwrap();
    let k = 1;
    edit(&seg, |f| {
        f.remove(k);
        for (p, _) in f.iter_mut().skip(k) {
            let mut r = codec::decode(p).unwrap();
            r.id -= 1;
            p.clear();
            codec::encode_into(&r, p).unwrap();
        }
    });
    let d = damage_of(&dir);
    assert_eq!(d.id, Some(first_id(&seg) + k as u64), "{d}");
    assert!(d.reason.contains("chain tag mismatch"), "{d}");
}

#[test]
fn swapped_records_are_named() {
    let (_t, dir, _) = build();
    let seg = &segments(&dir)[0];
    let k = 5;
    edit(seg, |f| f.swap(k, k + 1));
    let d = damage_of(&dir);
    assert_eq!(d.id, Some(first_id(seg) + k as u64), "{d}");
    assert!(d.reason.contains("chain tag mismatch"), "{d}");
}

#[test]
fn an_inserted_record_is_named() {
    let (_t, dir, _) = build();
    let seg = &segments(&dir)[1];
    let k = 2;
    edit(seg, |f| {
        let mut copy = f[k].clone();
        change_one_byte(&mut copy.0);
        f.insert(k, copy);
    });
    assert_eq!(damage_of(&dir).id, Some(first_id(seg) + k as u64));
}

/// A forged segment for the place of `seg`: every record changed, chained
/// from `prev`, valid CRCs and footer.
fn forge(seg: &Path, prev: Head) -> Vec<u8> {
    let b = std::fs::read(seg).unwrap();
    let (h, frames, footer) = parse(&b);
    let mut h = Header::decode(&h).unwrap();
    h.prev_head = prev;
    let mut head = prev;
    let mut out = h.encode().to_vec();
    for (p, _) in &frames {
        let mut p = p.clone();
        change_one_byte(&mut p);
        head = chain::link(&head, &p);
        encode_frame(&p, &chain::tag_of(&head), &mut out);
    }
    let mut f = footer.unwrap();
    f.count = frames.len() as u64;
    f.body_len = out.len() as u64;
    f.body_crc = crc32fast::hash(&out);
    f.head = head;
    out.extend_from_slice(&f.encode());
    out
}

#[test]
fn a_forged_segment_with_a_fresh_chain_is_named() {
    let (_t, dir, _) = build();
    let seg = segments(&dir)[2].clone();
    std::fs::write(&seg, forge(&seg, GENESIS)).unwrap();
    let d = damage_of(&dir);
    assert_eq!(d.id, Some(first_id(&seg)), "{d}");
    assert_eq!(d.segment, seg);
    assert!(d.reason.contains("prev_head"), "{d}");
    // Open checks the link between segments too.
    assert!(matches!(opts(&dir).open(), Err(Error::Corrupt { .. })));
}

#[test]
fn a_forged_segment_continuing_the_chain_is_caught_at_the_next_one() {
    // The forger copies the real prev_head and recomputes every tag and
    // the footer: the next segment's prev_head no longer continues it.
    let (_t, dir, _) = build();
    let segs = segments(&dir);
    let seg = segs[1].clone();
    let (h, _, _) = parse(&std::fs::read(&seg).unwrap());
    let prev = Header::decode(&h).unwrap().prev_head;
    std::fs::write(&seg, forge(&seg, prev)).unwrap();
    let d = damage_of(&dir);
    assert_eq!(d.id, Some(first_id(&segs[2])), "{d}");
    assert!(d.reason.contains("does not continue"), "{d}");
    // A forged first segment (from zeros) is caught the same way.
    let (_t2, dir2, _) = build();
    let s0 = segments(&dir2)[0].clone();
    std::fs::write(&s0, forge(&s0, GENESIS)).unwrap();
    assert_eq!(damage_of(&dir2).id, Some(first_id(&segments(&dir2)[1])));
}

#[test]
fn a_changed_footer_head_is_caught() {
    let (_t, dir, _) = build();
    let seg = segments(&dir)[3].clone();
    let b = std::fs::read(&seg).unwrap();
    let (h, frames, footer) = parse(&b);
    let mut f = footer.unwrap();
    f.head[0] ^= 1;
    let mut out = assemble(&h, &frames, None);
    out.extend_from_slice(&f.encode());
    std::fs::write(&seg, out).unwrap();
    let d = damage_of(&dir);
    assert_eq!(d.segment, seg);
    assert!(d.reason.contains("chain head"), "{d}");
}

#[test]
fn checkpoint_proves_extension_and_catches_truncation() {
    let (_t, dir, n) = build();
    let (cp, key) = {
        let log = opts(&dir).open().unwrap();
        let cp = log.checkpoint().unwrap();
        assert_eq!(cp.last_id, n);
        assert_eq!(cp.records, n);
        assert_eq!(cp.format, "auditlog-checkpoint/1");
        let key = log.public_key().unwrap();
        // More records later: the log still extends it.
        log.append_batch(vec![rec(n), rec(n + 1)]).unwrap();
        assert!(log.verify_checkpoint(&cp, &key).unwrap().is_ok());
        (cp, key)
    };
    let (_, judged) = AuditLog::verify_checkpoint_dir(&dir, &cp, &key).unwrap();
    assert!(judged.is_ok(), "{judged:?}");
    // The key files: a 0600 seed and the public key beside it.
    let meta = std::fs::metadata(dir.join(tamper::KEY_FILE)).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    assert_eq!(
        tamper::read_public_key(
            &auditlog::storage::fs::FsStorage,
            &dir.join(tamper::PUBLIC_KEY_FILE)
        )
        .unwrap(),
        key
    );
    // Truncate the newest records (the two added and two covered) at a
    // frame boundary: verify alone sees a shorter, intact log.
    let seg = segments(&dir).pop().unwrap();
    edit(&seg, |f| {
        let keep = f.len() - 4;
        f.truncate(keep);
    });
    assert!(AuditLog::verify_dir(&dir).unwrap().is_ok());
    let (_, judged) = AuditLog::verify_checkpoint_dir(&dir, &cp, &key).unwrap();
    let p = judged.problem.expect("truncation detected");
    assert!(
        p.contains(&format!(
            "checkpoint covers up to id {n}, log ends at id {}",
            n - 2
        )),
        "{p}"
    );
}

#[test]
fn checkpoint_catches_a_rewrite_before_it() {
    // Rewrite the whole log from scratch with a consistent fresh chain
    // (every tag and footer recomputed): verify alone passes, the
    // checkpoint does not.
    let (_t, dir, _) = build();
    let (cp, key) = {
        let log = opts(&dir).open().unwrap();
        (log.checkpoint().unwrap(), log.public_key().unwrap())
    };
    let mut prev = GENESIS;
    for s in segments(&dir) {
        let sealed = parse(&std::fs::read(&s).unwrap()).2.is_some();
        if sealed {
            let forged = forge(&s, prev);
            prev = Footer::decode(&forged[forged.len() - FOOTER_LEN..])
                .unwrap()
                .head;
            std::fs::write(&s, forged).unwrap();
        } else {
            let b = std::fs::read(&s).unwrap();
            let (h, frames, _) = parse(&b);
            let mut h = Header::decode(&h).unwrap();
            h.prev_head = prev;
            let mut out = h.encode().to_vec();
            for (p, _) in &frames {
                let mut p = p.clone();
                change_one_byte(&mut p);
                prev = chain::link(&prev, &p);
                encode_frame(&p, &chain::tag_of(&prev), &mut out);
            }
            std::fs::write(&s, out).unwrap();
        }
    }
    assert!(AuditLog::verify_dir(&dir).unwrap().is_ok());
    let (_, judged) = AuditLog::verify_checkpoint_dir(&dir, &cp, &key).unwrap();
    let p = judged.problem.expect("rewrite detected");
    assert!(p.contains("were rewritten"), "{p}");
}

#[test]
fn altered_checkpoints_and_wrong_keys_are_rejected() {
    let (_t, dir, _) = build();
    let log = opts(&dir).open().unwrap();
    let cp = log.checkpoint().unwrap();
    let key = log.public_key().unwrap();
    assert!(log.verify_checkpoint(&cp, &key).unwrap().is_ok());
    let mut bad = cp.clone();
    bad.last_id -= 1;
    let p = log.verify_checkpoint(&bad, &key).unwrap().problem.unwrap();
    assert!(p.contains("signature is not valid"), "{p}");
    let mut bad = cp.clone();
    bad.signature.replace_range(
        0..2,
        if &bad.signature[0..2] == "00" {
            "01"
        } else {
            "00"
        },
    );
    assert!(!log.verify_checkpoint(&bad, &key).unwrap().is_ok());
    // Signed by another key: refused under the trusted one, and a
    // checkpoint re-signed by an attacker's key is refused too.
    let other = SigningKey::from_bytes(&[9u8; 32]);
    let p = log
        .verify_checkpoint(&cp, &other.verifying_key())
        .unwrap()
        .problem
        .unwrap();
    assert!(p.contains("not by the trusted key"), "{p}");
    let forged = auditlog::Checkpoint::sign(
        &other,
        cp.last_id,
        cp.records,
        cp.log_bytes,
        &[0u8; 32],
        Timestamp::now(),
    );
    assert!(!log.verify_checkpoint(&forged, &key).unwrap().is_ok());
}

#[test]
fn retention_leaves_a_signed_horizon() {
    let (_t, dir, n) = build();
    let (old_cp, key) = {
        let log = opts(&dir).open().unwrap();
        let cp = log.checkpoint().unwrap();
        let key = log.public_key().unwrap();
        let gone = log.retain(Timestamp::now()).unwrap();
        assert!(gone.len() >= 4, "{gone:?}");
        let rep = log.verify().unwrap();
        assert!(rep.is_ok(), "{rep:?}");
        assert!(rep.first_id.unwrap() > 1);
        assert_eq!(rep.last_id, Some(n));
        // The checkpoint taken before still holds: its last id is kept.
        assert!(log.verify_checkpoint(&cp, &key).unwrap().is_ok());
        // And more appends and a new checkpoint work on top of the horizon.
        log.append_batch(vec![rec(n)]).unwrap();
        let cp2 = log.checkpoint().unwrap();
        assert!(log.verify_checkpoint(&cp2, &key).unwrap().is_ok());
        (cp, key)
    };
    let rep = AuditLog::verify_dir(&dir).unwrap();
    assert!(rep.is_ok(), "{rep:?}");
    let h = tamper::read_horizon(&auditlog::storage::fs::FsStorage, &dir)
        .unwrap()
        .unwrap();
    assert_eq!(h.first_id, rep.first_id.unwrap());
    assert_eq!(h.removed_through, h.first_id - 1);
    assert!(h.check_signature(&key).is_ok());
    let (_, j) = AuditLog::verify_checkpoint_dir(&dir, &old_cp, &key).unwrap();
    assert!(j.is_ok(), "{j:?}");

    // A checkpoint older than the horizon cannot be proved: it says so.
    let tmp2 = tempfile::tempdir().unwrap();
    let dir2 = tmp2.path().join("log");
    {
        let log = opts(&dir2).open().unwrap();
        log.append_batch((0..5).map(rec).collect()).unwrap();
        let cp = log.checkpoint().unwrap();
        let mut i = 5;
        while segments(&dir2).len() < 3 {
            log.append_batch(vec![rec(i)]).unwrap();
            i += 1;
        }
        log.retain(Timestamp::now()).unwrap();
        let p = log
            .verify_checkpoint(&cp, &key_of(&log))
            .unwrap()
            .problem
            .unwrap();
        assert!(p.contains("retention horizon"), "{p}");
    }

    // Without the horizon, the missing oldest records are reported.
    let hp = dir.join(tamper::HORIZON_FILE);
    let saved = std::fs::read(&hp).unwrap();
    std::fs::remove_file(&hp).unwrap();
    let d = damage_of(&dir);
    assert_eq!(d.id, Some(1), "{d}");
    assert!(d.reason.contains("missing"), "{d}");
    // An altered horizon is refused.
    let mut forged: tamper::Horizon = serde_json::from_slice(&saved).unwrap();
    forged.first_id += 1;
    std::fs::write(&hp, serde_json::to_vec(&forged).unwrap()).unwrap();
    let d = damage_of(&dir);
    assert!(d.reason.contains("not valid"), "{d}");
}

#[test]
fn the_chain_runs_through_the_archive_tier() {
    let (_t, dir, n) = build();
    {
        let log = opts(&dir).open().unwrap();
        let moved = log.archive(Timestamp::now()).unwrap();
        assert!(moved.len() >= 4, "{moved:?}");
        let rep = log.verify().unwrap();
        assert!(rep.is_ok(), "{rep:?}");
        assert_eq!((rep.first_id, rep.last_id), (Some(1), Some(n)));
    }
    assert!(AuditLog::verify_dir(&dir).unwrap().is_ok());
    let mut archived: Vec<PathBuf> = std::fs::read_dir(dir.join("archive"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    archived.sort();
    let seg = archived[1].clone();
    edit(&seg, |f| change_one_byte(&mut f[0].0));
    let d = damage_of(&dir);
    assert_eq!(
        (d.segment.clone(), d.id),
        (seg.clone(), Some(first_id(&seg))),
        "{d}"
    );
}

#[test]
fn failed_batches_leave_the_chain_head_where_it_was() {
    // A batch rejected while encoding, and batches whose write fails
    // (ENOSPC, short write, EIO) and is rewound: the next batches must
    // chain from the head before them, so the log verifies clean and
    // reopens (in memory, through the fault twin).
    use auditlog::storage::fault::{FaultKind, FaultStorage};
    use std::sync::Arc;
    let st = FaultStorage::new();
    let dir = PathBuf::from("/t/log");
    let o = || {
        opts(&dir)
            .storage(Arc::new(st.clone()))
            .durability(Durability::Always)
    };
    let log = o().open().unwrap();
    let mut i = 0;
    for round in 0..40 {
        let batch: Vec<NewRecord> = (0..3).map(|k| rec(i + k)).collect();
        match round % 5 {
            1 => {
                let mut bad = batch.clone();
                bad.push(NewRecord::new(1).old("x".repeat(70 << 10)));
                assert!(log.append_batch(bad).is_err());
            }
            2 => {
                st.set_disk_full(true);
                assert!(log.append_batch(batch.clone()).is_err());
                st.set_disk_full(false);
            }
            3 => {
                st.fail_op(1, [FaultKind::ShortWrite, FaultKind::Eio][round % 2]);
                assert!(log.append_batch(batch.clone()).is_err());
                st.clear_faults();
            }
            _ => {}
        }
        log.append_batch(batch).unwrap();
        i += 3;
    }
    let rep = log.verify().unwrap();
    assert!(rep.is_ok(), "{rep:?}");
    assert_eq!(rep.last_id, Some(i));
    drop(log);
    let log = o().open().unwrap();
    assert!(log.verify().unwrap().is_ok());
    let rep = auditlog::log::verify::verify_dir(&st, &dir).unwrap();
    assert!(rep.is_ok(), "{rep:?}");
}

fn key_of(log: &AuditLog) -> auditlog::tamper::VerifyingKey {
    log.public_key().unwrap()
}

#[test]
fn a_version_1_segment_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    std::fs::create_dir_all(dir.join("segments")).unwrap();
    let mut v1 = [0u8; 32];
    v1[0..8].copy_from_slice(b"AUDLOGSG");
    v1[8..12].copy_from_slice(&1u32.to_le_bytes());
    v1[12..20].copy_from_slice(&1u64.to_le_bytes());
    let crc = crc32fast::hash(&v1[0..28]);
    v1[28..32].copy_from_slice(&crc.to_le_bytes());
    let path = dir.join("segments").join("00000000000000000001.seg");
    std::fs::write(&path, v1).unwrap();
    let Err(e) = opts(&dir).open() else {
        panic!("a version 1 segment opened")
    };
    let msg = e.to_string();
    assert!(
        matches!(e, Error::UnsupportedVersion { found: 1, .. }),
        "{msg}"
    );
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("version 1"),
        "{msg}"
    );
}

#[test]
fn a_supplied_key_signs_and_is_not_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let key = SigningKey::from_bytes(&[5u8; 32]);
    let log = opts(&dir).checkpoint_key(key.clone()).open().unwrap();
    log.append(rec(0)).unwrap();
    let cp = log.checkpoint().unwrap();
    assert_eq!(cp.public_key, chain::to_hex(key.verifying_key().as_bytes()));
    assert!(log
        .verify_checkpoint(&cp, &key.verifying_key())
        .unwrap()
        .is_ok());
    assert!(!dir.join(tamper::KEY_FILE).exists());
    // Retention signs the horizon with the supplied key too: the open log
    // verifies with it; a directory check needs it as the trusted key.
    let mut i = 1;
    while segments(&dir).len() < 3 {
        log.append(rec(i)).unwrap();
        i += 1;
    }
    assert!(!log.retain(Timestamp::now()).unwrap().is_empty());
    assert!(log.verify().unwrap().is_ok());
    assert!(!dir.join(tamper::PUBLIC_KEY_FILE).exists());
    let fs = auditlog::storage::fs::FsStorage;
    let (rep, _, _) = auditlog::log::verify::verify_dir_with(&fs, &dir, None, None).unwrap();
    assert!(rep.damage.unwrap().reason.contains("--public-key"));
    let vk = key.verifying_key();
    let (rep, _, _) = auditlog::log::verify::verify_dir_with(&fs, &dir, Some(&vk), None).unwrap();
    assert!(rep.is_ok(), "{rep:?}");
}

// ---------------------------------------------------------------------
// The CLI.

fn bin() -> PathBuf {
    std::env::var_os("AUDITLOG_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_auditlog")),
        PathBuf::from,
    )
}

fn cli(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(bin())
        .arg("--data")
        .arg(dir)
        .args(args)
        .env_remove("AUDITLOG_DATA")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn cli_checkpoint_and_verify() {
    let (t, dir, n) = build();
    let cp_path = t.path().join("cp.json");
    let pub_path = t.path().join("offsite.pub");
    let (code, _, err) = cli(&dir, &["checkpoint", "-o", cp_path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    std::fs::copy(dir.join(tamper::PUBLIC_KEY_FILE), &pub_path).unwrap();
    let cp: auditlog::Checkpoint =
        serde_json::from_slice(&std::fs::read(&cp_path).unwrap()).unwrap();
    assert_eq!(cp.last_id, n);
    // Printed to stdout too.
    let (code, out, _) = cli(&dir, &["checkpoint"]);
    assert_eq!(code, 0);
    let printed: auditlog::Checkpoint = serde_json::from_str(&out).unwrap();
    assert_eq!(printed.last_id, n);

    let cp_arg = cp_path.to_str().unwrap();
    let pub_arg = pub_path.to_str().unwrap();
    let (code, out, err) = cli(
        &dir,
        &["verify", "--checkpoint", cp_arg, "--public-key", pub_arg],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("extends the checkpoint"), "{out}");
    assert!(!err.contains("caution"), "{err}");
    // Without --public-key: the data directory's key, with a caution.
    let (code, _, err) = cli(&dir, &["verify", "--checkpoint", cp_arg]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("caution"), "{err}");

    // A wrong public key: exit 1, one line naming the problem.
    let wrong = t.path().join("wrong.pub");
    std::fs::write(
        &wrong,
        chain::to_hex(
            SigningKey::from_bytes(&[3u8; 32])
                .verifying_key()
                .as_bytes(),
        ),
    )
    .unwrap();
    let (code, _, err) = cli(
        &dir,
        &[
            "verify",
            "--checkpoint",
            cp_arg,
            "--public-key",
            wrong.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not by the trusted key"), "{err}");

    // Truncation after the checkpoint: exit 1 naming both ids.
    let seg = segments(&dir).pop().unwrap();
    edit(&seg, |f| {
        let keep = f.len() - 1;
        f.truncate(keep);
    });
    let (code, _, err) = cli(
        &dir,
        &["verify", "--checkpoint", cp_arg, "--public-key", pub_arg],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "checkpoint covers up to id {n}, log ends at id {}",
            n - 1
        )),
        "{err}"
    );

    // A changed record: plain verify names it.
    let s1 = segments(&dir)[1].clone();
    edit(&s1, |f| change_one_byte(&mut f[0].0));
    let (code, _, err) = cli(&dir, &["verify"]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("record id {}", first_id(&s1))),
        "{err}"
    );
    assert!(err.contains("chain tag mismatch"), "{err}");
}

#[test]
fn cli_checkpoint_with_a_supplied_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let key_path = tmp.path().join("log.key");
    std::fs::write(&key_path, chain::to_hex(&[4u8; 32])).unwrap();
    {
        let log = opts(&dir).open().unwrap();
        log.append(rec(0)).unwrap();
    }
    let (code, out, err) = cli(&dir, &["checkpoint", "--key", key_path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let cp: auditlog::Checkpoint = serde_json::from_str(&out).unwrap();
    let want = SigningKey::from_bytes(&[4u8; 32]).verifying_key();
    assert_eq!(cp.public_key, chain::to_hex(want.as_bytes()));
    assert!(!dir.join(tamper::KEY_FILE).exists());
    let (code, _, err) = cli(&dir, &["checkpoint", "--key", "/nonexistent/key"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/nonexistent/key"), "{err}");
}
