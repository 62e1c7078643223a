#!/usr/bin/env bash
# Measures what the disk under the benches can do, for comparison with
# `cargo bench -p ringlog-bench` (see docs/benchmarks.md):
#
#   seqwrite-<bs>       fio sequential O_DIRECT writes, io_uring, iodepth 8,
#                       2 GiB, fsync at the end; bs = 16k, 256k, 1M. The file
#                       is fallocated (fio's default), so no write extends it.
#   seqwrite-1M-keep    the same at 1M with --fallocate=keep (FALLOC_FL_KEEP_SIZE):
#                       every write extends the file, as the engine's do.
#   randread-4k-qd1     4 KiB O_DIRECT random reads one at a time (latency
#                       reference for the read_lookup bench).
#
# Usage: bench/run-limits.sh [runs]     (default 3; prints each run and the median)
# Env:   LIMITS_DIR  directory for fio's file (default /work; must be on the
#                    disk the benches use); the file is deleted afterwards.
#        LIMITS_SIZE file size (default 2G).
set -euo pipefail

runs=${1:-3}
dir=${LIMITS_DIR:-/work}
size=${LIMITS_SIZE:-2G}
file="$dir/ringlog-fio.test"

command -v fio >/dev/null || { echo "fio is missing: apt-get install -y fio" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed to read fio's JSON" >&2; exit 1; }
trap 'rm -f "$file"' EXIT

echo "# $(date -u +%Y-%m-%dT%H:%MZ)  $(uname -r)  nproc=$(nproc)  fio=$(fio --version)  dir=$dir ($(df --output=source,fstype "$dir" | tail -1 | xargs))"

# run_fio <name> <metric: write_mbps|read_lat_us> <fio args...>
run_fio() {
    local name=$1 metric=$2
    shift 2
    rm -f "$file"
    fio --name="$name" --filename="$file" --direct=1 --ioengine=io_uring \
        --numjobs=1 --output-format=json "$@" |
        python3 -c '
import json, sys
job = json.load(sys.stdin)["jobs"][0]
metric = sys.argv[1]
if metric == "write_mbps":
    print("%.0f" % (job["write"]["bw_bytes"] / 1e6))
else:
    print("%.1f" % (job["read"]["clat_ns"]["percentile"]["50.000000"] / 1e3))
' "$metric"
    rm -f "$file"
}

declare -A results
names=(seqwrite-16k seqwrite-256k seqwrite-1M seqwrite-1M-keep randread-4k-qd1)
for run in $(seq 1 "$runs"); do
    line="run $run:"
    for bs in 16k 256k 1M; do
        value=$(run_fio "seqwrite-$bs" write_mbps --rw=write --bs="$bs" --size="$size" \
            --iodepth=8 --end_fsync=1)
        results[seqwrite-$bs]+="$value "
        line+="  seqwrite-$bs=${value}MB/s"
    done
    value=$(run_fio seqwrite-1M-keep write_mbps --rw=write --bs=1M --size="$size" \
        --iodepth=8 --end_fsync=1 --fallocate=keep)
    results[seqwrite-1M-keep]+="$value "
    line+="  seqwrite-1M-keep=${value}MB/s"
    # Lay out a 256 MiB file, then time 4 KiB random reads for 3 s.
    value=$(run_fio randread-4k-qd1 read_lat_us --rw=randread --bs=4k --size=256M \
        --iodepth=1 --runtime=3 --time_based)
    results[randread-4k-qd1]+="$value "
    line+="  randread-4k-qd1-p50=${value}us"
    echo "$line"
done

echo "median of $runs:"
for name in "${names[@]}"; do
    unit=MB/s
    [[ $name == randread* ]] && unit="us (p50 latency)"
    median=$(echo "${results[$name]}" | tr ' ' '\n' | grep -v '^$' | sort -n |
        awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}')
    printf '  %-18s %8s %s\n' "$name" "$median" "$unit"
done
