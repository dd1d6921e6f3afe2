#!/usr/bin/env bash
# Measures what a newcomer waits for: a fresh clone of this repository, a cold
# `cargo build` (dev profile, as the README's first command), then the demo hub
# started on a fresh data directory until `GET /health` answers.
#
#   scripts/measure-clone-to-demo.sh [REPO] [PORT]
#
# The crates must already be downloaded (otherwise the download time is added).
# Prints one line: build_s=… demo_ready_s=… total_s=…
set -euo pipefail
REPO=${1:-$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)}
PORT=${2:-18191}
WORK=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
git clone -q "$REPO" "$WORK/clone"
cd "$WORK/clone"
start=$(date +%s)
cargo build 2> "$WORK/build.log"
built=$(date +%s)
target/debug/hdh serve --demo --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" > "$WORK/serve.log" 2>&1 &
pid=$!
until curl -sf "127.0.0.1:$PORT/health" > /dev/null; do
  kill -0 "$pid" 2>/dev/null || { cat "$WORK/serve.log"; exit 1; }
  sleep 0.5
done
up=$(date +%s)
echo "build_s=$((built - start)) demo_ready_s=$((up - built)) total_s=$((up - start))"
