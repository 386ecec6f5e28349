# Shared helpers for scripts/serve, scripts/test, scripts/pg.sh and
# scripts/smtp-sink.sh. Source it; it defines functions and a few variables
# and runs nothing by itself.
# shellcheck shell=bash

STUDIOD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck disable=SC2034 # used by the scripts that source this file
PG_BIN=/usr/lib/postgresql/15/bin
SYS_PYTHON=/usr/bin/python3 # the python3 first on PATH may not see Debian's packages

# Debian 12 packages the project needs. PostgreSQL's contrib modules are part
# of postgresql-15 there (postgresql-contrib is only a metapackage).
STUDIOD_APT_PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libmicrohttpd-dev libpq-dev libjansson-dev libcurl4-openssl-dev libssl-dev
  libsodium-dev libcmocka-dev libxlsxwriter-dev libhpdf-dev
  postgresql-15 python3-aiosmtpd python3-yaml chromium wrk ca-certificates tzdata
)

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Run a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root for: $* (run as root or install sudo)"
  fi
}

# Install with apt whatever of STUDIOD_APT_PACKAGES is missing; apt-get update
# runs once, and only when something has to be installed.
ensure_packages() {
  local missing=() p
  for p in "${STUDIOD_APT_PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
      missing+=("$p")
    fi
  done
  # Node may come from elsewhere (e.g. NodeSource); never put Debian's over it.
  if ! command -v node >/dev/null 2>&1; then
    missing+=(nodejs npm)
  fi
  [ "${#missing[@]}" -eq 0 ] && return 0
  say "installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
    install -y "${missing[@]}"
}

# Print a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  "$SYS_PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_for_port PORT SECONDS [PID]: wait until the port accepts connections;
# fail at the deadline or as soon as PID (if given) has exited.
wait_for_port() {
  local port=$1 secs=$2 pid=${3:-} i
  for ((i = 0; i < secs * 10; i++)); do
    port_open "$port" && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    sleep 0.1
  done
  return 1
}

# build_tree DIR [cmake args...]: configure (if needed) and build DIR.
build_tree() {
  local dir=$1
  shift
  cmake -S "$STUDIOD_ROOT" -B "$STUDIOD_ROOT/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" &&
    cmake --build "$STUDIOD_ROOT/$dir" -j "$(nproc)"
}

# Random URL-safe text of LEN (default 16) characters.
random_token() {
  local t
  t=$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')
  printf '%s\n' "${t:0:${1:-16}}"
}
