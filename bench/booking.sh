#!/usr/bin/env bash
# bench/booking.sh — the public booking paths of studiod, with pgbench running
# the same INSERT next to them, on loopback.
#
#   bench/booking.sh
#
# 1. builds build-bench/ (Release, target studiod);
# 2. starts a private PostgreSQL 15 (scripts/pg.sh, fsync=off,
#    max_connections=200, pg_stat_statements loaded but not tracking) in a
#    temporary folder, migrates, creates the studio "benchbook" (time zone UTC,
#    EUR) and sets it up by SQL in studio_benchbook: open 00:00-24:00 every
#    day, no notice, 730 days ahead, 30-minute grid, 60-minute minimum, no
#    deposit, auto-confirm; 20 rooms (ids 00000000-0000-4000-8000-0000000000NN,
#    NN = 01..20); 10,000 customers; 10,000 confirmed 1-hour bookings, 500 per
#    room, one every 33 hours from tomorrow on (the last ~687 days ahead);
# 3. starts studiod serve (log level warn, jobs off) on a free port;
# 4. GET  /api/public/availability  room 01, one week from tomorrow
#         wrk -t2 -c50 --latency                     (aim: p99 < 20 ms)
#         and, for comparison, wrk -t2 -c8
# 5. POST /api/public/booking       random 1-hour slots on rooms 02..20
#         wrk -t2 -c50 --latency, bench/book.lua counts 201s and 409s
#    pgbench -n -M prepared -c 50 -j 2 -f bench/booking_insert.sql, then the
#    same with -M simple, against studio_benchbook
#         ratio: studiod 201/s / pgbench tps         (aim: >= 0.50)
#    pgbench -n -M prepared with bench/booking_audit.sql: the same INSERT with
#    the hash-chained audit entry every booking must write, in one statement
#    (the least a booking stores; for comparison)
#    Each of these write runs starts from the same 10,000 bookings: what the
#    previous run booked (source 'public') and its new customers are deleted
#    first (then VACUUM ANALYZE), or the calendar would fill up run by run.
# 6. counts what PostgreSQL runs per request (pg_stat_statements, tracking
#    on for a short extra run of each path);
# 7. prints a summary (and writes it to BENCH_RESULTS if set);
# 8. stops everything it started, by PID, on any exit.
#
# Environment:
#   BENCH_DURATION   seconds per measured run (default 15)
#   BENCH_WARMUP     seconds of unmeasured load before each wrk run (default 2)
#   BENCH_CONNS      wrk connections and pgbench clients (default 50)
#   BENCH_THREADS    STUDIOD_THREADS (default 8)
#   BENCH_COUNT_DURATION  seconds of each pg_stat_statements run (default 5)
#   BENCH_NO_BUILD   1 = use build-bench/ as it is
#   BENCH_KEEP       1 = keep the temporary folder (logs, raw output)
#   BENCH_RESULTS    also write the summary to this file (default: none)
#   BENCH_QUIET_WAIT before each run, wait up to this many seconds for other
#                    processes to leave the CPUs >= 85% idle (default 300)
#   BENCH_RETRIES    measure a run again, up to this many times, when other
#                    processes took more than 20% of a core during it (default 2)
#   BENCH_TIMEOUT    seconds after which the whole run stops itself (default 2400)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$STUDIOD_ROOT"

DUR=${BENCH_DURATION:-15}
WARM=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNS:-50}
THREADS=${BENCH_THREADS:-8}
COUNT_DUR=${BENCH_COUNT_DURATION:-5}
DEADLINE=${BENCH_TIMEOUT:-2400}
QUIET_WAIT=${BENCH_QUIET_WAIT:-300}
RETRIES=${BENCH_RETRIES:-2}
BUILD=$STUDIOD_ROOT/build-bench
RESULTS=${BENCH_RESULTS:-}
SLUG=benchbook
# shellcheck source=bench/lib.sh
. "$STUDIOD_ROOT/bench/lib.sh"
bench_begin studiod-bench-booking

# bench_wrk_studiod NAME SCRIPT [CONNS]: bench_wrk on studiod (CONNS connections,
# default $CONNS).
bench_wrk_studiod() {
  bench_wrk "$1" "$STUDIOD_PID" "${3:-$CONNS}" "$2" "http://127.0.0.1:$SPORT"
}

# reset_bookings: back to the seed (10,000 staff bookings, customers c1..c10000),
# so that every write run meets the same calendar.
# (A request still in flight when wrk stopped may commit a booking after the
# first DELETE: its customer stays.)
reset_bookings() {
  sleep 1
  psql_q "$TENANT_DB" "DELETE FROM bookings WHERE source = 'public'" >/dev/null
  # booking_audit.sql's entries, and the chain's head back to the last entry left
  psql_q "$TENANT_DB" "DELETE FROM audit_log WHERE user_agent = 'pgbench'" >/dev/null
  psql_q "$TENANT_DB" "UPDATE audit_chain SET (head_id, head_hash) =
                         (SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1)
                        WHERE EXISTS (SELECT 1 FROM audit_log)" >/dev/null
  psql_q "$TENANT_DB" "DELETE FROM customers c WHERE id::text NOT LIKE '00000000-0000-4000-9000-%'
                         AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.customer_id = c.id)" >/dev/null
  psql_q "$TENANT_DB" "VACUUM ANALYZE bookings" >/dev/null
  psql_q "$TENANT_DB" "VACUUM ANALYZE customers" >/dev/null
}

# ---- 1. build ----

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  say "building $BUILD (Release)"
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$WORK/cmake.log" 2>&1 ||
    { tail -n 30 "$WORK/cmake.log" >&2; die "cmake configure failed"; }
  cmake --build "$BUILD" -j2 --target studiod >>"$WORK/cmake.log" 2>&1 ||
    { tail -n 40 "$WORK/cmake.log" >&2; die "build failed"; }
fi
[ -x "$BUILD/studiod" ] || die "missing $BUILD/studiod"
# What was built: the commit, and whether the server's sources differed from it.
GIT_REV="$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src include migrations templates CMakeLists.txt 2>/dev/null || echo '+uncommitted changes in src/')"

# ---- 2. PostgreSQL and the studio ----

PGPORT=$(free_port)
DB_URL=$(scripts/pg.sh start "$PGDIR" "$PGPORT" --fresh -c fsync=off -c max_connections=200 \
  -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=none \
  2>"$WORK/pg.log") || { cat "$WORK/pg.log" >&2; die "could not start PostgreSQL"; }
PG_STARTED=1
PG_VERSION=$(psql_q postgres 'show server_version')
MASTER_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
export STUDIOD_DATABASE_URL=$DB_URL STUDIOD_HOME=$STUDIOD_ROOT STUDIOD_MASTER_KEY=$MASTER_KEY

say "migrating; creating the studio \"$SLUG\""
"$BUILD/studiod" migrate >"$WORK/migrate.log" 2>&1 || { tail -n 20 "$WORK/migrate.log" >&2; die "migrate failed"; }
"$BUILD/studiod" tenant create --slug "$SLUG" --name "Bench Booking" --owner-email "owner@$SLUG.test" \
  --owner-name Owner --password benchbench123 --timezone UTC --currency EUR >"$WORK/tenant.log" 2>&1 ||
  { tail -n 20 "$WORK/tenant.log" >&2; die "tenant create failed"; }
TENANT_DB=$(psql_q studiod "SELECT db_name FROM organizations WHERE slug = '$SLUG'")
[ -n "$TENANT_DB" ] || die "no database for studio $SLUG"
# The unlimited plan: the trial plan caps bookings a month, rooms and staff, and an
# unlimited plan costs the booking path no count query (src/modules/billing).
psql_q studiod "UPDATE organizations SET plan_id = 'studio_plus' WHERE slug = '$SLUG'" >/dev/null

say "setting up $TENANT_DB: policy, 20 rooms, 10,000 customers, 10,000 bookings"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$TENANT_DB" \
  >"$WORK/setup.log" 2>&1 <<'SQL' || { cat "$WORK/setup.log" >&2; die "studio setup failed"; }
BEGIN;
-- Plenty of random slots: open all day every day, book up to 730 days ahead,
-- no notice, 30-minute grid, 1 hour minimum, no deposit, confirmed at once.
UPDATE studio_settings
   SET slot_step_minutes = 30, min_duration_minutes = 60, max_duration_minutes = 720,
       min_notice_minutes = 0, max_days_ahead = 730, buffer_minutes = 0,
       deposit_type = 'none', deposit_value = 0, auto_confirm = true, updated_at = now();
DELETE FROM opening_hours;
INSERT INTO opening_hours (weekday, opens, closes)
SELECT d, '00:00', '24:00' FROM generate_series(1, 7) d;

INSERT INTO rooms (id, name, hourly_rate)
SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid,
       'Room ' || lpad(n::text, 2, '0'), 4000 + 100 * n
  FROM generate_series(1, 20) n;

INSERT INTO customers (id, name, email)
SELECT ('00000000-0000-4000-9000-' || lpad(n::text, 12, '0'))::uuid,
       'Customer ' || n, 'c' || n || '@bench.test'
  FROM generate_series(1, 10000) n;

-- Room r, booking k (0..499): one hour at tomorrow 00:00 UTC + (33 k + r) hours,
-- so each room has one every 33 hours, never overlapping, until ~687 days ahead.
INSERT INTO bookings (ref, room_id, customer_id, starts_at, ends_at, hold, status, source,
                      price_amount, currency, manage_token_hash, confirmed_at)
SELECT 'S' || lpad(((r - 1) * 500 + k)::text, 9, '0'),
       ('00000000-0000-4000-8000-' || lpad(r::text, 12, '0'))::uuid,
       ('00000000-0000-4000-9000-' || lpad(((r - 1) * 500 + k + 1)::text, 12, '0'))::uuid,
       t.s, t.s + interval '1 hour', tstzrange(t.s, t.s + interval '1 hour'),
       'confirmed', 'staff', 4000 + 100 * r, 'EUR', md5(r || ':' || k), now()
  FROM generate_series(1, 20) r, generate_series(0, 499) k,
       LATERAL (SELECT date_trunc('day', now(), 'UTC') + interval '1 day'
                       + make_interval(hours => 33 * k + r) AS s) t;
COMMIT;
ANALYZE;
SQL
N_BOOKINGS=$(psql_q "$TENANT_DB" "SELECT count(*) FROM bookings WHERE status = 'confirmed'")
[ "$N_BOOKINGS" = 10000 ] || die "expected 10000 bookings, found $N_BOOKINGS"

# The week asked for: room 01, from tomorrow (UTC) for 7 days.
ROOM1=00000000-0000-4000-8000-000000000001
BASE_EPOCH=$(psql_q postgres "SELECT extract(epoch FROM date_trunc('day', now(), 'UTC'))::bigint")
FROM_DAY=$(date -u -d "@$((BASE_EPOCH + 86400))" +%F)
TO_DAY=$(date -u -d "@$((BASE_EPOCH + 8 * 86400))" +%F)
ROOM1_WEEK=$(psql_q "$TENANT_DB" "SELECT count(*) FROM bookings WHERE room_id = '$ROOM1'
  AND starts_at >= '$FROM_DAY' AND starts_at < '$TO_DAY'")
ROOM1_ALL=$(psql_q "$TENANT_DB" "SELECT count(*) FROM bookings WHERE room_id = '$ROOM1'")
OTHER_ROOMS=$(psql_q "$TENANT_DB" "SELECT string_agg(id::text, ',' ORDER BY name) FROM rooms WHERE id <> '$ROOM1'")

# ---- 3. studiod ----

SPORT=$(free_port)
HOST=$SLUG.localhost:$SPORT
env STUDIOD_DATABASE_URL="$DB_URL" STUDIOD_PORT="$SPORT" STUDIOD_LOG_LEVEL=warn \
  STUDIOD_THREADS="$THREADS" STUDIOD_RUN_JOBS=0 STUDIOD_HOME="$STUDIOD_ROOT" \
  STUDIOD_MASTER_KEY="$MASTER_KEY" SMTP_URL=smtp://127.0.0.1:9 \
  "$BUILD/studiod" serve >>"$WORK/studiod.log" 2>&1 &
STUDIOD_PID=$!
wait_healthz "$SPORT" "$STUDIOD_PID" || {
  tail -n 20 "$WORK/studiod.log" >&2
  die "studiod did not answer /healthz within 30 s"
}
say "studiod serve is PID $STUDIOD_PID on port $SPORT"

AVAIL_PATH="/api/public/availability?room_id=$ROOM1&from=$FROM_DAY&to=$TO_DAY"
export BENCH_HOST=$HOST BENCH_PATH=$AVAIL_PATH BENCH_ROOMS=$OTHER_ROOMS BENCH_BASE_EPOCH=$BASE_EPOCH \
  BENCH_DAYS=700 BENCH_CUSTOMERS=100000

# One of each by hand first: the answers must be what the runs expect.
status=$(curl -sS --max-time 10 -o "$WORK/avail.json" -w '%{http_code}' -H "Host: $HOST" \
  "http://127.0.0.1:$SPORT$AVAIL_PATH") || die "GET availability failed"
[ "$status" = 200 ] || { cat "$WORK/avail.json" >&2; die "GET availability answered $status"; }
AVAIL_SLOTS=$(grep -o '"starts_at"' "$WORK/avail.json" | wc -l)
AVAIL_BYTES=$(stat -c %s "$WORK/avail.json")
say "availability: $AVAIL_SLOTS free 30-minute slots in the week ($AVAIL_BYTES bytes of JSON)"
probe_start=$(date -u -d "@$((BASE_EPOCH + 701 * 86400 + 12 * 3600))" +%FT%TZ)
probe_end=$(date -u -d "@$((BASE_EPOCH + 701 * 86400 + 13 * 3600))" +%FT%TZ)
status=$(curl -sS --max-time 10 -o "$WORK/book.json" -w '%{http_code}' -H "Host: $HOST" \
  -H 'Content-Type: application/json' \
  --data "{\"room_id\":\"${OTHER_ROOMS%%,*}\",\"starts_at\":\"$probe_start\",\"ends_at\":\"$probe_end\",\"customer\":{\"name\":\"Probe\",\"email\":\"probe@bench.test\"}}" \
  "http://127.0.0.1:$SPORT/api/public/booking") || die "POST booking failed"
[ "$status" = 201 ] || { cat "$WORK/book.json" >&2; die "POST booking answered $status"; }

# ---- 4. availability ----

bench_wrk_studiod availability bench/availability.lua
bench_wrk_studiod availability_c8 bench/availability.lua 8

# ---- 5. booking creation, and pgbench with the same INSERT ----

PRE_RUN="reset_bookings; BOOKINGS_BEFORE=\$(psql_q \"\$TENANT_DB\" 'SELECT count(*) FROM bookings')"
bench_wrk_studiod booking bench/book.lua
PRE_RUN=""
N201=$(awk '/^status 201:/ {print $3}' "$WORK/booking.out")
N409=$(awk '/^status 409:/ {print $3}' "$WORK/booking.out")
NOTHER=$(awk '/^status other:/ {print $3}' "$WORK/booking.out")
CREATED_S=$(awk '/^created\/s:/ {printf "%.0f", $2}' "$WORK/booking.out")
CONFLICT_S=$(awk '/^conflicts\/s:/ {printf "%.0f", $2}' "$WORK/booking.out")
[ -n "$N201" ] || { cat "$WORK/booking.out" >&2; die "book.lua printed no counts"; }
if [ "$NOTHER" != 0 ]; then
  say "booking: $NOTHER answers neither 201 nor 409:"
  grep '^other sample:' "$WORK/booking.out" >&2 || true
fi
BOOKINGS_AFTER=$(psql_q "$TENANT_DB" "SELECT count(*) FROM bookings")
say "booking: $N201 created ($CREATED_S/s), $N409 slot_taken, $NOTHER other"

# pgbench_run NAME MODE [SCRIPT]: SCRIPT (default bench/booking_insert.sql) under
# pgbench -M MODE.
declare -A PG_INS_S PG_FAILED PG_TAKEN
pgbench_run() {
  local name=$1 mode=$2 script=${3:-bench/booking_insert.sql} before after xacts
  say "$name: pgbench -n -M $mode -c $CONNS -j 2 -T $DUR -f $script"
  wait_quiet
  # A short unmeasured run first, as wrk gets its warm-up.
  [ "$WARM" -gt 0 ] && timeout $((WARM + 30)) "$PGBENCH" -n -M "$mode" -c "$CONNS" -j 2 -T "$WARM" \
    -f "$script" -h 127.0.0.1 -p "$PGPORT" -U postgres "$TENANT_DB" >/dev/null 2>&1 || true
  PRE_RUN="reset_bookings; before=\$(psql_q \"\$TENANT_DB\" \"SELECT count(*) FROM bookings WHERE notes = 'pgbench'\")"
  measure "$name" "" "$PGBENCH" -n -M "$mode" -c "$CONNS" -j 2 -T "$DUR" -f "$script" \
    -h 127.0.0.1 -p "$PGPORT" -U postgres "$TENANT_DB"
  PRE_RUN=""
  after=$(psql_q "$TENANT_DB" "SELECT count(*) FROM bookings WHERE notes = 'pgbench'")
  RPS[$name]=$(awk '/^tps = / {printf "%.0f", $3; exit}' "$WORK/$name.out")
  AVG[$name]=$(awk '/^latency average = / {printf "%.2f", $4}' "$WORK/$name.out")
  PG_FAILED[$name]=$(awk '/^number of failed transactions:/ {print $5}' "$WORK/$name.out")
  PG_INS_S[$name]=$(awk -v n="$((after - before))" -v d="$DUR" 'BEGIN { printf "%.0f", n / d }')
  # Transactions whose slot was taken (ON CONFLICT DO NOTHING inserted nothing).
  xacts=$(awk '/^number of transactions actually processed:/ {print $6}' "$WORK/$name.out")
  PG_TAKEN[$name]=$(awk -v x="${xacts:-0}" -v n="$((after - before))" 'BEGIN { if (x > 0) printf "%.0f", 100 * (x - n) / x; else print "?" }')
  [ -n "${RPS[$name]}" ] || { cat "$WORK/$name.out" "$WORK/$name.err" >&2; die "no tps from pgbench"; }
  grep -q 'aborted' "$WORK/$name.err" && say "$name: pgbench clients aborted: $(grep -c aborted "$WORK/$name.err")"
  say "$name: ${RPS[$name]} tps, ${PG_INS_S[$name]} rows inserted/s, average latency ${AVG[$name]} ms"
}
pgbench_run pgbench_prepared prepared
pgbench_run pgbench_simple simple
pgbench_run pgbench_audit prepared bench/booking_audit.sql
N_AUDITED=$(psql_q "$TENANT_DB" "SELECT count(*) FROM audit_log WHERE user_agent = 'pgbench'")
N_AUDIT_BOOKED=$(psql_q "$TENANT_DB" "SELECT count(*) FROM bookings WHERE notes = 'pgbench'")
[ "$N_AUDITED" = "$N_AUDIT_BOOKED" ] ||
  die "booking_audit.sql: $N_AUDIT_BOOKED bookings but $N_AUDITED audit entries"

# ---- 6. what PostgreSQL runs per request ----

# pg_stat_statements tracks nothing during the measured runs (track = none);
# here it tracks top-level statements during a short extra run of each path.
psql_q postgres "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
psql_q postgres "ALTER SYSTEM SET pg_stat_statements.track = 'top'" >/dev/null
psql_q postgres "SELECT pg_reload_conf()" >/dev/null
sleep 1

# count_run NAME SCRIPT: wrk for COUNT_DUR seconds with tracking on; the
# statements per request into $WORK/NAME-statements.txt.
count_run() {
  local name=$1 script=$2 reqs
  say "counting statements per request: $name"
  psql_q postgres "SELECT pg_stat_statements_reset()" >/dev/null
  timeout $((COUNT_DUR + 30)) wrk -t2 -c"$CONNS" -d"${COUNT_DUR}s" -s "$script" \
    "http://127.0.0.1:$SPORT" >"$WORK/$name-count.out" 2>&1
  reqs=$(awk '/requests in/ {print $1}' "$WORK/$name-count.out")
  psql_q postgres "SELECT round(sum(s.calls)::numeric / $reqs, 2), round(sum(s.total_exec_time)::numeric * 1000 / $reqs, 0)
                     FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                    WHERE d.datname IN ('studiod', '$TENANT_DB')" >"$WORK/$name-total.txt"
  psql_q postgres "SELECT CASE WHEN d.datname = 'studiod' THEN 'master' ELSE 'studio' END,
                          to_char(s.calls::numeric / $reqs, 'FM990.00'),
                          to_char(s.mean_exec_time * 1000, 'FM99990'),
                          left(regexp_replace(s.query, '\\s+', ' ', 'g'), 78)
                     FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                    WHERE d.datname IN ('studiod', '$TENANT_DB') AND s.calls >= $reqs / 50
                    ORDER BY d.datname DESC, s.calls DESC, s.total_exec_time DESC" \
    | awk -F'|' '{ printf "  %-6s %6s %7s  %s\n", $1, $2, $3, $4 }' >"$WORK/$name-statements.txt"
  echo "$reqs" >"$WORK/$name-reqs.txt"
}
count_run availability bench/availability.lua
reset_bookings
count_run booking bench/book.lua
C_B201=$(awk '/^status 201:/ {print $3}' "$WORK/booking-count.out")
C_B409=$(awk '/^status 409:/ {print $3}' "$WORK/booking-count.out")
psql_q postgres "ALTER SYSTEM RESET pg_stat_statements.track" >/dev/null
psql_q postgres "SELECT pg_reload_conf()" >/dev/null

stop_pid "$STUDIOD_PID" 15
STUDIOD_PID=""

# ---- 7. summary ----

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# us_per CPU_PCT RATE: microseconds of CPU per unit at RATE per second.
us_per() { awk -v c="$1" -v r="$2" 'BEGIN { if (r > 0) printf "%.0f", c / 100 * 1e6 / r; else print "-" }'; }

R_PREP=$(ratio "$CREATED_S" "${RPS[pgbench_prepared]}")
R_SIMPLE=$(ratio "$CREATED_S" "${RPS[pgbench_simple]}")
R_AUDIT=$(ratio "$CREATED_S" "${RPS[pgbench_audit]}")
R_AUDIT_INS=$(ratio "$CREATED_S" "${PG_INS_S[pgbench_audit]}")
R_FLOOR=$(ratio "${RPS[pgbench_audit]}" "${RPS[pgbench_prepared]}")
R_PREP_INS=$(ratio "$CREATED_S" "${PG_INS_S[pgbench_prepared]}")
R_SIMPLE_INS=$(ratio "$CREATED_S" "${PG_INS_S[pgbench_simple]}")
P99_AV=${P99[availability]}
AIM_AV=$(awk -v p="$P99_AV" 'BEGIN { print (p + 0 < 20) ? "met" : "MISSED" }')
AIM_BK=$(awk -v r="$R_PREP" 'BEGIN { print (r + 0 >= 0.5) ? "met" : "MISSED" }')
AIM_BK_S=$(awk -v r="$R_SIMPLE" 'BEGIN { print (r + 0 >= 0.5) ? "met" : "MISSED" }')

row() {
  local name=$1 label=$2 rate=$3 srv=${CPU_SERVER[$1]}%
  [[ $name == pg* ]] && srv=-
  printf '%-34s %6s %7s %7s %7s %8s  %6s %6s %6s %6s %6s %5s\n' "$label" "${NCONN[$name]:-$CONNS}" "$rate" \
    "${AVG[$name]}" "${P50[$name]:--}" "${P99[$name]:--}" \
    "${CPU_CLIENT[$name]}%" "$srv" "${CPU_PG[$name]}%" "${CPU_OTHER[$name]}%" "${CPU_IDLE[$name]}%" "${TRIES[$name]}"
}

{
  echo "studiod booking benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(uname -n), $NCPU CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r); load average at start: $LOAD_AT_START"
  echo "software: libmicrohttpd $(pkg-config --modversion libmicrohttpd), PostgreSQL $PG_VERSION (fsync=off), $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}'), commit $GIT_REV (at build time)"
  echo "all on 127.0.0.1; ${DUR}s per run (wrk after ${WARM}s warm-up); studiod: $THREADS threads, log warn, jobs off"
  echo "studio $SLUG (UTC): 20 rooms, $N_BOOKINGS bookings before the runs (room 01: $ROOM1_ALL, $ROOM1_WEEK in the week"
  echo "  asked for); availability of room 01 $FROM_DAY..$TO_DAY: $AVAIL_SLOTS free 30-minute slots, $AVAIL_BYTES bytes"
  echo
  echo "CPU columns: share of one core during the run (the machine has $((NCPU * 100))%): the load generator"
  echo "(wrk or pgbench), studiod, PostgreSQL, other processes, idle. tries: runs made until one was clean."
  printf '%-34s %6s %7s %7s %7s %8s  %6s %6s %6s %6s %6s %5s\n' run conns "rate/s" "avg ms" "p50 ms" \
    "p99 ms" client server pg other idle tries
  row availability "GET availability (req/s)" "${RPS[availability]}"
  row availability_c8 "GET availability (req/s)" "${RPS[availability_c8]}"
  row booking "POST booking, all answers (req/s)" "${RPS[booking]}"
  printf '%-34s %6s %7s\n' "POST booking, 201 created (/s)" "$CONNS" "$CREATED_S"
  printf '%-34s %6s %7s\n' "POST booking, 409 slot_taken (/s)" "$CONNS" "$CONFLICT_S"
  row pgbench_prepared "pgbench INSERT -M prepared (tps)" "${RPS[pgbench_prepared]}"
  printf '%-34s %6s %7s   (%s%% of transactions found the slot taken)\n' "  of which rows inserted (/s)" "$CONNS" \
    "${PG_INS_S[pgbench_prepared]}" "${PG_TAKEN[pgbench_prepared]}"
  row pgbench_simple "pgbench INSERT -M simple (tps)" "${RPS[pgbench_simple]}"
  printf '%-34s %6s %7s   (%s%% of transactions found the slot taken)\n' "  of which rows inserted (/s)" "$CONNS" \
    "${PG_INS_S[pgbench_simple]}" "${PG_TAKEN[pgbench_simple]}"
  row pgbench_audit "pgbench INSERT+audit (tps)" "${RPS[pgbench_audit]}"
  printf '%-34s %6s %7s   (%s%% of transactions found the slot taken)\n' "  of which rows inserted (/s)" "$CONNS" \
    "${PG_INS_S[pgbench_audit]}" "${PG_TAKEN[pgbench_audit]}"
  echo
  echo "POST booking: $N201 created, $N409 slot_taken (409, $(awk -v a="$N201" -v b="$N409" 'BEGIN { printf "%.0f", 100 * b / (a + b) }')%), $NOTHER other; bookings $BOOKINGS_BEFORE -> $BOOKINGS_AFTER."
  echo "GET availability: ${BAD[availability]} non-2xx answers or socket errors; ${BYTES[availability]} bytes per response."
  echo "pgbench failed transactions: prepared ${PG_FAILED[pgbench_prepared]:-0}, simple ${PG_FAILED[pgbench_simple]:-0}, INSERT+audit ${PG_FAILED[pgbench_audit]:-0}."
  echo
  echo "aims:"
  echo "  GET availability p99 ${P99_AV} ms                (aim < 20 ms: $AIM_AV)"
  echo "  created/s / pgbench tps    -M prepared $R_PREP   (aim >= 0.50: $AIM_BK)"
  echo "                             -M simple   $R_SIMPLE   (aim >= 0.50: $AIM_BK_S)"
  echo "  created/s / pgbench rows inserted/s: -M prepared $R_PREP_INS, -M simple $R_SIMPLE_INS"
  echo "  for comparison: pgbench INSERT+audit tps / pgbench INSERT tps (-M prepared) $R_FLOOR;"
  echo "                  created/s / pgbench INSERT+audit tps $R_AUDIT (rows inserted/s: $R_AUDIT_INS)"
  echo
  echo "CPU per request (µs): availability studiod $(us_per "${CPU_SERVER[availability]}" "${RPS[availability]}"), postgres $(us_per "${CPU_PG[availability]}" "${RPS[availability]}"), wrk $(us_per "${CPU_CLIENT[availability]}" "${RPS[availability]}");"
  echo "  booking (per answer) studiod $(us_per "${CPU_SERVER[booking]}" "${RPS[booking]}"), postgres $(us_per "${CPU_PG[booking]}" "${RPS[booking]}"), wrk $(us_per "${CPU_CLIENT[booking]}" "${RPS[booking]}");"
  echo "  pgbench -M prepared transaction: postgres $(us_per "${CPU_PG[pgbench_prepared]}" "${RPS[pgbench_prepared]}"), pgbench $(us_per "${CPU_CLIENT[pgbench_prepared]}" "${RPS[pgbench_prepared]}")."
  if [ "${CPU_OTHER[availability]}" -gt 20 ] || [ "${CPU_OTHER[availability_c8]}" -gt 20 ] || [ "${CPU_OTHER[booking]}" -gt 20 ] ||
    [ "${CPU_OTHER[pgbench_prepared]}" -gt 20 ] || [ "${CPU_OTHER[pgbench_simple]}" -gt 20 ] ||
    [ "${CPU_OTHER[pgbench_audit]}" -gt 20 ]; then
    echo "WARNING: other processes took more than 20% of a core during a run — rerun on a quiet machine."
  fi
  echo
  echo "PostgreSQL statements per GET availability (pg_stat_statements, ${COUNT_DUR}s run, $(cat "$WORK/availability-reqs.txt") requests):"
  echo "  total per request: $(cut -d'|' -f1 "$WORK/availability-total.txt") statements, $(cut -d'|' -f2 "$WORK/availability-total.txt") µs executing"
  echo "  db     calls/req  µs/call  statement"
  cat "$WORK/availability-statements.txt"
  echo "PostgreSQL statements per POST booking ($(cat "$WORK/booking-reqs.txt") requests: $C_B201 created, $C_B409 slot_taken):"
  echo "  total per request: $(cut -d'|' -f1 "$WORK/booking-total.txt") statements, $(cut -d'|' -f2 "$WORK/booking-total.txt") µs executing"
  echo "  db     calls/req  µs/call  statement"
  cat "$WORK/booking-statements.txt"
  echo "(not counted: BEGIN, COMMIT, ROLLBACK, sent as prepared statements, which pg_stat_statements"
  echo " does not track. From booking.c: the bookings of the studio that arrive together are written"
  echo " in one transaction (BEGIN, one insert for them all, the audit chain lock and ids; then their"
  echo " audit entries and COMMIT): the calls/req of those statements are 1 / bookings per batch. A 409"
  echo " adds the careful way alone: BEGIN, expire run-out holds, the conflict check, ROLLBACK. New"
  echo " bookings' mails are queued together too (the outbox line). The cache bus's batched NOTIFY"
  echo " leaves from its own thread, not the request. Listed: statements run by at least 2% of the"
  echo " requests; µs/call is the mean execution time, waits for locks included.)"
} >"$WORK/summary.txt"

echo
cat "$WORK/summary.txt"
if [ -n "$RESULTS" ]; then
  cp "$WORK/summary.txt" "$RESULTS"
  say "written to $RESULTS"
fi
