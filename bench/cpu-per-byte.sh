#!/usr/bin/env bash
# Broker CPU per byte on the workloads people run (issue 15): librdkafka's
# rdkafka_performance producing 1000-byte records with 16 KiB batches (the
# Java client's default batch.size) and 1 MiB batches, acks=1 and acks=all;
# a librdkafka consumer catching up (cold from the disk, then warm); and
# produce latency at a fixed 50 MB/s with 16 KiB batches (bench/examples/
# produce_latency). Each run first measures the machine's limits:
#
#   limit-disk        fio sequential O_DIRECT write, 1 MiB, iodepth 8, 2 GiB
#   limit-disk-16k    fio 16 KiB O_DIRECT writes, iodepth 4, 768 MiB, into a
#                     fallocated file (what the broker's small appends compare to)
#   limit-loopback    iperf3 -Z (sendfile) over 127.0.0.1, 5 s
#
# Per phase: MB/s, broker core-seconds per GB (utime+stime of the broker
# process from /proc, its io_uring worker threads included), the client's
# core-seconds per GB (/usr/bin/time), the whole machine's busy core-seconds
# per GB (/proc/stat: kernel workers such as ext4's unwritten-extent
# conversions run outside the broker; other engineers' work counts too on a
# shared machine), and the 1-minute load average when the phase started.
#
# A/B: BINS="a=path/to/ringlog b=other/ringlog" runs every phase with each
# binary in turn within each run (interleaved), and prints the medians per
# binary; the default is BINS="ringlog=target/release/ringlog" (built here).
#
# Usage: bench/cpu-per-byte.sh      (RUNS=3 N=1000000 SIZE=1000 PARTITIONS=16 SHARDS=2)
# Env:   PHASES  which phases run (default: all of produce consume latency)
#        PERF_DIR data directory (default /work/ringlog-cpu-perf; deleted after)
#        BROKER_ENV extra environment for the broker (e.g. "RINGLOG_X=1")
#        BROKER_CPUS, CLIENT_CPUS  taskset CPU lists for the broker and for the
#                 clients (e.g. BROKER_CPUS=0 CLIENT_CPUS=1 SHARDS=1: the broker
#                 on a core of its own, as a deployment runs it, instead of
#                 sharing both cores with the client)
#        CCS      TCP congestion control algorithms to run every binary under
#                 (e.g. CCS="bbr cubic"; root: sets net.ipv4.tcp_congestion_control
#                 for each in turn within each run, restores it at the end); the
#                 figures are then named binary@algorithm and the loopback limit
#                 is measured under each. Default: the machine's, untouched. Over
#                 loopback the receiver's TCP work and BBR's pacing timers run on
#                 the sender's CPU, so a consume's broker CPU depends on it (see
#                 docs/benchmarks.md, "Loopback TCP under BBR").
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/limits.sh
RUNS=${RUNS:-3}; N=${N:-1000000}; SIZE=${SIZE:-1000}; PARTITIONS=${PARTITIONS:-16}; SHARDS=${SHARDS:-2}
PHASES=${PHASES:-produce consume latency}
DATA=${PERF_DIR:-/work/ringlog-cpu-perf}; PORT=${PORT:-39392}
HZ=$(getconf CLK_TCK)

for tool in fio iperf3 python3 /usr/bin/time; do
  command -v $tool >/dev/null || { echo "$tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
perf_tool=$(bench/rdkafka-perf-tool.sh)
broker_pin=(); client_pin=()
[ -n "${BROKER_CPUS:-}" ] && broker_pin=(taskset -c "$BROKER_CPUS")
[ -n "${CLIENT_CPUS:-}" ] && client_pin=(taskset -c "$CLIENT_CPUS")
if [ -z "${BINS:-}" ]; then
  cargo build --release -q -p ringlog
  BINS="ringlog=target/release/ringlog"
fi
cargo build --release -q -p ringlog-bench --example produce_latency
paced=target/release/examples/produce_latency
results=$(mktemp)
broker=""
cc_sysctl=net.ipv4.tcp_congestion_control
cc_before=$(sysctl -n "$cc_sysctl")
cleanup() {
  [ -n "$broker" ] && { kill -TERM "$broker" 2>/dev/null; wait "$broker" 2>/dev/null || true; }
  [ "$(sysctl -n "$cc_sysctl")" = "$cc_before" ] || sysctl -q -w "$cc_sysctl=$cc_before"
  rm -rf "$DATA" "$DATA.log" "$DATA.fio" "$DATA.time" "$results"
}
trap cleanup EXIT

load1() { cut -d' ' -f1 /proc/loadavg; }
record() { echo "$1 $2 $3 $4" >>"$results"; }   # figure value unit load

fio_mbps() { # fio_mbps <fio args...>: write bandwidth in MB/s
  fio --name=limit --filename="$DATA.fio" --direct=1 --ioengine=io_uring --rw=write \
    --output-format=json "$@" | python3 -c 'import json, sys; print("%.0f" % (json.load(sys.stdin)["jobs"][0]["write"]["bw_bytes"] / 1e6))'
}

limits() {
  local load mbps small gbps cc; load=$(load1)
  mbps=$(fio_mbps --bs=1M --size=2G --iodepth=8 --end_fsync=1)
  rm -f "$DATA.fio"
  small=$(fio_mbps --bs=16k --size=768M --iodepth=4 --end_fsync=1)
  rm -f "$DATA.fio"
  record limit-disk "$mbps" MB/s "$load"
  record limit-disk-16k "$small" MB/s "$load"
  echo "limits: disk write $mbps MB/s (fio 1M qd8), $small MB/s (fio 16k qd4); load $load"
  for cc in ${CCS:--}; do
    use_cc "$cc"
    gbps=$(loopback_mbps $((PORT + 1)))
    record "limit-loopback$cc_suffix" "$gbps" MB/s "$load"
    echo "limits: loopback $gbps MB/s (iperf3 -Z, $(sysctl -n "$cc_sysctl"))"
  done
}

# use_cc <algorithm | ->: sets the congestion control ("-": the machine's,
# untouched) and cc_suffix, which names the figures taken under it.
cc_suffix=""
use_cc() {
  cc_suffix=""
  [ "$1" = - ] && return
  sysctl -q -w "$cc_sysctl=$1"
  cc_suffix="@$1"
}

start_broker() { # start_broker <binary>
  rm -rf "$DATA"
  # shellcheck disable=SC2086
  env ${BROKER_ENV:-} "${broker_pin[@]}" "$1" serve --override "listeners=PLAINTEXT://127.0.0.1:$PORT" \
    --override "log.dirs=$DATA" --override "num.partitions=$PARTITIONS" --override "num.shards=$SHARDS" \
    2>"$DATA.log" &
  broker=$!
  sleep 1
  # A broker that could not listen (another one holds the port) must not
  # leave the clients talking to someone else's.
  kill -0 "$broker" 2>/dev/null || { cat "$DATA.log" >&2; broker=""; exit 1; }
}

stop_broker() { # stop_broker <name>: records peak RSS
  record "$1/rss" "$(awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$broker/status")" MB "$(load1)"
  kill -TERM "$broker"; wait "$broker" || true; broker=""
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$broker/stat"; }
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }

# throughput <name> <bytes> <command...>: MB/s and core-s/GB (broker, client, machine)
throughput() {
  local name=$1 bytes=$2; shift 2
  local load c0 m0 t0 c1 m1 t1 out; load=$(load1)
  c0=$(cpu_ticks); m0=$(busy_ticks); t0=$(date +%s%N)
  out=$(/usr/bin/time -f '%U %S' -o "$DATA.time" "$@" 2>&1 | grep -E '^\|' | tail -1 || true)
  t1=$(date +%s%N); c1=$(cpu_ticks); m1=$(busy_ticks)
  local line; line=$(awk -v bytes="$bytes" -v ns=$((t1 - t0)) -v ticks=$((c1 - c0)) -v busy=$((m1 - m0)) \
    -v hz="$HZ" -v client="$(cat "$DATA.time")" 'BEGIN { s = ns / 1e9; gb = bytes / 1e9; split(client, c, " ");
      printf "%.0f %.2f %.3f %.3f %.3f", bytes / s / 1e6, ticks / hz, ticks / hz / gb, (c[1] + c[2]) / gb, busy / hz / gb }')
  read -r mbps cpu per_gb client_gb machine_gb <<<"$line"
  record "$name" "$mbps" MB/s "$load"
  record "$name-cpu" "$per_gb" core-s/GB "$load"
  record "$name-client-cpu" "$client_gb" core-s/GB "$load"
  record "$name-machine-cpu" "$machine_gb" core-s/GB "$load"
  printf '%-30s %6s MB/s  broker %5s core-s = %6s core-s/GB  client %6s  machine %6s  (load %s)\n' \
    "$name" "$mbps" "$cpu" "$per_gb" "$client_gb" "$machine_gb" "$load"
  [ -n "$out" ] || { echo "    the client printed no result line" >&2; return 0; }
}

# latency <name> <topic> <settings...>: 50 MB/s for 10 s, send -> delivery percentiles
latency() {
  local name=$1 topic=$2; shift 2
  local load c0 out; load=$(load1); c0=$(cpu_ticks)
  out=$("${client_pin[@]}" "$paced" "127.0.0.1:$PORT" "$topic" 50 "$SIZE" 10 "$@")
  local cpu; cpu=$(awk -v ticks=$(($(cpu_ticks) - c0)) -v hz="$HZ" 'BEGIN { printf "%.2f", ticks / hz / 10 }')
  local line; line=$(awk '{ for (i = 1; i <= NF; i++) { if ($i == "p50") a = $(i+1); if ($i == "p99") b = $(i+1);
    if ($i == "p99.9") c = $(i+1); if ($i == "max") d = $(i+1) } } END { print a, b, c, d }' <<<"$out")
  read -r p50 p99 p999 max <<<"$line"
  record "$name-p50" "$p50" ms "$load"; record "$name-p99" "$p99" ms "$load"
  record "$name-p99.9" "$p999" ms "$load"; record "$name-broker-cores" "$cpu" cores "$load"
  printf '%-30s %s; broker %s cores (load %s)\n' "$name" "$out" "$cpu" "$load"
}

wants() { [[ " $PHASES " == *" $1 "* ]]; }

produce() { # produce <name> <topic> <batch.size> <acks>
  throughput "$1" $((N * SIZE)) "${client_pin[@]}" "$perf_tool" -P -t "$2" -s "$SIZE" -c "$N" -a "$4" -b "127.0.0.1:$PORT" -q -u \
    -X linger.ms=5 -X batch.size="$3" -X queue.buffering.max.kbytes=1000000
}

partitions=""; for p in $(seq 0 $((PARTITIONS - 1))); do partitions="$partitions -p $p"; done
echo "# $(date -u +%FT%TZ) RUNS=$RUNS N=$N SIZE=$SIZE PARTITIONS=$PARTITIONS SHARDS=$SHARDS BROKER_CPUS=${BROKER_CPUS:-} CLIENT_CPUS=${CLIENT_CPUS:-} PHASES=\"$PHASES\" $(git rev-parse --short HEAD)"
echo "# binaries: $BINS; $cc_sysctl=$cc_before${CCS:+; CCS=\"$CCS\"}"
# phases <name> <binary>: every phase asked for, against a fresh broker
phases() {
  local bin=$1
  start_broker "$2"
  if wants produce; then
    produce "$bin/produce-16k-acks1" p16k1 16384 1
    produce "$bin/produce-16k-acksall" p16kall 16384 -1
    produce "$bin/produce-1m-acks1" p1m1 1048576 1
    produce "$bin/produce-1m-acksall" p1mall 1048576 -1
  fi
  if wants consume; then
    wants produce || produce "$bin/produce-1m-acks1" p1m1 1048576 1
    # Just written with O_DIRECT: the first pass reads the disk, the second the page cache.
    # shellcheck disable=SC2086
    throughput "$bin/consume-cold" $((N * SIZE)) "${client_pin[@]}" "$perf_tool" -C -t p1m1 $partitions -o beginning -c "$N" \
      -b "127.0.0.1:$PORT" -q -u
    # shellcheck disable=SC2086
    throughput "$bin/consume-warm" $((N * SIZE)) "${client_pin[@]}" "$perf_tool" -C -t p1m1 $partitions -o beginning -c "$N" \
      -b "127.0.0.1:$PORT" -q -u
  fi
  if wants latency; then
    latency "$bin/latency-16k-acks1" lat1 acks=1 batch.size=16384 linger.ms=1
    latency "$bin/latency-16k-acksall" latall acks=all batch.size=16384 linger.ms=1
  fi
  stop_broker "$bin"
}

for run in $(seq 1 "$RUNS"); do
  echo "## run $run"
  limits
  for cc in ${CCS:--}; do
    use_cc "$cc"
    for entry in $BINS; do
      phases "${entry%%=*}$cc_suffix" "${entry#*=}"
    done
  done
done

echo "## median of $RUNS runs (load: median of the 1-minute load averages at the phases' starts)"
python3 - "$results" <<'EOF'
import sys, statistics
order, values = [], {}
for line in open(sys.argv[1]):
    name, value, unit, load = line.split()
    if name not in values:
        order.append(name)
        values[name] = (unit, [], [])
    values[name][1].append(float(value))
    values[name][2].append(float(load))
for name in order:
    unit, xs, loads = values[name]
    print(f"  {name:40} {statistics.median(xs):10.3f} {unit:10} (runs: {' '.join(f'{x:g}' for x in xs)}; load {statistics.median(loads):.1f})")
limits = {"produce-16k": "limit-disk-16k", "produce-1m": "limit-disk", "consume": "limit-loopback"}
for name in order:
    unit, xs, _ = values[name]
    if unit != "MB/s" or "/" not in name:
        continue
    phase = name.split("/", 1)[1]
    limit = next((l for prefix, l in limits.items() if phase.startswith(prefix)), None)
    cc = name.split("/", 1)[0].partition("@")[2]
    if limit and f"{limit}@{cc}" in values:  # the loopback limit, per algorithm
        limit = f"{limit}@{cc}"
    if limit and limit in values:
        ratios = [x / l for x, l in zip(xs, values[limit][1])]
        print(f"  {name:40} {statistics.median(ratios):10.2f} of {limit} (per-run: {' '.join(f'{r:.2f}' for r in ratios)})")
EOF
