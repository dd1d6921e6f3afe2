#!/usr/bin/env bash
# Runs tests/sdc/acro_parity.py, the parity test between PyPI `acro` (SACRO's
# statistical disclosure control checker, pinned) and `hdh sdc check`:
# `run.sh HDH_BIN [--keep] [--only NAME…]`.
# Creates tests/sdc/.venv on first use (under a lock: tests running in
# parallel share it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -lt 1 ]; then
  echo "usage: $0 HDH_BIN [args…]" >&2
  exit 2
fi
hdh="$1"
shift
# acro 1.0.2 and the pandas/pyarrow/numpy that `pip install acro==1.0.2
# pyarrow` resolves to (ACRO's results depend on pandas' crosstab/pivot_table).
pins=(
  'acro==1.0.2'
  'pandas==2.3.3'
  'pyarrow==26.0.1'
  'numpy==2.4.6'
)
# Bump when the pins change, so an older .venv is rebuilt.
stamp="${pins[*]}"
exec 9>"$here/.venv.lock"
flock 9
if [ ! -x "$here/.venv/bin/python" ] || [ "$(cat "$here/.venv/.pins" 2>/dev/null)" != "$stamp" ] \
   || ! "$here/.venv/bin/python" -c 'import acro, pandas, pyarrow.parquet' 2>/dev/null; then
  rm -rf "$here/.venv"
  python3 -m venv "$here/.venv" >&2
  "$here/.venv/bin/pip" install -q --disable-pip-version-check --only-binary=:all: "${pins[@]}" >&2
  printf '%s' "$stamp" > "$here/.venv/.pins"
fi
flock -u 9
exec 9>&-
exec "$here/.venv/bin/python" -u "$here/acro_parity.py" --hdh "$hdh" "$@"
