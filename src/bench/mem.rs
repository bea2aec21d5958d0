//! Process memory figures for the benchmark table: peak and current resident
//! set size.
//!
//! Owns reading `/proc/self/status` (and resetting the peak through
//! `/proc/self/clear_refs`). Linux-only: elsewhere every function answers
//! `None` or `false` rather than failing. It must never panic or allocate in
//! proportion to anything but that small file, and never touch another
//! process.

/// The peak resident set size of this process (`VmHWM`), in bytes, or `None`
/// when it cannot be read (not Linux, or `/proc` unavailable).
///
/// Since the last [`reset_peak`], if that succeeded; otherwise since the
/// process started.
pub fn peak_rss_bytes() -> Option<u64> {
    status_bytes("VmHWM")
}

/// The current resident set size of this process (`VmRSS`), in bytes, or
/// `None` when it cannot be read.
pub fn current_rss_bytes() -> Option<u64> {
    status_bytes("VmRSS")
}

/// The anonymous part of the resident set (`RssAnon`: heap and stacks, not
/// file pages such as memory-mapped segments, which the kernel can drop at
/// any time), in bytes, or `None` when it cannot be read. The kernel keeps
/// no peak of it: sample it while a phase runs.
pub fn anon_rss_bytes() -> Option<u64> {
    status_bytes("RssAnon")
}

/// Hands heap memory that is free but still held by the allocator back to
/// the operating system (glibc's `malloc_trim(0)`), so that a following
/// measurement reflects live memory rather than what earlier phases freed.
/// Returns whether anything was released; `false` where the allocator is
/// not glibc's.
pub fn trim_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: `malloc_trim` is part of glibc, which is the allocator
        // behind Rust's default global allocator on this target (the crate
        // sets no other). It takes no pointers, is thread-safe (it locks
        // every arena) and only returns pages the allocator holds free.
        unsafe { malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Resets the peak ([`peak_rss_bytes`]) to the current resident set size, so
/// that two phases of one run (the engine, then SQLite) get a peak each.
/// Returns whether it worked (Linux 4.0 and later; `false` elsewhere).
pub fn reset_peak() -> bool {
    #[cfg(target_os = "linux")]
    {
        // "5" resets the peak RSS counter (proc(5), /proc/pid/clear_refs).
        std::fs::write("/proc/self/clear_refs", b"5").is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

fn status_bytes(key: &str) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let text = std::fs::read_to_string("/proc/self/status").ok()?;
        parse_status_kib(&text, key).and_then(|kib| kib.checked_mul(1024))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = key;
        None
    }
}

/// The value of a `Key:   1234 kB` line of a `/proc/<pid>/status` text.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_status_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let mut parts = rest.split_whitespace();
        let value = parts.next()?.parse().ok()?;
        (parts.next() == Some("kB")).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        let text =
            "Name:\tx\nVmPeak:\t  100 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\nThreads:\t1\n";
        assert_eq!(parse_status_kib(text, "VmHWM"), Some(2048));
        assert_eq!(parse_status_kib(text, "VmRSS"), Some(1024));
        assert_eq!(parse_status_kib(text, "VmSwap"), None);
        assert_eq!(
            parse_status_kib("RssAnon:\t  512 kB\n", "RssAnon"),
            Some(512)
        );
        assert_eq!(parse_status_kib(text, "Threads"), None);
        assert_eq!(parse_status_kib("VmHWM: lots kB\n", "VmHWM"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let rss = current_rss_bytes().unwrap();
        assert!(anon_rss_bytes().unwrap() <= rss);
        assert!(rss > 0 && peak_rss_bytes().unwrap() >= rss);
        // Touch 128 MiB (a fresh mapping, returned to the OS when dropped);
        // the peak must cover it, and a reset must forget it.
        let v = std::hint::black_box(vec![1u8; 128 << 20]);
        let with_v = peak_rss_bytes().unwrap();
        assert!(with_v >= 128 << 20, "peak {with_v}");
        drop(v);
        if reset_peak() {
            let after = peak_rss_bytes().unwrap();
            assert!(after < with_v, "peak {after} after reset, {with_v} before");
        }
    }
}
