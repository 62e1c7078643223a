#!/usr/bin/env bash
# Broker throughput and CPU cost with a neutral load tool: librdkafka's
# rdkafka_performance, built from the librdkafka source that the rdkafka-sys
# crate ships (in the cargo registry), against a release `ringlog serve`.
#
#   produce, acks=1 and acks=all: N records of SIZE bytes, random partitions
#   consume: the acks=1 topic from the beginning (catch-up), all partitions
#   broker CPU: utime+stime of the broker process from /proc, per phase
#   peak RSS: VmHWM
#
# Usage: bench/broker-perf.sh            (N=2000000 SIZE=1024 PARTITIONS=16 SHARDS=2)
# Env:   PERF_DIR data directory (default /work/ringlog-perf; deleted after)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000000}; SIZE=${SIZE:-1024}; PARTITIONS=${PARTITIONS:-16}; SHARDS=${SHARDS:-2}
DATA=${PERF_DIR:-/work/ringlog-perf}; PORT=${PORT:-19192}
BUILD=target/rdkafka-perf

perf_tool=$BUILD/examples/rdkafka_performance
if [ ! -x "$perf_tool" ]; then
  src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/rdkafka-sys-*/librdkafka | sort | tail -1)
  command -v cmake >/dev/null || { echo "cmake is missing (scripts/setup.sh installs it)" >&2; exit 1; }
  cmake -S "$src" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DRDKAFKA_BUILD_EXAMPLES=ON \
    -DRDKAFKA_BUILD_TESTS=OFF -DWITH_SSL=OFF -DWITH_SASL=OFF -DWITH_CURL=OFF >/dev/null
  make -C "$BUILD" -j"$(nproc)" rdkafka_performance >/dev/null
fi
cargo build --release -q -p ringlog

rm -rf "$DATA"
target/release/ringlog serve --override "listeners=PLAINTEXT://127.0.0.1:$PORT" \
  --override "log.dirs=$DATA" --override "num.partitions=$PARTITIONS" --override "num.shards=$SHARDS" \
  2>"$DATA.log" &
broker=$!
trap 'kill -TERM $broker 2>/dev/null; wait $broker 2>/dev/null; rm -rf "$DATA" "$DATA.log"' EXIT
sleep 1

cpu_ticks() { awk '{print $14 + $15}' "/proc/$broker/stat"; }
phase() {
  local name=$1; shift
  local c0 t0 c1 t1; c0=$(cpu_ticks); t0=$(date +%s%N)
  local last; last=$("$perf_tool" "$@" -b "127.0.0.1:$PORT" -q -u 2>&1 | grep -E '^\|' | tail -1)
  t1=$(date +%s%N); c1=$(cpu_ticks)
  local bytes=$((N * SIZE))
  awk -v name="$name" -v bytes="$bytes" -v ns=$((t1 - t0)) -v ticks=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" \
    'BEGIN { s = ns / 1e9; cpu = ticks / hz; printf "%-16s %8.0f MB/s  broker %5.2f core-s  %5.2f core-s/GB\n", name, bytes / s / 1e6, cpu, cpu / (bytes / 1e9) }'
  echo "    rdkafka_performance: $last"
}

partitions=""; for p in $(seq 0 $((PARTITIONS - 1))); do partitions="$partitions -p $p"; done
echo "# $(date -u +%FT%TZ) N=$N SIZE=$SIZE PARTITIONS=$PARTITIONS SHARDS=$SHARDS"
phase produce-acks1 -P -t perf -s "$SIZE" -c "$N" -a 1 -X linger.ms=5 -X batch.size=1000000 -X queue.buffering.max.kbytes=1000000
phase produce-acksall -P -t perfall -s "$SIZE" -c "$N" -a -1 -X linger.ms=5 -X batch.size=1000000 -X queue.buffering.max.kbytes=1000000
# shellcheck disable=SC2086
phase consume -C -t perf $partitions -o beginning -c "$N" -X fetch.max.bytes=52428800 -X fetch.message.max.bytes=4194304
grep VmHWM "/proc/$broker/status"
