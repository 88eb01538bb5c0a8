//! The wire format as plain data: client events in, dispatches and error frames out.
//! Nothing here knows about actors, sockets or the database.

pub mod client;
pub mod errors;
pub mod ids;
pub mod server;

use chrono::{DateTime, Timelike, Utc};
use serde::{Serialize, Serializer};

/// A UTC instant rendered as the reference renders it: ISO 8601, microseconds, `Z`, and no
/// fraction at all when the microseconds are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    pub fn render(&self) -> String {
        if self.0.nanosecond() / 1_000 == 0 {
            self.0.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        } else {
            self.0.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.render())
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
    fn whole_seconds_have_no_fraction() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        assert_eq!(Timestamp(t).render(), "2026-01-01T12:00:00Z");
    }
}
