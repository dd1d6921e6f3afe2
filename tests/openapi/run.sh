#!/usr/bin/env bash
# Fuzzes the hub's JSON API with Schemathesis against its own OpenAPI document
# (/api/openapi.json). See tests/openapi/README.md.
#
#   bash tests/openapi/run.sh            # uses target/debug/hdh
#
# Environment (all optional):
#   HDH_BIN                 hub binary            (default: target/debug/hdh)
#   HDH_FUZZ_EXAMPLES       examples per operation (default: 50)
#   HDH_FUZZ_RUNS           "account=path-regex" pairs, one Schemathesis run each
#                           (default: researcher on every operation, security on the
#                           audit trail and the requests, checker on the releases)
#   HDH_FUZZ_REPORT_DIR     JUnit reports and hub logs (default: tests/openapi/report)
#   PYTHON                  interpreter for the venv (default: python3)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
HDH="${HDH_BIN:-$ROOT/target/debug/hdh}"
VENV="$HERE/.venv"
EXAMPLES="${HDH_FUZZ_EXAMPLES:-50}"
RUNS="${HDH_FUZZ_RUNS:-researcher=^/api/ security=^/api/(audit|requests) checker=^/api/releases}"
REPORT_DIR="${HDH_FUZZ_REPORT_DIR:-$HERE/report}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$HDH" ]; then
  echo "openapi: no hub binary at $HDH (build it with: cargo build -p hdh)" >&2
  exit 1
fi

# --- Schemathesis, pinned, in a venv of its own -------------------------------
want="$(grep -E '^schemathesis==' "$HERE/requirements.txt" | cut -d= -f3)"
have="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)"
if [ "$have" != "$want" ]; then
  echo "openapi: installing schemathesis $want into $VENV"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
fi
ST="$VENV/bin/schemathesis"
echo "openapi: $("$ST" --version)"

# --- A fresh hub on a random port ----------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hdh-openapi.XXXXXX")"
HUB_PID=""
cleanup() {
  if [ -n "$HUB_PID" ] && kill -0 "$HUB_PID" 2>/dev/null; then
    kill "$HUB_PID" 2>/dev/null || true
    wait "$HUB_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$REPORT_DIR"
HUB_LOG="$REPORT_DIR/hub.log"
# The fuzzer signs in with wrong names and passwords thousands of times, all
# from 127.0.0.1: the brute-force lock (tested in crates/hdh/tests/it/
# accounts.rs) would lock its own accounts out, so it is set out of reach here.
NO_COLOR=1 "$HDH" serve --demo --demo-persons 300 --data-dir "$WORK/data" --listen 127.0.0.1:0 \
  --sign-in-max-failures-per-account 1000000 --sign-in-max-failures-per-address 1000000 \
  >"$WORK/hub.out" 2>"$HUB_LOG" &
HUB_PID=$!

URL=""
for _ in $(seq 1 240); do
  URL="$(grep -oE 'hdh is listening on http://[0-9.:]+' "$WORK/hub.out" | sed 's/^hdh is listening on //' || true)"
  [ -n "$URL" ] && break
  if ! kill -0 "$HUB_PID" 2>/dev/null; then
    echo "openapi: the hub exited before listening:" >&2
    tail -n 40 "$HUB_LOG" >&2
    exit 1
  fi
  sleep 0.5
done
if [ -z "$URL" ]; then
  echo "openapi: the hub did not print its listening line within 120 s" >&2
  tail -n 40 "$HUB_LOG" >&2
  exit 1
fi
echo "openapi: hub at $URL (data in $WORK/data)"

# --- Fixtures: a provisioned project, releases, a draft request ----------------
CONFIG="$WORK/schemathesis.toml"
"$VENV/bin/python" "$HERE/fixtures.py" "$URL" "$CONFIG"

# --- One Schemathesis run per account ------------------------------------------
CHECKS="not_a_server_error,status_code_conformance,content_type_conformance"
CHECKS="$CHECKS,response_schema_conformance,response_headers_conformance"
CHECKS="$CHECKS,negative_data_rejection,ignored_auth,unsupported_method,allow_header_conformance"
CHECKS="$CHECKS,use_after_free,ensure_resource_availability,missing_required_header"

status=0
read -r -a run_list <<<"$RUNS"
for run in "${run_list[@]}"; do
  user="${run%%=*}"
  paths="${run#*=}"
  echo
  echo "openapi: ===== schemathesis as '$user' on $paths ====="
  HDH_FUZZ_USER="$user" "$ST" --config-file "$CONFIG" run "$URL/api/openapi.json" \
    --include-path-regex "$paths" \
    --checks "$CHECKS" \
    --mode all \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$EXAMPLES" \
    --generation-deterministic \
    --workers 1 \
    --continue-on-failure \
    --request-timeout 30 \
    --no-color \
    --report junit --report-junit-path "$REPORT_DIR/junit-$user.xml" \
    || status=$?
done

# A panic inside a handler is a failure even when the fuzzer did not notice it.
if grep -q 'panicked' "$HUB_LOG"; then
  echo "openapi: the hub panicked:" >&2
  grep -n -A3 'panicked' "$HUB_LOG" | head -n 40 >&2
  status=1
fi
# Every 5xx is logged by the hub with its internal message (the response only
# carries a reference): show them next to the fuzzer's report.
if grep -q 'request failed' "$HUB_LOG"; then
  echo "openapi: the hub answered server errors:" >&2
  grep 'request failed' "$HUB_LOG" | head -n 40 >&2
  status=1
fi
if ! kill -0 "$HUB_PID" 2>/dev/null; then
  echo "openapi: the hub died during the run" >&2
  status=1
fi

if [ "$status" -eq 0 ]; then
  echo "openapi: passed"
else
  echo "openapi: FAILED (reports in $REPORT_DIR)" >&2
fi
exit "$status"
