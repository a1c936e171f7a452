#!/usr/bin/env bash
# Runs every Switchboard test. Installs what the tests need when it is missing (PostgreSQL from
# Debian packages), starts a throwaway PostgreSQL server on a free loopback port for the PostgreSQL
# suite, runs `dotnet test`, stops the server and removes its files, and exits non-zero if any test
# failed. Usage: ./test.sh [extra dotnet test arguments, e.g. --filter Name~Journal]
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else echo "need root for: $*" >&2; return 1; fi; }

command -v dotnet >/dev/null || { echo "The .NET SDK 10 is required (dotnet not found on PATH)." >&2; exit 2; }

# --- PostgreSQL binaries ---------------------------------------------------------------------------
pg_bin() {
  for d in "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")" /usr/lib/postgresql/*/bin; do
    if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
  done
  return 1
}
if ! PGBIN=$(pg_bin); then
  say "Installing PostgreSQL from Debian packages"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
  PGBIN=$(pg_bin) || { echo "PostgreSQL is still missing after apt-get install postgresql." >&2; exit 2; }
fi

# --- A throwaway server: own folder, own port, trust auth on loopback only --------------------------
PGROOT=$(mktemp -d /tmp/switchboard-pg.XXXXXX)
RUNAS=()
if [ "$(id -u)" -eq 0 ]; then
  # PostgreSQL refuses to run as root; Debian's package creates the postgres user.
  id postgres >/dev/null 2>&1 || as_root useradd --system --home-dir "$PGROOT" --shell /usr/sbin/nologin postgres
  chown postgres "$PGROOT"
  RUNAS=(runuser -u postgres --)
fi
PGPORT=$(
  for p in $(shuf -i 20000-60000 -n 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; break; }
  done
)
cleanup() {
  "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGROOT/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PGROOT"
}
trap cleanup EXIT
say "Starting PostgreSQL ($("$PGBIN/postgres" --version)) on 127.0.0.1:$PGPORT"
"${RUNAS[@]}" "$PGBIN/initdb" -D "$PGROOT/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
start_pg() {
  "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$PGROOT -c max_connections=300" start >/dev/null
}
# A port that was free a moment ago can be taken by the time PostgreSQL binds it: try a few.
for attempt in 1 2 3 4 5; do
  if start_pg; then break; fi
  echo "PostgreSQL did not start on port $PGPORT (attempt $attempt); its log:" >&2
  tail -n 20 "$PGROOT/server.log" >&2 || true
  [ "$attempt" -lt 5 ] || exit 2
  PGPORT=$(shuf -i 20000-60000 -n 1)
done
export SWITCHBOARD_TEST_POSTGRES="Host=127.0.0.1;Port=$PGPORT;Username=postgres;Database=postgres;Pooling=true;Maximum Pool Size=50"

# --- The tests ------------------------------------------------------------------------------------
say "Building"
dotnet build Switchboard.sln -c Release -nologo -v quiet
say "Testing"
set +e
dotnet test Switchboard.sln -c Release --no-build -nologo "$@" 2>&1 | tee "$PGROOT/test.log"
status=${PIPESTATUS[0]}
set -e

# One closing line in the plain 'N passed, N failed' form, summed over the test projects.
awk '/^(Passed|Failed)!/ { for (i = 1; i <= NF; i++) { gsub(",", "", $(i+1)); if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$PGROOT/test.log"
exit "$status"
