//! One segment of a partition log: `<base_offset:020>.log` holding record
//! batches exactly as on the wire, with its sparse `.index` and `.timeindex`.

pub mod offset_index;
pub mod time_index;

use std::path::{Path, PathBuf};

use crate::offset::Offset;

pub use offset_index::{IndexError, OffsetIndex, OffsetIndexEntry};
pub use time_index::{TimeIndex, TimeIndexEntry};

/// `00000000000000000042.log` and friends.
pub fn file_name(base_offset: Offset, extension: &str) -> String {
    format!("{:020}.{extension}", base_offset.0)
}

pub fn file_path(dir: &Path, base_offset: Offset, extension: &str) -> PathBuf {
    dir.join(file_name(base_offset, extension))
}

/// Parses a segment file name back to its base offset and extension.
pub fn parse_file_name(name: &str) -> Option<(Offset, &str)> {
    let (stem, extension) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let base = stem.parse::<i64>().ok()?;
    Some((Offset(base), extension))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kafkas() {
        assert_eq!(file_name(Offset(42), "log"), "00000000000000000042.log");
        assert_eq!(
            parse_file_name("00000000000000000042.timeindex"),
            Some((Offset(42), "timeindex"))
        );
        assert_eq!(parse_file_name("42.log"), None);
        assert_eq!(parse_file_name("0000000000000000004x.log"), None);
    }
}
