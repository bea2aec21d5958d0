//! Timestamps: UTC instants with microsecond precision, and the date forms
//! the interfaces accept and print.
//!
//! Owns parsing and formatting only; it never reads the clock except in
//! [`Timestamp::now`].

use std::fmt;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// A UTC instant, microseconds since the Unix epoch, between
/// 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

/// Microseconds of 9999-12-31T23:59:59.999999Z, the last instant accepted.
pub const MAX_MICROS: i64 = 253_402_300_799_999_999;

impl Timestamp {
    /// The earliest accepted instant, the Unix epoch.
    pub const MIN: Timestamp = Timestamp(0);
    /// The latest accepted instant.
    pub const MAX: Timestamp = Timestamp(MAX_MICROS);

    /// From microseconds since the epoch; errors outside 1970..=9999.
    pub fn from_micros(micros: i64) -> Result<Self> {
        if !(0..=MAX_MICROS).contains(&micros) {
            return Err(Error::invalid(
                "time",
                format!("{micros} microseconds is outside 1970-01-01..9999-12-31"),
            ));
        }
        Ok(Timestamp(micros))
    }

    /// From whole seconds since the epoch; errors outside 1970..=9999.
    pub fn from_unix_seconds(secs: i64) -> Result<Self> {
        let micros = secs.checked_mul(1_000_000).ok_or_else(|| {
            Error::invalid("time", format!("{secs} seconds is outside 1970..9999"))
        })?;
        Self::from_micros(micros)
    }

    /// The current time (clamped into the accepted range).
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_micros().clamp(0, MAX_MICROS))
    }

    /// Microseconds since the epoch.
    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded down).
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    fn to_chrono(self) -> DateTime<Utc> {
        // The range check in the constructors keeps this in chrono's range.
        Utc.timestamp_micros(self.0).single().unwrap_or_default()
    }

    /// RFC 3339 UTC with exactly six fractional digits:
    /// `2026-11-01T12:00:00.123456Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_chrono()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string()
    }

    /// `YYYY-MM-DD HH:MM:SS` in UTC (the Voximplant form).
    pub fn to_sql(self) -> String {
        self.to_chrono().format("%Y-%m-%d %H:%M:%S").to_string()
    }

    /// `YYYY-MM-DD` in UTC.
    pub fn to_date(self) -> String {
        self.to_chrono().format("%Y-%m-%d").to_string()
    }

    /// Parses an RFC 3339 instant (any offset, converted to UTC).
    pub fn parse_rfc3339(s: &str) -> Result<Self> {
        let dt = DateTime::parse_from_rfc3339(s).map_err(|e| {
            Error::invalid("time", format!("{s:?} is not an RFC 3339 date-time: {e}"))
        })?;
        Self::from_micros(dt.timestamp_micros())
    }

    /// Parses `YYYY-MM-DD HH:MM:SS` as UTC, exactly that shape: two
    /// digits to every field but the year's four, seconds 00 to 59.
    /// (chrono alone also takes `2026-1-1 0:0:0` and second 60, which it
    /// rolls over into the next minute.)
    pub fn parse_sql(s: &str) -> Result<Self> {
        let bad = |why: &dyn fmt::Display| {
            Error::invalid(
                "time",
                format!("{s:?} is not a date of the form YYYY-MM-DD HH:MM:SS: {why}"),
            )
        };
        const SHAPE: &[u8; 19] = b"dddd-dd-dd dd:dd:dd";
        let b = s.as_bytes();
        let shaped = b.len() == SHAPE.len()
            && b.iter().zip(SHAPE).all(|(&c, &want)| match want {
                b'd' => c.is_ascii_digit(),
                sep => c == sep,
            });
        if !shaped {
            return Err(bad(&"not that shape"));
        }
        if &b[17..] >= b"60".as_slice() {
            return Err(bad(&"seconds past 59"));
        }
        let dt = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").map_err(|e| bad(&e))?;
        Self::from_micros(dt.and_utc().timestamp_micros())
    }

    /// Parses any form the CLI accepts: RFC 3339, `YYYY-MM-DD HH:MM:SS`
    /// (UTC), `YYYY-MM-DD` (midnight UTC) or integer unix seconds.
    pub fn parse_flexible(s: &str) -> Result<Self> {
        let t = s.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            let secs: i64 = t
                .parse()
                .map_err(|_| Error::invalid("time", format!("{s:?} is too large")))?;
            return Self::from_unix_seconds(secs);
        }
        if let Ok(v) = Self::parse_rfc3339(t) {
            return Ok(v);
        }
        if let Ok(v) = Self::parse_sql(t) {
            return Ok(v);
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            if let Some(dt) = d.and_hms_opt(0, 0, 0) {
                return Self::from_micros(dt.and_utc().timestamp_micros());
            }
        }
        Err(Error::invalid(
            "time",
            format!(
                "{s:?} is not a date (use RFC 3339, \"YYYY-MM-DD HH:MM:SS\" UTC, \"YYYY-MM-DD\" or unix seconds)"
            ),
        ))
    }
}

/// Serialises as the integer microseconds since the epoch (the form stored
/// in catalogues; the interfaces print [`Timestamp::to_rfc3339`] or
/// [`Timestamp::to_sql`] themselves).
impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

/// Reads integer microseconds since the epoch, rejecting values outside
/// 1970..=9999 like [`Timestamp::from_micros`].
impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let micros = i64::deserialize(d)?;
        Timestamp::from_micros(micros).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_six_digits_and_parses_back() {
        let t = Timestamp::from_micros(1_793_534_400_123_456).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-01T12:00:00.123456Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()).unwrap(), t);
        assert_eq!(t.to_sql(), "2026-11-01 12:00:00");
        assert_eq!(
            Timestamp::parse_flexible("2026-11-01 12:00:00")
                .unwrap()
                .unix_seconds(),
            t.unix_seconds()
        );
        assert_eq!(
            Timestamp::parse_flexible("1793534400")
                .unwrap()
                .unix_seconds(),
            1_793_534_400
        );
    }

    #[test]
    fn serde_is_integer_micros() {
        let t = Timestamp::from_micros(1_793_534_400_123_456).unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "1793534400123456");
        let back: Timestamp = serde_json::from_str("1793534400123456").unwrap();
        assert_eq!(back, t);
        assert!(serde_json::from_str::<Timestamp>("-1").is_err());
    }

    #[test]
    fn sql_form_is_taken_in_its_exact_shape_only() {
        let ok = Timestamp::parse_sql("2026-01-02 03:04:59").expect("well formed");
        assert_eq!(ok.to_sql(), "2026-01-02 03:04:59");
        for bad in [
            "2026-1-2 03:04:05",
            "2026-01-02 3:04:05",
            "2026-01-02 03:04:60",
            "2026-01-02 03:04:5",
            " 2026-01-02 03:04:05",
            "2026-01-02T03:04:05",
            "2026-01-02 03:04:05Z",
            "2026-02-30 03:04:05",
            "2026-01-02 24:00:00",
            "２026-01-02 03:04:05",
        ] {
            let e = Timestamp::parse_sql(bad).expect_err(bad).to_string();
            assert!(e.contains("YYYY-MM-DD HH:MM:SS"), "{bad}: {e}");
        }
    }

    #[test]
    fn rejects_out_of_range() {
        assert!(Timestamp::parse_rfc3339("1969-12-31T23:59:59Z").is_err());
        assert!(Timestamp::parse_flexible("10000-01-01").is_err());
        assert!(Timestamp::from_unix_seconds(i64::MAX).is_err());
        assert!(Timestamp::parse_flexible("yesterday").is_err());
        assert!(Timestamp::parse_rfc3339("9999-12-31T23:59:59.999999Z").is_ok());
    }
}
