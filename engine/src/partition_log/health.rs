//! A log's health: offline, in a disk-full episode, or well.
//!
//! ```text
//!            EIO on write, fallocate, truncate, seal; any fdatasync error
//!   well ──────────────────────────────────────────────────▶ offline (until the
//!    │ ▲   every waiter and later call gets Offline             broker restarts and
//!    │ │                                                        recovers the partition)
//!    │ │ all it held back is written; or the log is closed
//!    ▼ │
//!   disk full ◀── ENOSPC / EDQUOT / short write on a write, a new segment
//!                 file or a metadata file (index, checkpoint)
//! ```
//!
//! Offline is for errors after which the file's contents are unknown: a
//! failed fdatasync may have dropped the pages it concerned (retrying it
//! would report success for data that is gone), and EIO says the device
//! itself failed.
//!
//! A full disk is a normal condition. What was appended before it stays in
//! memory and queued; the waiters beyond the written offset are told
//! `DiskFull` at once (producers get KAFKA_STORAGE_ERROR promptly rather
//! than a timeout); new appends are refused with `DiskFull` without being
//! taken. Reads, retention, DeleteRecords and flushes of what is written go
//! on. The writer retries after a backoff (50 ms doubling to 1 s), and only
//! when statvfs says the filesystem has room for the retry plus a margin, so
//! a full disk costs one statvfs per partition per backoff, not a failing
//! write. It writes what it holds back in rounds of 1 MiB, one at a time, so
//! it progresses in whatever space returned; when all of it is on disk the
//! episode ends and appends are taken again. Because queued data is written
//! once space returns, a producer told KAFKA_STORAGE_ERROR may find its
//! batch in the log after all (as after a request timeout): idempotent
//! producers' retries are recognised as duplicates; others may store the
//! batch twice.
//!
//! Preallocation failing (ENOSPC, or a filesystem without fallocate) is not
//! an episode: the writes go ahead without it, extending the file, and
//! preallocation is tried again after the same backoff.

use std::time::{Duration, Instant};

use super::{Error, Shared, State};
use crate::error::IoError;
use crate::io::StorageEvent;
use crate::limits::{DISK_FULL_BACKOFF_MAX, DISK_FULL_BACKOFF_MIN};

/// One disk-full episode of a log.
pub(super) struct DiskFull {
    since: Instant,
    pub(super) error: IoError,
    refused_appends: u64,
    /// The writer tries again from then on.
    pub(super) retry_at: Instant,
    backoff: Duration,
    /// The backoff passed and the filesystem showed room: writes may go.
    pub(super) retrying: bool,
    /// Rounds from this id on were issued during the episode.
    first_round_id: u64,
}

impl DiskFull {
    /// Whether a round with this id was issued during the episode.
    pub(super) fn covers_round(&self, round_id: u64) -> bool {
        round_id >= self.first_round_id
    }

    /// The writer found no room yet: wait longer before the next look.
    pub(super) fn postpone(&mut self) {
        self.backoff = (self.backoff * 2).min(DISK_FULL_BACKOFF_MAX);
        self.retry_at = Instant::now() + self.backoff;
        self.retrying = false;
    }
}

/// Preallocation's state: after a failure, the next try waits.
#[derive(Default)]
pub(super) struct Preallocation {
    pub(super) retry_at: Option<Instant>,
    backoff: Duration,
    /// The failure was reported to the host (once until one succeeds).
    reported: bool,
}

impl Preallocation {
    pub(super) fn allowed(&self) -> bool {
        self.retry_at.is_none_or(|at| Instant::now() >= at)
    }
}

impl State {
    /// Appends are refused while the log is offline, closing, or its disk is full.
    pub(super) fn check_appendable(&mut self) -> Result<(), Error> {
        self.check_open()?;
        if let Some(episode) = &mut self.disk_full {
            episode.refused_appends += 1;
            return Err(Error::DiskFull(episode.error.clone()));
        }
        Ok(())
    }

    /// Offline or closed logs do nothing at all.
    pub(super) fn check_open(&self) -> Result<(), Error> {
        if let Some(failure) = &self.failure {
            return Err(Error::Offline(failure.clone()));
        }
        if self.closing || self.closed {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// The error for a wait for `offset` that cannot end well now: the log
    /// is offline, or its disk is full and `offset` is not written yet.
    pub(super) fn wait_error(&self, offset: super::Offset) -> Option<Error> {
        if let Some(failure) = &self.failure {
            return Some(Error::Offline(failure.clone()));
        }
        match &self.disk_full {
            Some(episode) if offset > self.written_offset => {
                Some(Error::DiskFull(episode.error.clone()))
            }
            _ => None,
        }
    }

    /// Sends `error` to every waiter whose offset is not written.
    fn fail_unwritten_waiters(&mut self, error: &Error) {
        let written = self.written_offset;
        for waiters in [&mut self.write_waiters, &mut self.flush_waiters] {
            let mut index = 0;
            while index < waiters.len() {
                if waiters[index].offset > written {
                    let waiter = waiters.swap_remove(index);
                    let _ = waiter.sender.send(Err(error.clone()));
                } else {
                    index += 1;
                }
            }
        }
    }
}

impl Shared {
    /// The log goes offline for good (until a restart recovers it); every
    /// waiter hears it now. Reported once.
    pub(super) fn go_offline(&self, error: IoError) {
        let first = {
            let mut guard = self.state.borrow_mut();
            let state = &mut *guard;
            let first = state.failure.is_none();
            if first {
                state.failure = Some(error.clone());
            }
            let failure = Error::Offline(state.failure.clone().expect("set above"));
            for waiter in state
                .write_waiters
                .drain(..)
                .chain(state.flush_waiters.drain(..))
            {
                let _ = waiter.sender.send(Err(failure.clone()));
            }
            state.watchers.wake_all();
            first
        };
        if first {
            self.storage.emit(StorageEvent::Offline {
                dir: &self.dir,
                error: &error,
            });
        }
        self.signal.raise();
    }

    /// A write or metadata update found no room: starts an episode (or
    /// backs off further in one) and tells the waiters that cannot be
    /// served now.
    pub(super) fn disk_full(&self, error: IoError) {
        let started = {
            let mut state = self.state.borrow_mut();
            let next_round_id = state.next_round_id;
            let started = match &mut state.disk_full {
                Some(episode) => {
                    episode.postpone();
                    false
                }
                None => {
                    state.disk_full = Some(DiskFull {
                        since: Instant::now(),
                        error: error.clone(),
                        refused_appends: 0,
                        retry_at: Instant::now() + DISK_FULL_BACKOFF_MIN,
                        backoff: DISK_FULL_BACKOFF_MIN,
                        retrying: false,
                        first_round_id: next_round_id,
                    });
                    true
                }
            };
            state.fail_unwritten_waiters(&Error::DiskFull(error.clone()));
            state.watchers.wake_all();
            started
        };
        if started {
            self.storage.emit(StorageEvent::DiskFull {
                dir: &self.dir,
                error: &error,
            });
        }
        self.signal.raise();
    }

    /// Something that needed space succeeded: a write round issued during
    /// the episode (`Some(id)`), or a new segment, seal or checkpoint the
    /// writer retried (`None`). The writer goes on with the next piece at
    /// once; the episode ends when nothing is held back any more.
    pub(super) fn space_returned(&self, round_id: Option<u64>) {
        let ended = {
            let mut state = self.state.borrow_mut();
            let pending = state.pending_bytes();
            match &mut state.disk_full {
                Some(episode) if round_id.is_none_or(|round_id| episode.covers_round(round_id)) => {
                    episode.retrying = true;
                    if pending == 0 {
                        state.disk_full.take()
                    } else {
                        None
                    }
                }
                _ => None,
            }
        };
        if let Some(episode) = ended {
            self.end_episode(episode, true);
        }
    }

    /// The log closes (or goes away) during an episode: it is over too.
    pub(super) fn closing_while_disk_full(&self) {
        let episode = self.state.borrow_mut().disk_full.take();
        if let Some(episode) = episode {
            self.end_episode(episode, false);
        }
    }

    fn end_episode(&self, episode: DiskFull, space_returned: bool) {
        self.storage.emit(StorageEvent::DiskFullEnded {
            dir: &self.dir,
            duration: episode.since.elapsed(),
            refused_appends: episode.refused_appends,
            space_returned,
        });
    }

    /// fallocate failed without harm to the log: write without it for a while.
    pub(super) fn preallocation_failed(&self, error: IoError) {
        let report = {
            let mut state = self.state.borrow_mut();
            let preallocation = &mut state.preallocation;
            preallocation.backoff =
                (preallocation.backoff * 2).clamp(DISK_FULL_BACKOFF_MIN, DISK_FULL_BACKOFF_MAX);
            preallocation.retry_at = Some(Instant::now() + preallocation.backoff);
            !std::mem::replace(&mut preallocation.reported, true)
        };
        if report {
            self.storage.emit(StorageEvent::PreallocationFailed {
                dir: &self.dir,
                error: &error,
            });
        }
    }

    pub(super) fn preallocation_succeeded(&self) {
        let mut state = self.state.borrow_mut();
        if state.preallocation.retry_at.is_some() {
            state.preallocation = Preallocation::default();
        }
    }
}
