#!/usr/bin/env bash
# What down-conversion costs the broker (issue 13): the same topic read by
# kafka-python pinned to api_version (0,10,1) (Fetch v3, message format 1:
# the broker reads the batches into memory and converts them on its blocking
# pool) and by kafka-python's default (Fetch v4+: the stored batches go out
# with sendfile). Broker core-seconds per GB of record data read, from
# /proc, for an uncompressed and a gzip topic (gzip batches are inflated
# and recompressed as wrapper messages). The consumer's own CPU dominates
# the wall time; the figure is the broker's.
#
# Usage: bench/downconversion-cost.sh   (RUNS=3 MB=200)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}; MB=${MB:-200}
DATA=${PERF_DIR:-/work/ringlog-downconversion}; PORT=${PORT:-19392}
HZ=$(getconf CLK_TCK)
python=target/python-venv/bin/python
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
rm -rf "$DATA"
target/release/ringlog serve --override "listeners=PLAINTEXT://127.0.0.1:$PORT" \
  --override "log.dirs=$DATA" --override num.partitions=4 >"$DATA.log" 2>&1 &
broker=$!
sleep 1
for codec in none gzip; do
  "$paced" "127.0.0.1:$PORT" "dc-$codec" 100 1000 $((MB / 100)) payload=text \
    compression.codec=$codec batch.size=1048576 linger.ms=20 >/dev/null
done
stored() { du -sb "$DATA"/dc-"$1"-* | awk '{ s += $1 } END { print s }'; }
for run in $(seq 1 "$RUNS"); do
  for codec in none gzip; do
    for version in default 0.10.1; do
      before=$(cpu_of "$broker")
      line=$("$python" bench/downconversion_reader.py "127.0.0.1:$PORT" "dc-$codec" "$version")
      after=$(cpu_of "$broker")
      bytes=$(stored "$codec")
      echo "run $run topic dc-$codec api_version $version: $line; broker cpu $(awk -v a="$after" -v b="$before" -v n="$bytes" 'BEGIN { printf "%.2f s, %.2f core-s per GB stored", a - b, (a - b) / (n / 1e9) }')"
    done
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
