#!/usr/bin/env bash
# Partition density (issue 15): TOPICS x PARTITIONS partitions (default
# 100 x 100 = 10,000) with one 1 KB record each, under `ulimit -n` OPEN_FILES
# (default 20000). Measures, in one run:
#
#   create / produce / verify   librdkafka (bench/examples/partition_density):
#                               every record acknowledged (acks=all) and read
#                               back byte for byte
#   rss, fds                    the broker's resident memory and descriptors
#                               with every partition written
#   restart                     SIGTERM, start again, seconds until Metadata
#                               shows every partition with a leader
#   active-16                   rdkafka_performance producing 1000-byte
#                               records (acks=1, 1 MiB batches) to a 16-partition
#                               topic, with the idle partitions there and, on a
#                               fresh broker, without them (the ratio must stay
#                               within 10%)
#
# Usage: bench/partition-density.sh   (TOPICS=100 PARTITIONS=100 OPEN_FILES=20000 N=1000000 RUNS=3)
# Env:   PERF_DIR data directory (default /work/ringlog-density; deleted after)
set -euo pipefail
cd "$(dirname "$0")/.."
TOPICS=${TOPICS:-100}; PARTITIONS=${PARTITIONS:-100}; OPEN_FILES=${OPEN_FILES:-20000}
N=${N:-1000000}; RUNS=${RUNS:-3}; SHARDS=${SHARDS:-2}
DATA=${PERF_DIR:-/work/ringlog-density}; PORT=${PORT:-39492}
HZ=$(getconf CLK_TCK)

cargo build --release -q -p ringlog
cargo build --release -q -p ringlog-bench --example partition_density
perf_tool=$(bench/rdkafka-perf-tool.sh)
bin=target/release/ringlog
tool=target/release/examples/partition_density
broker=""
cleanup() {
  [ -n "$broker" ] && { kill -TERM "$broker" 2>/dev/null; wait "$broker" 2>/dev/null || true; }
  rm -rf "$DATA" "$DATA.log"
}
trap cleanup EXIT

start_broker() {
  ( ulimit -n "$OPEN_FILES"; exec "$bin" serve --override "listeners=PLAINTEXT://127.0.0.1:$PORT" \
      --override "log.dirs=$DATA" --override "num.shards=$SHARDS" ) 2>>"$DATA.log" &
  broker=$!
  local tries=0
  until "$tool" "127.0.0.1:$PORT" led 0 0 1 >/dev/null 2>&1; do
    kill -0 "$broker" 2>/dev/null || { cat "$DATA.log" >&2; broker=""; exit 1; }
    tries=$((tries + 1)); [ $tries -lt 600 ] || { echo "broker did not answer" >&2; exit 1; }
    sleep 0.05
  done
}

stop_broker() { kill -TERM "$broker"; wait "$broker" || true; broker=""; }

rss_mib() { awk '/VmRSS/ {printf "%d", $2 / 1024}' "/proc/$broker/status"; }
fds() { ls "/proc/$broker/fd" | wc -l; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$broker/stat"; }

active() { # active <topic>: MB/s and broker core-s/GB producing N records to 16 partitions
  local c0 t0 c1 t1; c0=$(cpu_ticks); t0=$(date +%s%N)
  "$perf_tool" -P -t "$1" -s 1000 -c "$N" -a 1 -b "127.0.0.1:$PORT" -q -u \
    -X linger.ms=5 -X batch.size=1048576 -X queue.buffering.max.kbytes=1000000 >/dev/null 2>&1
  t1=$(date +%s%N); c1=$(cpu_ticks)
  awk -v bytes=$((N * 1000)) -v ns=$((t1 - t0)) -v ticks=$((c1 - c0)) -v hz="$HZ" \
    'BEGIN { printf "%.0f MB/s %.3f core-s/GB", bytes / (ns / 1e9) / 1e6, ticks / hz / (bytes / 1e9) }'
}

create16() { # create16 <topic>
  "$bin" topics --bootstrap-server "127.0.0.1:$PORT" --create --topic "$1" --partitions 16 \
    --replication-factor 1 >/dev/null
}

total=$((TOPICS * PARTITIONS))
echo "# $(date -u +%FT%TZ) TOPICS=$TOPICS PARTITIONS=$PARTITIONS ($total) OPEN_FILES=$OPEN_FILES SHARDS=$SHARDS N=$N $(git rev-parse --short HEAD)"
for run in $(seq 1 "$RUNS"); do
  echo "## run $run"
  rm -rf "$DATA" "$DATA.log"
  start_broker
  grep -o 'capacity: about.*' "$DATA.log" | head -1 | sed 's/^/  /'
  create16 quiet
  echo "  without idle partitions: active-16 $(active quiet)"
  "$tool" "127.0.0.1:$PORT" create "$TOPICS" "$PARTITIONS" | sed 's/^/  /'
  "$tool" "127.0.0.1:$PORT" produce "$TOPICS" "$PARTITIONS" 1000 | sed 's/^/  /'
  "$tool" "127.0.0.1:$PORT" verify "$TOPICS" "$PARTITIONS" 1000 | sed 's/^/  /'
  echo "  with $total partitions written: rss $(rss_mib) MiB, $(fds) descriptors (limit $OPEN_FILES)"
  stop_broker
  t0=$(date +%s%N)
  start_broker
  "$tool" "127.0.0.1:$PORT" led "$TOPICS" "$PARTITIONS" 60 >/dev/null
  t1=$(date +%s%N)
  awk -v ns=$((t1 - t0)) 'BEGIN { printf "  restart: %.2f s until Metadata shows every partition led\n", ns / 1e9 }'
  "$tool" "127.0.0.1:$PORT" verify "$TOPICS" "$PARTITIONS" 1000 | sed 's/^/  after restart: /'
  create16 busy
  echo "  beside $total idle partitions: active-16 $(active busy)"
  echo "  rss $(rss_mib) MiB, $(fds) descriptors"
  grep "WARN\|ERROR" "$DATA.log" | head -5 >&2 || true
  if grep -qE 'partition offline|Too many open files' "$DATA.log"; then
    echo "  the broker's log reports trouble:" >&2; grep -E 'partition offline|Too many open files' "$DATA.log" | head -5 >&2
    exit 1
  fi
  stop_broker
done
