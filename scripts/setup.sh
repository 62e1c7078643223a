#!/usr/bin/env bash
# Installs what building and testing Ringlog needs on a fresh machine of this
# kind (Debian, root): C libraries for librdkafka (built from source by the
# rdkafka crate's cmake-build feature) and a Python venv with the clients
# the tutorials in shared/seeds use. Idempotent and quick when done before.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# e2fsprogs: mkfs.ext4 for the disk-full test (server/tests/disk_full.rs).
for package in cmake libcurl4-openssl-dev libssl-dev zlib1g-dev libzstd-dev e2fsprogs; do
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
