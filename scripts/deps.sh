#!/usr/bin/env bash
# Installs the Debian 12 packages fluxcap builds and tests with, if any is missing.
# Sourced by the other scripts; uses sudo when not run as root.
set -euo pipefail
# pkg-config: the consumer and Debian package tests (tests/consumer/); librocksdb-dev: the
# --state-db store (fluxcap::rocksdb); redis-server, libhiredis-dev: fluxcap produce /
# worker / collect and their test (tests/cli/redis_test.py).
fluxcap_packages=(cmake make g++ doctest-dev libyaml-cpp-dev libyaml-dev libsimdjson-dev libbenchmark-dev
  libpcre2-dev
  librocksdb-dev redis-server libhiredis-dev
  python3 pkg-config ${FLUXCAP_EXTRA_PACKAGES:-})
missing=()
for p in "${fluxcap_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fluxcap: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
