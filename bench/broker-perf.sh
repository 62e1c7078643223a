#!/usr/bin/env bash
# Broker throughput, CPU cost and latency with neutral clients: librdkafka's
# rdkafka_performance (built from the librdkafka source that the rdkafka-sys
# crate ships, in the cargo registry) for throughput, and librdkafka through
# the rdkafka crate (bench/examples/produce_latency) for paced latency, against
# a release `ringlog serve`. Each run measures the machine's limits first:
#
#   limit-disk        fio sequential O_DIRECT write, 1 MiB, iodepth 8, 2 GiB
#   limit-disk-read   fio sequential O_DIRECT read of that file, 1 MiB, iodepth 8
#   limit-disk-lat    fio 64 KiB O_DIRECT writes at 50 MB/s for 10 s: the disk's
#                     own write latency at the latency phase's load
#   limit-loopback    iperf3 -Z (sendfile) over 127.0.0.1, 5 s
#   produce-acks1     N records of SIZE bytes, acks=1, random partitions
#   produce-acksall   the same with acks=all
#   consume-rdkafka   rdkafka_performance consumer, the acks=1 topic from the beginning
#   consume-raw       bench/examples/catch_up_reader (one Fetch in flight, batch
#                     headers only): the broker's side without librdkafka's receive
#                     path, page cache warm (the consumer above read the data)
#   consume-cold      the same with the topic's pages evicted first: ratio of disk read
#   latency-50MB      acks=1 at a fixed 50 MB/s, linger.ms=1, per-record send ->
#                     delivery latency (bench/examples/produce_latency; it sleeps
#                     between 1 ms ticks, where rdkafka_performance -r busy-polls a core)
#   stall-base        acks=1 at 10 MB/s to a third topic, latency, nothing else running
#   stall-catchup     the same while consume-raw reads the acks=1 topic cold, again and
#                     again (its pages evicted before each pass) until the phase ends:
#                     do cold reads raise the latency of other partitions on the shards?
#   broker CPU: utime+stime from /proc per phase; peak RSS: VmHWM; record bytes sent
#   by sendfile vs copied from memory (the broker logs them at shutdown); for the
#   stall phases (a restarted broker each) how late each shard's 10 ms timer fired
#
# Usage: bench/broker-perf.sh            (RUNS=3 N=2000000 SIZE=1024 PARTITIONS=16 SHARDS=2)
# Env:   PERF_DIR data directory (default /work/ringlog-perf; deleted after)
#        RINGLOG  the broker binary (default target/release/ringlog, built here)
# Prints each phase of each run, then the median of every figure over the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/limits.sh
RUNS=${RUNS:-3}; N=${N:-2000000}; SIZE=${SIZE:-1024}; PARTITIONS=${PARTITIONS:-16}; SHARDS=${SHARDS:-2}
DATA=${PERF_DIR:-/work/ringlog-perf}; PORT=${PORT:-19192}
HZ=$(getconf CLK_TCK)

perf_tool=$(bench/rdkafka-perf-tool.sh)
for tool in fio iperf3 python3; do
  command -v $tool >/dev/null || { echo "$tool is missing: apt-get install -y $tool" >&2; exit 1; }
done
cargo build --release -q -p ringlog
cargo build --release -q -p ringlog-bench --example catch_up_reader --example produce_latency
reader=target/release/examples/catch_up_reader
paced=target/release/examples/produce_latency
results=$(mktemp)
broker=""
cleanup() {
  [ -n "$broker" ] && { kill -TERM "$broker" 2>/dev/null; wait "$broker" 2>/dev/null || true; }
  rm -rf "$DATA" "$DATA.log" "$DATA.fio" "$DATA".*.lat "$results"
}
trap cleanup EXIT

record() { echo "$1 $2 $3" >>"$results"; }   # figure value unit

fio_figure() { # fio_figure <read|write> <bw|p99|p99.9|max>: from fio's JSON on stdin
  python3 -c '
import json, sys
job = json.load(sys.stdin)["jobs"][0][sys.argv[1]]
clat = job["clat_ns"]
figure = {"bw": job["bw_bytes"] / 1e6, "max": clat["max"] / 1e6,
          "p99": clat["percentile"]["99.000000"] / 1e6, "p99.9": clat["percentile"]["99.900000"] / 1e6}
print("%.2f" % figure[sys.argv[2]])' "$1" "$2"
}

limits() {
  local mbps read_mbps gbps lat
  mbps=$(fio --name=limit --filename="$DATA.fio" --direct=1 --ioengine=io_uring --rw=write --bs=1M \
    --size=2G --iodepth=8 --end_fsync=1 --output-format=json | fio_figure write bw)
  read_mbps=$(fio --name=limit --filename="$DATA.fio" --direct=1 --ioengine=io_uring --rw=read --bs=1M \
    --size=2G --iodepth=8 --output-format=json | fio_figure read bw)
  lat=$(fio --name=limit --filename="$DATA.fio" --direct=1 --ioengine=io_uring --rw=write --bs=64k \
    --size=2G --iodepth=4 --rate=50m --runtime=10 --time_based --output-format=json)
  rm -f "$DATA.fio"
  gbps=$(loopback_mbps $((PORT + 1)))
  record limit-disk "$mbps" MB/s
  record limit-disk-read "$read_mbps" MB/s
  record limit-loopback "$gbps" MB/s
  local p99 p999 max
  p99=$(fio_figure write p99 <<<"$lat"); p999=$(fio_figure write p99.9 <<<"$lat"); max=$(fio_figure write max <<<"$lat")
  record limit-disk-lat-p99 "$p99" ms; record limit-disk-lat-p99.9 "$p999" ms
  echo "limits: disk write $mbps MB/s, read $read_mbps MB/s (fio O_DIRECT 1M); loopback $gbps MB/s (iperf3 -Z);"
  echo "        disk write latency at 50 MB/s (fio 64k): p99 $p99 ms  p99.9 $p999 ms  max $max ms"
}

# evict <topic>: drops the topic's segment pages from the page cache (a cold read next)
evict() {
  python3 - "$DATA" "$1" <<'EOF'
import glob, os, sys
for path in glob.glob(os.path.join(sys.argv[1], sys.argv[2] + "-*", "*.log")):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
EOF
}

# start_broker [keep]: a fresh data directory unless "keep"
start_broker() {
  [ "${1:-}" = keep ] || rm -rf "$DATA"
  "${RINGLOG:-target/release/ringlog}" serve --override "listeners=PLAINTEXT://127.0.0.1:$PORT" \
    --override "log.dirs=$DATA" --override "num.partitions=$PARTITIONS" --override "num.shards=$SHARDS" \
    2>"$DATA.log" &
  broker=$!
  sleep 1
}

# stop_broker [name]: with a name, records peak RSS, the fetch counters and
# how late the shards' 10 ms probe timers fired (the broker logs them at
# shutdown) under that name
stop_broker() {
  local name=${1:-}
  if [ -n "$name" ]; then
    record "$name-rss" "$(awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$broker/status")" MB
  fi
  kill -TERM "$broker"; wait "$broker" || true; broker=""
  [ -n "$name" ] || return 0
  local counters; counters=$(sed 's/\x1b\[[0-9;]*m//g' "$DATA.log" | awk '
    /fetch record bytes/ { for (i = 1; i <= NF; i++) { split($i, kv, "=");
        if (kv[1] == "sendfile_bytes") sent += kv[2]; if (kv[1] == "memory_record_bytes") copied += kv[2] } }
    /shard timer lateness/ { for (i = 1; i <= NF; i++) { split($i, kv, "=");
        if (kv[1] == "max_us" && kv[2] > max) max = kv[2];
        if (kv[1] == "late_5ms") late += kv[2]; if (kv[1] == "samples") n += kv[2] } }
    END { printf "%.2f %d %d %.0f %.0f", max / 1000, late, n, sent, copied }')
  read -r max late samples sent copied <<<"$counters"
  record "$name-timer-max" "$max" ms
  printf '%-16s shard timers: %s of %s fired >= 5 ms late, latest %s ms\n' "$name" "$late" "$samples" "$max"
  if [ "$sent" -gt 0 ]; then
    record "$name-fetch-copied-share" "$(awk -v s="$sent" -v c="$copied" 'BEGIN { printf "%.6f", c / (s + c) }')" of-record-bytes
    printf '%-16s fetch record bytes: %s by sendfile, %s copied from memory\n' "$name" "$sent" "$copied"
  fi
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$broker/stat"; }

# throughput <name> <bytes> <command...>: runs the command, reports MB/s and broker core-s/GB
throughput() {
  local name=$1 bytes=$2; shift 2
  local c0 t0 c1 t1 out; c0=$(cpu_ticks); t0=$(date +%s%N)
  out=$("$@" 2>&1 | grep -E '^\||^catch-up' | tail -1)
  t1=$(date +%s%N); c1=$(cpu_ticks)
  local line; line=$(awk -v bytes="$bytes" -v ns=$((t1 - t0)) -v ticks=$((c1 - c0)) -v hz="$HZ" \
    'BEGIN { s = ns / 1e9; cpu = ticks / hz; printf "%.0f %.2f %.3f", bytes / s / 1e6, cpu, cpu / (bytes / 1e9) }')
  read -r mbps cpu per_gb <<<"$line"
  record "$name" "$mbps" MB/s; record "$name-cpu" "$per_gb" core-s/GB
  printf '%-16s %6s MB/s  broker %5s core-s  %5s core-s/GB\n    %s\n' "$name" "$mbps" "$cpu" "$per_gb" "$out"
}

# latency <name> <MB/s> <seconds> <topic>: acks=1 at a fixed rate, send -> delivery percentiles
latency() {
  local name=$1 rate=$2 seconds=$3 topic=$4 out
  out=$("$paced" "127.0.0.1:$PORT" "$topic" "$rate" "$SIZE" "$seconds")
  local line; line=$(awk '{ for (i = 1; i <= NF; i++) { if ($i == "p50") a = $(i+1); if ($i == "p99") b = $(i+1);
    if ($i == "p99.9") c = $(i+1); if ($i == "max") d = $(i+1) } } END { print a, b, c, d }' <<<"$out")
  read -r p50 p99 p999 max <<<"$line"
  record "$name-p50" "$p50" ms; record "$name-p99" "$p99" ms; record "$name-p99.9" "$p999" ms
  printf '%-16s %s\n' "$name" "$out"
}

partitions=""; for p in $(seq 0 $((PARTITIONS - 1))); do partitions="$partitions -p $p"; done
echo "# $(date -u +%FT%TZ) RUNS=$RUNS N=$N SIZE=$SIZE PARTITIONS=$PARTITIONS SHARDS=$SHARDS $(git rev-parse --short HEAD)"
bytes=$((N * SIZE))
for run in $(seq 1 "$RUNS"); do
  echo "## run $run"
  limits
  start_broker
  throughput produce-acks1 $bytes "$perf_tool" -P -t perf -s "$SIZE" -c "$N" -a 1 -b "127.0.0.1:$PORT" -q -u \
    -X linger.ms=5 -X batch.size=1000000 -X queue.buffering.max.kbytes=1000000
  throughput produce-acksall $bytes "$perf_tool" -P -t perfall -s "$SIZE" -c "$N" -a -1 -b "127.0.0.1:$PORT" -q -u \
    -X linger.ms=5 -X batch.size=1000000 -X queue.buffering.max.kbytes=1000000
  # shellcheck disable=SC2086
  throughput consume-rdkafka $bytes "$perf_tool" -C -t perf $partitions -o beginning -c "$N" -b "127.0.0.1:$PORT" \
    -q -u -X fetch.max.bytes=52428800 -X fetch.message.max.bytes=4194304
  throughput consume-raw $bytes "$reader" "127.0.0.1:$PORT" perf "$PARTITIONS"
  evict perf
  throughput consume-cold $bytes "$reader" "127.0.0.1:$PORT" perf "$PARTITIONS"
  latency latency-50MB 50 10 lat
  stop_broker throughput
  # Stall: the same data, a restarted broker each time (tail caches empty).
  start_broker keep
  latency stall-base 10 10 hot
  stop_broker stall-base
  start_broker keep
  # Cold catch-up reads over the whole phase: evict the acks=1 topic's pages,
  # read it from the beginning, again until the latency phase ends.
  latency stall-catchup 10 10 hot &
  measuring=$!
  passes=0
  while kill -0 "$measuring" 2>/dev/null; do
    evict perf
    "$reader" "127.0.0.1:$PORT" perf "$PARTITIONS" >>"$DATA.reader.out"
    passes=$((passes + 1))
  done
  wait "$measuring"
  echo "    $passes cold catch-up passes meanwhile; the last: $(tail -1 "$DATA.reader.out")"
  rm -f "$DATA.reader.out"
  stop_broker stall-catchup
done

echo "## median of $RUNS runs"
python3 - "$results" <<'EOF'
import sys, statistics
order, values = [], {}
for line in open(sys.argv[1]):
    name, value, unit = line.split()
    if name not in values:
        order.append(name)
        values[name] = (unit, [])
    values[name][1].append(float(value))
for name in order:
    unit, xs = values[name]
    print(f"  {name:22} {statistics.median(xs):10.3f} {unit:10} (runs: {' '.join(f'{x:g}' for x in xs)})")
for name, limit in (("produce-acks1", "limit-disk"), ("produce-acksall", "limit-disk"),
                    ("consume-rdkafka", "limit-loopback"), ("consume-raw", "limit-loopback"),
                    ("consume-cold", "limit-disk-read")):
    ratios = [x / l for x, l in zip(values[name][1], values[limit][1])]
    print(f"  {name:22} {statistics.median(ratios):10.2f} of {limit} (per-run ratios: {' '.join(f'{r:.2f}' for r in ratios)})")
EOF
