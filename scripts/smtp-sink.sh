#!/usr/bin/env bash
# An SMTP sink on 127.0.0.1 that stores every message it receives as one file
# in DIR/new/ (a maildir; envelope in the X-MailFrom / X-RcptTo headers).
#
#   scripts/smtp-sink.sh start DIR PORT   start it unless it already runs for
#                                         DIR; print its PID (also in DIR.pid,
#                                         port in DIR.port, log in DIR.log)
#   scripts/smtp-sink.sh stop DIR         stop it (by the PID in DIR.pid)
#   scripts/smtp-sink.sh port DIR         print the port of the running sink
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# pid_of DIR: print the PID from DIR.pid if that process is our sink for DIR.
pid_of() {
  local dir=$1 pid
  [ -f "$dir.pid" ] || return 1
  pid=$(cat "$dir.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "aiosmtpd.handlers.Mailbox $dir" || return 1
  printf '%s\n' "$pid"
}

start_sink() {
  [ $# -eq 2 ] || die "usage: smtp-sink.sh start DIR PORT"
  local dir port pid
  dir=$(realpath -m "$1")
  port=$2
  [[ $port =~ ^[0-9]+$ ]] || die "bad port: $port"
  if pid=$(pid_of "$dir"); then
    if [ "$(cat "$dir.port" 2>/dev/null)" = "$port" ]; then
      say "SMTP sink already running for $dir on port $port (PID $pid)"
      printf '%s\n' "$pid"
      return 0
    fi
    stop_sink "$dir"
  fi
  "$SYS_PYTHON" -c 'import aiosmtpd' 2>/dev/null || die "python3-aiosmtpd is not installed"
  port_open "$port" && die "port $port on 127.0.0.1 is already in use"
  # Without tmp/, new/ and cur/ every delivery fails with 500 FileNotFoundError.
  mkdir -p "$dir/tmp" "$dir/new" "$dir/cur"
  # setsid: its own session, so Ctrl-C on the terminal that started it
  # (e.g. stopping scripts/serve) leaves it running like PostgreSQL.
  setsid "$SYS_PYTHON" -m aiosmtpd -n -l "127.0.0.1:$port" \
    -c aiosmtpd.handlers.Mailbox "$dir" </dev/null >"$dir.log" 2>&1 &
  pid=$!
  printf '%s\n' "$pid" >"$dir.pid"
  printf '%s\n' "$port" >"$dir.port"
  if ! wait_for_port "$port" 30 "$pid"; then
    cat "$dir.log" >&2 || true
    kill "$pid" 2>/dev/null || true
    rm -f "$dir.pid" "$dir.port"
    die "SMTP sink did not start on port $port"
  fi
  say "SMTP sink on smtp://127.0.0.1:$port, mail in $dir/new (PID $pid)"
  printf '%s\n' "$pid"
}

stop_sink() {
  [ $# -eq 1 ] || die "usage: smtp-sink.sh stop DIR"
  local dir pid i
  dir=$(realpath -m "$1")
  if pid=$(pid_of "$dir"); then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$dir.pid" "$dir.port"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  start) start_sink "$@" ;;
  stop) stop_sink "$@" ;;
  port)
    [ $# -eq 1 ] || die "usage: smtp-sink.sh port DIR"
    d=$(realpath -m "$1")
    pid_of "$d" >/dev/null || die "no sink runs for $d"
    cat "$d.port"
    ;;
  *)
    echo "usage: smtp-sink.sh start DIR PORT | stop DIR | port DIR" >&2
    exit 2
    ;;
esac
