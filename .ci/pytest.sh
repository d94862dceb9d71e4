#!/usr/bin/env bash
# Runs the whole suite against SQLite and a throw-away PostgreSQL, in parallel workers.
# pytest's exit code 5 (no tests collected) counts as a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST_POSTGRES_URL=$(bash .ci/pg.sh start) || { echo "could not start PostgreSQL" >&2; exit 1; }
export PYTEST_POSTGRES_URL
trap 'bash .ci/pg.sh stop' EXIT
# Parallel workers (pytest-xdist), test by test, except the files tests/conftest.py names in
# ONE_WORKER_FILES (a shared dashboard process and Chromium, the bench quick run): each of those
# runs whole on one worker. PYTEST_WORKERS=0 runs serially.
.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-auto}" --dist loadgroup "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
