//! `/metrics`: the shards' snapshots rendered in the OpenMetrics text
//! format (which Prometheus scrapes natively) by prometheus-client.
//!
//! prometheus-client's own metric types hold their values in atomics
//! behind an `Arc`, which the data path would then share across cores.
//! Ringlog counts in per-shard thread-locals instead (`stats.rs`) and uses
//! the crate where it is strong: a [`Collector`] that, on each scrape,
//! writes the values gathered from the shards with the crate's encoder
//! (names, escaping, label sets, cumulative histogram buckets, `# EOF`).
//!
//! Every family is in [`METRICS`], the one list of names, types and help
//! texts: the renderer takes its help from there, and a test holds
//! docs/operations.md to naming every entry.

use std::collections::BTreeMap;
use std::fmt::Error;

use engine::latency::{Histogram, BOUNDS_US};
use kafka_protocol::messages::ApiKey;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::snapshot::ShardSnapshot;
use crate::stats::Traffic;

/// How a family is typed in the exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Counter,
    Gauge,
    Histogram,
}

/// One metric family: its name as scraped (counters end in `_total`, which
/// the encoder adds), its type, its labels and what it means.
pub struct Family {
    pub name: &'static str,
    pub kind: Type,
    pub labels: &'static str,
    pub help: &'static str,
}

const fn family(
    name: &'static str,
    kind: Type,
    labels: &'static str,
    help: &'static str,
) -> Family {
    Family {
        name,
        kind,
        labels,
        help,
    }
}

/// Every metric `/metrics` serves.
pub const METRICS: &[Family] = &[
    family("ringlog_build_info", Type::Gauge, "version, node_id", "Always 1; the labels name the broker's version and node id."),
    family("ringlog_uptime_seconds", Type::Gauge, "", "Seconds since the broker started."),
    family("ringlog_shard_serving", Type::Gauge, "shard", "1 once the shard has opened its partitions and listens for clients, 0 before and while it stops."),
    family("ringlog_shard_partitions", Type::Gauge, "shard", "Partitions the shard owns."),
    family("ringlog_partition_bytes_in_total", Type::Counter, "shard, topic, partition", "Record-batch bytes appended to the partition, as stored (after any up-conversion), since the broker started."),
    family("ringlog_partition_records_in_total", Type::Counter, "shard, topic, partition", "Records appended to the partition."),
    family("ringlog_partition_bytes_out_total", Type::Counter, "shard, topic, partition", "Record-batch bytes of the partition sent to fetchers (consumers and tools), by sendfile or from memory."),
    family("ringlog_partition_records_out_total", Type::Counter, "shard, topic, partition", "Offsets of the partition sent to fetchers: from each fetch offset to the end of the last whole batch the answer held (a lower bound when a fetch was cut by its byte limit)."),
    family("ringlog_partition_log_start_offset", Type::Gauge, "shard, topic, partition", "The partition's log start offset (raised by retention and DeleteRecords)."),
    family("ringlog_partition_log_end_offset", Type::Gauge, "shard, topic, partition", "The offset the next appended record gets."),
    family("ringlog_partition_high_watermark", Type::Gauge, "shard, topic, partition", "Offsets below this are in the segment file and readable."),
    family("ringlog_partition_flushed_offset", Type::Gauge, "shard, topic, partition", "Offsets below this are fdatasync'ed (survive a power loss)."),
    family("ringlog_partition_segments", Type::Gauge, "shard, topic, partition", "Segments of the partition on disk."),
    family("ringlog_partition_size_bytes", Type::Gauge, "shard, topic, partition", "Bytes of the partition's segments on disk."),
    family("ringlog_partition_fdatasyncs_total", Type::Counter, "shard, topic, partition", "fdatasync calls of the partition's flushes since it was opened."),
    family("ringlog_shard_bytes_in_total", Type::Counter, "shard", "Record-batch bytes appended to the shard's partitions (deleted topics included)."),
    family("ringlog_shard_records_in_total", Type::Counter, "shard", "Records appended to the shard's partitions."),
    family("ringlog_shard_bytes_out_total", Type::Counter, "shard", "Record-batch bytes the shard's connections sent to fetchers."),
    family("ringlog_shard_records_out_total", Type::Counter, "shard", "Offsets the shard's connections sent to fetchers."),
    family("ringlog_fetch_sendfile_bytes_total", Type::Counter, "shard", "Record bytes a fetch sent from a segment file with sendfile: zero copy."),
    family("ringlog_fetch_copied_bytes_total", Type::Counter, "shard", "Record bytes a fetch sent from memory (the tail not yet final on disk, or a down-converted message set): copied."),
    family("ringlog_open_connections", Type::Gauge, "shard", "Client connections open on the shard."),
    family("ringlog_partitions_offline_total", Type::Counter, "shard", "Partitions that went offline after an I/O error (EIO, a failed fdatasync); they stay offline until a restart."),
    family("ringlog_partitions_disk_full", Type::Gauge, "shard", "Partitions in a disk-full episode now: their producers get KAFKA_STORAGE_ERROR until space returns."),
    family("ringlog_disk_full_episodes_total", Type::Counter, "shard", "Disk-full episodes, each partition counting its own."),
    family("ringlog_disk_full_refused_appends_total", Type::Counter, "shard", "Appends refused with KAFKA_STORAGE_ERROR because the disk was full."),
    family("ringlog_preallocation_failures_total", Type::Counter, "shard", "Segment preallocations (fallocate) that failed; the log wrote without them."),
    family("ringlog_recovery_truncations_total", Type::Counter, "shard", "Segments recovery cut at a torn or invalid tail, or dropped after a gap."),
    family("ringlog_requests_total", Type::Counter, "shard, api, version", "Requests answered, by API and version, on the shard whose connection read them."),
    family("ringlog_request_latency_seconds", Type::Histogram, "shard, api, version", "From a request's arrival at the request layer until its answer was ready (not yet sent): for acks=all produce this includes the fdatasync, for fetch the long-poll wait."),
    family("ringlog_errors_total", Type::Counter, "shard, api, code, error", "Error codes answered, by API: each code in a response counts once, so a response with three failed partitions counts three (api/error_codes.rs says where each response keeps its codes)."),
    family("ringlog_connections_closed_total", Type::Counter, "shard, api", "Connections the broker closed over a request it could not serve (malformed, unknown API, unsupported version); api is \"unknown\" when the frame named none."),
    family("ringlog_produce_queue_time_seconds", Type::Histogram, "shard", "How long a produce's work for one partition waited between being handed to the partition's owning shard and starting there: the channel-mesh hop and the owner's task queue. A busy or stalled owner shows here first."),
    family("ringlog_fetch_queue_time_seconds", Type::Histogram, "shard", "The same for each read a fetch sends to an owning shard."),
    family("ringlog_fdatasync_latency_seconds", Type::Histogram, "shard", "fdatasync calls of the shard's partition logs (acks=all and flush.messages/flush.ms flushes, segment seals)."),
    family("ringlog_timer_lateness_seconds", Type::Histogram, "shard", "How late the shard's 10 ms probe timer fired: a shard thread that blocks or is starved of CPU shows here."),
    family("ringlog_consumer_group_committed_offset", Type::Gauge, "shard, group, topic, partition", "The group's committed offset (shard: the group's coordinator)."),
    family("ringlog_consumer_group_lag", Type::Gauge, "shard, group, topic, partition", "The partition's high watermark minus the group's committed offset (0 when the commit is ahead); absent for a partition that no longer exists."),
];

/// The family named `name`, which must be of `kind` (a bug otherwise).
fn family_of(name: &str, kind: Type) -> &'static Family {
    let family = METRICS
        .iter()
        .find(|family| family.name == name)
        .unwrap_or_else(|| panic!("{name} is not in METRICS"));
    assert_eq!(family.kind, kind, "{name} is declared a {:?}", family.kind);
    family
}

/// Checks that a row carries exactly the family's declared labels.
fn check_labels(family: &Family, labels: &Labels) {
    debug_assert_eq!(
        labels
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", "),
        family.labels,
        "labels of {}",
        family.name
    );
}

type Labels = Vec<(&'static str, String)>;
/// How a per-shard series reads its value from a snapshot.
type ShardValue = fn(&ShardSnapshot) -> u64;
/// How a per-partition flow reads its value from the traffic counts.
type TrafficValue = fn(&Traffic) -> u64;

/// A gathered scrape: what the collector writes.
#[derive(Debug)]
pub struct Scrape {
    pub node_id: i32,
    pub uptime_seconds: f64,
    /// Shards that answered, in shard order.
    pub shards: Vec<ShardSnapshot>,
    /// Shards in the broker (those that did not answer are stopping).
    pub shard_count: usize,
}

/// Renders a scrape in the OpenMetrics text format.
pub fn render(scrape: Scrape) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    text
}

/// The counter family's name as registered: the encoder appends `_total`.
fn registered_name(name: &'static str, kind: Type) -> &'static str {
    match kind {
        Type::Counter => name.strip_suffix("_total").expect("counters end in _total"),
        _ => name,
    }
}

fn counters(
    encoder: &mut DescriptorEncoder,
    name: &'static str,
    rows: impl IntoIterator<Item = (Labels, u64)>,
) -> Result<(), Error> {
    let family = family_of(name, Type::Counter);
    let registered = registered_name(name, Type::Counter);
    let mut metric =
        encoder.encode_descriptor(registered, family.help, None, MetricType::Counter)?;
    for (labels, value) in rows {
        check_labels(family, &labels);
        metric
            .encode_family(&labels)?
            .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
    }
    Ok(())
}

fn gauges<V: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &'static str,
    rows: impl IntoIterator<Item = (Labels, V)>,
) -> Result<(), Error> {
    let family = family_of(name, Type::Gauge);
    let mut metric = encoder.encode_descriptor(name, family.help, None, MetricType::Gauge)?;
    for (labels, value) in rows {
        check_labels(family, &labels);
        if labels.is_empty() {
            metric.encode_gauge(&value)?;
        } else {
            metric.encode_family(&labels)?.encode_gauge(&value)?;
        }
    }
    Ok(())
}

/// A histogram as the encoder takes it: (upper bound in seconds, count in
/// that bucket), the open bucket as `f64::MAX` (rendered `+Inf`).
struct Buckets {
    buckets: Vec<(f64, u64)>,
    sum_seconds: f64,
    count: u64,
}

impl Buckets {
    fn of_latency(histogram: &Histogram) -> Buckets {
        let buckets = histogram
            .counts
            .iter()
            .enumerate()
            .map(|(index, count)| {
                let bound = BOUNDS_US.get(index).map_or(f64::MAX, |us| *us as f64 / 1e6);
                (bound, *count)
            })
            .collect();
        Buckets {
            buckets,
            sum_seconds: histogram.sum_us as f64 / 1e6,
            count: histogram.count(),
        }
    }

    fn of_lateness(lateness: &(Vec<(Option<u64>, u64)>, std::time::Duration)) -> Buckets {
        let buckets: Vec<(f64, u64)> = lateness
            .0
            .iter()
            .map(|(bound, count)| (bound.map_or(f64::MAX, |ms| ms as f64 / 1e3), *count))
            .collect();
        Buckets {
            count: buckets.iter().map(|(_, count)| count).sum(),
            buckets,
            sum_seconds: lateness.1.as_secs_f64(),
        }
    }
}

fn histograms(
    encoder: &mut DescriptorEncoder,
    name: &'static str,
    rows: impl IntoIterator<Item = (Labels, Buckets)>,
) -> Result<(), Error> {
    let family = family_of(name, Type::Histogram);
    let mut metric = encoder.encode_descriptor(name, family.help, None, MetricType::Histogram)?;
    for (labels, histogram) in rows {
        check_labels(family, &labels);
        metric
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(
                histogram.sum_seconds,
                histogram.count,
                &histogram.buckets,
                None,
            )?;
    }
    Ok(())
}

fn shard_label(shard: usize) -> Labels {
    vec![("shard", shard.to_string())]
}

fn api_name(api_key: i16) -> String {
    ApiKey::try_from(api_key).map_or_else(|_| "unknown".to_string(), |key| format!("{key:?}"))
}

fn error_name(code: i16) -> String {
    kafka_protocol::ResponseError::try_from_code(code)
        .map_or_else(|| format!("code {code}"), |error| format!("{error:?}"))
}

impl Scrape {
    /// Every shard's fetch counts of each partition, summed, keyed by
    /// (topic, partition); the owner's `in` counts are the only ones.
    fn traffic_by_partition(&self) -> BTreeMap<(&str, i32), Traffic> {
        let mut traffic: BTreeMap<(&str, i32), Traffic> = BTreeMap::new();
        for snapshot in &self.shards {
            for (topic, partition, counted) in &snapshot.counters.partitions {
                traffic
                    .entry((topic.as_str(), *partition))
                    .or_default()
                    .add(counted);
            }
        }
        traffic
    }

    /// (owning shard, topic, partition) of every partition open now.
    fn partition_owners(&self) -> BTreeMap<(&str, i32), usize> {
        let mut owners = BTreeMap::new();
        for snapshot in &self.shards {
            for gauges in &snapshot.partitions {
                owners.insert((gauges.topic.as_str(), gauges.partition), snapshot.shard);
            }
        }
        owners
    }

    fn encode_broker(&self, encoder: &mut DescriptorEncoder) -> Result<(), Error> {
        let info = vec![
            ("version", env!("CARGO_PKG_VERSION").to_string()),
            ("node_id", self.node_id.to_string()),
        ];
        gauges(encoder, "ringlog_build_info", [(info, 1i64)])?;
        gauges(
            encoder,
            "ringlog_uptime_seconds",
            [(Vec::new(), self.uptime_seconds)],
        )?;
        let serving = (0..self.shard_count).map(|shard| {
            let up = self
                .shards
                .iter()
                .any(|snapshot| snapshot.shard == shard && snapshot.serving);
            (shard_label(shard), i64::from(up))
        });
        gauges(encoder, "ringlog_shard_serving", serving)?;
        let each = |value: fn(&ShardSnapshot) -> u64| {
            self.shards
                .iter()
                .map(move |snapshot| (shard_label(snapshot.shard), value(snapshot)))
        };
        gauges(
            encoder,
            "ringlog_shard_partitions",
            each(|snapshot| snapshot.partitions.len() as u64),
        )?;
        gauges(
            encoder,
            "ringlog_open_connections",
            each(|snapshot| snapshot.open_connections),
        )?;
        gauges(
            encoder,
            "ringlog_partitions_disk_full",
            each(|snapshot| snapshot.storage.partitions_disk_full),
        )?;
        let totals: [(&'static str, ShardValue); 11] = [
            ("ringlog_shard_bytes_in_total", |s| {
                s.counters.shard.bytes_in
            }),
            ("ringlog_shard_records_in_total", |s| {
                s.counters.shard.records_in
            }),
            ("ringlog_shard_bytes_out_total", |s| {
                s.counters.shard.bytes_out
            }),
            ("ringlog_shard_records_out_total", |s| {
                s.counters.shard.records_out
            }),
            ("ringlog_fetch_sendfile_bytes_total", |s| s.sendfile_bytes),
            ("ringlog_fetch_copied_bytes_total", |s| {
                s.memory_record_bytes
            }),
            ("ringlog_partitions_offline_total", |s| {
                s.storage.partitions_offline
            }),
            ("ringlog_disk_full_episodes_total", |s| {
                s.storage.disk_full_episodes
            }),
            ("ringlog_disk_full_refused_appends_total", |s| {
                s.storage.disk_full_refused_appends
            }),
            ("ringlog_preallocation_failures_total", |s| {
                s.storage.preallocation_failures
            }),
            ("ringlog_recovery_truncations_total", |s| {
                s.storage.recovery_truncations
            }),
        ];
        for (name, value) in totals {
            counters(encoder, name, each(value))?;
        }
        Ok(())
    }

    fn encode_partitions(&self, encoder: &mut DescriptorEncoder) -> Result<(), Error> {
        let owners = self.partition_owners();
        let traffic = self.traffic_by_partition();
        let labels = |shard: usize, topic: &str, partition: i32| -> Labels {
            vec![
                ("shard", shard.to_string()),
                ("topic", topic.to_string()),
                ("partition", partition.to_string()),
            ]
        };
        let flows: [(&'static str, TrafficValue); 4] = [
            ("ringlog_partition_bytes_in_total", |t| t.bytes_in),
            ("ringlog_partition_records_in_total", |t| t.records_in),
            ("ringlog_partition_bytes_out_total", |t| t.bytes_out),
            ("ringlog_partition_records_out_total", |t| t.records_out),
        ];
        for (name, value) in flows {
            // Every open partition has a series (0 until it sees traffic).
            let rows = owners.iter().map(|(&(topic, partition), &shard)| {
                let counted = traffic
                    .get(&(topic, partition))
                    .copied()
                    .unwrap_or_default();
                (labels(shard, topic, partition), value(&counted))
            });
            counters(encoder, name, rows)?;
        }
        type Gauge = fn(&super::snapshot::PartitionGauges) -> i64;
        let states: [(&'static str, Gauge); 6] = [
            ("ringlog_partition_log_start_offset", |p| p.log_start_offset),
            ("ringlog_partition_log_end_offset", |p| p.log_end_offset),
            ("ringlog_partition_high_watermark", |p| p.high_watermark),
            ("ringlog_partition_flushed_offset", |p| p.flushed_offset),
            ("ringlog_partition_segments", |p| p.segments as i64),
            ("ringlog_partition_size_bytes", |p| p.size_bytes as i64),
        ];
        for (name, value) in states {
            let rows = self.shards.iter().flat_map(|snapshot| {
                snapshot.partitions.iter().map(move |gauges| {
                    (
                        labels(snapshot.shard, &gauges.topic, gauges.partition),
                        value(gauges),
                    )
                })
            });
            gauges(encoder, name, rows)?;
        }
        let syncs = self.shards.iter().flat_map(|snapshot| {
            snapshot.partitions.iter().map(move |gauges| {
                (
                    labels(snapshot.shard, &gauges.topic, gauges.partition),
                    gauges.fdatasyncs,
                )
            })
        });
        counters(encoder, "ringlog_partition_fdatasyncs_total", syncs)
    }

    fn encode_requests(&self, encoder: &mut DescriptorEncoder) -> Result<(), Error> {
        let by_api = |snapshot: &ShardSnapshot, api: i16, version: i16| -> Labels {
            vec![
                ("shard", snapshot.shard.to_string()),
                ("api", api_name(api)),
                ("version", version.to_string()),
            ]
        };
        let mut requests = Vec::new();
        let mut latency = Vec::new();
        for snapshot in &self.shards {
            let mut rows = snapshot.counters.requests.clone();
            rows.sort_by_key(|(api, version, _)| (*api, *version));
            for (api, version, counts) in rows {
                requests.push((by_api(snapshot, api, version), counts.requests));
                latency.push((
                    by_api(snapshot, api, version),
                    Buckets::of_latency(&counts.latency),
                ));
            }
        }
        counters(encoder, "ringlog_requests_total", requests)?;
        histograms(encoder, "ringlog_request_latency_seconds", latency)?;
        let mut errors = Vec::new();
        let mut closed = Vec::new();
        for snapshot in &self.shards {
            let mut rows = snapshot.counters.errors.clone();
            rows.sort();
            for (api, code, count) in rows {
                let labels = vec![
                    ("shard", snapshot.shard.to_string()),
                    ("api", api_name(api)),
                    ("code", code.to_string()),
                    ("error", error_name(code)),
                ];
                errors.push((labels, count));
            }
            let mut rows = snapshot.counters.closed.clone();
            rows.sort();
            for (api, count) in rows {
                let labels = vec![
                    ("shard", snapshot.shard.to_string()),
                    ("api", api_name(api)),
                ];
                closed.push((labels, count));
            }
        }
        counters(encoder, "ringlog_errors_total", errors)?;
        counters(encoder, "ringlog_connections_closed_total", closed)
    }

    fn encode_shard_histograms(&self, encoder: &mut DescriptorEncoder) -> Result<(), Error> {
        let each = |value: fn(&ShardSnapshot) -> Buckets| {
            self.shards
                .iter()
                .map(move |snapshot| (shard_label(snapshot.shard), value(snapshot)))
        };
        histograms(
            encoder,
            "ringlog_produce_queue_time_seconds",
            each(|s| Buckets::of_latency(&s.counters.produce_queue)),
        )?;
        histograms(
            encoder,
            "ringlog_fetch_queue_time_seconds",
            each(|s| Buckets::of_latency(&s.counters.fetch_queue)),
        )?;
        histograms(
            encoder,
            "ringlog_fdatasync_latency_seconds",
            each(|s| Buckets::of_latency(&s.fdatasync)),
        )?;
        histograms(
            encoder,
            "ringlog_timer_lateness_seconds",
            each(|s| Buckets::of_lateness(&s.timer_lateness)),
        )
    }

    fn encode_groups(&self, encoder: &mut DescriptorEncoder) -> Result<(), Error> {
        let high_watermarks: BTreeMap<(&str, i32), i64> = self
            .shards
            .iter()
            .flat_map(|snapshot| {
                snapshot
                    .partitions
                    .iter()
                    .map(|p| ((p.topic.as_str(), p.partition), p.high_watermark))
            })
            .collect();
        let mut committed = Vec::new();
        let mut lag = Vec::new();
        for snapshot in &self.shards {
            for (group, topic, partition, offset) in &snapshot.committed {
                let labels = vec![
                    ("shard", snapshot.shard.to_string()),
                    ("group", group.clone()),
                    ("topic", topic.clone()),
                    ("partition", partition.to_string()),
                ];
                if let Some(high_watermark) = high_watermarks.get(&(topic.as_str(), *partition)) {
                    lag.push((labels.clone(), (high_watermark - offset).max(0)));
                }
                committed.push((labels, *offset));
            }
        }
        gauges(
            encoder,
            "ringlog_consumer_group_committed_offset",
            committed,
        )?;
        gauges(encoder, "ringlog_consumer_group_lag", lag)
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        self.encode_broker(&mut encoder)?;
        self.encode_partitions(&mut encoder)?;
        self.encode_requests(&mut encoder)?;
        self.encode_shard_histograms(&mut encoder)?;
        self.encode_groups(&mut encoder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_named_once_and_counters_end_in_total() {
        let mut names: Vec<_> = METRICS.iter().map(|family| family.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METRICS.len());
        for family in METRICS {
            assert!(family.name.starts_with("ringlog_"), "{}", family.name);
            assert_eq!(
                family.kind == Type::Counter,
                family.name.ends_with("_total"),
                "{}",
                family.name
            );
        }
    }
}
