#!/usr/bin/env bash
# bench/run.sh — studiod's benchmarks, side by side in one run, on loopback.
#
#   bench/run.sh
#
# 1. builds build-bench/ (Release: studiod and bare_mhd);
# 2. starts a private PostgreSQL 15 (scripts/pg.sh, fsync=off,
#    max_connections=200) in a temporary folder, migrates, creates the
#    studio "bench" (owner@bench.test / benchbench123), and a pgbench
#    database (pgbench -i -s 10) on the same server;
# 3. starts bare_mhd (bench/bare_mhd.c) and studiod serve (log level warn);
# 4. GET /healthz     wrk -t2 -c64   bare_mhd, then studiod  → ratio (aim ≥ 0.80)
# 5. GET /api/me      wrk -t2 -c32   signed in (cookie + Host)
#    pgbench -S -M extended -c 8 -j 2 on the same PostgreSQL → ratio (aim ≥ 0.50)
# 6. POST /login      wrk -t2 -c8    correct password (argon2id, interactive)
#    then samples studiod with perf (if it works) during /healthz and /api/me,
#    counts PostgreSQL transactions per /api/me, and runs /api/me's own session
#    query under pgbench (-M extended and -M prepared) for comparison;
#    then restarts studiod at the default log level (info) and repeats 4 and 5;
# 7. prints a summary and writes it to bench/results-latest.txt;
# 8. stops everything it started, by PID, on any exit.
#
# Environment:
#   BENCH_DURATION   seconds per measured run (default 10)
#   BENCH_WARMUP     seconds of unmeasured load before each run (default 2)
#   BENCH_THREADS    STUDIOD_THREADS and bare_mhd's pool size (default 8)
#   BENCH_PROFILE    1 = perf-sample studiod after the runs (default 1; skipped
#                    when perf is missing or cannot sample)
#   BENCH_NO_BUILD   1 = use build-bench/ as it is
#   BENCH_KEEP       1 = keep the temporary folder (logs, wrk output, perf data)
#   BENCH_RESULTS    where the summary goes (default bench/results-latest.txt)
#   BENCH_QUIET_WAIT before each run, wait up to this many seconds for other
#                    processes to leave the CPUs >= 85% idle (default 120)
#   BENCH_RETRIES    measure a run again, up to this many times, when other
#                    processes took more than 20% of a core during it (default 2)
#   BENCH_TIMEOUT    seconds after which the whole run stops itself (default 1800)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$STUDIOD_ROOT"

DUR=${BENCH_DURATION:-10}
WARM=${BENCH_WARMUP:-2}
THREADS=${BENCH_THREADS:-8}
PROFILE=${BENCH_PROFILE:-1}
DEADLINE=${BENCH_TIMEOUT:-1800}
QUIET_WAIT=${BENCH_QUIET_WAIT:-120}
RETRIES=${BENCH_RETRIES:-2}
BUILD=$STUDIOD_ROOT/build-bench
RESULTS=${BENCH_RESULTS:-$STUDIOD_ROOT/bench/results-latest.txt}
BARE_PID=""
# shellcheck source=bench/lib.sh
. "$STUDIOD_ROOT/bench/lib.sh"
bench_begin studiod-bench

# pg_xacts: transactions committed or rolled back so far in studiod's
# databases (the master and the studios), from pg_stat_database.
pg_xacts() {
  psql_q postgres "SELECT coalesce(sum(xact_commit + xact_rollback), 0) FROM pg_stat_database
                    WHERE datname = 'studiod' OR datname LIKE 'studio\_%'"
}

# start_studiod LEVEL [SESSION_CACHE_SECONDS]: studiod serve on $SPORT at log LEVEL, with
# the staff session cache as configured by default or set (0: off); log in $WORK.
start_studiod() {
  local level=$1 cache=${2:-}
  env STUDIOD_DATABASE_URL="$DB_URL" STUDIOD_PORT="$SPORT" STUDIOD_LOG_LEVEL="$level" \
    STUDIOD_THREADS="$THREADS" STUDIOD_RUN_JOBS=0 STUDIOD_HOME="$STUDIOD_ROOT" \
    STUDIOD_MASTER_KEY="$MASTER_KEY" SMTP_URL=smtp://127.0.0.1:9 \
    ${cache:+STUDIOD_SESSION_CACHE_SECONDS=$cache} \
    "$BUILD/studiod" serve >>"$WORK/studiod-$level.log" 2>&1 &
  STUDIOD_PID=$!
  wait_healthz "$SPORT" "$STUDIOD_PID" || {
    tail -n 20 "$WORK/studiod-$level.log" >&2
    die "studiod ($level) did not answer /healthz within 30 s"
  }
  say "studiod serve (log level $level) is PID $STUDIOD_PID on port $SPORT"
}

stop_studiod() {
  stop_pid "$STUDIOD_PID" 15
  STUDIOD_PID=""
}

# sign_in: POST /login once with curl; sets COOKIE (studiod_session=...).
sign_in() {
  local status
  status=$(curl -sS --max-time 15 -o "$WORK/login.body" -D "$WORK/login.headers" -w '%{http_code}' \
    -H "Host: $HOST" -H 'Content-Type: application/json' -H 'Accept: application/json' \
    --data "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "http://127.0.0.1:$SPORT/login") ||
    die "POST /login failed"
  [ "$status" = 200 ] || { cat "$WORK/login.body" >&2; die "POST /login answered $status"; }
  COOKIE=$(tr -d '\r' <"$WORK/login.headers" |
    sed -n 's/^[Ss]et-[Cc]ookie: *\(studiod_session=[^;]*\).*/\1/p' | head -n1)
  [ -n "$COOKIE" ] || die "POST /login set no studiod_session cookie"
  status=$(curl -sS --max-time 5 -o "$WORK/me.body" -w '%{http_code}' \
    -H "Host: $HOST" -H "Cookie: $COOKIE" "http://127.0.0.1:$SPORT/api/me") || die "GET /api/me failed"
  [ "$status" = 200 ] || { cat "$WORK/me.body" >&2; die "GET /api/me answered $status"; }
}

# profile NAME CONNS SCRIPT: perf-sample studiod while wrk loads it.
profile() {
  local name=$1 conns=$2 script=$3 wpid
  timeout $((DUR + 30)) wrk -t2 -c"$conns" -d"$((DUR > 6 ? 6 : DUR))s" -s "$script" \
    "http://127.0.0.1:$SPORT" >/dev/null 2>&1 &
  wpid=$!
  sleep 1
  timeout 30 perf record -F 997 -g -p "$STUDIOD_PID" -o "$WORK/perf-$name.data" -- sleep 4 \
    >/dev/null 2>&1 || true
  wait "$wpid" 2>/dev/null || true
  perf report -i "$WORK/perf-$name.data" --stdio -g none --no-children --sort dso,sym 2>/dev/null |
    grep -E '^ +[0-9]' | head -n 25 >"$WORK/perf-$name.txt" || true
  perf report -i "$WORK/perf-$name.data" --stdio -g none --no-children --sort dso 2>/dev/null |
    grep -E '^ +[0-9]' | head -n 10 >"$WORK/perf-$name-dso.txt" || true
}

# ---- 1. build ----

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  say "building $BUILD (Release)"
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$WORK/cmake.log" 2>&1 ||
    { tail -n 30 "$WORK/cmake.log" >&2; die "cmake configure failed"; }
  cmake --build "$BUILD" -j2 --target studiod bare_mhd >>"$WORK/cmake.log" 2>&1 ||
    { tail -n 40 "$WORK/cmake.log" >&2; die "build failed"; }
fi
[ -x "$BUILD/studiod" ] && [ -x "$BUILD/bare_mhd" ] || die "missing $BUILD/studiod or bare_mhd"
# What was built: the commit, and whether the working tree differed from it.
GIT_REV="$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo '+changes')"

# ---- 2. PostgreSQL, studio, pgbench data ----

PGPORT=$(free_port)
DB_URL=$(scripts/pg.sh start "$PGDIR" "$PGPORT" --fresh -c fsync=off -c max_connections=200 \
  2>"$WORK/pg.log") || { cat "$WORK/pg.log" >&2; die "could not start PostgreSQL"; }
PG_STARTED=1
PG_VERSION=$("$PG_BIN/psql" -X -Atq -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres \
  -c 'show server_version')
MASTER_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
export STUDIOD_DATABASE_URL=$DB_URL STUDIOD_HOME=$STUDIOD_ROOT STUDIOD_MASTER_KEY=$MASTER_KEY
EMAIL=owner@bench.test
PASSWORD=benchbench123

say "migrating; creating the studio \"bench\""
"$BUILD/studiod" migrate >"$WORK/migrate.log" 2>&1 || { tail -n 20 "$WORK/migrate.log" >&2; die "migrate failed"; }
"$BUILD/studiod" tenant create --slug bench --name Bench --owner-email "$EMAIL" \
  --owner-name Owner --password "$PASSWORD" >"$WORK/tenant.log" 2>&1 ||
  { tail -n 20 "$WORK/tenant.log" >&2; die "tenant create failed"; }

say "pgbench -i -s 10 into database pgbench"
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres pgbench
timeout 300 "$PGBENCH" -i -s 10 -q -h 127.0.0.1 -p "$PGPORT" -U postgres pgbench \
  >"$WORK/pgbench-init.log" 2>&1 || { tail -n 20 "$WORK/pgbench-init.log" >&2; die "pgbench -i failed"; }

# ---- 3. servers ----

SPORT=$(free_port)
BPORT=$(free_port)
while [ "$BPORT" = "$SPORT" ]; do BPORT=$(free_port); done
HOST=bench.localhost:$SPORT
export BENCH_HOST=$HOST BENCH_EMAIL=$EMAIL BENCH_PASSWORD=$PASSWORD

"$BUILD/bare_mhd" "$BPORT" "$THREADS" >"$WORK/bare_mhd.log" 2>&1 &
BARE_PID=$!
OTHER_PIDS=$BARE_PID
wait_healthz "$BPORT" "$BARE_PID" || { cat "$WORK/bare_mhd.log" >&2; die "bare_mhd did not answer"; }
say "bare_mhd is PID $BARE_PID on port $BPORT"
start_studiod warn

# ---- 4-6. at log level warn ----

bench_wrk healthz_bare "$BARE_PID" 64 bench/healthz.lua "http://127.0.0.1:$BPORT"
bench_wrk healthz_warn "$STUDIOD_PID" 64 bench/healthz.lua "http://127.0.0.1:$SPORT"

sign_in
export BENCH_COOKIE=$COOKIE
bench_wrk me_warn "$STUDIOD_PID" 32 bench/me.lua "http://127.0.0.1:$SPORT"

say "pgbench -S -M extended -c 8 -j 2 -T $DUR"
wait_quiet
measure pgbench "" "$PGBENCH" -S -M extended -c 8 -j 2 -T "$DUR" -h 127.0.0.1 -p "$PGPORT" \
  -U postgres pgbench
PGBENCH_TPS=$(awk '/^tps = / {printf "%.0f", $3; exit}' "$WORK/pgbench.out")
PGBENCH_LAT=$(awk '/^latency average = / {printf "%.2f", $4}' "$WORK/pgbench.out")
RPS[pgbench]=$PGBENCH_TPS
AVG[pgbench]=$PGBENCH_LAT
[ -n "$PGBENCH_TPS" ] || { cat "$WORK/pgbench.out" "$WORK/pgbench.err" >&2; die "no tps from pgbench"; }
say "pgbench: $PGBENCH_TPS tps, average latency $PGBENCH_LAT ms"

bench_wrk login_warn "$STUDIOD_PID" 8 bench/login.lua "http://127.0.0.1:$SPORT"

PERF_OK=0
if [ "$PROFILE" = 1 ] && command -v perf >/dev/null 2>&1 &&
  timeout 10 perf record -o "$WORK/perf-probe.data" -p "$STUDIOD_PID" -- sleep 0.2 >/dev/null 2>&1; then
  say "perf: sampling studiod during /healthz and /api/me"
  profile healthz 64 bench/healthz.lua
  profile me 32 bench/me.lua
  PERF_OK=1
fi

# ---- what one GET /api/me costs PostgreSQL ----

# xacts_per_me NAME: PostgreSQL transactions per GET /api/me over a 5 s run,
# from pg_stat_database before and after (backends flush their counters within
# a second of going idle).
xacts_per_me() {
  local x0 x1 n
  sleep 3
  x0=$(pg_xacts)
  timeout 60 wrk -t2 -c32 -d5s -s bench/me.lua "http://127.0.0.1:$SPORT" >"$WORK/$1.out" 2>&1
  sleep 3
  x1=$(pg_xacts)
  n=$(awk '/requests in/ {print $1}' "$WORK/$1.out")
  awk -v a="$x0" -v b="$x1" -v n="$n" 'BEGIN { if (n > 0) printf "%.2f", (b - a) / n; else print "n/a" }'
}

say "counting PostgreSQL transactions per GET /api/me"
XACTS_PER_ME=$(xacts_per_me me-count)

# The query that GET /api/me runs (auth_load_session, sql_load_session in
# src/modules/auth/auth.c — keep the two alike), run by pgbench against the
# studio's database with this session's token hash: what PostgreSQL alone
# does with it, unnamed statements (-M extended, as PQexecParams sends them)
# and prepared ones (-M prepared).
TENANT_DB=$(psql_q studiod "SELECT db_name FROM organizations WHERE slug = 'bench'")
TOKEN_HASH=$(printf '%s' "${COOKIE#studiod_session=}" | sha256sum | cut -d' ' -f1)
cat >"$WORK/session.sql" <<'SQL'
SELECT s.id, s.user_id, s.csrf_token, u.name, u.email,
       s.last_seen_at < now() - interval '60 seconds' AS stale,
       coalesce((SELECT json_agg(r.name ORDER BY r.name) FROM user_roles ur
                   JOIN roles r ON r.id = ur.role_id
                  WHERE ur.user_id = u.id
                    AND (ur.expires_at IS NULL OR ur.expires_at > now())), '[]') AS roles,
       extract(epoch FROM least(s.expires_at,
         (SELECT min(ur.expires_at) FROM user_roles ur
           WHERE ur.user_id = u.id AND ur.expires_at > now()))) AS valid_until
  FROM sessions s JOIN users u ON u.id = s.user_id
 WHERE s.token_hash = :hash AND u.active AND s.expires_at > now()
   AND s.last_seen_at > now() - make_interval(mins => :idle);
SQL
SESSION_ROWS=$(psql_q "$TENANT_DB" "SELECT count(*) FROM sessions WHERE token_hash = '$TOKEN_HASH'")
[ "$SESSION_ROWS" = 1 ] || die "the session's token hash is not in $TENANT_DB.sessions"
# Where PostgreSQL's time goes for that query: planning vs execution, from
# EXPLAIN ANALYZE (the fifth in one session, so the caches are warm).
EXPLAIN_SQL="EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) $(sed -e "s/:hash/'$TOKEN_HASH'/" \
  -e 's/:idle/720/' -e 's/;$//' "$WORK/session.sql")"
psql_q "$TENANT_DB" "$EXPLAIN_SQL; $EXPLAIN_SQL; $EXPLAIN_SQL; $EXPLAIN_SQL; $EXPLAIN_SQL" \
  >"$WORK/session-explain.txt"
PLAN_MS=$(awk '/^Planning Time:/ {v = $3} END {print v}' "$WORK/session-explain.txt")
EXEC_MS=$(awk '/^Execution Time:/ {v = $3} END {print v}' "$WORK/session-explain.txt")
for mode in extended prepared; do
  say "pgbench -M $mode with /api/me's session query"
  wait_quiet
  measure "pgsession_$mode" "" "$PGBENCH" -n -f "$WORK/session.sql" -D hash="$TOKEN_HASH" -D idle=720 \
    -M "$mode" -c 8 -j 2 -T "$DUR" -h 127.0.0.1 -p "$PGPORT" -U postgres "$TENANT_DB"
  RPS[pgsession_$mode]=$(awk '/^tps = / {printf "%.0f", $3; exit}' "$WORK/pgsession_$mode.out")
  AVG[pgsession_$mode]=$(awk '/^latency average = / {printf "%.2f", $4}' "$WORK/pgsession_$mode.out")
  FAILED=$(awk '/^number of failed transactions:/ {print $5}' "$WORK/pgsession_$mode.out")
  [ -n "${RPS[pgsession_$mode]}" ] && [ "${FAILED:-0}" = 0 ] ||
    { cat "$WORK/pgsession_$mode.out" "$WORK/pgsession_$mode.err" >&2; die "pgbench -M $mode with the session query failed"; }
done

# ---- /api/me without the session cache: every request asks PostgreSQL ----

stop_studiod
start_studiod warn 0
sign_in
export BENCH_COOKIE=$COOKIE
bench_wrk me_nocache "$STUDIOD_PID" 32 bench/me.lua "http://127.0.0.1:$SPORT"
say "counting PostgreSQL transactions per GET /api/me without the cache"
XACTS_PER_ME_NOCACHE=$(xacts_per_me me-count-nocache)

# ---- 4-5 again at the default log level, info ----

stop_studiod
start_studiod info
bench_wrk healthz_info "$STUDIOD_PID" 64 bench/healthz.lua "http://127.0.0.1:$SPORT"
sign_in
export BENCH_COOKIE=$COOKIE
bench_wrk me_info "$STUDIOD_PID" 32 bench/me.lua "http://127.0.0.1:$SPORT"
if [ "$PERF_OK" = 1 ]; then
  say "perf: sampling studiod (info) during /healthz"
  profile healthz-info 64 bench/healthz.lua
fi
INFO_LOG_BYTES=$(stat -c %s "$WORK/studiod-info.log")
INFO_LOG_LINES=$(wc -l <"$WORK/studiod-info.log")
stop_studiod

# ---- 7. summary ----

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v r="$1" -v aim="$2" 'BEGIN { print (r + 0 >= aim) ? "met" : "MISSED" }'; }

R_H_WARN=$(ratio "${RPS[healthz_warn]}" "${RPS[healthz_bare]}")
R_H_INFO=$(ratio "${RPS[healthz_info]}" "${RPS[healthz_bare]}")
R_M_WARN=$(ratio "${RPS[me_warn]}" "$PGBENCH_TPS")
R_M_INFO=$(ratio "${RPS[me_info]}" "$PGBENCH_TPS")
R_M_NOCACHE=$(ratio "${RPS[me_nocache]}" "$PGBENCH_TPS")

# row NAME LABEL CONNS: one line of the table.
row() {
  local name=$1 label=$2 conns=$3 srv=${CPU_SERVER[$1]}%
  [ "$srv" = 0% ] && [[ $name == pg* ]] && srv=-
  printf '%-30s %5s %8s %7s %7s %8s %6s %6s  %6s %6s %6s %6s %6s\n' "$label" "$conns" \
    "${RPS[$name]}" "${AVG[$name]}" "${P50[$name]:--}" "${P99[$name]:--}" "${BAD[$name]:--}" "${BYTES[$name]:--}" \
    "${CPU_CLIENT[$name]}%" "$srv" "${CPU_PG[$name]}%" "${CPU_OTHER[$name]}%" "${CPU_IDLE[$name]}%"
}

{
  echo "studiod benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(uname -n), $NCPU CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r); load average at start: $LOAD_AT_START"
  echo "software: libmicrohttpd $(pkg-config --modversion libmicrohttpd), PostgreSQL $PG_VERSION (fsync=off), $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}'), commit $GIT_REV (at build time)"
  echo "all on 127.0.0.1; wrk -t2 --latency, ${DUR}s per run after ${WARM}s warm-up; $THREADS MHD threads in both servers"
  echo
  echo "CPU columns: share of one core during the run (the machine has $((NCPU * 100))%): the load generator"
  echo "(wrk or pgbench), the server under test, PostgreSQL, other processes on the machine, idle."
  printf '%-30s %5s %8s %7s %7s %8s %6s %6s  %6s %6s %6s %6s %6s\n' "run" "conns" "req/s" "avg ms" "p50 ms" \
    "p99 ms" "errors" "B/resp" "client" "server" "pg" "other" "idle"
  row healthz_bare "GET /healthz  bare_mhd" 64
  row healthz_warn "GET /healthz  studiod warn" 64
  row healthz_info "GET /healthz  studiod info" 64
  row me_warn "GET /api/me   studiod warn" 32
  row me_info "GET /api/me   studiod info" 32
  row me_nocache "GET /api/me   warn, no cache" 32
  row login_warn "POST /login   studiod warn" 8
  row pgbench "pgbench -S -M extended (tps)" 8
  row pgsession_extended "pgbench me-query -M extended" 8
  row pgsession_prepared "pgbench me-query -M prepared" 8
  echo
  echo "ratios:"
  echo "  /healthz studiod/bare_mhd   warn $R_H_WARN  info $R_H_INFO   (aim >= 0.80: warn $(verdict "$R_H_WARN" 0.80), info $(verdict "$R_H_INFO" 0.80))"
  echo "  /api/me rps / pgbench tps   warn $R_M_WARN  info $R_M_INFO   (aim >= 0.50: warn $(verdict "$R_M_WARN" 0.50), info $(verdict "$R_M_INFO" 0.50))"
  echo "  /api/me without the session cache (STUDIOD_SESSION_CACHE_SECONDS=0), warn: $R_M_NOCACHE"
  echo "  /api/me rps / pgbench running /api/me's own query: -M extended $(ratio "${RPS[me_warn]}" "${RPS[pgsession_extended]}"), -M prepared $(ratio "${RPS[me_warn]}" "${RPS[pgsession_prepared]}") (warn)"
  echo
  echo "PostgreSQL transactions per GET /api/me: $XACTS_PER_ME with the session cache, $XACTS_PER_ME_NOCACHE without (pg_stat_database over 5 s runs)."
  echo "/api/me's session query, EXPLAIN ANALYZE (warm): planning $PLAN_MS ms, execution $EXEC_MS ms."
  echo
  echo "errors = non-2xx/3xx answers + socket errors reported by wrk; B/resp = bytes read per response."
  echo "POST /login: correct password each time (argon2id, libsodium interactive limits); throttling"
  echo "  counts failed sign-ins only, so none of these is throttled (errors column: ${BAD[login_warn]})."
  busy=""
  for n in healthz_bare healthz_warn healthz_info me_warn me_info me_nocache login_warn pgbench \
    pgsession_extended pgsession_prepared; do
    [ "${CPU_OTHER[$n]}" -gt 20 ] && busy="$busy $n (${CPU_OTHER[$n]}%)"
  done
  if [ -n "$busy" ]; then
    echo "WARNING: other processes took CPU during:$busy — those figures are low; rerun on a quiet machine."
  fi
  echo "info level wrote $INFO_LOG_LINES log lines ($INFO_LOG_BYTES bytes) to a file during its runs."
  if [ "$PERF_OK" = 1 ]; then
    echo
    echo "perf, studiod at warn, GET /healthz — by library:"
    sed 's/^/  /' "$WORK/perf-healthz-dso.txt"
    echo "perf, studiod at warn, GET /healthz — top symbols:"
    head -n 15 "$WORK/perf-healthz.txt" | sed 's/^/  /'
    echo "perf, studiod at info, GET /healthz — by library:"
    sed 's/^/  /' "$WORK/perf-healthz-info-dso.txt"
    echo "perf, studiod at info, GET /healthz — top symbols:"
    head -n 15 "$WORK/perf-healthz-info.txt" | sed 's/^/  /'
    echo "perf, studiod at warn, GET /api/me — by library:"
    sed 's/^/  /' "$WORK/perf-me-dso.txt"
    echo "perf, studiod at warn, GET /api/me — top symbols:"
    head -n 15 "$WORK/perf-me.txt" | sed 's/^/  /'
  fi
} >"$RESULTS"

echo
cat "$RESULTS"
say "written to $RESULTS"
