//! The admin HTTP listener (`admin.listener=127.0.0.1:9644`, off when unset
//! or empty): Prometheus `/metrics`, `/v1/status` (JSON) and `/v1/ready`.
//!
//! ```text
//!   scraper ──GET /metrics──▶ shard 0: admin task ──Shard::call──▶ every shard:
//!                                 │                                 snapshot::take (its own
//!                                 │◀──────── ShardSnapshot ─────────┘ thread-locals, by value)
//!                                 └── exposition::render ──▶ text ──▶ scraper
//! ```
//!
//! It runs as tasks of shard 0's executor, like a Kafka connection: no
//! thread, runtime or lock of its own. It starts before the shards open
//! their partitions, so a probe sees 503 while a long recovery runs rather
//! than a refused connection, and it stops with shard 0. Readiness (200)
//! means every shard has opened its partitions and binds the Kafka
//! listener, and the broker is not stopping; before and while stopping it
//! answers 503 with the reason.
//!
//! Cost: the data path only bumps its shard's thread-local counters
//! (`stats.rs`); a scrape sends one job per shard (each copies its own
//! counters and partition gauges) and renders the text on shard 0's
//! blocking pool, so shard 0's clients do not wait behind a large scrape.

mod exposition;
mod http;
pub mod snapshot;

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
use glommio::net::{TcpListener, TcpStream};

use crate::shard::Shard;
#[cfg(test)]
pub use exposition::{Type as MetricType, METRICS};
use http::{ReadError, Response};
pub use snapshot::mark_serving;
use snapshot::ShardSnapshot;

/// What the admin tasks share on shard 0.
struct Admin {
    shard: Rc<Shard>,
    stop: Arc<AtomicBool>,
    started: Instant,
}

/// Starts the admin listener on this shard if `admin.listener` is set: binds
/// now (an error names the key) and serves in the background.
pub fn start(shard: &Rc<Shard>, stop: Arc<AtomicBool>) -> Result<(), String> {
    let address = match shard.config.admin_listener() {
        Ok(None) => return Ok(()),
        Ok(Some(address)) => address,
        Err(error) => return Err(error.to_string()),
    };
    let (host, port) = address;
    let listener = TcpListener::bind((host.as_str(), port))
        .map_err(|error| format!("admin.listener: cannot listen on {host}:{port}: {error}"))?;
    let bound = listener
        .local_addr()
        .map_or_else(|_| format!("{host}:{port}"), |address| address.to_string());
    tracing::info!(address = %bound, "admin listener serving /metrics, /v1/status, /v1/ready");
    let admin = Rc::new(Admin {
        shard: shard.clone(),
        stop,
        started: Instant::now(),
    });
    glommio::spawn_local(accept(admin, listener)).detach();
    Ok(())
}

async fn accept(admin: Rc<Admin>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(serve(admin.clone(), stream)).detach();
            }
            Err(error) => {
                tracing::warn!("admin listener: accept failed: {error}");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve(admin: Rc<Admin>, mut stream: TcpStream) {
    let request = match http::read_request(&mut stream).await {
        Ok(request) => request,
        Err(ReadError::Gone) => return,
        Err(ReadError::Refused(status, reason)) => {
            let _ = http::write_response(&mut stream, &Response::text(status, reason), false).await;
            return;
        }
    };
    let head_only = request.method == "HEAD";
    let response = if request.method != "GET" && !head_only {
        Response::text(405, "only GET and HEAD are served\n")
    } else {
        route(&admin, &request.path).await
    };
    let _ = http::write_response(&mut stream, &response, head_only).await;
}

async fn route(admin: &Admin, path: &str) -> Response {
    match path {
        "/metrics" => {
            let (shards, shard_count) = gather(admin).await;
            let scrape = exposition::Scrape {
                node_id: admin.shard.config.node_id(),
                uptime_seconds: admin.started.elapsed().as_secs_f64(),
                shards,
                shard_count,
            };
            // Rendering 10,000 partitions' series is milliseconds of CPU:
            // done on the blocking pool, not between shard 0's requests.
            let text = crate::shard::run_blocking(move || exposition::render(scrape)).await;
            Response {
                status: 200,
                content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
                body: text.into_bytes(),
            }
        }
        "/v1/status" => {
            let (shards, shard_count) = gather(admin).await;
            let body = status(admin, &shards, shard_count);
            Response {
                status: 200,
                content_type: "application/json",
                body: body.to_string().into_bytes(),
            }
        }
        "/v1/ready" => {
            let (shards, shard_count) = gather(admin).await;
            match not_ready(admin, &shards, shard_count) {
                None => Response::text(200, "ready\n"),
                Some(reason) => Response::text(503, format!("not ready: {reason}\n")),
            }
        }
        _ => Response::text(404, "not found: try /metrics, /v1/status or /v1/ready\n"),
    }
}

/// Every shard's snapshot, taken on that shard; a shard that does not
/// answer (stopping) is missing. Returns them with the shard count.
async fn gather(admin: &Admin) -> (Vec<ShardSnapshot>, usize) {
    let shard = &admin.shard;
    let calls = (0..shard.count)
        .map(|target| shard.call(target, |owner| async move { snapshot::take(&owner) }));
    let shards = join_all(calls)
        .await
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    (shards, shard.count)
}

/// Why the broker is not ready, if it is not.
fn not_ready(admin: &Admin, shards: &[ShardSnapshot], shard_count: usize) -> Option<String> {
    if admin.stop.load(Ordering::SeqCst) {
        return Some("the broker is stopping".into());
    }
    let waiting: Vec<String> = (0..shard_count)
        .filter(|id| !shards.iter().any(|s| s.shard == *id && s.serving))
        .map(|id| id.to_string())
        .collect();
    if waiting.is_empty() {
        None
    } else {
        Some(format!(
            "shard(s) {} not serving yet (opening partitions)",
            waiting.join(", ")
        ))
    }
}

/// The `/v1/status` body.
fn status(admin: &Admin, shards: &[ShardSnapshot], shard_count: usize) -> serde_json::Value {
    let mut partitions_per_shard = vec![serde_json::Value::Null; shard_count];
    for snapshot in shards {
        if let Some(slot) = partitions_per_shard.get_mut(snapshot.shard) {
            *slot = serde_json::Value::from(snapshot.partitions.len());
        }
    }
    let detail: Vec<serde_json::Value> = shards
        .iter()
        .map(|snapshot| {
            serde_json::json!({
                "shard": snapshot.shard,
                "serving": snapshot.serving,
                "partitions": snapshot.partitions.len(),
                "open_connections": snapshot.open_connections,
            })
        })
        .collect();
    let topics: std::collections::BTreeSet<&str> = shards
        .iter()
        .flat_map(|snapshot| snapshot.partitions.iter().map(|p| p.topic.as_str()))
        .collect();
    serde_json::json!({
        "node_id": admin.shard.config.node_id(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": admin.started.elapsed().as_secs_f64(),
        "ready": not_ready(admin, shards, shard_count).is_none(),
        "shards": shard_count,
        "partitions_per_shard": partitions_per_shard,
        "topics": topics.len(),
        "shard_detail": detail,
    })
}
