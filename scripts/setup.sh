#!/usr/bin/env bash
# Installs what testing and benchmarking Ringlog needs on a fresh machine of
# this kind (Debian, root) beyond what building it needs (gcc, make, perl:
# librdkafka is built by rdkafka-sys's own configure with zlib and zstd from
# vendored sources, see docs/tools.md): cmake for bench/broker-perf.sh's
# rdkafka_performance, and a Python venv with the clients the tutorials in
# shared/seeds use. Idempotent and quick when done before.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for package in cmake; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || need_apt+=("$package")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

venv=target/python-venv
if [ ! -x "$venv/bin/pytest" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check pytest kafka-python confluent-kafka lz4
fi
