#!/usr/bin/env bash
# A private PostgreSQL 15 cluster in a folder of its own, on 127.0.0.1 only,
# superuser "postgres", trust authentication, with a database "studiod".
#
#   scripts/pg.sh start DIR PORT [--fresh] [-c name=value]...
#       init DIR if it holds no cluster (--fresh: delete it and init anew),
#       start it on PORT unless it already runs there, wait until it accepts
#       connections, create database studiod if missing, print its URL.
#       -c sets a server setting (e.g. -c fsync=off).
#   scripts/pg.sh stop DIR      stop it (pg_ctl stop -m fast); no-op if stopped
#   scripts/pg.sh status DIR    exit 0 if it runs
#   scripts/pg.sh url PORT      print postgresql://postgres@127.0.0.1:PORT/studiod
#
# As root the cluster runs as the "postgres" OS user (initdb refuses root):
# DIR is chowned to postgres, and any folder above DIR that postgres cannot
# traverse gets o+x (search only, no listing) when we own it.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a PostgreSQL program as the cluster's owner, from a folder it can read.
pg_run() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

# Let the postgres user reach DIR: add o+x to the folders above it that it
# cannot traverse (only folders we own).
ensure_reachable() {
  local dir=$1 d path=""
  is_root || return 0
  IFS=/ read -r -a parts <<<"${dir#/}"
  for d in "${parts[@]:0:${#parts[@]}-1}"; do
    path="$path/$d"
    if ! runuser -u postgres -- test -x "$path" 2>/dev/null; then
      if [ "$(stat -c %u "$path")" = "$(id -u)" ]; then
        say "chmod o+x $path (so the postgres user can reach $dir)"
        chmod o+x "$path"
      else
        die "the postgres user cannot traverse $path; put the cluster elsewhere"
      fi
    fi
  done
}

running() { [ -f "$1/PG_VERSION" ] && pg_run "$PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1; }

# sql_quote TEXT: TEXT with single quotes doubled, for postgresql.conf values.
sql_quote() { printf '%s' "${1//\'/\'\'}"; }

url() { printf 'postgresql://postgres@127.0.0.1:%s/studiod\n' "$1"; }

stop_cluster() {
  local dir=$1 mode=${2:-fast}
  running "$dir" || return 0
  pg_run "$PG_BIN/pg_ctl" -D "$dir" -m "$mode" -w -t 60 stop >/dev/null
}

start_cluster() {
  [ $# -ge 2 ] || die "usage: pg.sh start DIR PORT [--fresh] [-c name=value]..."
  local dir port fresh=0 extra=() kv sockdir i out
  dir=$(realpath -m "$1")
  port=$2
  shift 2
  while [ $# -gt 0 ]; do
    case $1 in
      --fresh) fresh=1 ;;
      -c) [ $# -ge 2 ] || die "-c needs name=value"; extra+=("$2"); shift ;;
      -c*) extra+=("${1#-c}") ;;
      *) die "unknown option: $1" ;;
    esac
    shift
  done
  [[ $port =~ ^[0-9]+$ ]] || die "bad port: $port"
  [ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 is not installed ($PG_BIN)"

  if [ "$fresh" = 1 ]; then
    stop_cluster "$dir" immediate
    rm -rf "$dir"
  fi

  if running "$dir"; then
    if [ "$(sed -n 4p "$dir/postmaster.pid")" = "$port" ]; then
      say "PostgreSQL already running in $dir on port $port"
      url "$port"
      return 0
    fi
    say "PostgreSQL in $dir runs on another port; restarting it on $port"
    stop_cluster "$dir" fast
  fi

  if [ ! -f "$dir/PG_VERSION" ]; then
    if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
      die "$dir exists but holds no PostgreSQL cluster; move it away"
    fi
    mkdir -p "$dir"
    chmod 700 "$dir"
    if is_root; then chown postgres:postgres "$dir"; fi
    ensure_reachable "$dir"
    say "initdb $dir"
    local sync=()
    [ "$fresh" = 1 ] && sync=(--no-sync)
    if ! out=$(pg_run "$PG_BIN/initdb" -D "$dir" -U postgres -A trust -E UTF8 \
      --locale=C.UTF-8 "${sync[@]}" 2>&1); then
      printf '%s\n' "$out" >&2
      die "initdb failed"
    fi
    printf "\ninclude_if_exists = 'studiod.conf'\n" >>"$dir/postgresql.conf"
  else
    ensure_reachable "$dir"
  fi

  # Unix sockets live in DIR unless its path is too long for one (108 bytes).
  sockdir=$dir
  if [ $((${#dir} + 20)) -gt 107 ]; then sockdir=""; fi
  {
    echo "# written by scripts/pg.sh at each start"
    echo "port = $port"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$(sql_quote "$sockdir")'"
    for kv in "${extra[@]}"; do
      [[ $kv == *=* ]] || die "-c wants name=value, got: $kv"
      echo "${kv%%=*} = '$(sql_quote "${kv#*=}")'"
    done
  } >"$dir/studiod.conf"
  if is_root; then chown postgres:postgres "$dir/studiod.conf"; fi

  if port_open "$port"; then
    die "port $port on 127.0.0.1 is already in use"
  fi
  say "starting PostgreSQL in $dir on port $port (log: $dir/server.log)"
  pg_run "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -W start >/dev/null
  for ((i = 1; ; i++)); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres && break
    if ((i % 10 == 0)) && ! running "$dir"; then
      tail -n 20 "$dir/server.log" >&2 || true
      die "PostgreSQL did not start"
    fi
    if ((i >= 600)); then
      tail -n 20 "$dir/server.log" >&2 || true
      die "PostgreSQL not ready after 60 s"
    fi
    sleep 0.1
  done

  if [ "$("$PG_BIN/psql" -X -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc \
    "select 1 from pg_database where datname = 'studiod'")" != 1 ]; then
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres studiod
  fi
  url "$port"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  start) start_cluster "$@" ;;
  stop) [ $# -eq 1 ] || die "usage: pg.sh stop DIR"; stop_cluster "$(realpath -m "$1")" fast ;;
  status) [ $# -eq 1 ] || die "usage: pg.sh status DIR"; running "$(realpath -m "$1")" ;;
  url) [ $# -eq 1 ] || die "usage: pg.sh url PORT"; url "$1" ;;
  *)
    echo "usage: pg.sh start DIR PORT [--fresh] [-c name=value]... | stop DIR | status DIR | url PORT" >&2
    exit 2
    ;;
esac
