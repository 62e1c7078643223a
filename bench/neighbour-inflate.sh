#!/usr/bin/env bash
# Does inflating compressed batches on a shard delay its other partitions?
# (issue 12: compressed batches are validated before they are stored, 64 KiB
# of inflated data at a time with a yield between pieces.)
#
# One shard, two topics of one partition each, so both partitions live on
# the same executor. A paced probe producer (bench/examples/produce_latency,
# librdkafka, acks=1, linger.ms=1, 1000-byte records) measures its latency
# alone (phase "alone"), then while a second producer floods the other
# topic with gzip batches of about 1 MiB of records (random hex digits,
# about 2:1 under gzip) (batch.size 1 MiB,
# linger.ms 50; phase "gzip-flood"), and while the same producer sends the
# same records uncompressed (phase "plain-flood": the control, so that what
# gzip-flood adds over it is the inflating, not the load of a second
# producer on a shared machine). Broker CPU per phase from /proc.
#
# Usage: bench/neighbour-inflate.sh   (RUNS=3 SECONDS_PER_PHASE=20 PROBE_MBS=5 FLOOD_MBS=60)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}; SECONDS_PER_PHASE=${SECONDS_PER_PHASE:-20}
PROBE_MBS=${PROBE_MBS:-5}; FLOOD_MBS=${FLOOD_MBS:-60}
DATA=${PERF_DIR:-/work/ringlog-neighbour}; PORT=${PORT:-19292}
HZ=$(getconf CLK_TCK)
cargo build --release -q -p ringlog
cargo build --release -q -p ringlog-bench --example produce_latency
paced=target/release/examples/produce_latency
broker=""
cleanup() {
  [ -n "$broker" ] && { kill -TERM "$broker" 2>/dev/null; wait "$broker" 2>/dev/null || true; }
  rm -rf "$DATA" "$DATA.log"
}
trap cleanup EXIT
cpu_of() { awk -v hz="$HZ" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }

for run in $(seq 1 "$RUNS"); do
  rm -rf "$DATA"
  target/release/ringlog serve --override "listeners=PLAINTEXT://127.0.0.1:$PORT" \
    --override "log.dirs=$DATA" --override num.shards=1 --override num.partitions=1 \
    >"$DATA.log" 2>&1 &
  broker=$!
  sleep 1
  for phase in alone plain-flood gzip-flood; do
    flood=""
    if [ "$phase" != alone ]; then
      codec=none; [ "$phase" = gzip-flood ] && codec=gzip
      "$paced" "127.0.0.1:$PORT" "flood-$codec" "$FLOOD_MBS" 10000 $((SECONDS_PER_PHASE + 4)) \
        payload=hex compression.codec=$codec batch.size=1048576 linger.ms=50 \
        queue.buffering.max.kbytes=262144 >"$DATA.flood" 2>&1 &
      flood=$!
      sleep 2
    fi
    before=$(cpu_of "$broker")
    line=$("$paced" "127.0.0.1:$PORT" probe "$PROBE_MBS" 1000 "$SECONDS_PER_PHASE")
    after=$(cpu_of "$broker")
    [ -n "$flood" ] && { wait "$flood"; echo "run $run flood: $(cat "$DATA.flood")"; }
    echo "run $run $phase: $line; broker cpu $(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }') s"
  done
  kill -TERM "$broker"; wait "$broker" || true; broker=""
done
