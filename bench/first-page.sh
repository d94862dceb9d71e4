#!/usr/bin/env bash
# A newcomer's first page: clone REV of this repository, `make run`, and time until the map answers 200.
# Usage: bench/first-page.sh [REV] [PORT]; prints seconds to the first page and the venv's size.
set -euo pipefail
rev=${1:-HEAD}
port=${2:-8765}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill -- -$server 2>/dev/null || true; rm -rf "$work"' EXIT
git clone -q "$repo" "$work/ironriver"
git -C "$work/ironriver" checkout -q "$rev"
ln -s "$repo/../shared" "$work/shared"
started=$(date +%s.%N)
# exec: setsid then runs as this background job itself, so $! leads the group the trap kills.
(cd "$work/ironriver" && exec setsid make run PORT="$port" >"$work/run.log" 2>&1) &
server=$!
until curl -fs -o /dev/null "http://127.0.0.1:$port/"; do
  kill -0 "$server" 2>/dev/null || { cat "$work/run.log" >&2; exit 1; }
  sleep 0.5
done
finished=$(date +%s.%N)
printf 'rev %s: first page after %.1f s, venv %s\n' "$rev" "$(echo "$finished - $started" | bc)" \
  "$(du -sh "$work/ironriver/.venv" | cut -f1)"
