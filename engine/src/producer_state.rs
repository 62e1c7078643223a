//! Idempotent producers: per partition, each producer id's epoch and the
//! sequence numbers of its last few batches, so a retried batch is answered
//! with its original offsets and a gap is refused (Kafka's
//! ProducerStateManager, without transactions).
//!
//! Durable through `producer-state` snapshots taken when a segment is sealed
//! and on clean close; recovery replays the batches after the snapshot.

use std::collections::{HashMap, VecDeque};

use crate::offset::Offset;

/// Batches remembered per producer for duplicate detection (Kafka: 5, the
/// most in-flight requests an idempotent producer may have).
pub const CACHED_BATCHES_MAX: usize = 5;

/// Producers a snapshot may hold; more is a corrupt file.
const SNAPSHOT_PRODUCERS_MAX: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachedBatch {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub base_offset: Offset,
    pub last_offset: Offset,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<CachedBatch>,
}

impl ProducerEntry {
    fn last_sequence(&self) -> Option<i32> {
        self.batches.back().map(|batch| batch.last_sequence)
    }
}

/// Why a producer's batch was refused; the server maps each to Kafka's code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    #[error("producer {producer_id}: expected sequence {expected}, got {got}")]
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        got: i32,
    },
    #[error("producer {producer_id}: epoch {got} is older than {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        current: i16,
        got: i16,
    },
    #[error("producer {producer_id} is unknown and its first sequence is {got}, not 0")]
    UnknownProducerId { producer_id: i64, got: i32 },
}

/// What the state says of an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Next in sequence: append it.
    Fresh,
    /// Seen before: answer with these offsets, append nothing.
    Duplicate(CachedBatch),
}

/// The sequence after `sequence`, wrapping as Kafka's does.
fn after(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerState {
    /// Checks a batch `(epoch, first..=last sequence)` of `producer_id`.
    pub fn check(
        &self,
        producer_id: i64,
        epoch: i16,
        first_sequence: i32,
        last_sequence: i32,
    ) -> Result<Verdict, ProducerError> {
        let Some(entry) = self.producers.get(&producer_id) else {
            if first_sequence != 0 {
                return Err(ProducerError::UnknownProducerId {
                    producer_id,
                    got: first_sequence,
                });
            }
            return Ok(Verdict::Fresh);
        };
        if epoch < entry.epoch {
            return Err(ProducerError::InvalidProducerEpoch {
                producer_id,
                current: entry.epoch,
                got: epoch,
            });
        }
        if epoch > entry.epoch {
            if first_sequence != 0 {
                return Err(ProducerError::OutOfOrderSequence {
                    producer_id,
                    expected: 0,
                    got: first_sequence,
                });
            }
            return Ok(Verdict::Fresh);
        }
        if let Some(cached) = entry.batches.iter().find(|batch| {
            batch.first_sequence == first_sequence && batch.last_sequence == last_sequence
        }) {
            return Ok(Verdict::Duplicate(*cached));
        }
        let expected = entry.last_sequence().map_or(0, after);
        if first_sequence != expected {
            return Err(ProducerError::OutOfOrderSequence {
                producer_id,
                expected,
                got: first_sequence,
            });
        }
        Ok(Verdict::Fresh)
    }

    /// Records an appended batch.
    pub fn record(&mut self, producer_id: i64, epoch: i16, batch: CachedBatch) {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch,
                batches: VecDeque::new(),
            });
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(batch);
        while entry.batches.len() > CACHED_BATCHES_MAX {
            entry.batches.pop_front();
        }
    }

    pub fn contains(&self, producer_id: i64) -> bool {
        self.producers.contains_key(&producer_id)
    }

    /// Copies one producer's entry from `other`, if it has one.
    pub fn adopt(&mut self, producer_id: i64, other: &ProducerState) {
        if let Some(entry) = other.producers.get(&producer_id) {
            self.producers.insert(producer_id, entry.clone());
        }
    }

    /// Forgets batches at or after `offset` (the log was truncated there).
    pub fn truncate_to(&mut self, offset: Offset) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|batch| batch.base_offset < offset);
        }
        self.producers.retain(|_, entry| !entry.batches.is_empty());
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Snapshot text: `offset <next>` then one line per cached batch:
    /// `<producer> <epoch> <first_seq> <last_seq> <base_offset> <last_offset>`.
    pub fn encode(&self, next_offset: Offset) -> Vec<u8> {
        let mut out = format!("offset {}\n", next_offset.0);
        let mut ids: Vec<_> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let entry = &self.producers[&id];
            for batch in &entry.batches {
                out.push_str(&format!(
                    "{id} {} {} {} {} {}\n",
                    entry.epoch,
                    batch.first_sequence,
                    batch.last_sequence,
                    batch.base_offset.0,
                    batch.last_offset.0
                ));
            }
        }
        out.into_bytes()
    }

    /// Parses a snapshot; returns the state and the offset it is valid up to.
    pub fn decode(bytes: &[u8]) -> Option<(ProducerState, Offset)> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        let offset: i64 = lines.next()?.strip_prefix("offset ")?.parse().ok()?;
        let mut state = ProducerState::default();
        for line in lines {
            let fields: Vec<i64> = line
                .split(' ')
                .map(|field| field.parse().ok())
                .collect::<Option<_>>()?;
            let [id, epoch, first, last, base, last_offset] = fields[..] else {
                return None;
            };
            let epoch = i16::try_from(epoch).ok()?;
            let batch = CachedBatch {
                first_sequence: i32::try_from(first).ok()?,
                last_sequence: i32::try_from(last).ok()?,
                base_offset: Offset(base),
                last_offset: Offset(last_offset),
            };
            state.record(id, epoch, batch);
            if state.producers.len() > SNAPSHOT_PRODUCERS_MAX {
                return None;
            }
        }
        Some((state, Offset(offset)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(first: i32, last: i32, base: i64) -> CachedBatch {
        CachedBatch {
            first_sequence: first,
            last_sequence: last,
            base_offset: Offset(base),
            last_offset: Offset(base + i64::from(last - first)),
        }
    }

    #[test]
    fn sequences_duplicates_gaps_and_epochs() {
        let mut state = ProducerState::default();
        assert_eq!(
            state.check(7, 0, 3, 4),
            Err(ProducerError::UnknownProducerId {
                producer_id: 7,
                got: 3
            })
        );
        assert_eq!(state.check(7, 0, 0, 4), Ok(Verdict::Fresh));
        state.record(7, 0, cached(0, 4, 100));
        assert_eq!(state.check(7, 0, 5, 9), Ok(Verdict::Fresh));
        assert_eq!(
            state.check(7, 0, 0, 4),
            Ok(Verdict::Duplicate(cached(0, 4, 100)))
        );
        assert_eq!(
            state.check(7, 0, 6, 9),
            Err(ProducerError::OutOfOrderSequence {
                producer_id: 7,
                expected: 5,
                got: 6
            })
        );
        state.record(7, 0, cached(5, 9, 105));
        // A new epoch restarts at 0; an old one is fenced.
        assert!(state.check(7, 1, 10, 12).is_err());
        assert_eq!(state.check(7, 1, 0, 2), Ok(Verdict::Fresh));
        state.record(7, 1, cached(0, 2, 110));
        assert_eq!(
            state.check(7, 0, 10, 12),
            Err(ProducerError::InvalidProducerEpoch {
                producer_id: 7,
                current: 1,
                got: 0
            })
        );
        // Only the last five batches are remembered.
        for n in 1..=6 {
            state.record(7, 1, cached(3 * n, 3 * n + 2, 110 + 3 * i64::from(n)));
        }
        assert_eq!(
            state.check(7, 1, 0, 2),
            Err(ProducerError::OutOfOrderSequence {
                producer_id: 7,
                expected: 21,
                got: 0
            })
        );
        // Sequences wrap at i32::MAX.
        let mut wrap = ProducerState::default();
        wrap.record(1, 0, cached(i32::MAX - 1, i32::MAX, 0));
        assert_eq!(wrap.check(1, 0, 0, 3), Ok(Verdict::Fresh));
    }

    #[test]
    fn snapshot_round_trips() {
        let mut state = ProducerState::default();
        state.record(7, 2, cached(0, 4, 100));
        state.record(7, 2, cached(5, 9, 105));
        state.record(9, 0, cached(0, 0, 110));
        let bytes = state.encode(Offset(111));
        let (decoded, offset) = ProducerState::decode(&bytes).unwrap();
        assert_eq!((decoded, offset), (state, Offset(111)));
        assert!(ProducerState::decode(b"offset x\n").is_none());
        assert!(ProducerState::decode(b"offset 1\n1 2 3\n").is_none());
    }
}
