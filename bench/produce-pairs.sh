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
[ $# -eq 2 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
PAIRS=${PAIRS:-9}; BATCH=${BATCH:-16384}; ACKS=${ACKS:-1}; N=${N:-1000000}; PORT=${PORT:-39490}
DATA=${PERF_DIR:-/work/ringlog-pairs}
# shellcheck source=bench/pairs-lib.sh
. bench/pairs-lib.sh
tool=$(bench/rdkafka-perf-tool.sh)

# one <binary>: prints "core-s/GB MB/s" of one run
one() {
  rm -rf "$DATA" "$DATA.log"
  start_broker "$1"
  local c0 t0 c1 t1
  c0=$(broker_ticks); t0=$(date +%s%N)
  taskset -c 1 "$tool" -P -t pairs -s 1000 -c "$N" -a "$ACKS" -b "127.0.0.1:$PORT" -q -u \
    -X linger.ms=5 -X batch.size="$BATCH" -X queue.buffering.max.kbytes=1000000 >/dev/null 2>&1
  t1=$(date +%s%N); c1=$(broker_ticks)
  stop_broker
  per_gb $((c1 - c0)) $((t1 - t0))
}

echo "# $(date -u +%FT%TZ) A=$1 B=$2 PAIRS=$PAIRS BATCH=$BATCH ACKS=$ACKS N=$N"
run_pairs "$1" "$2"
