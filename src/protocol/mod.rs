//! The wire format as plain data: client events in, dispatches and error frames out.
//! Nothing here knows about actors, sockets or the database.

pub mod client;
pub mod errors;
pub mod ids;
pub mod server;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// A UTC instant rendered as the reference renders it: ISO 8601, microseconds, `Z`, and no
/// fraction at all when the microseconds are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, the longest rendering of a year of four digits.
const RENDERED_MAX: usize = 27;

impl Timestamp {
    pub fn render(&self) -> String {
        let mut buf = [0; RENDERED_MAX];
        match self.render_into(&mut buf) {
            Some(text) => text.to_owned(),
            None => self.render_with_chrono(),
        }
    }

    /// What `render` writes, written digit by digit into `buf` (every dispatch has two, and
    /// chrono's `format` parses its pattern and allocates each time); `None` for the instants
    /// it leaves to chrono: years outside 0–9999 and leap seconds.
    fn render_into<'b>(&self, buf: &'b mut [u8; RENDERED_MAX]) -> Option<&'b str> {
        let t = &self.0;
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let nanos = t.nanosecond();
        if nanos >= 1_000_000_000 {
            return None;
        }
        let micros = nanos / 1_000;
        let mut put = |at: usize, value: u32, digits: usize| {
            let mut v = value;
            for i in (at..at + digits).rev() {
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, year, 4);
        put(5, t.month(), 2);
        put(8, t.day(), 2);
        put(11, t.hour(), 2);
        put(14, t.minute(), 2);
        put(17, t.second(), 2);
        let len = if micros == 0 {
            20
        } else {
            put(20, micros, 6);
            27
        };
        buf[4] = b'-';
        buf[7] = b'-';
        buf[10] = b'T';
        buf[13] = b':';
        buf[16] = b':';
        if micros != 0 {
            buf[19] = b'.';
        }
        buf[len - 1] = b'Z';
        std::str::from_utf8(&buf[..len]).ok()
    }

    fn render_with_chrono(&self) -> String {
        if self.0.nanosecond() / 1_000 == 0 {
            self.0.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        } else {
            self.0.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0; RENDERED_MAX];
        match self.render_into(&mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&self.render_with_chrono()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_have_microseconds_and_z() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap()
            + chrono::Duration::microseconds(227_417);
        assert_eq!(Timestamp(t).render(), "2026-01-01T10:00:00.227417Z");
    }

    #[test]
    fn written_by_hand_as_chrono_writes_it() {
        // Every field's extremes, a spread of instants, and those left to chrono.
        let mut instants: Vec<DateTime<Utc>> = vec![
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()
                + chrono::Duration::nanoseconds(999_999_999),
            Utc.with_ymd_and_hms(2024, 2, 29, 9, 5, 7).unwrap() + chrono::Duration::microseconds(1),
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::nanoseconds(999),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 1, 0, 0, 0).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
                .unwrap()
                .and_utc(),
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // 0001-01-01 to ~9999, and every sub-second: micro-, milli- and whole seconds too.
            let secs = (state % 315_000_000_000) as i64 - 62_000_000_000;
            let nanos = match state >> 60 {
                0..=3 => 0,
                4..=7 => ((state >> 20) % 1_000) as u32 * 1_000_000,
                _ => ((state >> 20) % 1_000_000_000) as u32,
            };
            instants.push(DateTime::from_timestamp(secs, nanos).unwrap());
        }
        for t in instants {
            let ts = Timestamp(t);
            assert_eq!(ts.render(), ts.render_with_chrono(), "{t:?}");
            assert_eq!(
                serde_json::to_string(&ts).unwrap(),
                serde_json::to_string(&ts.render_with_chrono()).unwrap()
            );
        }
    }

    #[test]
    fn whole_seconds_have_no_fraction() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        assert_eq!(Timestamp(t).render(), "2026-01-01T12:00:00Z");
    }
}
