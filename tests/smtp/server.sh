#!/usr/bin/env bash
# Starts tests/smtp/sink.py (aiosmtpd, pinned) on 127.0.0.1:PORT, writing the
# messages it receives to OUT.jsonl. Creates tests/smtp/.venv on first use
# (under a lock: tests running in parallel share it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec 9>"$here/.venv.lock"
flock 9
if [ ! -x "$here/.venv/bin/python" ] || ! "$here/.venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  rm -rf "$here/.venv"
  python3 -m venv "$here/.venv" >&2
  "$here/.venv/bin/pip" install -q --disable-pip-version-check 'aiosmtpd==1.4.6' >&2
fi
flock -u 9
exec 9>&-
exec "$here/.venv/bin/python" -u "$here/sink.py" "$@"
