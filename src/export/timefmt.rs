//! Allocation-free formatting of timestamps for export rows.
//!
//! Owns only the two byte forms the CSV layouts print; they must stay
//! byte-identical to [`Timestamp::to_rfc3339`] and [`Timestamp::to_sql`]
//! (a test checks). It never parses and never reads the clock.

use crate::time::Timestamp;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Formats times, remembering the date of the previous call (exports run
/// through times in order, so most rows share their date with the last).
pub(crate) struct TimeFormatter {
    day: i64,
    date: [u8; 10],
}

impl TimeFormatter {
    pub(crate) fn new() -> Self {
        TimeFormatter {
            day: -1,
            date: *b"1970-01-01",
        }
    }

    fn split(&mut self, t: Timestamp) -> (i64, i64) {
        // Timestamps are within 1970..=9999, so never negative.
        let micros = t.as_micros().max(0);
        let day = micros / MICROS_PER_DAY;
        if day != self.day {
            self.day = day;
            let (y, m, d) = civil_from_days(day);
            put_digits(&mut self.date[0..4], y);
            put_digits(&mut self.date[5..7], m);
            put_digits(&mut self.date[8..10], d);
        }
        (micros % MICROS_PER_DAY / 1_000_000, micros % 1_000_000)
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, as [`Timestamp::to_rfc3339`].
    pub(crate) fn rfc3339<'a>(&mut self, t: Timestamp, buf: &'a mut [u8; 27]) -> &'a [u8] {
        let (secs, frac) = self.split(t);
        buf[..10].copy_from_slice(&self.date);
        buf[10] = b'T';
        put_hms(&mut buf[11..19], secs);
        buf[19] = b'.';
        put_digits(&mut buf[20..26], frac);
        buf[26] = b'Z';
        &buf[..]
    }

    /// `YYYY-MM-DD HH:MM:SS`, as [`Timestamp::to_sql`].
    pub(crate) fn sql<'a>(&mut self, t: Timestamp, buf: &'a mut [u8; 19]) -> &'a [u8] {
        let (secs, _) = self.split(t);
        buf[..10].copy_from_slice(&self.date);
        buf[10] = b' ';
        put_hms(&mut buf[11..19], secs);
        &buf[..]
    }
}

fn put_hms(out: &mut [u8], secs_of_day: i64) {
    put_digits(&mut out[0..2], secs_of_day / 3600);
    out[2] = b':';
    put_digits(&mut out[3..5], secs_of_day / 60 % 60);
    out[5] = b':';
    put_digits(&mut out[6..8], secs_of_day % 60);
}

/// Writes `v` as exactly `out.len()` zero-padded decimal digits.
fn put_digits(out: &mut [u8], mut v: i64) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day)
/// (H. Hinnant's `civil_from_days`, for non-negative day numbers).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MAX_MICROS;

    #[test]
    fn matches_chrono_formatting() {
        let mut f = TimeFormatter::new();
        let mut a = [0u8; 27];
        let mut b = [0u8; 19];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut samples = vec![
            0,
            1,
            MAX_MICROS,
            MAX_MICROS - 1,
            951_782_400_000_000,   // 2000-02-29
            4_107_542_399_999_999, // 2100-02-28T23:59:59.999999
            4_107_542_400_000_000, // 2100-03-01
            1_793_534_400_123_456,
        ];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push((x % (MAX_MICROS as u64 + 1)) as i64);
        }
        // Also consecutive times within a day, to exercise the date cache.
        samples.extend((0..1000).map(|i| 1_793_534_400_000_000 + i * 97_000_001));
        for m in samples {
            let t = Timestamp::from_micros(m).unwrap();
            assert_eq!(
                std::str::from_utf8(f.rfc3339(t, &mut a)).unwrap(),
                t.to_rfc3339(),
                "{m}"
            );
            assert_eq!(
                std::str::from_utf8(f.sql(t, &mut b)).unwrap(),
                t.to_sql(),
                "{m}"
            );
        }
    }
}
