//! Newtypes for the integers that must not be confused: an offset is not a
//! file position, and neither is a timestamp.

use std::fmt;

/// A Kafka offset: the position of a record in its partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offset(pub i64);

impl Offset {
    pub const ZERO: Offset = Offset(0);

    /// Saturating: offsets near i64::MAX only come from hostile input, and
    /// validation refuses them; arithmetic on them must still not panic.
    pub fn next(self) -> Offset {
        Offset(self.0.saturating_add(1))
    }

    pub fn plus(self, delta: i64) -> Offset {
        Offset(self.0.saturating_add(delta))
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A byte position inside one segment's `.log` file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FilePosition(pub u64);

/// Milliseconds since the Unix epoch, as Kafka stores them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimestampMs(pub i64);

impl TimestampMs {
    /// Kafka's "no timestamp" value.
    pub const NONE: TimestampMs = TimestampMs(-1);

    pub fn now() -> TimestampMs {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        TimestampMs(since_epoch.as_millis() as i64)
    }
}
