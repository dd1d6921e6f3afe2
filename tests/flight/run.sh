#!/usr/bin/env bash
# Runs tests/flight/client.py (the Python ADBC Flight SQL driver, pinned) with
# the given arguments: `run.sh --uri grpc://127.0.0.1:PORT --token T [CHECKS]`.
# Creates tests/flight/.venv on first use (under a lock: tests running in
# parallel share it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pins=(
  'adbc-driver-flightsql==1.13.0'
  'adbc-driver-manager==1.13.0'
  'pyarrow==26.0.1'
  'pandas==3.1.1'
)
# Bump when the pins change, so an older .venv is rebuilt.
stamp="${pins[*]}"
exec 9>"$here/.venv.lock"
flock 9
if [ ! -x "$here/.venv/bin/python" ] || [ "$(cat "$here/.venv/.pins" 2>/dev/null)" != "$stamp" ] \
   || ! "$here/.venv/bin/python" -c 'import adbc_driver_flightsql.dbapi, pandas' 2>/dev/null; then
  rm -rf "$here/.venv"
  python3 -m venv "$here/.venv" >&2
  "$here/.venv/bin/pip" install -q --disable-pip-version-check --only-binary=:all: "${pins[@]}" >&2
  printf '%s' "$stamp" > "$here/.venv/.pins"
fi
flock -u 9
exec 9>&-
exec "$here/.venv/bin/python" -u "$here/client.py" "$@"
