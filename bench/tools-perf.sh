#!/usr/bin/env bash
# The tutorial's perf tests (shared/seeds/001) through ringlog's own tools,
# against a release `ringlog serve`, as ratios of this machine's limits
# measured in the same run. One command; each run:
#
#   limit-disk       fio sequential O_DIRECT write, 1 MiB blocks, iodepth 8, 2 GiB
#   limit-loopback   iperf3 -Z (sendfile) over 127.0.0.1, 5 s
#   produce-acks1    ringlog producer-perf-test --topic test01 --num-records N
#                    --throughput -1 --record-size SIZE --producer-props
#                    bootstrap.servers=... acks=1      (the seed's command)
#   produce-acksall  the same with acks=all, to a second topic
#   consume          ringlog consumer-perf-test --bootstrap-server ... --topic test01
#                    --fetch-size 1048576 --messages N (the seed's flags; it reads
#                    all N records, where the seed reads 500,000)
#
# A fresh broker and data directory per run; topics of PARTITIONS partitions
# (the seed's 3). Broker CPU: utime+stime from /proc/PID/stat around each
# phase, as core-seconds per GB moved (GB = 10^9 bytes of record values).
# Throughput in MB/s of 2^20 bytes, as Kafka's tools print it; the limits
# in the same unit. Prints every run, then writes the medians over the runs,
# the last run's Kafka lines and its pictures (docs/tools-perf/*.svg) into
# the "Perf tests through the ringlog tools" section of docs/benchmarks.md.
#
# Usage: bench/tools-perf.sh     (RUNS=3 N=4000000 SIZE=1000 PARTITIONS=3)
# Env:   PERF_DIR data directory (default /work/ringlog-tools-perf; deleted after)
#        NOTE     a sentence for the doc about the machine during the run
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/limits.sh
RUNS=${RUNS:-3}; N=${N:-4000000}; SIZE=${SIZE:-1000}; PARTITIONS=${PARTITIONS:-3}
DATA=${PERF_DIR:-/work/ringlog-tools-perf}; PORT=${PORT:-19492}
HZ=$(getconf CLK_TCK)
PICTURES=docs/tools-perf

need=()
for tool in fio iperf3; do command -v $tool >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v python3 >/dev/null || { echo "python3 is needed to read fio's and iperf3's JSON" >&2; exit 1; }
ulimit -l unlimited 2>/dev/null || true

cargo build --release -q -p ringlog
bin=target/release/ringlog
bootstrap=127.0.0.1:$PORT
results=$(mktemp)
lines=$(mktemp -d)
broker=""
cleanup() {
  [ -n "$broker" ] && { kill -TERM "$broker" 2>/dev/null; wait "$broker" 2>/dev/null || true; }
  rm -rf "$DATA" "$DATA.log" "$DATA.fio" "$results" "$lines"
}
trap cleanup EXIT

record() { echo "$1 $2" >>"$results"; }   # figure value

limits() {
  local disk loopback
  disk=$(fio --name=limit --filename="$DATA.fio" --direct=1 --ioengine=io_uring --rw=write --bs=1M \
    --size=2G --iodepth=8 --end_fsync=1 --output-format=json |
    python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["jobs"][0]["write"]["bw_bytes"] / 2**20))')
  rm -f "$DATA.fio"
  loopback=$(loopback_mbps $((PORT + 1)) 1048576 %.1f)
  record limit-disk "$disk"
  record limit-loopback "$loopback"
  echo "limits: disk write $disk MB/s (fio O_DIRECT 1 MiB), loopback $loopback MB/s (iperf3 -Z)"
}

start_broker() {
  rm -rf "$DATA"
  "$bin" serve --override "listeners=PLAINTEXT://$bootstrap" --override "log.dirs=$DATA" 2>"$DATA.log" &
  broker=$!
  for _ in $(seq 100); do
    "$bin" topics --bootstrap-server "$bootstrap" --list >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the broker did not start; its log:" >&2; cat "$DATA.log" >&2; exit 1
}

stop_broker() { kill -TERM "$broker"; wait "$broker" || true; broker=""; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$broker/stat"; }   # utime + stime

# phase <name> <command...>: runs a tool, keeps its output, records broker
# core-seconds per GB of record values moved (N * SIZE bytes)
phase() {
  local name=$1; shift
  local before after
  before=$(cpu_ticks)
  "$@" >"$lines/$name.out"
  after=$(cpu_ticks)
  cat "$lines/$name.out"
  record "$name-cpu" "$(python3 -c "print('%.2f' % (($after - $before) / $HZ / ($N * $SIZE / 1e9)))")"
}

# The figures Kafka's lines carry, from a phase's output.
produce_figures() {
  python3 - "$1" "$2" <<'EOF'
import re, sys
name, path = sys.argv[1], sys.argv[2]
for line in open(path):
    m = re.match(r"^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th\.$", line)
    if m:
        print(f"{name}-records {m[1]}\n{name}-MB/s {m[3]}\n{name}-avg-ms {m[4]}\n{name}-p50-ms {m[6]}\n{name}-p99-ms {m[8]}\n{name}-max-ms {m[5]}")
EOF
}

consume_figures() {
  python3 - "$1" "$2" <<'EOF'
import sys
name, path = sys.argv[1], sys.argv[2]
lines = open(path).read().splitlines()
fields = lines[lines.index(next(l for l in lines if l.startswith("start.time"))) + 1].split(", ")
print(f"{name}-records {fields[4]}\n{name}-MB/s {fields[3]}\n{name}-fetch-MB/s {fields[8]}\n{name}-rebalance-ms {fields[6]}")
EOF
}

mkdir -p "$PICTURES"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for run in $(seq "$RUNS"); do
  echo "== run $run of $RUNS"
  limits
  start_broker
  "$bin" topics --bootstrap-server "$bootstrap" --create --topic test01 --partitions "$PARTITIONS" --replication-factor 1
  "$bin" topics --bootstrap-server "$bootstrap" --create --topic test01all --partitions "$PARTITIONS" --replication-factor 1
  phase produce-acks1 "$bin" producer-perf-test --topic test01 --num-records "$N" --throughput -1 \
    --record-size "$SIZE" --producer-props "bootstrap.servers=$bootstrap" acks=1 \
    --report "$PICTURES/produce-acks1.svg"
  produce_figures produce-acks1 "$lines/produce-acks1.out" >>"$results"
  phase produce-acksall "$bin" producer-perf-test --topic test01all --num-records "$N" --throughput -1 \
    --record-size "$SIZE" --producer-props "bootstrap.servers=$bootstrap" acks=all \
    --report "$PICTURES/produce-acksall.svg"
  produce_figures produce-acksall "$lines/produce-acksall.out" >>"$results"
  phase consume "$bin" consumer-perf-test --bootstrap-server "$bootstrap" --topic test01 \
    --fetch-size 1048576 --messages "$N" --report "$PICTURES/consume.svg"
  consume_figures consume "$lines/consume.out" >>"$results"
  stored=$("$bin" get-offsets --bootstrap-server "$bootstrap" --topic 'test01|test01all' |
    awk -F: '{s += $3} END {print s}')
  record stored "$stored"
  stop_broker
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$results" "$lines" docs/benchmarks.md "$RUNS" "$N" "$SIZE" "$PARTITIONS" \
  "$load_before" "$load_after" "$(nproc)" "$(uname -r)" "${NOTE:-}" <<'EOF'
import statistics, sys
from collections import defaultdict
path, lines, doc, runs, n, size, partitions, load_before, load_after, nproc, kernel, note = sys.argv[1:]
values = defaultdict(list)
for line in open(path):
    name, value = line.split()
    values[name].append(float(value))
median = {name: statistics.median(v) for name, v in values.items()}
spread = {name: (min(v), max(v)) for name, v in values.items()}
def fig(name, digits=1):
    lo, hi = spread[name]
    return f"{median[name]:.{digits}f}" + ("" if len(values[name]) < 2 else f" ({lo:.{digits}f}–{hi:.{digits}f})")
disk, loop = median["limit-disk"], median["limit-loopback"]
rows = [
    ("produce, acks=1", "produce-acks1", "limit-disk", "disk write"),
    ("produce, acks=all", "produce-acksall", "limit-disk", "disk write"),
    ("consume (fetch-size 1 MiB)", "consume", "limit-loopback", "loopback"),
]
out = []
out.append("## Perf tests through the ringlog tools")
out.append("")
out.append("The tutorial's commands (shared/seeds/001) with `ringlog` for the Kafka scripts, "
           f"{int(n):,} records of {size} bytes, `--throughput -1`, topics of {partitions} partitions, "
           "one broker on its defaults (release build, one shard per core), the limits measured in the same run:")
out.append("")
out.append("```sh")
out.append(f"bench/tools-perf.sh      # RUNS={runs} N={n} SIZE={size} PARTITIONS={partitions}")
out.append("```")
out.append("")
out.append(f"Medians of {runs} run{'s' if int(runs) > 1 else ''} (range in brackets). MB are 2^20 bytes, as Kafka's tools print; "
           "core-seconds are the broker's utime+stime over the phase per 10^9 bytes of record values. "
           "The tools run on the same cores as the broker.")
out.append("")
out.append("| phase | MB/s | limit MB/s | ratio | p50 / p99 / max latency, ms | broker core-s per GB |")
out.append("| --- | --- | --- | --- | --- | --- |")
for label, name, limit, limit_name in rows:
    rate = median[f"{name}-MB/s"]
    lim = median[limit]
    if name.startswith("produce"):
        latency = f"{median[name + '-p50-ms']:.0f} / {median[name + '-p99-ms']:.0f} / {median[name + '-max-ms']:.0f}"
    else:
        latency = f"rebalance {median['consume-rebalance-ms']:.0f} ms"
    out.append(f"| {label} | {fig(name + '-MB/s')} | {lim:.0f} ({limit_name}) | {rate / lim:.2f} | {latency} | {fig(name + '-cpu', 2)} |")
out.append("")
stored = median.get("stored", 0)
out.append(f"Every run's broker held {int(stored):,} records at the end (get-offsets over both topics: "
           f"{2 * int(n):,} produced), and the consumer read {int(median['consume-records']):,}.")
out.append(f"Machine: {nproc} cores, Linux {kernel}; load average {load_before} before, {load_after} after."
           + (f" {note}" if note else ""))
out.append("")
out.append("Latency here is from each record's send call to its acknowledgement with no rate limit: "
           "librdkafka queues the records as fast as they are given, so it measures the queue more than "
           "the broker (Kafka's tool does the same); the producer's settings are the Java client's defaults "
           "(batch.size 16384, linger.ms 5: about 16 records of 1000 bytes per batch). The last run's output:")
out.append("")
for name in ["produce-acks1", "produce-acksall", "consume"]:
    out.append("```text")
    out.extend(l for l in open(f"{lines}/{name}.out").read().splitlines() if l.strip())
    out.append("```")
    out.append("")
out.append("The last run's pictures: throughput over the run and the latency percentiles "
           "(`--report`): [acks=1](tools-perf/produce-acks1.svg), [acks=all](tools-perf/produce-acksall.svg), "
           "[consumer](tools-perf/consume.svg).")
out.append("")
out.append("![producer-perf-test, acks=1](tools-perf/produce-acks1.svg)")
out.append("")
section = "\n".join(out) + "\n"
text = open(doc).read()
begin, end = "<!-- tools-perf:begin -->\n", "<!-- tools-perf:end -->\n"
if begin in text and end in text:
    text = text[: text.index(begin) + len(begin)] + section + text[text.index(end):]
else:
    text = text.rstrip("\n") + "\n\n" + begin + section + end
open(doc, "w").write(text)
print(section)
EOF
