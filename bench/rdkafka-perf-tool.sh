#!/usr/bin/env bash
# Prints the path of librdkafka's own load tool, rdkafka_performance, built
# (once, into target/rdkafka-perf) from the librdkafka source that the
# rdkafka-sys crate ships in the cargo registry: a neutral client that the
# broker benchmarks share (bench/broker-perf.sh, bench/cpu-per-byte.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
build=target/rdkafka-perf
tool=$build/examples/rdkafka_performance
if [ ! -x "$tool" ]; then
  src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/rdkafka-sys-*/librdkafka | sort | tail -1)
  command -v cmake >/dev/null || { echo "cmake is missing (scripts/setup.sh installs it)" >&2; exit 1; }
  # librdkafka 2.12's CMake build defines WITH_OAUTHBEARER_OIDC to 0 without
  # curl, and rdkafka_conf.c tests it with #ifdef: it includes curl/curl.h
  # either way. The header is all it needs.
  if ! dpkg-query -W -f='${Status}' libcurl4-openssl-dev 2>/dev/null | grep -q "ok installed"; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcurl4-openssl-dev >/dev/null
  fi
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRDKAFKA_BUILD_EXAMPLES=ON \
    -DRDKAFKA_BUILD_TESTS=OFF -DWITH_SSL=OFF -DWITH_SASL=OFF -DWITH_CURL=OFF >/dev/null
  make -C "$build" -j"$(nproc)" rdkafka_performance >/dev/null
fi
echo "$PWD/$tool"
