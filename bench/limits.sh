# Shared by the broker benches (sourced): this machine's limits, measured in
# the same run as the figures they are compared with.

# loopback_mbps <port> [divisor] [format]: iperf3 -Z (sendfile) over
# 127.0.0.1 for 5 s; prints the received rate in bytes/s / divisor
# (default 1e6: MB/s; 1048576 for MiB/s) with format (default %.0f).
loopback_mbps() {
  local port=$1 divisor=${2:-1e6} format=${3:-%.0f} server
  iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
  server=$!
  sleep 0.5
  iperf3 -c 127.0.0.1 -p "$port" -Z -t 5 -J |
    python3 -c "import json, sys; print('$format' % (json.load(sys.stdin)['end']['sum_received']['bits_per_second'] / 8 / $divisor))"
  wait "$server"
}
