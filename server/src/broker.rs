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
use crate::connection_quota::{ConnectionQuotas, Refused};
use crate::listeners::{Endpoint, Listener};
use crate::shard::{Job, Shard};
use crate::topics::TopicTable;

/// How often a shard checks for shutdown and runs retention.
const TICK: Duration = Duration::from_millis(100);
const RETENTION_CHECK: Duration = Duration::from_secs(30);
const DRAIN_WAIT: Duration = Duration::from_secs(5);
/// How often a shard checks how late its timers fire (see metrics.rs).
const STALL_PROBE_PERIOD: Duration = Duration::from_millis(10);
/// glommio blocking-pool threads per shard: file creation, directory
/// syncs, small file reads and writes. Sendfile has threads of its own
/// (`sendfile_pool`), so this work never queues behind a consumer.
const FILE_OPERATION_THREADS: usize = 4;

pub fn run(config: BrokerConfig) -> Result<(), String> {
    // First of all: a SIGTERM that comes while the broker starts waits for
    // the start to finish, then stops it cleanly, instead of killing it
    // half started (threads spawned later inherit the blocked mask).
    block_shutdown_signals();
    let log_dir = config.log_dir();
    std::fs::create_dir_all(&log_dir)
        .map_err(|error| format!("cannot create log.dirs {}: {error}", log_dir.display()))?;
    let memlock = engine::runtime::memlock_limit_bytes().unwrap_or(0);
    let shards = config.num_shards();
    let io_memory = engine::runtime::io_memory_for(shards);
    let needed = io_memory.per_shard as u64 * shards as u64;
    if io_memory.charged && memlock < needed {
        return Err(format!(
            "RLIMIT_MEMLOCK is {memlock} bytes; io_uring needs {needed} for {shards} shards. \
             Raise it (ulimit -l, or LimitMEMLOCK= in the systemd unit)"
        ));
    }
    tracing::info!(
        "io_uring registered buffers: {} MiB per shard ({})",
        io_memory.per_shard >> 20,
        match io_memory.charged {
            false => "CAP_IPC_LOCK: not charged to RLIMIT_MEMLOCK",
            true => "within RLIMIT_MEMLOCK",
        }
    );
    let table = TopicTable::load(&log_dir)?;
    let listeners = bound_addresses(&config)?;
    for (listener, address) in &listeners {
        refuse_a_taken_port(&listener.name, *address)?;
    }
    let (ready_sender, ready) = std::sync::mpsc::channel::<Result<(), String>>();
    crate::capacity::raise_open_files_limit();
    let capacity = crate::capacity::Capacity::measure(shards);
    capacity.log(shards);
    crate::sendfile_pool::choose_read_ahead(&log_dir);
    let quotas = ConnectionQuotas::new(
        config.max_connections(),
        config.max_connections_per_ip(),
        per_ip_overrides(&config)?,
    );

    let stop = Arc::new(AtomicBool::new(false));
    let config = Arc::new(config);
    let mesh = MeshBuilder::<Job, _>::full(shards, 1024);
    let opened_barrier = Arc::new(std::sync::Barrier::new(shards));
    let pinned = crate::cpus::for_shards(shards);
    let mut handles = Vec::new();
    for id in 0..shards {
        let placement = match &pinned {
            Some(cpus) => Placement::Fixed(cpus[id]),
            None => Placement::Unbound,
        };
        let started = Started {
            id,
            shards,
            config: config.clone(),
            mesh: mesh.clone(),
            stop: stop.clone(),
            table: table.clone(),
            listeners: listeners.clone(),
            ready: ready_sender.clone(),
            opened_barrier: opened_barrier.clone(),
            quotas: quotas.clone(),
            capacity,
        };
        let handle = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{id}"))
            .io_memory(io_memory.per_shard)
            // File operations block: threads free to run on any core.
            .blocking_thread_pool_placement(glommio::PoolPlacement::Unbound(FILE_OPERATION_THREADS))
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
        let serving: Vec<String> = listeners
            .iter()
            .map(|(listener, address)| format!("{}://{address}", listener.name))
            .collect();
        tracing::info!(listeners = %serving.join(","), shards, data = %log_dir.display(), "ringlog {} serving", env!("CARGO_PKG_VERSION"));
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
    /// Every listener and the address it binds.
    listeners: Vec<(Listener, std::net::SocketAddr)>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
    opened_barrier: Arc<std::sync::Barrier>,
    quotas: Arc<ConnectionQuotas>,
    capacity: crate::capacity::Capacity,
}

async fn shard_main(started: Started) -> Result<(), String> {
    let Started {
        id,
        shards,
        config,
        mesh,
        stop,
        table,
        listeners,
        ready,
        opened_barrier,
        quotas,
        capacity,
    } = started;
    let (senders, receivers) = mesh
        .join()
        .await
        .map_err(|_| "joining the shard mesh failed".to_string())?;
    let shard = Rc::new(Shard::new(id, shards, config, senders, &capacity));
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
    let bound = opened.and_then(|()| {
        listeners
            .iter()
            .map(|(listener, address)| {
                TcpListener::bind(address)
                    .map(|socket| (listener.clone(), Rc::new(socket)))
                    .map_err(|error| {
                        format!("cannot listen on {}://{address}: {error}", listener.name)
                    })
            })
            .collect::<Result<Vec<_>, String>>()
    });
    let sockets = match bound {
        Ok(sockets) => {
            crate::admin::mark_serving();
            let _ = ready.send(Ok(()));
            drop(ready);
            sockets
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
    for (listener, socket) in &sockets {
        let advertised = Rc::new(listener.advertised.clone());
        spawn_acceptor(
            shard.clone(),
            socket.clone(),
            stop.clone(),
            quotas.clone(),
            advertised,
        );
    }
    while !stop.load(Ordering::SeqCst) {
        glommio::timer::sleep(TICK).await;
    }
    shard.stopping.set(true);
    drop(sockets);
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

fn spawn_acceptor(
    shard: Rc<Shard>,
    listener: Rc<TcpListener>,
    stop: Arc<AtomicBool>,
    quotas: Arc<ConnectionQuotas>,
    advertised: Rc<Endpoint>,
) {
    glommio::spawn_local(async move {
        let mut refusals = Refusals::default();
        loop {
            match listener.accept().await {
                Ok(stream) if !stop.load(Ordering::SeqCst) => {
                    let address = match stream.peer_addr() {
                        Ok(address) => address.ip(),
                        // Gone already (reset before we looked).
                        Err(_) => continue,
                    };
                    match quotas.admit(address) {
                        Ok(admitted) => {
                            let shard = shard.clone();
                            let stop = stop.clone();
                            let advertised = advertised.clone();
                            glommio::spawn_local(async move {
                                connection::serve(shard, stream, stop, admitted, advertised).await
                            })
                            .detach();
                        }
                        // Closed before anything is read, as Kafka does.
                        Err(refused) => {
                            drop(stream);
                            refusals.count(refused);
                        }
                    }
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

/// Every listener of the configuration and the address it binds; an
/// error names a listener that cannot be served or resolved.
fn bound_addresses(config: &BrokerConfig) -> Result<Vec<(Listener, std::net::SocketAddr)>, String> {
    let listeners = config.listeners().map_err(|error| error.to_string())?;
    listeners
        .into_iter()
        .map(|listener| {
            let host = match listener.bind.host.as_str() {
                "" => "0.0.0.0",
                host => host,
            };
            let port = listener.bind.port;
            let address = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
                .map_err(|error| {
                    format!(
                        "listeners: cannot resolve {}://{host}:{port}: {error}",
                        listener.name
                    )
                })?
                .next()
                .ok_or_else(|| {
                    format!(
                        "listeners: {}://{host}:{port} resolves to nothing",
                        listener.name
                    )
                })?;
            Ok((listener, address))
        })
        .collect()
}

/// Fails when something already listens on `address`. Every shard binds it
/// with SO_REUSEPORT, which the kernel also grants when a second broker (of
/// the same user) already listens there: the two would split the
/// connections without a word. So before binding, the kernel's table of
/// TCP sockets (`/proc/net/tcp`, `tcp6`) is asked for a listening socket on
/// the port (at this address or a wildcard), which Kafka would report as
/// "address in use". (A plain bind as a probe does not do: connections of
/// this broker's previous life, lingering in FIN_WAIT, refuse it too.) A
/// listener of a previous life may itself linger a moment after a kill -9
/// (io_uring holds it until its ring is torn down): retried briefly.
fn refuse_a_taken_port(name: &str, address: std::net::SocketAddr) -> Result<(), String> {
    let deadline = std::time::Instant::now() + PORT_TAKEN_WAIT;
    while listening_on(address) {
        if std::time::Instant::now() >= deadline {
            return Err(format!(
                "listener {name}: cannot listen on {address}: address already in use \
                 (is another broker running?)"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// How long a port held by someone else may take to come free at start.
const PORT_TAKEN_WAIT: Duration = Duration::from_secs(3);

/// Whether a TCP socket listens on `address`'s port at its address or a
/// wildcard one (or at any address, when `address` is a wildcard).
fn listening_on(address: std::net::SocketAddr) -> bool {
    const LISTEN: &str = "0A";
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        let Ok(text) = std::fs::read_to_string(table) else {
            return false;
        };
        text.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                return false;
            };
            let Some((ip, port)) = local.split_once(':') else {
                return false;
            };
            let same_port = u16::from_str_radix(port, 16).ok() == Some(address.port());
            let wildcard = ip.bytes().all(|digit| digit == b'0');
            let same_ip = match address.ip() {
                std::net::IpAddr::V4(v4) => {
                    ip.len() == 8
                        && u32::from_str_radix(ip, 16).ok() == Some(u32::from_le_bytes(v4.octets()))
                }
                std::net::IpAddr::V6(_) => false,
            };
            *state == LISTEN && same_port && (wildcard || same_ip || address.ip().is_unspecified())
        })
    })
}

/// `max.connections.per.ip.overrides` by address: each host resolved now,
/// every address it resolves to getting its limit.
fn per_ip_overrides(
    config: &BrokerConfig,
) -> Result<std::collections::HashMap<std::net::IpAddr, usize>, String> {
    let mut out = std::collections::HashMap::new();
    for (host, limit) in config
        .max_connections_per_ip_overrides()
        .map_err(|error| error.to_string())?
    {
        let addresses =
            std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), 0)).map_err(|error| {
                format!("max.connections.per.ip.overrides: cannot resolve {host}: {error}")
            })?;
        for address in addresses {
            out.insert(address.ip(), limit);
        }
    }
    Ok(out)
}

/// Connections refused over a limit, logged at most once a second for
/// each limit, so a flood of them does not flood the log.
#[derive(Default)]
struct Refusals {
    /// For the broker's limit and the per-address one: refusals since the
    /// last line, and when that line was written.
    limits: [(u64, Option<std::time::Instant>); 2],
}

impl Refusals {
    const LOG_PERIOD: Duration = Duration::from_secs(1);

    fn count(&mut self, refused: Refused) {
        let (since_logged, logged_at) = match refused {
            Refused::Broker { .. } => &mut self.limits[0],
            Refused::Address { .. } => &mut self.limits[1],
        };
        *since_logged += 1;
        let now = std::time::Instant::now();
        if logged_at.is_some_and(|at| now.duration_since(at) < Self::LOG_PERIOD) {
            return;
        }
        tracing::warn!(
            "refused {since_logged} new connection(s) in the last {} s; the latest because {refused}",
            Self::LOG_PERIOD.as_secs()
        );
        *since_logged = 0;
        *logged_at = Some(now);
    }
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
