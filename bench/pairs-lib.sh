# Sourced by bench/produce-pairs.sh and bench/consume-pairs.sh: the broker
# each run starts (CPU 0, one shard, 16 partitions by default), its CPU
# counter, and the pairs loop with its summary. The caller sets PORT, DATA
# and N (records of 1000 bytes) and defines `one <binary>`, which prints
# "core-s/GB MB/s" of one run of that binary.

HZ=$(getconf CLK_TCK)
broker=""
cleanup() {
  [ -n "$broker" ] && { kill -TERM "$broker" 2>/dev/null; wait "$broker" 2>/dev/null || true; }
  rm -rf "$DATA" "$DATA.log"
}
trap cleanup EXIT

# start_broker <ringlog>: serves $DATA on $PORT; exits with its log if it dies.
start_broker() {
  taskset -c 0 "$1" serve --override "listeners=PLAINTEXT://127.0.0.1:$PORT" --override "log.dirs=$DATA" \
    --override num.partitions=16 --override num.shards=1 2>>"$DATA.log" &
  broker=$!
  sleep 1
  kill -0 "$broker" 2>/dev/null || { cat "$DATA.log" >&2; broker=""; exit 1; }
}

stop_broker() { kill -TERM "$broker"; wait "$broker" || true; broker=""; }

# broker_ticks: the broker's utime + stime so far, in clock ticks.
broker_ticks() { awk '{print $14 + $15}' "/proc/$broker/stat"; }

# per_gb <ticks> <nanoseconds>: "core-s/GB MB/s" for N records of 1000 bytes.
per_gb() {
  awk -v ticks="$1" -v ns="$2" -v hz="$HZ" -v gb="$(awk -v n="$N" 'BEGIN {print n * 1000 / 1e9}')" \
    'BEGIN { printf "%.3f %.0f\n", ticks / hz / gb, gb * 1e3 / (ns / 1e9) }'
}

# run_pairs <ringlog A> <ringlog B>: PAIRS pairs, A then B in each; prints
# each pair and the median ratio B/A of broker core-seconds per GB.
run_pairs() {
  local ratios=() pair a_cpu a_mbps b_cpu b_mbps ratio
  for pair in $(seq 1 "$PAIRS"); do
    read -r a_cpu a_mbps <<<"$(one "$1")"
    read -r b_cpu b_mbps <<<"$(one "$2")"
    ratio=$(awk -v a="$a_cpu" -v b="$b_cpu" 'BEGIN { printf "%.2f", b / a }')
    ratios+=("$ratio")
    echo "pair $pair: A $a_cpu core-s/GB $a_mbps MB/s   B $b_cpu core-s/GB $b_mbps MB/s   B/A $ratio"
  done
  printf '%s\n' "${ratios[@]}" | sort -n | awk '{r[NR] = $1} END {
    below = 0; for (i = 1; i <= NR; i++) if (r[i] < 1) below++
    printf "median B/A %.2f (min %.2f, max %.2f); B cheaper in %d of %d pairs\n", r[int((NR + 1) / 2)], r[1], r[NR], below, NR }'
}
