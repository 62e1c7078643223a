# Sourced by bench/produce-pairs.sh and bench/consume-pairs.sh: the pairs
# loop and its summary. The caller defines `one <binary>`, which prints
# "core-s/GB MB/s" of one run of that binary.

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
