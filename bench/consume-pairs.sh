#!/usr/bin/env bash
# A/B of two broker binaries on catch-up consume, in pairs run back to
# back on the same data: 1 GB of 1000-byte records in 16 partitions (1 MiB
# batches, written once by A), then per pair broker A and broker B in turn
# (CPU 0, one shard) serve it from the beginning to rdkafka_performance's
# consumer (CPU 1). Warm: a first pass put the data in the page cache.
# Cold: the page cache is dropped before each run (root: writes
# /proc/sys/vm/drop_caches), so the broker reads the disk. Prints each pair
# and the median ratio B/A of broker core-seconds per GB (see
# bench/produce-pairs.sh for why pairs).
#
# Usage: bench/consume-pairs.sh <ringlog A> <ringlog B>
# Env:   PAIRS=5 MODE=warm|cold N=1000000 PORT=39492
#        PERF_DIR data directory (default /work/ringlog-consume-pairs; deleted after)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
PAIRS=${PAIRS:-5}; MODE=${MODE:-warm}; N=${N:-1000000}; PORT=${PORT:-39492}
DATA=${PERF_DIR:-/work/ringlog-consume-pairs}
# shellcheck source=bench/pairs-lib.sh
. bench/pairs-lib.sh
case "$MODE" in warm | cold) ;; *) echo "MODE is warm or cold" >&2; exit 2 ;; esac
tool=$(bench/rdkafka-perf-tool.sh)
partitions=(); for p in $(seq 0 15); do partitions+=(-p "$p"); done

# consume: reads the topic from the beginning; fails unless every record came.
consume() {
  local out
  out=$(taskset -c 1 "$tool" -C -t pairs "${partitions[@]}" -o beginning -c "$N" -b "127.0.0.1:$PORT" -u 2>&1)
  # -u prints a table; its msgs column reaches N when every record came.
  awk -F'|' -v n="$N" '$3 + 0 == n { ok = 1 } END { exit !ok }' <<<"$out" || { echo "the consumer did not get $N records:" >&2; tail -5 <<<"$out" >&2; exit 1; }
}

# one <binary>: prints "core-s/GB MB/s" of one pass
one() {
  start_broker "$1"
  [ "$MODE" = cold ] && { sync; echo 3 >/proc/sys/vm/drop_caches; }
  local c0 t0 c1 t1
  c0=$(broker_ticks); t0=$(date +%s%N)
  consume
  t1=$(date +%s%N); c1=$(broker_ticks)
  stop_broker
  per_gb $((c1 - c0)) $((t1 - t0))
}

rm -rf "$DATA"
start_broker "$1"
taskset -c 1 "$tool" -P -t pairs -s 1000 -c "$N" -a 1 -b "127.0.0.1:$PORT" -q -u \
  -X linger.ms=5 -X batch.size=1048576 -X queue.buffering.max.kbytes=1000000 >/dev/null 2>&1
consume
stop_broker

echo "# $(date -u +%FT%TZ) A=$1 B=$2 PAIRS=$PAIRS MODE=$MODE N=$N"
run_pairs "$1" "$2"
