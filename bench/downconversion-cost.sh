#!/usr/bin/env bash
# What down-conversion costs the broker (issue 13): the same topic read by
# the raw catch-up reader (bench/examples/catch_up_reader, one Fetch in
# flight) with Fetch v11 (the stored batches, sent with sendfile) and with
# Fetch v3 (message format 1: the broker reads the batches into memory and
# converts them on its blocking pool). Broker core-seconds per GB of stored
# record bytes (the v11 reader's count), from /proc, for an uncompressed
# and a gzip topic (gzip batches are inflated and recompressed as wrapper
# messages, which is most of the cost). Page cache warm: each topic is read
# once before the timed reads.
#
# Usage: bench/downconversion-cost.sh   (RUNS=3 MB=400)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}; MB=${MB:-400}
DATA=${PERF_DIR:-/work/ringlog-downconversion}; PORT=${PORT:-19392}
HZ=$(getconf CLK_TCK)
cargo build --release -q -p ringlog
cargo build --release -q -p ringlog-bench --example produce_latency --example catch_up_reader
paced=target/release/examples/produce_latency
reader=target/release/examples/catch_up_reader
broker=""
cleanup() {
  [ -n "$broker" ] && { kill -TERM "$broker" 2>/dev/null; wait "$broker" 2>/dev/null || true; }
  rm -rf "$DATA" "$DATA.log"
}
trap cleanup EXIT
cpu_of() { awk -v hz="$HZ" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
rm -rf "$DATA"
target/release/ringlog serve --override "listeners=PLAINTEXT://127.0.0.1:$PORT" \
  --override "log.dirs=$DATA" --override num.partitions=4 >"$DATA.log" 2>&1 &
broker=$!
sleep 1
for codec in none gzip; do
  "$paced" "127.0.0.1:$PORT" "dc-$codec" 100 1000 $((MB / 100)) payload=text \
    compression.codec=$codec batch.size=1048576 linger.ms=20 >/dev/null
  "$reader" "127.0.0.1:$PORT" "dc-$codec" 4 >/dev/null
done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
  for codec in none gzip; do
    stored=""
    for version in 11 3; do
      before=$(cpu_of "$broker")
      line=$(FETCH_VERSION=$version "$reader" "127.0.0.1:$PORT" "dc-$codec" 4)
      after=$(cpu_of "$broker")
      read_bytes=$(echo "$line" | awk '{ print $3 }')
      [ -z "$stored" ] && stored=$read_bytes
      echo "run $run dc-$codec Fetch v$version: $line; broker cpu $(awk -v a="$after" -v b="$before" -v n="$stored" 'BEGIN { printf "%.2f s = %.2f core-s per GB stored", a - b, (a - b) / (n / 1e9) }')"
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
