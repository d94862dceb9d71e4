#!/usr/bin/env bash
# Debian packages the benchmarks use beyond the test suite's: wrk generates the API load.
# Without it (and without root to install it) bench/api.py falls back to its own asyncio client.
set -euo pipefail
command -v wrk >/dev/null && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "wrk not installed (sudo apt-get install -y wrk); the API load will come from Python" >&2
  exit 0
fi
echo "installing Debian package: wrk" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq wrk >/dev/null
