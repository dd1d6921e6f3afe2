#!/usr/bin/env bash
# Starts tests/smtp/sink.py (aiosmtpd, pinned) on 127.0.0.1:PORT, writing the
# messages it receives to OUT.jsonl. Creates tests/smtp/.venv on first use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -x "$here/.venv/bin/python" ] || ! "$here/.venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  python3 -m venv "$here/.venv" >&2
  "$here/.venv/bin/pip" install -q --disable-pip-version-check 'aiosmtpd==1.4.6' >&2
fi
exec "$here/.venv/bin/python" -u "$here/sink.py" "$@"
