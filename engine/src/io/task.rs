//! Tasks and wake-ups on the shard's executor: spawning, the blocking
//! pool, timers and the one-shot signal the partition writer waits on.
//!
//! Contract: every function here must be called on a thread that runs a
//! glommio `LocalExecutor` (a shard). Nothing here is `Send`.

use std::future::Future;
use std::time::Duration;

/// Runs a blocking closure on glommio's blocking pool, off the shard.
pub async fn blocking<F, R>(function: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    glommio::executor().spawn_blocking(function).await
}

/// Waits `duration` on the shard's timer, letting its other tasks (and
/// the ring's pending closes) run meanwhile.
pub async fn pause(duration: Duration) {
    glommio::timer::sleep(duration).await;
}

/// Spawns a task on the current shard and lets it run on its own.
pub fn spawn_detached(future: impl Future<Output = ()> + 'static) {
    glommio::spawn_local(future).detach();
}

/// A one-shot wake-up for a single waiting task (the partition writer).
#[derive(Default)]
pub struct Signal {
    raised: std::cell::Cell<bool>,
    waker: std::cell::RefCell<Option<std::task::Waker>>,
}

impl Signal {
    pub fn raise(&self) {
        self.raised.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    pub async fn wait(&self) {
        std::future::poll_fn(|context| {
            if self.raised.replace(false) {
                return std::task::Poll::Ready(());
            }
            *self.waker.borrow_mut() = Some(context.waker().clone());
            std::task::Poll::Pending
        })
        .await
    }

    /// Waits for the signal or for `timeout`, whichever comes first.
    pub async fn wait_timeout(&self, timeout: Duration) {
        let timer = glommio::timer::Timer::new(timeout);
        futures_util::future::select(std::pin::pin!(self.wait()), std::pin::pin!(timer)).await;
    }
}
