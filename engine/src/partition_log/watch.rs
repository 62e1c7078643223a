//! Waiting for the high watermark to move: what a long-polling reader
//! needs. A wait is cancel-safe — dropping it forgets the registration — so a
//! reader that gives up (its deadline passed, another partition had data)
//! leaves nothing behind, however long the partition stays idle.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::{PartitionLog, Shared};
use crate::offset::Offset;

/// The tasks waiting for the high watermark, each under its own id.
#[derive(Default)]
pub(crate) struct Watchers {
    next_id: u64,
    waiting: Vec<(u64, Waker)>,
}

impl Watchers {
    /// Wakes every watcher; each looks again and registers anew if it must.
    pub(crate) fn wake_all(&mut self) {
        for (_, waker) in self.waiting.drain(..) {
            waker.wake();
        }
    }

    fn register(&mut self, id: Option<u64>, waker: &Waker) -> u64 {
        if let Some(id) = id {
            if let Some((_, existing)) = self.waiting.iter_mut().find(|(key, _)| *key == id) {
                existing.clone_from(waker);
                return id;
            }
        }
        let id = id.unwrap_or_else(|| {
            self.next_id += 1;
            self.next_id
        });
        self.waiting.push((id, waker.clone()));
        id
    }

    fn forget(&mut self, id: u64) {
        self.waiting.retain(|(key, _)| *key != id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.waiting.len()
    }
}

/// Completes once the high watermark is above `offset`, or the log failed
/// or is closing (the reader then finds out by reading).
pub struct HighWatermarkBeyond<'a> {
    shared: &'a Shared,
    offset: Offset,
    id: Option<u64>,
}

impl Future for HighWatermarkBeyond<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let mut state = self.shared.state.borrow_mut();
        let done = state.written_offset > self.offset
            || state.failure.is_some()
            || state.closing
            || state.closed;
        if done {
            if let Some(id) = self.id {
                state.watchers.forget(id);
            }
            drop(state);
            self.id = None;
            return Poll::Ready(());
        }
        let id = state.watchers.register(self.id, context.waker());
        drop(state);
        self.id = Some(id);
        Poll::Pending
    }
}

impl Drop for HighWatermarkBeyond<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            if let Ok(mut state) = self.shared.state.try_borrow_mut() {
                state.watchers.forget(id);
            }
        }
    }
}

impl PartitionLog {
    /// Waits until readers can see an offset above `offset` (the high
    /// watermark passed it). Dropping the future cancels the wait.
    pub fn high_watermark_beyond(&self, offset: Offset) -> HighWatermarkBeyond<'_> {
        HighWatermarkBeyond {
            shared: &self.shared,
            offset,
            id: None,
        }
    }

    #[cfg(test)]
    pub(crate) fn watcher_count(&self) -> usize {
        self.shared.state.borrow().watchers.len()
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;
    use crate::config::LogConfig;
    use crate::offset::TimestampMs;
    use crate::record_batch::{BatchBuilder, Record};

    fn batch(count: usize) -> Vec<u8> {
        let mut builder = BatchBuilder::new();
        for index in 0..count {
            builder.push(Record {
                key: None,
                value: Some(format!("value-{index}").into_bytes()),
                headers: Vec::new(),
                timestamp: TimestampMs(1_700_000_000_000 + index as i64),
            });
        }
        builder.build()
    }

    #[test]
    fn a_wait_ends_when_the_high_watermark_passes_and_a_dropped_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watch-0");
        crate::runtime::block_on(async move {
            let log = Rc::new(
                PartitionLog::open(&path, LogConfig::default())
                    .await
                    .unwrap(),
            );
            // Nothing to wait for: already beyond.
            log.append(&batch(2)).await.unwrap();
            log.high_watermark_beyond(Offset(1)).await;

            // Dropped before data comes: the registration goes with it.
            {
                let wait = std::pin::pin!(log.high_watermark_beyond(Offset(2)));
                let timer = std::pin::pin!(glommio::timer::sleep(Duration::from_millis(20)));
                let timed_out = futures_util::future::select(wait, timer).await;
                assert!(matches!(timed_out, futures_util::future::Either::Right(_)));
            }
            assert_eq!(log.watcher_count(), 0);

            // Woken by an append from another task, with the new data visible.
            let appender = log.clone();
            let task = glommio::spawn_local(async move {
                glommio::timer::sleep(Duration::from_millis(10)).await;
                appender.append(&batch(3)).await.unwrap();
            });
            log.high_watermark_beyond(Offset(2)).await;
            assert_eq!(log.high_watermark(), Offset(5));
            assert_eq!(log.watcher_count(), 0);
            task.await;
        });
    }
}
