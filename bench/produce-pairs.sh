#!/usr/bin/env bash
# A/B of two broker binaries on one produce workload, in pairs run back to
# back: the broker alone on CPU 0 (one shard), rdkafka_performance on CPU 1,
# 1 GB of 1000-byte records to 16 partitions (linger.ms=5), a fresh data
# directory each run. On this machine kind the figures of one binary drift
# by 30% within minutes (other tenants, the disk); a pair sees the same
# drift, so the ratio of its two runs is what to read. Prints each pair and
# the median ratio B/A of broker core-seconds per GB.
#
# Usage: bench/produce-pairs.sh <ringlog A> <ringlog B>
# Env:   PAIRS=9 BATCH=16384 ACKS=1 N=1000000 PORT=39490
#        PERF_DIR data directory (default /work/ringlog-pairs; deleted after)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/pairs-lib.sh
. bench/pairs-lib.sh
[ $# -eq 2 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
PAIRS=${PAIRS:-9}; BATCH=${BATCH:-16384}; ACKS=${ACKS:-1}; N=${N:-1000000}; PORT=${PORT:-39490}
DATA=${PERF_DIR:-/work/ringlog-pairs}
HZ=$(getconf CLK_TCK)
tool=$(bench/rdkafka-perf-tool.sh)
broker=""
cleanup() {
  [ -n "$broker" ] && { kill -TERM "$broker" 2>/dev/null; wait "$broker" 2>/dev/null || true; }
  rm -rf "$DATA" "$DATA.log"
}
trap cleanup EXIT

# one <binary>: prints "core-s/GB MB/s" of one run
one() {
  rm -rf "$DATA"
  taskset -c 0 "$1" serve --override "listeners=PLAINTEXT://127.0.0.1:$PORT" --override "log.dirs=$DATA" \
    --override num.partitions=16 --override num.shards=1 2>"$DATA.log" &
  broker=$!
  sleep 1
  kill -0 "$broker" 2>/dev/null || { cat "$DATA.log" >&2; broker=""; exit 1; }
  local c0 t0 c1 t1
  c0=$(awk '{print $14 + $15}' "/proc/$broker/stat"); t0=$(date +%s%N)
  taskset -c 1 "$tool" -P -t pairs -s 1000 -c "$N" -a "$ACKS" -b "127.0.0.1:$PORT" -q -u \
    -X linger.ms=5 -X batch.size="$BATCH" -X queue.buffering.max.kbytes=1000000 >/dev/null 2>&1
  t1=$(date +%s%N); c1=$(awk '{print $14 + $15}' "/proc/$broker/stat")
  kill -TERM "$broker"; wait "$broker" || true; broker=""
  awk -v ns=$((t1 - t0)) -v ticks=$((c1 - c0)) -v hz="$HZ" -v gb="$(awk -v n="$N" 'BEGIN {print n * 1000 / 1e9}')" \
    'BEGIN { printf "%.3f %.0f\n", ticks / hz / gb, gb * 1e3 / (ns / 1e9) }'
}

echo "# $(date -u +%FT%TZ) A=$1 B=$2 PAIRS=$PAIRS BATCH=$BATCH ACKS=$ACKS N=$N"
run_pairs "$1" "$2"
