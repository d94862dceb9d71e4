#!/usr/bin/env bash
# A throw-away PostgreSQL on 127.0.0.1 for the test suite: pg.sh start|stop
# `start` prints the server's base URL (no database name); tests create and drop their own databases.
set -euo pipefail
PGROOT=${PGROOT:-/tmp/ironriver-pg-$(id -u)}
PGDATA=$PGROOT/data
PGPORT=${PGPORT:-54329}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); else AS=(); fi
case "${1:-}" in
  start)
    mkdir -p "$PGROOT/sock"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$PGROOT"
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
      "${AS[@]}" "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PGROOT/initdb.log"
    fi
    if ! "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
      "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGROOT/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGROOT/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null
    fi
    echo "postgresql+psycopg://postgres@127.0.0.1:$PGPORT"
    ;;
  stop)
    if [ -s "$PGDATA/postmaster.pid" ]; then
      "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$PGROOT"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
