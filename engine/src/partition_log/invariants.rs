//! The offset chain and the segment list, checked after every mutation in
//! debug builds (tests, fuzzing): a broken invariant is a bug and panics
//! where it happened rather than where it is noticed.
//!
//! ```text
//!   log_start_offset <= flushed_offset <= written_offset <= log_end_offset
//!   segments: sorted, contiguous (each starts where the previous ends),
//!             Sealed* then Sealing* then one Active
//!   written_offset = the written end of the first segment not fully written
//! ```

use super::segment_state::Phase;
use super::State;

impl State {
    /// Asserts the invariants above (debug builds only).
    pub(super) fn debug_check(&self) {
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
    }

    fn check_invariants(&self) {
        assert!(
            self.log_start_offset <= self.flushed_offset
                && self.flushed_offset <= self.written_offset
                && self.written_offset <= self.log_end_offset,
            "offset chain broken: start {} flushed {} written {} end {}",
            self.log_start_offset,
            self.flushed_offset,
            self.written_offset,
            self.log_end_offset
        );
        let first = self.segments.first().expect("a log always has a segment");
        assert!(
            first.base_offset <= self.log_start_offset,
            "log start {} below the first segment {}",
            self.log_start_offset,
            first.base_offset
        );
        let mut phase_rank = 0;
        for (index, segment) in self.segments.iter().enumerate() {
            let rank = match segment.phase {
                Phase::Sealed => 0,
                Phase::Sealing => 1,
                Phase::Active => 2,
            };
            assert!(
                rank >= phase_rank,
                "segment {} is {:?} after a later phase",
                segment.base_offset,
                segment.phase
            );
            phase_rank = rank;
            assert!(
                segment.written_size <= segment.durable_bytes
                    && segment.durable_bytes <= segment.size
                    && segment.written_next_offset <= segment.next_offset
                    && segment.base_offset <= segment.written_next_offset,
                "segment {}: written {} durable {} size {}, written next {} next {}",
                segment.base_offset,
                segment.written_size,
                segment.durable_bytes,
                segment.size,
                segment.written_next_offset,
                segment.next_offset
            );
            if segment.phase == Phase::Sealed {
                assert_eq!(
                    segment.written_size, segment.size,
                    "sealed segment {} not fully written",
                    segment.base_offset
                );
            }
            if let Some(next) = self.segments.get(index + 1) {
                assert_eq!(
                    segment.next_offset, next.base_offset,
                    "segments {} and {} are not contiguous",
                    segment.base_offset, next.base_offset
                );
            }
        }
        let last = self.segments.last().expect("checked above");
        assert_eq!(
            last.next_offset, self.log_end_offset,
            "log end is the last segment's end"
        );
        if !self.closed {
            assert_eq!(
                last.phase,
                Phase::Active,
                "the last segment is the active one"
            );
        }
        let expected_written = self
            .segments
            .iter()
            .find(|segment| segment.written_size < segment.size)
            .map_or(self.log_end_offset, |segment| segment.written_next_offset);
        assert_eq!(
            self.written_offset, expected_written,
            "written offset is the end of the written prefix"
        );
    }
}
