# bench/lib.sh — what the benchmark scripts (run.sh, booking.sh) share: stopping
# what they started by PID, a watchdog, CPU accounting from /proc, waiting for a
# quiet machine, and one measured wrk run. Sourced after scripts/lib.sh and the
# script's settings (DEADLINE, DUR, WARM, QUIET_WAIT, RETRIES); bench_begin NAME
# checks the tools and sets PGBENCH, CLK_TCK, NCPU, LOAD_AT_START, WORK, PGDIR,
# STUDIOD_PID, WATCHDOG_PID, PG_STARTED (the script sets PGPORT before psql_q).

# ---- stopping what we started, by PID ----

# stop_pid PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL.
stop_pid() {
  local pid=$1 secs=$2 i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "PID $pid did not stop in ${secs}s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# cleanup (the EXIT trap): stops studiod ($STUDIOD_PID), the other servers in
# $OTHER_PIDS, PostgreSQL and the watchdog; removes $WORK unless kept.
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  stop_pid "$STUDIOD_PID" 15
  for pid in ${OTHER_PIDS:-}; do stop_pid "$pid" 5; done
  if [ "$PG_STARTED" = 1 ]; then
    scripts/pg.sh stop "$PGDIR" || say "could not stop PostgreSQL in $PGDIR"
  fi
  if [ -n "$WATCHDOG_PID" ]; then
    kill -TERM "$WATCHDOG_PID" 2>/dev/null || true
    wait "$WATCHDOG_PID" 2>/dev/null || true
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
    say "logs and raw output kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}

# bench_begin NAME: checks for wrk, curl and pgbench, makes the work folder
# /tmp/NAME.XXXXXX, installs cleanup and starts the watchdog that stops the
# whole run after DEADLINE seconds.
bench_begin() {
  PGBENCH=$PG_BIN/pgbench
  [ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench || true)
  CLK_TCK=$(getconf CLK_TCK)
  NCPU=$(nproc)
  command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
  command -v curl >/dev/null || die "curl is not installed"
  [ -n "$PGBENCH" ] && [ -x "$PGBENCH" ] || die "pgbench not found ($PG_BIN/pgbench)"
  LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  PGDIR=$WORK/pg
  STUDIOD_PID=""
  WATCHDOG_PID=""
  PG_STARTED=0
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  (
    sleep "$DEADLINE" &
    sp=$!
    trap 'kill -TERM "$sp" 2>/dev/null; exit 0' TERM
    wait "$sp"
    echo "$(basename "$0"): still running after ${DEADLINE}s; stopping" >&2
    kill -TERM $$ 2>/dev/null
  ) &
  WATCHDOG_PID=$!
}

# ---- CPU accounting (clock ticks) ----

# proc_ticks PID: utime + stime of a process (all its threads).
proc_ticks() {
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
  sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

# pg_ticks: the postmaster, every live child, and every reaped child.
pg_ticks() {
  local pm
  pm=$(head -n1 "$PGDIR/postmaster.pid" 2>/dev/null) || { echo 0; return; }
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$pm" '
    {
      pid = $1
      sub(/^.*\) /, "")
      if (pid == pm) t += $12 + $13 + $14 + $15
      else if ($2 == pm) t += $12 + $13
    }
    END { print t + 0 }'
}

# psql_q DB SQL: the answer of the benchmark's PostgreSQL, unaligned.
psql_q() { "$PG_BIN/psql" -X -Atq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$1" -c "$2"; }

# pg_xacts: transactions committed or rolled back so far in studiod's
# databases (the master and the studios), from pg_stat_database.
pg_xacts() {
  psql_q postgres "SELECT coalesce(sum(xact_commit + xact_rollback), 0) FROM pg_stat_database
                    WHERE datname = 'studiod' OR datname LIKE 'studio\_%'"
}

# idle_ticks: idle + iowait of all CPUs, from /proc/stat.
idle_ticks() { awk '/^cpu / {print $5 + $6}' /proc/stat; }

now_s() { date +%s.%N; }

# wait_quiet: on a shared machine, wait (up to QUIET_WAIT seconds) until
# other processes leave the CPUs at least 85% idle over 2 s, so that runs
# do not compete with them; measure anyway after that (the "other" column
# of the summary shows what they took).
wait_quiet() {
  local waited=0 a b pct
  while :; do
    a=$(idle_ticks)
    sleep 2
    b=$(idle_ticks)
    pct=$(awk -v t=$((b - a)) -v hz="$CLK_TCK" -v n="$NCPU" 'BEGIN { printf "%.0f", 100 * t / hz / 2 / n }')
    [ "$pct" -ge 85 ] && return 0
    if [ "$waited" -ge "$QUIET_WAIT" ]; then
      say "the machine is still busy (${pct}% idle); measuring anyway"
      return 0
    fi
    [ "$waited" = 0 ] && say "the machine is busy (${pct}% idle); waiting up to ${QUIET_WAIT}s"
    waited=$((waited + 2))
  done
}

# cores TICKS SECONDS: TICKS as a percentage of one core.
cores() { awk -v t="$1" -v s="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", 100 * t / hz / s }'; }

# ---- wrk ----

# to_ms "1.23ms": a wrk latency in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.2f", n }'
}

declare -A RPS P50 P99 AVG BAD BYTES CPU_CLIENT CPU_SERVER CPU_PG CPU_IDLE CPU_OTHER TRIES NCONN

# measure NAME SERVER_PID CLIENT_CMD...: measure_once, again (up to RETRIES
# times, after wait_quiet) while other processes took more than 20% of a core.
# PRE_RUN, when set, is run (unmeasured) before each try.
measure() {
  local try
  for ((try = 0; ; try++)); do
    [ -n "${PRE_RUN:-}" ] && eval "$PRE_RUN"
    measure_once "$@"
    TRIES[$1]=$((try + 1))
    [ "${CPU_OTHER[$1]}" -le 20 ] && return 0
    if [ "$try" -ge "$RETRIES" ]; then
      say "$1: other processes took ${CPU_OTHER[$1]}% of a core; keeping this run"
      return 0
    fi
    say "$1: other processes took ${CPU_OTHER[$1]}% of a core; measuring again"
    wait_quiet
  done
}

# measure_once NAME SERVER_PID CLIENT_CMD...: run CLIENT_CMD (bounded) and
# record the CPU used meanwhile by it, by SERVER_PID, by PostgreSQL, by other
# processes, and left idle.
measure_once() {
  local name=$1 spid=$2
  shift 2
  local s0 p0 i0 t0 s1 p1 i1 t1 wall u s
  s0=$(proc_ticks "$spid"); p0=$(pg_ticks); i0=$(idle_ticks); t0=$(now_s)
  local TIMEFORMAT='%3U %3S'
  { time timeout $((DUR + 60)) "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; } 2>"$WORK/$name.time" ||
    { cat "$WORK/$name.out" "$WORK/$name.err" >&2; die "$name: $* failed"; }
  s1=$(proc_ticks "$spid"); p1=$(pg_ticks); i1=$(idle_ticks); t1=$(now_s)
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  read -r u s <"$WORK/$name.time"
  CPU_CLIENT[$name]=$(awk -v u="$u" -v s="$s" -v w="$wall" 'BEGIN { printf "%.0f", 100 * (u + s) / w }')
  CPU_SERVER[$name]=$(cores $((s1 - s0)) "$wall")
  CPU_PG[$name]=$(cores $((p1 - p0)) "$wall")
  CPU_IDLE[$name]=$(cores $((i1 - i0)) "$wall")
  # Whatever else ran meanwhile (other processes on this machine).
  CPU_OTHER[$name]=$(awk -v n="$NCPU" -v c="${CPU_CLIENT[$name]}" -v s="${CPU_SERVER[$name]}" \
    -v p="${CPU_PG[$name]}" -v i="${CPU_IDLE[$name]}" 'BEGIN { o = 100 * n - c - s - p - i; printf "%.0f", o < 0 ? 0 : o }')
}

# bench_wrk NAME SERVER_PID CONNS SCRIPT URL: warm up, then one measured run.
bench_wrk() {
  local name=$1 spid=$2 conns=$3 script=$4 url=$5 out
  NCONN[$name]=$conns
  wait_quiet
  if [ "$WARM" -gt 0 ]; then
    timeout $((WARM + 30)) wrk -t2 -c"$conns" -d"${WARM}s" -s "$script" "$url" >"$WORK/$name.warm" 2>&1 || true
  fi
  say "$name: wrk -t2 -c$conns -d${DUR}s $url ($(basename "$script"))"
  measure "$name" "$spid" wrk -t2 -c"$conns" -d"${DUR}s" --latency -s "$script" "$url"
  out=$WORK/$name.out
  RPS[$name]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
  AVG[$name]=$(to_ms "$(awk '$1 == "Latency" {print $2; exit}' "$out")")
  P50[$name]=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
  P99[$name]=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  # Bytes per response (headers + body) from "N requests in Ts, X.YZMB read".
  BYTES[$name]=$(awk '/requests in/ {
      v = $NF == "read" ? $(NF - 1) : $NF; n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
      m = (u == "KB") ? 1024 : (u == "MB") ? 1048576 : (u == "GB") ? 1073741824 : 1
      if ($1 > 0) printf "%.0f", n * m / $1 }' "$out")
  BAD[$name]=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {
      for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i } END { print n + 0 }' "$out")
  [ -n "${RPS[$name]}" ] || { cat "$out" >&2; die "$name: no Requests/sec in wrk output"; }
  say "$name: ${RPS[$name]} req/s, p50 ${P50[$name]} ms, p99 ${P99[$name]} ms, non-2xx/errors ${BAD[$name]}"
}

# ---- servers ----

wait_healthz() {
  local port=$1 pid=$2 i
  for ((i = 0; i < 300; i++)); do
    curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
