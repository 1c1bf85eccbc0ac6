#!/usr/bin/env bash
# Throw-away PostgreSQL and Redis for the database tests, on loopback ports.
#   db_servers.sh start STATE   initdb into a temporary directory, start both, write STATE/env
#   db_servers.sh stop STATE    stop both and delete their data
# CTest runs start and stop as a fixture around the tests that need them, so they stop also
# when a test fails. PostgreSQL refuses to run as root: as root, the server runs as the
# `postgres` user that Debian's package creates.
set -euo pipefail
cmd=${1:?start or stop}
state=${2:?state directory}
mkdir -p "$state"

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

as_owner() {
  if [[ $(id -u) == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  echo "db_servers: no free port found" >&2
  return 1
}

stop() {
  [[ -f "$state/env" ]] || return 0
  # shellcheck disable=SC1091
  source "$state/env"
  if [[ -n "${O11Y_TEST_PG_DATA:-}" && -d "$O11Y_TEST_PG_DATA" ]]; then
    as_owner "$pg_bin/pg_ctl" -D "$O11Y_TEST_PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [[ -n "${O11Y_TEST_REDIS_PORT:-}" ]]; then
    redis-cli -h 127.0.0.1 -p "$O11Y_TEST_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  fi
  if [[ -n "${O11Y_TEST_DB_ROOT:-}" && -d "$O11Y_TEST_DB_ROOT" ]]; then
    rm -rf "$O11Y_TEST_DB_ROOT"
  fi
  rm -f "$state/env"
}

start() {
  stop
  [[ -n "$pg_bin" ]] || { echo "db_servers: PostgreSQL is not installed (scripts/deps.sh)" >&2; exit 1; }
  command -v redis-server >/dev/null || { echo "db_servers: redis-server is not installed" >&2; exit 1; }
  # Outside the build tree: the postgres user must be able to reach it.
  local root
  root=$(mktemp -d /tmp/o11y-db.XXXXXX)
  chmod 755 "$root"
  [[ $(id -u) == 0 ]] && chown postgres: "$root"
  local pg_port redis_port
  pg_port=$(free_port)
  redis_port=$(free_port)
  while [[ $redis_port == "$pg_port" ]]; do redis_port=$(free_port); done
  cat >"$state/env" <<ENV
O11Y_TEST_DB_ROOT=$root
O11Y_TEST_PG_DATA=$root/pg
O11Y_TEST_PG_PORT=$pg_port
O11Y_TEST_PG_LOG=$root/postgresql.log
O11Y_TEST_PG_URL=postgresql://o11y@127.0.0.1:$pg_port/o11y_test
O11Y_TEST_REDIS_PORT=$redis_port
ENV
  as_owner "$pg_bin/initdb" -D "$root/pg" -U o11y --auth=trust -E UTF8 --no-sync >"$root/initdb.log" 2>&1 ||
    { cat "$root/initdb.log" >&2; exit 1; }
  as_owner "$pg_bin/pg_ctl" -D "$root/pg" -l "$root/postgresql.log" -w -t 60 \
    -o "-p $pg_port -k $root -c listen_addresses=127.0.0.1 -c log_statement=all -c fsync=off -c full_page_writes=off -c synchronous_commit=off" \
    start >/dev/null || { cat "$root/postgresql.log" >&2; exit 1; }
  as_owner "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U o11y o11y_test
  redis-server --bind 127.0.0.1 --port "$redis_port" --daemonize yes --save "" --appendonly no \
    --dir "$root" --logfile "$root/redis.log" --pidfile "$root/redis.pid" >/dev/null
  for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
  redis-cli -h 127.0.0.1 -p "$redis_port" ping | grep -q PONG ||
    { cat "$root/redis.log" >&2; exit 1; }
  echo "db_servers: PostgreSQL on 127.0.0.1:$pg_port, Redis on 127.0.0.1:$redis_port"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop STATE" >&2; exit 2 ;;
esac
