//! `auditlog archive|retain|verify|reindex|stats`: looking after a log.

use std::path::PathBuf;
use std::time::Instant;

use auditlog::storage::fs::FsStorage;
use auditlog::tamper;
use auditlog::{AuditLog, SegmentInfo, Timestamp};

use crate::common::{bytes, thousands, CliError, Global};

const CUTOFF_HELP: &str = "\
DURATION is a number with a unit: s, m (minutes), h, d, w (weeks), and may
combine them (1w2d, 36h); the cutoff is that long before now. An absolute
cutoff is accepted too: RFC 3339, \"YYYY-MM-DD HH:MM:SS\" (UTC), \"YYYY-MM-DD\".
Only whole sealed segments whose newest record is older than the cutoff are
affected; the segment being appended to is sealed first when it is older than
the segment age bound (a day) and all its records are older than the cutoff.";

/// `archive` flags.
#[derive(clap::Args, Debug)]
#[command(after_help = format!("{CUTOFF_HELP}\n\nArchived records stay readable by queries that ask for them (list --archive).\n\nExamples:\n  auditlog archive --older-than 90d\n  auditlog archive --older-than 2026-01-01\n  auditlog archive --older-than 90d --lake /srv/lake\n  auditlog archive --older-than 365d --lake /srv/lake --lake-only\n\nWith --lake DIR every archived segment is also written as Parquet into a\nHive-partitioned dataset DIR/date=YYYY-MM-DD/seg-<first id>.parquet (one file\nper segment and UTC date; files already there are skipped, so reruns are\ncheap). With --lake-only the archived segments older than the cutoff are\nthen removed from the engine through retention: their records are gone from\nlist, export, reports and the servers, and live on only in the lake."))]
pub struct ArchiveArgs {
    /// Archive segments whose newest record is older than this.
    #[arg(long, value_name = "DURATION", value_parser = parse_cutoff)]
    older_than: Timestamp,

    /// Also write the archive tier as Parquet into this Hive-partitioned
    /// dataset directory.
    #[arg(long, value_name = "DIR")]
    lake: Option<std::path::PathBuf>,

    /// After writing the lake, remove the archived segments older than the
    /// cutoff from the engine (the records then live only in the lake).
    #[arg(long, requires = "lake")]
    lake_only: bool,
}

/// `retain` flags.
#[derive(clap::Args, Debug)]
#[command(after_help = format!("{CUTOFF_HELP}\n\nRetention deletes the segments (live or archived) for good, oldest first.\n\nExamples:\n  auditlog retain --older-than 365d\n  auditlog retain --older-than 2025-01-01"))]
pub struct RetainArgs {
    /// Delete segments whose newest record is older than this.
    #[arg(long, value_name = "DURATION", value_parser = parse_cutoff)]
    older_than: Timestamp,
    /// Sign the retention horizon with this key (a 32-byte Ed25519 seed,
    /// raw or 64 hex digits) instead of the data directory's checkpoint.key.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
}

/// `verify` flags.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Reads every frame of every segment (live and archived) and checks lengths,
checksums, seals, that ids have no gaps, and the SHA-256 hash chain: every
record's tag, every segment's link to the one before it and every seal's
chain head, from id 1 or from the signed retention horizon. It reports the
first bad record id (a changed, inserted, deleted or reordered record shows
up as a chain tag mismatch there). It never changes anything and does not
need to open the log, so it also checks a log that refuses to open or that
another process is using. Exit status 1 when damage is found.

With --checkpoint FILE it also proves that the log extends that checkpoint
(signed by `auditlog checkpoint`): the signature is valid under the trusted
public key, the log still holds the checkpoint's last id (no truncation) and
the chain recomputed up to it equals the signed head (no rewrite). The
trusted key comes from --public-key FILE; without it, the data directory's
checkpoint.pub is used, which proves nothing against someone who can write
that disk: keep a copy of the public key elsewhere.

Examples:\n  auditlog verify\n  auditlog verify --json\n  auditlog verify --checkpoint /mnt/offsite/cp.json --public-key /mnt/offsite/checkpoint.pub")]
pub struct VerifyArgs {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also prove that the log extends this checkpoint (JSON from `auditlog checkpoint`).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// The trusted Ed25519 public key (32 raw bytes or 64 hex digits) for
    /// the checkpoint and the retention horizon; default: the data
    /// directory's checkpoint.pub.
    #[arg(long, value_name = "FILE")]
    public_key: Option<PathBuf>,
}

/// `checkpoint` flags.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Makes everything appended so far durable and prints a small JSON document:
the last id, the record count, the bytes of the log, the SHA-256 chain head
after the last id and the time, signed with Ed25519. Keep it (and the public
key, checkpoint.pub) away from this machine: `auditlog verify --checkpoint
FILE --public-key FILE` later proves that the log still extends it, so that
truncating the newest records or rewriting older ones is detected. The key
is the data directory's checkpoint.key (generated on first use, mode 0600)
unless --key gives another one.

Examples:\n  auditlog checkpoint -o /mnt/offsite/cp-$(date +%F).json\n  auditlog checkpoint --key /secure/log.key")]
pub struct CheckpointArgs {
    /// Sign with this key (a 32-byte Ed25519 seed, raw or 64 hex digits)
    /// instead of the data directory's checkpoint.key.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Write the checkpoint to FILE (atomically) instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `reindex` flags.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "The index (sled) is a cache of the log: reindex throws it away and\nrebuilds it by reading every segment. The log itself is not changed."
)]
pub struct ReindexArgs {}

/// `stats` flags.
#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

/// Parses `90d`, `12h`, `1w2d`, ... (before now) or an absolute date.
pub fn parse_cutoff(s: &str) -> Result<Timestamp, String> {
    let t = s.trim();
    if let Some(d) = parse_duration(t)? {
        let micros = i128::from(Timestamp::now().as_micros()) - i128::from(d) * 1_000_000;
        let micros = i64::try_from(micros.max(0)).unwrap_or(0);
        return Timestamp::from_micros(micros).map_err(|e| e.to_string());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{s:?} has no unit (write {t}d for days, {t}h for hours, ...)"
        ));
    }
    Timestamp::parse_flexible(t).map_err(|_| {
        format!("{s:?} is neither a duration (90d, 12h, 30m, 2w) nor a date (RFC 3339, \"YYYY-MM-DD HH:MM:SS\", \"YYYY-MM-DD\")")
    })
}

/// Seconds of a duration like `1w2d`; `None` when `s` is not shaped like
/// one (so it may be a date).
fn parse_duration(s: &str) -> Result<Option<u64>, String> {
    let mut total: u64 = 0;
    let mut num = String::new();
    let mut any = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Ok(None),
        };
        if num.is_empty() {
            return Ok(None);
        }
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{s:?}: {num} is too large"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("{s:?} is too long a duration"))?;
        num.clear();
        any = true;
    }
    Ok(if any && num.is_empty() {
        Some(total)
    } else {
        None
    })
}

fn describe(moved: &[u64], before: &[SegmentInfo], verb: &str, cutoff: Timestamp) {
    if moved.is_empty() {
        outln!(
            "nothing {verb}: no sealed segment has all its records before {}",
            cutoff.to_rfc3339()
        );
        return;
    }
    let mut records = 0;
    let mut total = 0;
    for first in moved {
        match before.iter().find(|s| s.first_id == *first) {
            Some(s) => {
                let n = (s.last_id + 1).saturating_sub(s.first_id);
                records += n;
                total += s.bytes;
                outln!(
                    "{verb} segment {} (ids {}..={}, {} records, {})",
                    s.first_id,
                    s.first_id,
                    s.last_id,
                    thousands(n),
                    bytes(s.bytes)
                );
            }
            None => outln!("{verb} segment {first}"),
        }
    }
    outln!(
        "{verb} {} segment{}: {} records, {} (cutoff {})",
        moved.len(),
        if moved.len() == 1 { "" } else { "s" },
        thousands(records),
        bytes(total),
        cutoff.to_rfc3339()
    );
}

pub fn archive(g: &Global, a: ArchiveArgs) -> Result<(), CliError> {
    let log = g.open_existing()?;
    let before = log.segments();
    let opts = auditlog::ArchiveOptions {
        lake: a.lake.clone(),
        lake_only: a.lake_only,
    };
    let rep = log.archive_with(a.older_than, &opts)?;
    describe(&rep.archived, &before, "archived", a.older_than);
    if let Some(lake) = &a.lake {
        outln!(
            "lake {}: wrote {} segment{} ({} records, {} file{}), {} already there",
            lake.display(),
            rep.lake_written.len(),
            if rep.lake_written.len() == 1 { "" } else { "s" },
            thousands(rep.lake_rows),
            rep.lake_files.len(),
            if rep.lake_files.len() == 1 { "" } else { "s" },
            rep.lake_skipped.len()
        );
    }
    if a.lake_only && rep.removed.is_empty() {
        outln!("nothing removed from the engine: no archived segment older than the cutoff is in the lake");
    } else if a.lake_only {
        describe(
            &rep.removed,
            &before,
            "removed from the engine (kept in the lake)",
            a.older_than,
        );
    }
    Ok(())
}

pub fn retain(g: &Global, a: RetainArgs) -> Result<(), CliError> {
    let log = g.open_existing_with_key(a.key.as_deref())?;
    let before = log.segments();
    let gone = log.retain(a.older_than)?;
    describe(&gone, &before, "deleted", a.older_than);
    Ok(())
}

pub fn checkpoint(g: &Global, a: CheckpointArgs) -> Result<(), CliError> {
    let log = g.open_existing_with_key(a.key.as_deref())?;
    let cp = log.checkpoint()?;
    let mut text = serde_json::to_string_pretty(&cp)
        .map_err(|e| CliError::runtime(format!("cannot print the checkpoint: {e}")))?;
    text.push('\n');
    match &a.output {
        Some(path) => {
            auditlog::storage::write_atomic(&FsStorage, path, text.as_bytes())
                .map_err(|e| auditlog::Error::io("write checkpoint", path, e))?;
            errln!(
                "checkpoint of ids ..={} written to {} (public key {})",
                cp.last_id,
                path.display(),
                cp.public_key
            );
        }
        None => outln!("{}", text.trim_end()),
    }
    Ok(())
}

pub fn verify(g: &Global, a: VerifyArgs) -> Result<(), CliError> {
    let started = Instant::now();
    let (rep, judged) = match &a.checkpoint {
        None => match &a.public_key {
            // The key checks the signed retention horizon.
            Some(p) => {
                let key = tamper::read_public_key(&FsStorage, p)?;
                let (rep, _, _) =
                    auditlog::log::verify::verify_dir_with(&FsStorage, &g.data, Some(&key), None)?;
                (rep, None)
            }
            None => (AuditLog::verify_dir(&g.data)?, None),
        },
        Some(cp_path) => {
            let cp = tamper::read_checkpoint(&FsStorage, cp_path)?;
            let key = match &a.public_key {
                Some(p) => tamper::read_public_key(&FsStorage, p)?,
                None => {
                    let p = g.data.join(tamper::PUBLIC_KEY_FILE);
                    errln!(
                        "caution: checking the checkpoint with {}, read from the same disk as the log: this proves nothing against someone who can write that disk (pass --public-key FILE with a copy kept elsewhere)",
                        p.display()
                    );
                    tamper::read_public_key(&FsStorage, &p)?
                }
            };
            let (rep, judged) = AuditLog::verify_checkpoint_dir(&g.data, &cp, &key)?;
            (rep, Some(judged))
        }
    };
    let secs = started.elapsed().as_secs_f64();
    if a.json {
        let mut v = serde_json::to_value(&rep)
            .map_err(|e| CliError::runtime(format!("cannot print the report: {e}")))?;
        if let (Some(j), Some(m)) = (&judged, v.as_object_mut()) {
            let jv = serde_json::to_value(j)
                .map_err(|e| CliError::runtime(format!("cannot print the report: {e}")))?;
            m.insert("checkpoint".into(), jv);
        }
        outln!("{v}");
    } else {
        let ids = match (rep.first_id, rep.last_id) {
            (Some(a), Some(b)) => format!(", ids {a}..={b}"),
            _ => String::new(),
        };
        let stopped = if rep.damage.is_some() {
            " up to the first damage (the walk stops there)"
        } else {
            ""
        };
        outln!(
            "checked {} segment{}, {} records{ids}, {} in {secs:.2} s{stopped}",
            rep.segments,
            if rep.segments == 1 { "" } else { "s" },
            thousands(rep.records),
            bytes(rep.bytes)
        );
        for n in &rep.notes {
            outln!("note: {n}");
        }
    }
    if let Some(d) = &rep.damage {
        return Err(CliError::runtime(format!("damage found: {d}")));
    }
    if let Some(j) = &judged {
        if let Some(p) = &j.problem {
            return Err(CliError::runtime(format!("checkpoint not proved: {p}")));
        }
    }
    if !a.json {
        match &judged {
            Some(j) => outln!(
                "ok: no damage found; the log (ids ..={}) extends the checkpoint of ids ..={}",
                j.log_last_id.unwrap_or(0),
                j.checkpoint_last_id
            ),
            None => outln!("ok: no damage found"),
        }
    }
    Ok(())
}

pub fn reindex(g: &Global, _a: ReindexArgs) -> Result<(), CliError> {
    let log = g.open_existing()?;
    let started = Instant::now();
    log.reindex()?;
    let secs = started.elapsed().as_secs_f64();
    let st = log.stats()?;
    outln!(
        "rebuilt the index of {} records in {} segments in {secs:.2} s (index: {})",
        thousands(st.records),
        st.live_segments + st.archived_segments,
        bytes(st.index_bytes)
    );
    Ok(())
}

pub fn stats(g: &Global, a: StatsArgs) -> Result<(), CliError> {
    let log = g.open_existing()?;
    let st = log.stats()?;
    if a.json {
        let mut v = serde_json::to_value(&st)
            .map_err(|e| CliError::runtime(format!("cannot print the stats: {e}")))?;
        if let Some(m) = v.as_object_mut() {
            m.insert("dir".into(), g.data.display().to_string().into());
            m.insert(
                "customers_with_parent".into(),
                log.customer_tree().len().into(),
            );
        }
        outln!("{v}");
        return Ok(());
    }
    let per = |b: u64, n: u64| {
        b.checked_div(n)
            .map_or_else(String::new, |x| format!(" ({x} bytes/record)"))
    };
    let live_records = st.records - st.archived_records;
    outln!("data directory:   {}", g.data.display());
    outln!("records:          {}", thousands(st.records));
    match (st.first_id, st.last_id) {
        (Some(a), Some(b)) => outln!("ids:              {a}..={b}"),
        _ => outln!("ids:              -"),
    }
    match (&st.oldest, &st.newest) {
        (Some(a), Some(b)) => outln!("time span:        {a} .. {b}"),
        _ => outln!("time span:        -"),
    }
    outln!(
        "live:             {} segment{}, {} records, {}{}",
        st.live_segments,
        if st.live_segments == 1 { "" } else { "s" },
        thousands(live_records),
        bytes(st.live_bytes),
        per(st.live_bytes, live_records)
    );
    outln!(
        "archived:         {} segment{}, {} records, {}",
        st.archived_segments,
        if st.archived_segments == 1 { "" } else { "s" },
        thousands(st.archived_records),
        bytes(st.archived_bytes)
    );
    outln!(
        "index:            {}, {} sealed segments indexed, {} records in the active segment",
        bytes(st.index_bytes),
        st.indexed_segments,
        thousands(st.active_records)
    );
    outln!(
        "customers:        {} with a parent",
        log.customer_tree().len()
    );
    outln!("durability:       {} (this process)", st.durability);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{parse_cutoff, parse_duration};

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d").unwrap(), Some(90 * 86_400));
        assert_eq!(parse_duration("1w2d").unwrap(), Some(9 * 86_400));
        assert_eq!(parse_duration("30m").unwrap(), Some(1800));
        assert_eq!(parse_duration("2026-01-01").unwrap(), None);
        assert_eq!(parse_duration("12").unwrap(), None);
        assert!(parse_cutoff("12").is_err());
        assert!(parse_cutoff("2026-01-01").is_ok());
        assert!(parse_cutoff("soon").is_err());
        assert_eq!(parse_cutoff("99999999w").unwrap().as_micros(), 0);
    }
}
