//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs`), kept in the
//! crate so that an ordinary test (`tests/fuzz_corpus.rs`) replays the
//! committed corpus and every crash found so far through exactly the same
//! checks, with no fuzzer installed. Not part of the public API.
//!
//! Each `pub fn TARGET(data: &[u8])` feeds `data` to one parser or decoder
//! and panics when a property fails: a panic inside the code under test,
//! an allocation larger than the input can justify, a round trip that is
//! not exact, or a result that disagrees with a small reference model.
//! `docs/fuzzing.md` lists the targets and how to run them.

// Checks panic by design (that is how a fuzzer learns of a failure).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::config::{Durability, Options};
use crate::error::Error;
use crate::export::{export, ExportOptions, Layout as CsvLayout};
use crate::format::chain::{self, Head};
use crate::format::codec::{self, StoredRecord};
use crate::format::layout::{
    encode_frame, read_frame, Footer, FrameRead, Header, FOOTER_LEN, FOOTER_MARKER, FORMAT_VERSION,
    FRAME_HEADER_LEN, HEADER_LEN,
};
use crate::index::postings::{
    decode_i64s, decode_u32s, encode_i64s, encode_postings, encode_u32s, Postings,
};
use crate::log::segment::Segment;
use crate::log::{verify, AppendSink, Log, LogObserver, SEGMENTS_DIR};
use crate::query::model::{Cursor, Sort, SortKey};
use crate::query::Field;
use crate::record::{Json, NewRecord, Record, MAX_RECORD_BYTES};
use crate::storage::fault::FaultStorage;
use crate::storage::{read_all, Storage};
use crate::time::{Timestamp, MAX_MICROS};

/// A target: takes the fuzz input, panics when a property fails.
pub type Target = fn(&[u8]);

/// Every target, by name, for replaying corpora.
pub const TARGETS: &[(&str, Target)] = &[
    ("decode_frame", decode_frame),
    ("recover", recover),
    ("record_json", record_json),
    ("dates", dates),
    ("csv_roundtrip", csv_roundtrip),
    ("cursor", cursor),
    ("postings", postings),
    #[cfg(feature = "server")]
    ("params", params),
];

/// The target called `name`, if it exists in this build.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

// ---------------------------------------------------------------------------
// Allocation tracking

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// A global allocator that remembers, per thread, the largest single
/// allocation requested. Fuzz targets and the corpus test install it
/// (`#[global_allocator]`) so that the targets can check that no length
/// read from the input makes the code allocate more than the input can
/// justify. Without it the checks see no allocation and pass.
pub struct TrackingAlloc;

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| {
        if size > l.get() {
            l.set(size);
        }
    });
}

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged; the bookkeeping touches only a const-initialised
// thread-local `Cell` (no allocation, no destructor, no re-entrancy).
unsafe impl GlobalAlloc for TrackingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and returns its result with the largest single allocation it
/// made on this thread (0 when [`TrackingAlloc`] is not installed).
fn largest_alloc<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = LARGEST.with(|l| l.replace(0));
    let r = f();
    let largest = LARGEST.with(|l| l.replace(before.max(l.get())));
    (r, largest)
}

/// Asserts that `f` allocates no block larger than `limit` bytes.
fn bounded_alloc<R>(what: &str, limit: usize, f: impl FnOnce() -> R) -> R {
    let (r, largest) = largest_alloc(f);
    assert!(
        largest <= limit,
        "{what}: allocated a block of {largest} bytes; the input justifies at most {limit}"
    );
    r
}

// ---------------------------------------------------------------------------
// Reading structured values out of fuzz bytes

/// Reads values out of the fuzz input; past its end every read is zero or
/// empty, so any input is a complete description.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos = end;
        &self.data[start..end]
    }

    fn u8(&mut self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }

    fn u16(&mut self) -> u16 {
        let mut b = [0u8; 2];
        let s = self.bytes(2);
        b[..s.len()].copy_from_slice(s);
        u16::from_le_bytes(b)
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let s = self.bytes(8);
        b[..s.len()].copy_from_slice(s);
        u64::from_le_bytes(b)
    }

    /// A string of up to `max` input bytes (length from one byte).
    fn string(&mut self, max: usize) -> String {
        let n = usize::from(self.u8()) % (max + 1);
        String::from_utf8_lossy(self.bytes(n)).into_owned()
    }

    fn rest(&mut self) -> &'a [u8] {
        self.bytes(usize::MAX)
    }
}

/// A record built from fuzz bytes: every field arbitrary, the time valid.
fn arbitrary_record(inp: &mut Input<'_>, id: u64) -> Record {
    let time = Timestamp::from_micros((inp.u64() % (MAX_MICROS as u64 + 1)) as i64)
        .expect("time in range");
    let customer = inp.u64();
    let mut s = || inp.string(24);
    let (person, source, action, object, object_id) = (s(), s(), s(), s(), s());
    let (name, field, old, new) = (s(), s(), s(), s());
    let nrefs = usize::from(inp.u8() % 5);
    let refs = (0..nrefs).map(|_| inp.string(12)).collect();
    let json = |inp: &mut Input<'_>| match inp.u8() % 4 {
        0 => None,
        1 => Some(Json::from_value(&serde_json::Value::String(inp.string(16)))),
        2 => Json::parse(&inp.string(32)).ok(),
        _ => Some(Json::from_value(
            &serde_json::json!({ "k": inp.string(8), "n": inp.u8() }),
        )),
    };
    let args = json(inp);
    let result = json(inp);
    Record {
        id,
        time,
        customer,
        person,
        source,
        action,
        object,
        object_id,
        name,
        field,
        old,
        new,
        refs,
        args,
        result,
    }
}

// ---------------------------------------------------------------------------
// decode_frame

/// Frames, headers, footers and record payloads decoded from arbitrary
/// bytes: `read_frame` at every offset, the record codec (and the
/// queries' `codec::peek`) on every payload and on the whole input. Never panics, never allocates more than the
/// input justifies (a length over 1 MiB allocates nothing), and whatever
/// decodes re-encodes to something that decodes the same.
pub fn decode_frame(data: &[u8]) {
    let limit = 32 * data.len() + 4096;
    bounded_alloc("decode_frame", limit, || {
        let _ = Header::decode(data);
        if let Ok(h) = Header::decode(data) {
            assert_eq!(Header::decode(&h.encode()), Ok(h));
        }
        for pos in 0..=data.len() {
            check_frame_at(data, pos);
        }
        check_payload(data);
    });
}

fn check_frame_at(data: &[u8], pos: usize) {
    let rest = data.get(pos..).unwrap_or_default();
    if let Some(f) = Footer::decode(rest) {
        assert_eq!(Footer::decode(&f.encode()), Some(f));
        assert_eq!(f.encode().as_slice(), rest);
        let _ = f.last_id();
    }
    match read_frame(data, pos) {
        FrameRead::Frame { payload, tag, next } => {
            let len = payload.len();
            assert!((1..=MAX_RECORD_BYTES).contains(&len));
            assert_eq!(next, pos + FRAME_HEADER_LEN + len);
            let mut again = Vec::new();
            encode_frame(payload, &tag, &mut again);
            assert_eq!(
                &data[pos..next],
                &again[..],
                "frame bytes re-encode identically"
            );
            check_payload(payload);
        }
        FrameRead::Footer => {
            assert_eq!(rest.get(..4), Some(&FOOTER_MARKER.to_le_bytes()[..]));
        }
        FrameRead::Incomplete => {
            let len = rest
                .get(..4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
            assert!(len.is_none_or(|l| rest.len() < FRAME_HEADER_LEN + l));
        }
        FrameRead::BadLength(l) => {
            assert!(l == 0 || l as usize > MAX_RECORD_BYTES);
            assert_ne!(l, FOOTER_MARKER);
        }
        FrameRead::BadCrc => {}
    }
}

/// A record payload: decodes or errors; what decodes survives a round trip.
fn check_payload(payload: &[u8]) {
    let peek = codec::peek(payload);
    let Ok(sr) = StoredRecord::decode(payload) else {
        assert!(codec::decode(payload).is_err());
        return;
    };
    // The queries' quick look agrees with the full decode.
    let p = peek.expect("peek reads every record that decodes");
    assert_eq!((p.id, p.time, p.customer), (sr.id, sr.time, sr.customer));
    let strings = [
        sr.person,
        sr.source,
        sr.action,
        sr.object,
        sr.object_id,
        sr.name,
        sr.field,
        sr.old,
        sr.new,
    ]
    .map(str::as_bytes);
    assert_eq!(p.strings, strings, "peek's strings");
    let mut out = Vec::new();
    codec::encode_stored_into(&sr, &mut out).expect("a decoded record re-encodes");
    let again = StoredRecord::decode(&out).expect("a re-encoded record decodes");
    assert_eq!(format!("{sr:?}"), format!("{again:?}"));
    match codec::decode(payload) {
        Ok(r) => {
            let mut out2 = Vec::new();
            codec::encode_into(&r, &mut out2).expect("re-encodes");
            assert_eq!(out, out2);
            assert_eq!(codec::decode(&out2).expect("decodes"), r);
        }
        // Only the time can be out of range in a record that decodes.
        Err(_) => assert!(Timestamp::from_micros(sr.time).is_err()),
    }
}

// ---------------------------------------------------------------------------
// recover

const FIRST_ID: u64 = 1;
const CREATED: i64 = 1_700_000_000_000_000;

fn data_dir() -> PathBuf {
    PathBuf::from("/fuzz/data")
}

/// Collects what the log replays into its observer at open.
#[derive(Default)]
struct Seen {
    recs: Mutex<Vec<(u64, u32, u64)>>,
}

struct SeenSink<'a>(&'a Seen, u64);

impl AppendSink for SeenSink<'_> {
    fn add(&mut self, offset: u32, rec: &StoredRecord<'_>) {
        self.0.recs.lock().unwrap().push((self.1, offset, rec.id));
    }
}

impl LogObserver for Seen {
    fn begin(&self, segment: u64) -> Box<dyn AppendSink + '_> {
        Box::new(SeenSink(self, segment))
    }
    fn rewind(&self, _segment: u64, _keep: u64) {}
    fn rolled(&self, _old: u64, _new: u64) {}
    fn sealed(&self, _seg: &Arc<Segment>) {}
    fn removed(&self, _first_ids: &[u64]) {}
}

fn header_bytes(first_id: u64, prev_head: Head) -> [u8; HEADER_LEN] {
    Header {
        version: FORMAT_VERSION,
        first_id,
        created: CREATED,
        prev_head,
    }
    .encode()
}

/// Appends a frame whose tag continues the chain from `head`; returns the
/// record time and the new link.
fn record_frame(
    id: u64,
    customer: u64,
    person: &str,
    head: &Head,
    out: &mut Vec<u8>,
) -> (i64, Head) {
    let time = CREATED + id as i64;
    let r = NewRecord::new(customer)
        .person(person)
        .into_record(id, Timestamp::from_micros(time).expect("valid"));
    let mut payload = Vec::new();
    codec::encode_into(&r, &mut payload).expect("small record");
    let link = chain::link(head, &payload);
    encode_frame(&payload, &chain::tag_of(&link), out);
    (time, link)
}

/// What the reference walk finds in a segment's bytes (the rules of
/// `docs/format.md` section 5, written out independently of `walk`).
#[derive(Debug)]
struct RefWalk {
    /// Offsets of the intact frames.
    frames: Vec<usize>,
    /// Where the intact frames end.
    end: usize,
    /// The footer that closes the file and matches the frames.
    footer: Option<Footer>,
    /// Where the walk stopped on something else than the end or a footer.
    stop: Option<usize>,
    min_time: i64,
    max_time: i64,
    /// The chain head after the intact frames.
    head: Head,
    /// Stopped at a checksummed frame whose chain tag is wrong, or at a
    /// matching footer whose chain head is wrong (open refuses both).
    tampered: bool,
}

/// A complete frame with a good CRC at `pos`: (next, payload, tag).
fn ref_frame_raw(b: &[u8], pos: usize) -> Option<(usize, &[u8], &[u8])> {
    let len = u32::from_le_bytes(b.get(pos..pos + 4)?.try_into().ok()?) as usize;
    if len == 0 || len > MAX_RECORD_BYTES {
        return None;
    }
    let crc = u32::from_le_bytes(b.get(pos + 4..pos + 8)?.try_into().ok()?);
    let tag = b.get(pos + 8..pos + 16)?;
    let payload = b.get(pos + 16..pos + 16 + len)?;
    let mut h = crc32fast::Hasher::new();
    h.update(&b[pos..pos + 4]);
    h.update(tag);
    h.update(payload);
    if h.finalize() != crc {
        return None;
    }
    Some((pos + 16 + len, payload, tag))
}

/// A complete frame with a good CRC whose payload decodes, at `pos`
/// (whatever its chain tag).
fn ref_frame(b: &[u8], pos: usize) -> Option<(usize, StoredRecord<'_>)> {
    let (next, payload, _) = ref_frame_raw(b, pos)?;
    let rec = StoredRecord::decode(payload).ok()?;
    Some((next, rec))
}

fn ref_walk(b: &[u8], first_id: u64) -> RefWalk {
    let mut w = RefWalk {
        frames: Vec::new(),
        end: HEADER_LEN,
        footer: None,
        stop: None,
        min_time: i64::MAX,
        max_time: i64::MIN,
        head: b
            .get(28..60)
            .and_then(|h| <Head>::try_from(h).ok())
            .unwrap_or(chain::GENESIS),
        tampered: false,
    };
    let mut pos = HEADER_LEN;
    while pos < b.len() {
        if b.get(pos..pos + 4) == Some(&[0xff; 4][..]) {
            match Footer::decode(&b[pos..]) {
                Some(f)
                    if f.body_len == pos as u64
                        && f.count == w.frames.len() as u64
                        && f.first_id == first_id =>
                {
                    if f.head == w.head {
                        w.footer = Some(f);
                    } else {
                        w.tampered = true;
                        w.stop = Some(pos);
                    }
                }
                _ => w.stop = Some(pos),
            }
            return w;
        }
        let Some((next, payload, tag)) = ref_frame_raw(b, pos) else {
            w.stop = Some(pos);
            return w;
        };
        let link = chain::link(&w.head, payload);
        if link[..8] != *tag {
            w.tampered = true;
            w.stop = Some(pos);
            return w;
        }
        match StoredRecord::decode(payload) {
            Ok(rec) if rec.id == first_id + w.frames.len() as u64 => {
                w.frames.push(pos);
                w.min_time = w.min_time.min(rec.time);
                w.max_time = w.max_time.max(rec.time);
                w.head = link;
                pos = next;
                w.end = pos;
            }
            _ => {
                w.stop = Some(pos);
                return w;
            }
        }
    }
    w
}

/// Whether anything intact follows damage at `pos`: a frame that checks
/// and decodes, or a seal footer that closes the file and says it starts
/// where it does (either proves that the bytes at `pos` were not the torn
/// tail of the last write).
fn ref_intact_after(b: &[u8], pos: usize) -> bool {
    (pos + 1..b.len()).any(|q| {
        ref_frame(b, q).is_some()
            || (b.len() - q == FOOTER_LEN
                && Footer::decode(&b[q..]).is_some_and(|f| f.body_len == q as u64))
    })
}

/// The reference outcome of opening a log.
#[derive(Debug)]
enum Expect {
    /// Open refuses with `Error::Corrupt`.
    Corrupt,
    /// Open succeeds: the segment files afterwards (name, bytes; `None`
    /// for a new empty active segment whose bytes are not predictable),
    /// the ids, whether `verify` must be clean, and the active segment's
    /// frames replayed into the indexes (first id, offsets).
    Open {
        files: Vec<(u64, Option<Vec<u8>>)>,
        last_id: u64,
        verify_clean: bool,
        active: (u64, Vec<usize>),
    },
}

fn footer_at_end(b: &[u8]) -> Option<Footer> {
    let at = b.len().checked_sub(FOOTER_LEN)?;
    Footer::decode(&b[at..])
        .filter(|f| f.body_len.checked_add(FOOTER_LEN as u64) == Some(b.len() as u64))
}

/// Expected outcome of opening the log whose only segment is `a`.
fn expect_single(a: &[u8], deep: bool) -> Expect {
    let w = ref_walk(a, FIRST_ID);
    if w.tampered {
        return Expect::Corrupt;
    }
    let count = w.frames.len() as u64;
    if let Some(f) = w.footer {
        if deep && crc32fast::hash(&a[..f.body_len as usize]) != f.body_crc {
            return Expect::Corrupt;
        }
        // Sealed: a new active segment is started after it (replacing it
        // when it holds no records: the new one has the same name).
        let next = FIRST_ID + count;
        let files = if count == 0 {
            vec![(next, None)]
        } else {
            vec![(FIRST_ID, Some(a.to_vec())), (next, None)]
        };
        return Expect::Open {
            files,
            last_id: next - 1,
            verify_clean: true,
            active: (next, Vec::new()),
        };
    }
    let kept = match w.stop {
        Some(p) if ref_intact_after(a, p) => return Expect::Corrupt,
        Some(p) => p,
        None => a.len(),
    };
    Expect::Open {
        files: vec![(FIRST_ID, Some(a[..kept].to_vec()))],
        last_id: FIRST_ID + count - 1,
        verify_clean: true,
        active: (FIRST_ID, w.frames),
    }
}

/// Expected outcome of opening the log of segment `a` (not the last one)
/// followed by segment `b` starting at `next` with one intact frame.
/// `b_prev` is `b`'s `prev_head`: it must continue `a`'s chain.
fn expect_pair(a: &[u8], b: &[u8], b_prev: Head, next: u64, deep: bool) -> Expect {
    // An interrupted seal is completed when the frames are intact up to
    // the tail and run exactly into the next segment.
    let mut a = a.to_vec();
    if footer_at_end(&a).is_none() {
        let w = ref_walk(&a, FIRST_ID);
        let count = w.frames.len() as u64;
        let tail_ok = w.stop.is_none_or(|p| !ref_intact_after(&a, p));
        if !w.tampered && tail_ok && count > 0 && FIRST_ID + count == next {
            a.truncate(w.end);
            let f = Footer {
                first_id: FIRST_ID,
                count,
                min_time: w.min_time,
                max_time: w.max_time,
                body_len: w.end as u64,
                body_crc: crc32fast::hash(&a),
                head: w.head,
            };
            a.extend_from_slice(&f.encode());
        }
    }
    let Some(f) = footer_at_end(&a).filter(|f| f.first_id == FIRST_ID) else {
        return Expect::Corrupt;
    };
    if deep && crc32fast::hash(&a[..f.body_len as usize]) != f.body_crc {
        return Expect::Corrupt;
    }
    match FIRST_ID.checked_add(f.count) {
        Some(n) if n == next => {}
        _ => return Expect::Corrupt,
    }
    // The next segment must continue the sealed one's chain (as its
    // footer states it; open does not rewalk a sealed segment).
    if f.head != b_prev {
        return Expect::Corrupt;
    }
    // Open trusts a footer whose checksums hold; `verify` walks the frames.
    let w = ref_walk(&a, FIRST_ID);
    let verify_clean =
        w.footer.is_some() && crc32fast::hash(&a[..f.body_len as usize]) == f.body_crc;
    Expect::Open {
        files: vec![(FIRST_ID, Some(a)), (next, Some(b.to_vec()))],
        last_id: next,
        verify_clean,
        active: (next, vec![HEADER_LEN]),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn write_file(st: &FaultStorage, path: &Path, bytes: &[u8]) {
    let f = st.create_new(path).expect("create");
    f.write_all_at(bytes, 0).expect("write");
    f.sync_data().expect("sync");
}

fn open_log(st: &FaultStorage, deep: bool, seen: Arc<Seen>) -> crate::Result<Arc<Log>> {
    let opts = Options::new(data_dir())
        .storage(Arc::new(st.clone()))
        .durability(Durability::Always)
        .segment_max_age(None)
        .verify_sealed_on_open(deep);
    let lock = crate::log::lock_dir(&opts)?;
    Log::open(opts, seen, lock)
}

/// Recovery over arbitrary segment bytes. The input describes the bytes
/// after a valid header: raw bytes, intact record frames, frames with any
/// payload and a good CRC, seal footers (right or forged), flipped bytes,
/// truncations. They form the active (last) segment, or, when the first
/// byte says so, a segment followed by another one (so it must be sealed).
/// Opening the log must agree with the reference model: either
/// `Error::Corrupt`, or success keeping exactly the intact frames, with a
/// clean `verify`, and a log that takes an append and reopens.
pub fn recover(data: &[u8]) {
    let mut inp = Input::new(data);
    let flags = inp.u8();
    let pair = flags & 1 == 1;
    let deep = flags & 2 == 0;
    let mut content = header_bytes(FIRST_ID, chain::GENESIS).to_vec();
    let mut good = 0u64;
    // The chain head after the intact record frames written so far.
    let mut chead = chain::GENESIS;
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    let mut ops = 0;
    while !inp.is_empty() && ops < 64 {
        ops += 1;
        match inp.u8() % 8 {
            0 => {
                let n = usize::from(inp.u8());
                content.extend_from_slice(inp.bytes(n));
            }
            1 => {
                let customer = u64::from(inp.u8());
                let person = inp.string(16);
                let (t, link) =
                    record_frame(FIRST_ID + good, customer, &person, &chead, &mut content);
                chead = link;
                lo = lo.min(t);
                hi = hi.max(t);
                good += 1;
            }
            2 => {
                let n = usize::from(inp.u8()) + 1;
                let payload = inp.bytes(n).to_vec();
                if !payload.is_empty() {
                    // Tagged as the next link would be (the chain does
                    // not advance: such payloads rarely decode).
                    let tag = chain::tag_of(&chain::link(&chead, &payload));
                    encode_frame(&payload, &tag, &mut content);
                }
            }
            op @ (3 | 7) => {
                // 3: the footer the writer would write; 7: a forged one
                // (any count and body length, checksums right).
                let (count, body_len) = if op == 3 {
                    (good, content.len() as u64)
                } else if inp.u8() & 1 == 0 {
                    (inp.u64(), content.len() as u64)
                } else {
                    (inp.u64(), inp.u64())
                };
                let f = Footer {
                    first_id: FIRST_ID,
                    count,
                    min_time: if good == 0 { 0 } else { lo },
                    max_time: if good == 0 { 0 } else { hi },
                    body_len,
                    body_crc: crc32fast::hash(&content),
                    head: chead,
                };
                content.extend_from_slice(&f.encode());
            }
            4 => {
                let at = HEADER_LEN + usize::from(inp.u16()) % (content.len() - HEADER_LEN + 1);
                let x = inp.u8() | 1;
                if let Some(b) = content.get_mut(at) {
                    *b ^= x;
                }
            }
            5 => {
                let keep = usize::from(inp.u16()) % (content.len() - HEADER_LEN + 1);
                content.truncate(HEADER_LEN + keep);
            }
            _ => {
                let customer = u64::from(inp.u8());
                let id = FIRST_ID + good + 1 + u64::from(inp.u8());
                record_frame(id, customer, "", &chead, &mut content);
            }
        }
    }
    let deep_txt = if deep { "deep" } else { "shallow" };
    let st = FaultStorage::new();
    let dir = data_dir();
    let seg_dir = dir.join(SEGMENTS_DIR);
    st.create_dir_all(&seg_dir).expect("mkdir");
    st.create_dir_all(&dir.join(crate::log::ARCHIVE_DIR))
        .expect("mkdir");
    let name = |id: u64| seg_dir.join(crate::format::layout::segment_file_name(id));
    write_file(&st, &name(FIRST_ID), &content);
    let expect = if pair && good > 0 {
        let next = FIRST_ID + good;
        let mut b = header_bytes(next, chead).to_vec();
        record_frame(next, 7, "next", &chead, &mut b);
        write_file(&st, &name(next), &b);
        expect_pair(&content, &b, chead, next, deep)
    } else {
        expect_single(&content, deep)
    };

    let seen = Arc::new(Seen::default());
    let opened = open_log(&st, deep, seen.clone());
    let (files, last_id, verify_clean, active) = match (expect, opened) {
        (Expect::Corrupt, Err(Error::Corrupt { .. })) => return,
        (Expect::Corrupt, Ok(log)) => panic!(
            "open ({deep_txt}) accepted a log the model finds corrupt; warnings {:?}; segment {}",
            log.warnings(),
            hex(&content)
        ),
        (e @ Expect::Open { .. }, Err(err)) => panic!(
            "open ({deep_txt}) failed where the model opens: {err}; model {e:?}; segment {}",
            hex(&content)
        ),
        (Expect::Corrupt, Err(e)) => panic!("open failed with {e:?}, not Error::Corrupt"),
        (
            Expect::Open {
                files,
                last_id,
                verify_clean,
                active,
            },
            Ok(log),
        ) => {
            check_opened(&log, &st, &seen, &files, last_id, verify_clean, &active);
            if !verify_clean {
                return;
            }
            // It takes an append, and reopens with everything.
            let ids = log
                .append_batch(vec![NewRecord::new(1).person("after")])
                .expect("append after recovery");
            assert_eq!(*ids.start(), last_id + 1);
            (files, last_id + 1, verify_clean, active)
        }
    };
    let _ = (files, verify_clean, active);
    let rep = verify::verify_dir(&st, &dir).expect("verify_dir runs");
    assert!(rep.is_ok(), "verify_dir after an append: {rep:?}");
    let log = open_log(&st, deep, Arc::new(Seen::default())).expect("reopen");
    assert_eq!(
        log.snapshot().visible.last_id,
        last_id,
        "last id after reopen"
    );
    assert!(log.warnings().is_empty(), "{:?}", log.warnings());
}

fn check_opened(
    log: &Log,
    st: &FaultStorage,
    seen: &Seen,
    files: &[(u64, Option<Vec<u8>>)],
    last_id: u64,
    verify_clean: bool,
    active: &(u64, Vec<usize>),
) {
    let seg_dir = data_dir().join(SEGMENTS_DIR);
    let snap = log.snapshot();
    assert_eq!(snap.visible.last_id, last_id, "last id after open");
    let rep = verify::verify_snapshot(&snap).expect("verify runs");
    assert_eq!(rep.is_ok(), verify_clean, "verify after open: {rep:?}");
    // The files are exactly the intact prefix (or the repaired seal).
    let mut names: Vec<String> = st.list_dir(&seg_dir).expect("list");
    names.retain(|n| n.ends_with(".seg"));
    names.sort();
    let want: Vec<String> = files
        .iter()
        .map(|(id, _)| crate::format::layout::segment_file_name(*id))
        .collect();
    assert_eq!(names, want, "segment files after open");
    for (id, bytes) in files {
        let path = seg_dir.join(crate::format::layout::segment_file_name(*id));
        let got = read_all(st, &path).expect("read");
        if let Some(b) = bytes {
            assert!(got == *b, "segment {id} after open differs from the model");
        }
    }
    // The active segment's intact frames were replayed, no more.
    let replayed = seen.recs.lock().unwrap().clone();
    let want: Vec<(u64, u32, u64)> = active
        .1
        .iter()
        .enumerate()
        .map(|(i, off)| (active.0, *off as u32, active.0 + i as u64))
        .collect();
    assert_eq!(replayed, want, "records replayed into the index");
}

// ---------------------------------------------------------------------------
// record_json

/// `NewRecord::from_json` on arbitrary text: never panics; an error names
/// a field; `args` and `result` are kept exactly as serde_json prints the
/// line's values; an accepted record, stored and printed as JSON (`to_json`),
/// parses back (minus its id) to the same record, and survives the binary
/// codec unchanged.
pub fn record_json(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let r = match NewRecord::from_json(line) {
        Ok(r) => r,
        Err(Error::InvalidRecord { field, reason }) => {
            // An unknown member is named as given, which may be `""`.
            assert!(
                !field.is_empty() || reason.starts_with("unknown field"),
                "an error without a field: {reason}"
            );
            return;
        }
        Err(e) => panic!("from_json failed with {e:?}, not InvalidRecord"),
    };
    r.validate().expect("an accepted record validates");
    // `args` and `result` are stored as serde_json prints their value,
    // whether the parser kept the text (already compact) or reprinted it.
    let whole: serde_json::Value = serde_json::from_str(line).expect("an accepted line is JSON");
    for (name, got) in [("args", &r.args), ("result", &r.result)] {
        let want = whole.get(name).map(serde_json::Value::to_string);
        assert_eq!(got.as_ref().map(|j| j.as_str().to_owned()), want, "{name}");
    }
    let now = Timestamp::from_micros(CREATED).expect("valid");
    let rec = r.clone().into_record(42, now);
    let json = rec.to_json();
    let mut v: serde_json::Value = serde_json::from_str(&json).expect("to_json is JSON");
    let obj = v.as_object_mut().expect("an object");
    assert_eq!(obj.remove("id"), Some(serde_json::json!(42)));
    let text = serde_json::to_string(&v).expect("serialises");
    let back = NewRecord::from_json(&text)
        .unwrap_or_else(|e| panic!("to_json output {json} does not parse back: {e}"));
    let rec2 = back.into_record(42, now);
    assert_eq!(rec2, rec, "JSON round trip");
    assert_eq!(rec2.to_json(), json);
    let mut buf = Vec::new();
    if codec::encode_into(&rec, &mut buf).is_ok() {
        assert_eq!(
            codec::decode(&buf).expect("decodes"),
            rec,
            "codec round trip"
        );
    }
}

// ---------------------------------------------------------------------------
// dates

/// The `Timestamp` parsers on arbitrary text: never panic; an accepted
/// value is in 1970..=9999 and formats (RFC 3339, SQL, date, unix seconds)
/// to text that parses back to the same instant (truncated to the form's
/// precision), by every parser that accepts that form; the export's
/// allocation-free formatter prints the same bytes as chrono.
pub fn dates(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let rfc = Timestamp::parse_rfc3339(s);
    let sql = Timestamp::parse_sql(s);
    let flex = Timestamp::parse_flexible(s);
    if let Ok(t) = &rfc {
        assert_eq!(
            flex.as_ref().ok(),
            Some(t),
            "flexible disagrees with RFC 3339"
        );
    }
    if let Ok(t) = &sql {
        assert_eq!(t.as_micros() % 1_000_000, 0);
        assert_eq!(flex.as_ref().ok(), Some(t), "flexible disagrees with SQL");
    }
    for t in [rfc, sql, flex].into_iter().flatten() {
        check_instant(t);
    }
    // Also every instant the bytes can name directly.
    let mut inp = Input::new(data);
    let micros = (inp.u64() % (MAX_MICROS as u64 + 1)) as i64;
    check_instant(Timestamp::from_micros(micros).expect("in range"));
}

fn check_instant(t: Timestamp) {
    let m = t.as_micros();
    assert!((0..=MAX_MICROS).contains(&m));
    let secs = Timestamp::from_micros(m - m % 1_000_000).expect("in range");
    let day = Timestamp::from_micros(m - m % 86_400_000_000).expect("in range");
    let rfc = t.to_rfc3339();
    assert_eq!(rfc.len(), 27, "{rfc}");
    assert_eq!(Timestamp::parse_rfc3339(&rfc).ok(), Some(t), "{rfc}");
    assert_eq!(Timestamp::parse_flexible(&rfc).ok(), Some(t), "{rfc}");
    let sql = t.to_sql();
    assert_eq!(Timestamp::parse_sql(&sql).ok(), Some(secs), "{sql}");
    assert_eq!(Timestamp::parse_flexible(&sql).ok(), Some(secs), "{sql}");
    let date = t.to_date();
    assert_eq!(Timestamp::parse_flexible(&date).ok(), Some(day), "{date}");
    let unix = t.unix_seconds().to_string();
    assert_eq!(Timestamp::parse_flexible(&unix).ok(), Some(secs), "{unix}");
    assert_eq!(
        Timestamp::from_unix_seconds(t.unix_seconds()).ok(),
        Some(secs)
    );
    let mut f = crate::export::timefmt::TimeFormatter::new();
    let (mut a, mut b) = ([0u8; 27], [0u8; 19]);
    assert_eq!(f.rfc3339(t, &mut a), rfc.as_bytes());
    assert_eq!(f.sql(t, &mut b), sql.as_bytes());
}

// ---------------------------------------------------------------------------
// csv_roundtrip

/// Records built from fuzz bytes, exported as CSV in both layouts, with
/// and without a header and formula neutralisation, and read back with
/// `csv::Reader`: every cell equals the record's field exactly (with the
/// `'` rule applied when neutralisation is on).
pub fn csv_roundtrip(data: &[u8]) {
    let mut inp = Input::new(data);
    let n = usize::from(inp.u8() % 6);
    let base = inp.u64() % (u64::MAX / 2);
    let records: Vec<Record> = (0..n)
        .map(|i| arbitrary_record(&mut inp, base + i as u64))
        .collect();
    for layout in [CsvLayout::Native, CsvLayout::Voximplant] {
        for neutralize in [false, true] {
            for header in [true, false] {
                let opts = ExportOptions::csv()
                    .layout(layout)
                    .neutralize(neutralize)
                    .header(header);
                let mut out = Vec::new();
                let rows = export(
                    records.iter().cloned().map(Ok),
                    &mut out,
                    &opts,
                    &mut |_| {},
                )
                .expect("export to memory");
                assert_eq!(rows, n as u64);
                let mut rd = ::csv::ReaderBuilder::new()
                    .has_headers(false)
                    .from_reader(&out[..]);
                let got: Vec<::csv::ByteRecord> = rd
                    .byte_records()
                    .collect::<Result<_, _>>()
                    .expect("the export parses as CSV");
                let mut want: Vec<Vec<Vec<u8>>> = Vec::new();
                if header {
                    want.push(
                        layout
                            .columns()
                            .iter()
                            .map(|c| c.as_bytes().to_vec())
                            .collect(),
                    );
                }
                for r in &records {
                    want.push(expected_cells(r, layout, neutralize));
                }
                let got: Vec<Vec<Vec<u8>>> = got
                    .iter()
                    .map(|r| r.iter().map(<[u8]>::to_vec).collect())
                    .collect();
                assert_eq!(
                    got, want,
                    "CSV round trip ({layout}, neutralize {neutralize}, header {header})"
                );
            }
        }
    }
}

fn expected_cells(r: &Record, layout: CsvLayout, neutralize: bool) -> Vec<Vec<u8>> {
    let text = |s: &str| -> Vec<u8> {
        let formula = matches!(
            s.as_bytes().first(),
            Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
        );
        if neutralize && formula {
            format!("'{s}").into_bytes()
        } else {
            s.as_bytes().to_vec()
        }
    };
    let plain = |s: String| s.into_bytes();
    let json = |j: &Option<Json>, absent: &str| text(j.as_ref().map_or(absent, Json::as_str));
    match layout {
        CsvLayout::Native => vec![
            plain(r.id.to_string()),
            plain(r.time.to_rfc3339()),
            plain(r.customer.to_string()),
            text(&r.person),
            text(&r.source),
            text(&r.action),
            text(&r.object),
            text(&r.object_id),
            text(&r.name),
            text(&r.field),
            text(&r.old),
            text(&r.new),
            text(&r.refs.join(";")),
            json(&r.args, ""),
            json(&r.result, ""),
        ],
        CsvLayout::Voximplant => vec![
            plain(r.id.to_string()),
            plain(r.customer.to_string()),
            text(&r.person),
            plain(r.time.to_sql()),
            text(&r.source),
            text(&r.action),
            json(&r.args, "{}"),
            json(&r.result, ""),
        ],
    }
}

// ---------------------------------------------------------------------------
// cursor

/// `Cursor::decode` on arbitrary text never panics, and accepts only the
/// exact text `Cursor::encode` produces (hex case aside) of a cursor that
/// passes `Cursor::check`; such cursors built from fuzz bytes, and cursor
/// bodies with any content and a good CRC that decode, round-trip.
pub fn cursor(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    match mode % 3 {
        0 => {
            if let Ok(s) = std::str::from_utf8(inp.rest()) {
                check_cursor_text(s);
            }
        }
        1 => {
            // Any body with a good CRC.
            let mut body = inp.rest().to_vec();
            let crc = crc32fast::hash(&body);
            body.extend_from_slice(&crc.to_le_bytes());
            let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
            check_cursor_text(&hex);
        }
        _ => {
            let field = Field::ALL[usize::from(inp.u8()) % Field::ALL.len()];
            let descending = inp.u8() & 1 == 1;
            let id = inp.u64();
            let key = if inp.u8() & 1 == 0 {
                SortKey::Int(i128::from(inp.u64() as i64) * i128::from(inp.u64()))
            } else {
                SortKey::Str(inp.string(64))
            };
            let c = Cursor {
                sort: Sort { field, descending },
                key,
                id,
            };
            let s = c.encode();
            // A cursor no row could give is refused; any other decodes.
            match c.check() {
                Ok(()) => assert_eq!(Cursor::decode(&s).expect("own encoding decodes"), c),
                Err(_) => assert!(Cursor::decode(&s).is_err(), "a cursor no row gives: {c:?}"),
            }
            // Damage one character: never a panic; accepted only if canonical.
            let mut bytes = s.into_bytes();
            let at = usize::from(inp.u16()) % bytes.len();
            bytes[at] = inp.u8();
            if let Ok(t) = std::str::from_utf8(&bytes) {
                check_cursor_text(t);
            }
        }
    }
}

fn check_cursor_text(s: &str) {
    if let Ok(c) = Cursor::decode(s) {
        let again = c.encode();
        assert_eq!(
            again,
            s.to_ascii_lowercase(),
            "decode accepted text that is not the encoding of what it returned"
        );
        assert_eq!(Cursor::decode(&again).expect("decodes"), c);
    }
}

// ---------------------------------------------------------------------------
// postings

/// The index blob decoders (`Postings::decode`, `decode_u32s`,
/// `decode_i64s`) on arbitrary blobs, with and without a valid CRC: never
/// panic, never allocate more than the blob justifies, and every accessor
/// of a decoded blob is safe to call; blobs encoded from fuzz-built maps
/// and columns decode to the same values.
pub fn postings(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let limit = 32 * data.len() + 4096;
    match mode % 3 {
        0 => bounded_alloc("postings (raw)", limit, || decode_blobs(inp.rest())),
        1 => {
            let mut blob = inp.rest().to_vec();
            let crc = crc32fast::hash(&blob);
            blob.extend_from_slice(&crc.to_le_bytes());
            bounded_alloc("postings (sealed)", limit + 64, || decode_blobs(&blob));
        }
        _ => {
            let mut map: rustc_hash::FxHashMap<Box<str>, Vec<u32>> = Default::default();
            let nkeys = usize::from(inp.u8() % 16);
            for _ in 0..nkeys {
                let key: Box<str> = inp.string(12).into();
                let mut ords: Vec<u32> = (0..usize::from(inp.u8() % 8))
                    .map(|_| u32::from(inp.u16()) * u32::from(inp.u8() | 1))
                    .collect();
                ords.sort_unstable();
                if !ords.is_empty() {
                    map.insert(key, ords);
                }
            }
            let blob = encode_postings(&map);
            let p = Postings::decode(&blob).expect("own encoding decodes");
            assert_eq!(p.len(), map.len());
            for i in 0..p.len() {
                let k = p.key(i);
                let mut ords = Vec::new();
                p.ords_into(i, &mut ords);
                assert_eq!(Some(&ords), map.get(k), "ordinals of {k:?}");
                assert_eq!(p.count(i), ords.len());
                assert_eq!(p.find(k), Some(i));
                if i > 0 {
                    assert!(p.key(i - 1).as_bytes() < k.as_bytes(), "keys sorted");
                }
                let r = p.prefix_range(k);
                assert!(r.contains(&i));
            }
            let col: Vec<u32> = map.values().flatten().copied().collect();
            assert_eq!(decode_u32s(&encode_u32s(&col)), Some(col.clone()));
            let times: Vec<i64> = col.iter().map(|&x| i64::from(x) * -7_777).collect();
            assert_eq!(decode_i64s(&encode_i64s(&times)), Some(times));
            decode_blobs(&blob);
        }
    }
}

fn decode_blobs(b: &[u8]) {
    if let Some(p) = Postings::decode(b) {
        let _ = p.heap_bytes();
        let mut ords = Vec::new();
        for i in 0..p.len() {
            let k = p.key(i).to_string();
            ords.clear();
            p.ords_into(i, &mut ords);
            assert_eq!(ords.len(), p.count(i));
            let _ = p.find(&k);
            let r = p.prefix_range(&k);
            assert!(r.end <= p.len());
            let _ = p.prefix_range("");
        }
        let _ = p.find("");
        let _ = p.prefix_range("\u{10ffff}");
    }
    if let Some(v) = decode_u32s(b) {
        assert_eq!(encode_u32s(&v), b);
    }
    if let Some(v) = decode_i64s(b) {
        assert_eq!(encode_i64s(&v), b);
    }
}

// ---------------------------------------------------------------------------
// params

/// The HTTP parameter parsers on an arbitrary query string: urlencoded
/// decoding with both separator sets, then Enswitch `audit/list` and every
/// Voximplant command. Never panics; every error carries a key (Enswitch:
/// the parameter, except for whole-request problems) or a Voximplant code
/// from the documented set, and echoes no parameter value; every accepted
/// request builds a query that validates.
#[cfg(feature = "server")]
pub fn params(data: &[u8]) {
    use crate::server::auth::AuthUser;
    use crate::server::enswitch::{self, CustomerTree};
    use crate::server::params::{Limits, Params, Separators};
    use crate::server::users::{Role, Roles};
    use crate::server::voximplant::{self, Command, VoxRequest};

    struct Tree;
    impl CustomerTree for Tree {
        fn parent_of(&self, c: u64) -> Option<u64> {
            (c > 10).then_some(c / 10)
        }
        fn is_within(&self, c: u64, root: u64) -> bool {
            let mut x = c;
            loop {
                if x == root {
                    return true;
                }
                match self.parent_of(x) {
                    Some(p) => x = p,
                    None => return false,
                }
            }
        }
    }

    let mut inp = Input::new(data);
    let flags = inp.u8();
    let qs = inp.rest();
    let seps = if flags & 1 == 0 {
        Separators::AmpersandOrSemicolon
    } else {
        Separators::Ampersand
    };
    let limits = if flags & 2 == 0 {
        Limits::default()
    } else {
        Limits {
            max_params: 8,
            max_key_bytes: 16,
            max_value_bytes: 32,
        }
    };
    let p = match Params::parse_urlencoded(qs, seps, limits) {
        Ok(p) => p,
        Err(e) => {
            assert!(
                !e.key.is_empty()
                    || e.message.contains("too many parameters")
                    || e.message.contains("empty name"),
                "a parameter error without a key: {e}"
            );
            return;
        }
    };
    assert!(p.len() <= limits.max_params);
    for (k, v) in p.iter() {
        assert!(!k.is_empty() && k.len() <= limits.max_key_bytes);
        assert!(v.len() <= limits.max_value_bytes);
    }
    // Re-encoding the pairs strictly gives the same parameters.
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let re: Vec<String> = p
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    let again = Params::parse_urlencoded(re.join("&").as_bytes(), seps, limits)
        .expect("re-encoded parameters parse");
    assert_eq!(again, p);

    // Values that must never appear in an error (the secret-looking ones:
    // with a control character, not part of any name).
    let secrets: Vec<&str> = p
        .iter()
        .filter(|(k, _)| *k != "cmd")
        .map(|(_, v)| v)
        .filter(|v| v.len() >= 2 && v.chars().any(char::is_control))
        .filter(|v| p.iter().all(|(k, _)| !k.contains(*v)))
        .collect();
    let no_secret = |text: &str| {
        for s in &secrets {
            assert!(
                !text.contains(s),
                "an error echoes a parameter value: {text}"
            );
        }
    };

    let now = Timestamp::from_micros(CREATED).expect("valid");
    let roles = Roles::NONE
        .with(Role::Audit)
        .with(Role::Owner)
        .with(Role::Archive);
    let user = AuthUser {
        username: "fuzz".into(),
        customer: u64::from(flags >> 4),
        roles,
    };
    let _ = enswitch::credentials(&p);
    match enswitch::parse_audit_list(&p, &user, &Tree, now) {
        Ok(req) => req
            .query
            .validate()
            .expect("an accepted audit/list builds a valid query"),
        Err(e) => {
            assert!(matches!(e.status, 400 | 402), "status {}", e.status);
            if e.status == 400 {
                assert!(!e.key.is_empty(), "400 without a key: {e}");
            }
            no_secret(&e.message);
            let body: serde_json::Value = serde_json::from_str(&e.body()).expect("JSON body");
            assert_eq!(body["responses"][0]["code"], e.status.to_string());
        }
    }
    let _ = voximplant::resolve_command("/platform_api", &p);
    for cmd in Command::ALL {
        match voximplant::parse_request(cmd, &p, &user) {
            Ok(VoxRequest::GetAuditLog(r)) => r.query.validate().expect("valid query"),
            Ok(VoxRequest::GetAuditLogAsync(r)) => r.query.validate().expect("valid query"),
            Ok(_) => {}
            Err(e) => {
                assert!(
                    matches!(e.code, 101 | 104 | 105 | 111),
                    "code {} for {}",
                    e.code,
                    cmd.name()
                );
                assert!(!e.msg.is_empty());
                no_secret(&e.msg);
                let body: serde_json::Value = serde_json::from_str(&e.body()).expect("JSON body");
                assert_eq!(body["error"]["code"], e.code);
            }
        }
    }
}
