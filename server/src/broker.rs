//! Starting and stopping the broker: one shard per core (or `num.shards`),
//! each binding the listener with SO_REUSEPORT and serving the connections
//! the kernel hands it.
//!
//! Shutdown (SIGINT/SIGTERM): the main thread sets a flag; each shard stops
//! accepting, lets its connections finish the request in hand (up to a few
//! seconds), then closes its partitions cleanly (flush, seal, marker).

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use glommio::channels::channel_mesh::MeshBuilder;
use glommio::net::TcpListener;
use glommio::{LocalExecutorBuilder, Placement};

use crate::config::BrokerConfig;
use crate::connection;
use crate::shard::{Job, Shard};
use crate::topics::TopicTable;

/// How often a shard checks for shutdown and runs retention.
const TICK: Duration = Duration::from_millis(100);
const RETENTION_CHECK: Duration = Duration::from_secs(30);
const DRAIN_WAIT: Duration = Duration::from_secs(5);
/// How often a shard checks how late its timers fire (see metrics.rs).
const STALL_PROBE_PERIOD: Duration = Duration::from_millis(10);
/// Blocking-pool threads per shard (sendfile, file metadata operations).
const SENDFILE_THREADS: usize = 4;

pub fn run(config: BrokerConfig) -> Result<(), String> {
    let log_dir = config.log_dir();
    std::fs::create_dir_all(&log_dir)
        .map_err(|error| format!("cannot create log.dirs {}: {error}", log_dir.display()))?;
    let memlock = engine::runtime::memlock_limit_bytes().unwrap_or(0);
    let shards = config.num_shards();
    let needed = engine::runtime::IO_MEMORY_BYTES as u64 * shards as u64;
    if memlock < needed {
        return Err(format!(
            "RLIMIT_MEMLOCK is {memlock} bytes; io_uring needs {needed} for {shards} shards. \
             Raise it (ulimit -l, or LimitMEMLOCK= in the systemd unit)"
        ));
    }
    let table = TopicTable::load(&log_dir)?;
    let (host, port) = config.listener().map_err(|error| error.to_string())?;
    let address = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .map_err(|error| format!("listeners: cannot resolve {host}:{port}: {error}"))?
        .next()
        .ok_or_else(|| format!("listeners: {host}:{port} resolves to nothing"))?;
    let (ready_sender, ready) = std::sync::mpsc::channel::<Result<(), String>>();

    block_shutdown_signals();
    let stop = Arc::new(AtomicBool::new(false));
    let config = Arc::new(config);
    let mesh = MeshBuilder::<Job, _>::full(shards, 1024);
    let opened_barrier = Arc::new(std::sync::Barrier::new(shards));
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    let mut handles = Vec::new();
    for id in 0..shards {
        let placement = if shards <= cores {
            Placement::Fixed(id)
        } else {
            Placement::Unbound
        };
        let started = Started {
            id,
            shards,
            config: config.clone(),
            mesh: mesh.clone(),
            stop: stop.clone(),
            table: table.clone(),
            address,
            ready: ready_sender.clone(),
            opened_barrier: opened_barrier.clone(),
        };
        let handle = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{id}"))
            .io_memory(engine::runtime::IO_MEMORY_BYTES)
            // sendfile of cold data blocks: give it threads of its own,
            // free to run on any core, so one slow read does not queue
            // every other fetch of the shard behind it.
            .blocking_thread_pool_placement(glommio::PoolPlacement::Unbound(SENDFILE_THREADS))
            .spawn(move || async move { shard_main(started).await })
            .map_err(|error| format!("cannot start shard {id}: {error}"))?;
        handles.push(handle);
    }
    drop(ready_sender);
    let mut startup_failure = None;
    for _ in 0..shards {
        match ready.recv() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                startup_failure = Some(error);
                break;
            }
            Err(_) => {
                startup_failure = Some("a shard stopped while starting".to_string());
                break;
            }
        }
    }
    if startup_failure.is_none() {
        tracing::info!(%address, shards, data = %log_dir.display(), "ringlog {} serving", env!("CARGO_PKG_VERSION"));
        wait_for_shutdown_signal();
        tracing::info!("shutting down");
    }
    stop.store(true, Ordering::SeqCst);
    let mut failure = None;
    for handle in handles {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => failure = Some(error),
            Err(error) => failure = Some(format!("a shard failed: {error}")),
        }
    }
    match startup_failure.or(failure) {
        Some(error) => Err(error),
        None => {
            tracing::info!("stopped cleanly");
            Ok(())
        }
    }
}

/// What a shard starts from.
struct Started {
    id: usize,
    shards: usize,
    config: Arc<BrokerConfig>,
    mesh: MeshBuilder<Job, glommio::channels::channel_mesh::Full>,
    stop: Arc<AtomicBool>,
    table: TopicTable,
    address: std::net::SocketAddr,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
    opened_barrier: Arc<std::sync::Barrier>,
}

async fn shard_main(started: Started) -> Result<(), String> {
    let Started {
        id,
        shards,
        config,
        mesh,
        stop,
        table,
        address,
        ready,
        opened_barrier,
    } = started;
    let (senders, receivers) = mesh
        .join()
        .await
        .map_err(|_| "joining the shard mesh failed".to_string())?;
    let shard = Rc::new(Shard::new(id, shards, config, senders));
    shard.spawn_job_receivers(receivers);
    // The admin listener (shard 0) answers before the partitions are open:
    // /v1/ready says 503 during a long recovery instead of refusing.
    let admin = match id {
        0 => crate::admin::start(&shard, stop.clone()),
        _ => Ok(()),
    };
    let opened = match admin {
        Ok(()) => shard.apply_topics(table).await,
        failed => failed,
    };
    // The group coordinator's offsets-log partitions open before the
    // barrier too; loading them runs once the shard serves.
    let opened = match opened {
        Ok(()) => crate::group::start(&shard).await,
        failed => failed,
    };
    // No shard listens before every shard has opened its partitions: a
    // request forwarded to a shard still opening would find no partition.
    // Waited for on the blocking pool: the shard's own tasks (the admin
    // listener on shard 0, jobs from shards still opening) keep running.
    glommio::executor()
        .spawn_blocking(move || {
            opened_barrier.wait();
        })
        .await;
    let listener = match opened.and_then(|()| {
        TcpListener::bind(address).map_err(|error| format!("cannot listen on {address}: {error}"))
    }) {
        Ok(listener) => {
            crate::admin::mark_serving();
            let _ = ready.send(Ok(()));
            drop(ready);
            listener
        }
        Err(error) => {
            let _ = ready.send(Err(error.clone()));
            shard.close_partitions().await;
            return Err(error);
        }
    };
    spawn_retention(shard.clone(), stop.clone());
    let probed = shard.clone();
    glommio::spawn_local(async move {
        crate::metrics::probe_timer_lateness(STALL_PROBE_PERIOD, || !probed.stopping.get()).await
    })
    .detach();
    // Accepting runs in its own task and is never cancelled: dropping an
    // accept in flight (say, racing it with a timer) can lose a connection
    // the kernel already completed, which the client sees as a reset.
    let listener = Rc::new(listener);
    spawn_acceptor(shard.clone(), listener.clone(), stop.clone());
    while !stop.load(Ordering::SeqCst) {
        glommio::timer::sleep(TICK).await;
    }
    shard.stopping.set(true);
    drop(listener);
    shard.stop_reading_connections();
    let deadline = std::time::Instant::now() + DRAIN_WAIT;
    while shard.open_connection_count() > 0 && std::time::Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    // Peers may still forward work while they drain: keep serving it a moment.
    glommio::timer::sleep(Duration::from_millis(200)).await;
    shard.close_partitions().await;
    crate::group::stop(&shard).await;
    crate::metrics::log_shard_counters(id);
    Ok(())
}

fn spawn_acceptor(shard: Rc<Shard>, listener: Rc<TcpListener>, stop: Arc<AtomicBool>) {
    glommio::spawn_local(async move {
        loop {
            match listener.accept().await {
                Ok(stream) if !stop.load(Ordering::SeqCst) => {
                    let shard = shard.clone();
                    let stop = stop.clone();
                    glommio::spawn_local(
                        async move { connection::serve(shard, stream, stop).await },
                    )
                    .detach();
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!("accept failed: {error}");
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    })
    .detach();
}

fn spawn_retention(shard: Rc<Shard>, stop: Arc<AtomicBool>) {
    glommio::spawn_local(async move {
        let mut waited = Duration::ZERO;
        while !stop.load(Ordering::SeqCst) {
            glommio::timer::sleep(TICK).await;
            waited += TICK;
            if waited < RETENTION_CHECK {
                continue;
            }
            waited = Duration::ZERO;
            for ((topic, partition), log) in shard.owned_partitions() {
                if let Err(error) = log.enforce_retention(engine::TimestampMs::now()).await {
                    tracing::warn!("retention of {topic}-{partition}: {error}");
                }
            }
        }
    })
    .detach();
}

fn block_shutdown_signals() {
    use nix::sys::signal::{SigSet, Signal};
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    let _ = signals.thread_block();
}

fn wait_for_shutdown_signal() {
    use nix::sys::signal::{SigSet, Signal};
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    let _ = signals.wait();
}
