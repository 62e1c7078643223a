#!/usr/bin/env bash
# Installs what testing and benchmarking Ringlog needs on a fresh machine of
# this kind (Debian, root) beyond what building it needs (gcc, make, perl:
# librdkafka is built by rdkafka-sys's own configure with zlib and zstd from
# vendored sources, see docs/tools.md): cmake for bench/broker-perf.sh's
# rdkafka_performance, a Python venv with the clients the tutorials in
# shared/seeds use, and the other clients of the compatibility matrix
# (server/tests/clients): kcat and the Go client sources from Debian,
# KafkaJS from npm. Client versions are pinned so docs/compatibility.md only
# changes when we change them. Idempotent and quick when done before.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# e2fsprogs: mkfs.ext4 for the disk-full test (server/tests/disk_full.rs).
for package in cmake e2fsprogs \
  kcat golang-go golang-github-shopify-sarama-dev golang-github-segmentio-kafka-go-dev; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || need_apt+=("$package")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

venv=target/python-venv
python_clients=(pytest kafka-python==3.0.12 confluent-kafka==2.16.1 lz4==4.4.5
  aiokafka==0.14.0 pykafka==2.8.0 python-snappy==0.7.3 zstandard==0.25.0 xxhash==3.6.0)
stamp="$venv/.installed"
if [ "$(cat "$stamp" 2>/dev/null)" != "${python_clients[*]}" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # python -m pip, not bin/pip: a venv copied from another checkout keeps
  # that checkout's path in its scripts' shebangs.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${python_clients[@]}"
  echo "${python_clients[*]}" >"$stamp"
fi

node_clients=(kafkajs@2.2.4 kafkajs-snappy@1.1.0)
node=target/clients/node
if [ "$(cat "$node/.installed" 2>/dev/null)" != "${node_clients[*]}" ]; then
  mkdir -p "$node"
  (cd "$node" && npm install --no-audit --no-fund --silent "${node_clients[@]}")
  echo "${node_clients[*]}" >"$node/.installed"
fi
