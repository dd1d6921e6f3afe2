#!/usr/bin/env bash
# The hub's whole path over the JSON API, with curl and jq, against a hub
# started with `cargo run -- serve --demo` (demo accounts, password demo-password).
#
#   scripts/api-walkthrough.sh [http://127.0.0.1:8080]
#
# Each step prints what it did; the script stops at the first unexpected answer.
set -euo pipefail
HUB=${1:-${HDH_URL:-http://127.0.0.1:8080}}
PASSWORD=${HDH_DEMO_PASSWORD:-demo-password}
command -v jq >/dev/null || { echo "this script needs jq (apt-get install jq)"; exit 1; }

say() { printf '\n== %s\n' "$*"; }
login() {
  curl -sf "$HUB/api/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$PASSWORD\"}" | jq -r .token
}
# call TOKEN METHOD PATH [JSON]: prints the body; fails on a non-2xx answer.
call() {
  local token=$1 method=$2 path=$3 body=${4:-}
  local args=(-sS -X "$method" "$HUB$path" -H "authorization: Bearer $token" -w '\n%{http_code}')
  [ -n "$body" ] && args+=(-H 'content-type: application/json' -d "$body")
  local out code
  out=$(curl "${args[@]}")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "${code:0:1}" != 2 ]; then echo "$method $path -> $code: $out" >&2; return 1; fi
  printf '%s' "$out"
}

say "catalogue: the demo dataset and its tables"
curl -sf "$HUB/api/datasets/snds-demo" | jq -r '.tables[] | "\(.table_name)\t\(.row_count) rows\t\(.description)"'

R=$(login researcher); S=$(login secretariat); C=$(login committee); A=$(login authority)
K=$(login checker); K2=$(login checker2); SEC=$(login security); P=$(login producer)

say "researcher: an access request for two tables, exact columns, 2022"
REQ=$(call "$R" POST /api/requests '{
  "title": "Antidiabetic drugs by département (walkthrough)",
  "purpose": "Describe persons and claims by département of residence.",
  "public_interest": "Better follow-up of chronic patients.",
  "scope": [
    {"dataset_id": "snds-demo", "table": "IR_BEN_R", "columns": ["BEN_NIR_PSA", "BEN_SEX_COD", "BEN_RES_DPT"]},
    {"dataset_id": "snds-demo", "table": "ER_PRS_F", "columns": ["BEN_NIR_PSA", "EXE_SOI_DTD", "PRS_PAI_MNT"]}
  ],
  "period_start": "2022-01-01", "period_end": "2022-12-31", "duration_months": 24,
  "details": {"summary_public": "Persons and claims by département.", "organisation": "CHU de Bordeaux",
              "methodology": "Descriptive statistics.", "expected_results": "A report.",
              "funding": "none", "conflicts_of_interest": "none"}}' | jq -r .request.id)
echo "request $REQ"
call "$R" POST "/api/requests/$REQ/actions" '{"action":"submit"}' | jq -r '"state: \(.request.state)"'

say "secretariat checks completeness, assigns the committee; committee declares, gives its opinion; authority authorises; producer agrees"
call "$S" POST "/api/requests/$REQ/actions" '{"action":"approve"}' | jq -r '"state: \(.request.state)"'
call "$S" POST "/api/requests/$REQ/reviewers" '{"username":"committee"}' >/dev/null
call "$C" POST "/api/requests/$REQ/interests" '{"conflict":false}' >/dev/null
call "$C" POST "/api/requests/$REQ/actions" '{"action":"opinion","opinion":"favourable","reason":"Sound protocol."}' | jq -r '"state: \(.request.state)"'
call "$A" POST "/api/requests/$REQ/actions" '{"action":"authorise","reference":"DR-2026-001"}' | jq -r '"state: \(.request.state)"'
call "$P" POST "/api/requests/$REQ/actions" '{"action":"agree","dataset":"snds-demo"}' | jq -r '"state: \(.request.state)"'
echo "waiting for the workspace to be built"
for _ in $(seq 1 300); do
  STATE=$(call "$R" GET "/api/requests/$REQ" | jq -r .request.state)
  [ "$STATE" = active ] && break
  sleep 1
done
PROJECT=$(call "$R" GET "/api/requests/$REQ" | jq -r .project.id)
echo "project $PROJECT"
call "$R" GET "/api/requests/$REQ" | jq -r '.history[] | "\(.seq). \(.action) by \(.role): \(.from_state) -> \(.to_state)"'

say "workspace: SQL on the extraction (approved columns and period only)"
call "$R" POST "/api/projects/$PROJECT/query" \
  '{"sql":"SELECT min(EXE_SOI_DTD) AS first, max(EXE_SOI_DTD) AS last, count(*) AS claims FROM ER_PRS_F"}' | jq -c .result
echo "a table outside the project:"
call "$R" POST "/api/projects/$PROJECT/query" '{"sql":"SELECT * FROM ER_PHA_F"}' || true

say "release: the hub computes the table from the microdata and checks every cell; two checkers review"
REL=$(call "$R" POST "/api/projects/$PROJECT/releases" '{"description":"Persons by département of residence"}')
RID=$(jq -r .release.id <<<"$REL")
call "$R" POST "/api/releases/$RID/files" '{"kind":"table","name":"by_dpt.csv","description":"Persons by département of residence","sql":"SELECT BEN_NIR_PSA, BEN_RES_DPT FROM IR_BEN_R","rows":["BEN_RES_DPT"],"agg":"count","totals":true}' \
  | jq -r '.file.check.cells | group_by(.outcome) | map("\(.[0].outcome): \(length) cells") | join(", ")'
call "$R" POST "/api/releases/$RID/submit" '{}' | jq -r '"state: \(.release.state)"'
for CK in "$K" "$K2"; do
  call "$CK" POST "/api/releases/$RID/reviews" '{"files":[{"file":"by_dpt.csv","decision":"approve"}]}' | jq -r '"state: \(.release.state)"'
done
call "$K" POST "/api/releases/$RID/release" '{}' | jq -r '"state: \(.release.state)"'
call "$R" GET "/api/releases/$RID/files/by_dpt.csv" | head -5

say "audit: the trail of this project"
call "$SEC" GET "/api/audit?project=$PROJECT" | jq -r '.events[] | "\(.seq)\t\(.actor_name // "hub")\t\(.action)\t\(.outcome)"'
