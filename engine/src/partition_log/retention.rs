//! Removing data: retention by time and size, DeleteRecords, and truncation
//! (for replication). Only whole sealed segments are deleted; the state
//! change is synchronous and the files go afterwards, so appends never wait
//! for an unlink. A reader that still holds a deleted segment's file keeps
//! reading it until it lets go.
//!
//! The files are unlinked before `log-start-offset` is written, so removing
//! data frees space before it needs any: on a full disk, retention and
//! DeleteRecords still work. A crash in between is harmless (recovery
//! takes the first segment's base as the log start when it is higher). If
//! the checkpoint finds no room, the new start holds in memory and the
//! writer writes it when space returns (Kafka too writes its log-start
//! checkpoint after the fact).

use super::recovery::{recover_segment, remove_segment_files};
use super::segment_state::Phase;
use super::{PartitionLog, LOG_START_OFFSET_FILE, PRODUCER_STATE_FILE, RECOVERY_POINT_FILE};
use crate::error::{Error, Result};
use crate::offset::{Offset, TimestampMs};

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionOutcome {
    pub segments_deleted: usize,
    pub bytes_deleted: u64,
    pub log_start_offset: Offset,
}

impl PartitionLog {
    /// Deletes sealed segments whose newest record is older than
    /// `retention.ms`, then the oldest ones while the log exceeds
    /// `retention.bytes`. The active segment is never deleted.
    pub async fn enforce_retention(&self, now: TimestampMs) -> Result<RetentionOutcome> {
        let config = self.config();
        let (doomed, outcome) = {
            let mut state = self.shared.state.borrow_mut();
            state.check_open()?;
            let mut total: u64 = state.segments.iter().map(|segment| segment.size).sum();
            let mut count = 0;
            let mut bytes_deleted = 0;
            for segment in &state.segments[..state.segments.len() - 1] {
                if segment.phase != Phase::Sealed {
                    break;
                }
                let expired = config.retention_ms.is_some_and(|retention_ms| {
                    segment.max_timestamp != TimestampMs::NONE
                        && now.0 - segment.max_timestamp.0 > retention_ms as i64
                });
                let oversize = config
                    .retention_bytes
                    .is_some_and(|limit| total - segment.size >= limit);
                if !expired && !oversize {
                    break;
                }
                total -= segment.size;
                bytes_deleted += segment.size;
                count += 1;
            }
            let doomed: Vec<_> = state
                .segments
                .drain(..count)
                .map(|segment| segment.base_offset)
                .collect();
            let first_base = state.segments[0].base_offset;
            state.log_start_offset = state.log_start_offset.max(first_base);
            let outcome = RetentionOutcome {
                segments_deleted: count,
                bytes_deleted,
                log_start_offset: state.log_start_offset,
            };
            (doomed, outcome)
        };
        if !doomed.is_empty() {
            self.remove_segments(doomed).await?;
            self.persist_log_start_offset(outcome.log_start_offset)
                .await?;
        }
        self.shared.state.borrow().debug_check();
        Ok(outcome)
    }

    /// DeleteRecords: moves the log start offset up to `offset` (at most the
    /// high watermark) and deletes the segments wholly below it. What it
    /// moves past is made durable first, so the log start never passes the
    /// flushed offset.
    pub async fn delete_records_before(&self, offset: Offset) -> Result<Offset> {
        {
            let state = self.shared.state.borrow();
            state.check_open()?;
            if offset > state.written_offset || offset < Offset::ZERO {
                return Err(Error::OffsetOutOfRange {
                    requested: offset,
                    log_start_offset: state.log_start_offset,
                    log_end_offset: state.written_offset,
                });
            }
        }
        self.wait_flushed(offset).await?;
        let (doomed, log_start_offset) = {
            let mut state = self.shared.state.borrow_mut();
            state.check_open()?;
            state.log_start_offset = state.log_start_offset.max(offset);
            let start = state.log_start_offset;
            let last = state.segments.len() - 1;
            let count = state.segments[..last]
                .iter()
                .take_while(|segment| {
                    segment.phase == Phase::Sealed && segment.next_offset <= start
                })
                .count();
            let doomed: Vec<_> = state
                .segments
                .drain(..count)
                .map(|segment| segment.base_offset)
                .collect();
            state.debug_check();
            (doomed, start)
        };
        self.remove_segments(doomed).await?;
        self.persist_log_start_offset(log_start_offset).await?;
        Ok(log_start_offset)
    }

    /// Unlinks the files of segments that left the log. An error other
    /// than a missing file takes the log offline.
    async fn remove_segments(&self, bases: Vec<Offset>) -> Result<()> {
        for base in bases {
            let removed = remove_segment_files(&self.shared.storage, &self.shared.dir, base).await;
            if let Err(error) = removed {
                self.shared.go_offline(error.clone());
                return Err(error.into());
            }
        }
        Ok(())
    }

    /// Writes `log-start-offset`; with no room, leaves it to the writer.
    async fn persist_log_start_offset(&self, offset: Offset) -> Result<()> {
        let written = self
            .shared
            .storage
            .write_file_atomic(
                &self.shared.dir.join(LOG_START_OFFSET_FILE),
                offset.0.to_string().into_bytes(),
            )
            .await;
        match written {
            Ok(()) => Ok(()),
            Err(error) if error.is_out_of_space() => {
                self.shared.state.borrow_mut().log_start_unpersisted = true;
                self.shared.signal.raise();
                Ok(())
            }
            Err(error) => {
                self.shared.go_offline(error.clone());
                Err(error.into())
            }
        }
    }

    /// Removes every batch at or after `offset` (a follower truncating to its
    /// leader). A batch that straddles `offset` is removed whole; the new log
    /// end offset is returned. The caller must not append meanwhile.
    pub async fn truncate_to(&self, offset: Offset) -> Result<Offset> {
        let end = self.log_end_offset();
        self.flush().await?;
        if offset >= end {
            return Ok(end);
        }
        let config = self.config();
        let (doomed, keep_base, keep_position) = {
            let state = self.shared.state.borrow();
            if offset < state.log_start_offset {
                return Err(Error::OffsetOutOfRange {
                    requested: offset,
                    log_start_offset: state.log_start_offset,
                    log_end_offset: state.log_end_offset,
                });
            }
            let keep = state
                .segments
                .iter()
                .rposition(|segment| segment.base_offset <= offset)
                .unwrap_or(0);
            let doomed: Vec<_> = state.segments[keep + 1..]
                .iter()
                .map(|segment| segment.base_offset)
                .collect();
            (
                doomed,
                state.segments[keep].base_offset,
                state.segments[keep].offset_index.lookup(offset).1,
            )
        };
        // Find the first batch that reaches `offset`; cut there.
        let cut = self
            .batch_position_reaching(keep_base, keep_position.0, offset)
            .await?;
        {
            let mut state = self.shared.state.borrow_mut();
            state
                .segments
                .retain(|segment| segment.base_offset <= keep_base);
        }
        for base in doomed {
            remove_segment_files(&self.shared.storage, &self.shared.dir, base).await?;
        }
        let kept = {
            let mut state = self.shared.state.borrow_mut();
            state.segments.pop().expect("the kept segment")
        };
        if let Some(file) = kept.file.clone() {
            file.direct.truncate(cut).await?;
            file.direct.fdatasync().await?;
        }
        drop(kept);
        for extension in ["index", "timeindex"] {
            self.shared
                .storage
                .remove_file(&crate::segment::file_path(
                    &self.shared.dir,
                    keep_base,
                    extension,
                ))
                .await?;
        }
        let (mut segment, _) = recover_segment(
            &self.shared.storage,
            &self.shared.dir,
            keep_base,
            None,
            false,
            &config,
            &mut Vec::new(),
        )
        .await?;
        segment.phase = Phase::Active;
        segment.roll_base_ms = TimestampMs::now().0;
        if segment.size > 0 {
            segment.tail = super::recovery::resume_tail(&segment).await?;
        }
        let new_end = segment.next_offset;
        let lowered_start = {
            let mut state = self.shared.state.borrow_mut();
            for sealed in state.segments.iter_mut() {
                sealed.phase = Phase::Sealed;
            }
            state.segments.push(segment);
            state.log_end_offset = new_end;
            state.written_offset = new_end;
            state.flushed_offset = new_end;
            state.flush_requested = new_end;
            state.producers.truncate_to(new_end);
            // The batch holding the log start went whole: the log is
            // empty from its base on.
            let lowered = state.log_start_offset > new_end;
            if lowered {
                state.log_start_offset = new_end;
            }
            state.debug_check();
            lowered
        };
        if lowered_start {
            self.persist_log_start_offset(new_end).await?;
        }
        // Producer snapshot before the recovery point, as when sealing.
        let snapshot = self.shared.state.borrow().producers.encode(new_end);
        let storage = &self.shared.storage;
        storage
            .write_file_atomic(&self.shared.dir.join(PRODUCER_STATE_FILE), snapshot)
            .await?;
        storage
            .write_file_atomic(
                &self.shared.dir.join(RECOVERY_POINT_FILE),
                keep_base.0.to_string().into_bytes(),
            )
            .await?;
        Ok(new_end)
    }
}
