#!/usr/bin/env python3
"""Seeds a running demo hub with the objects the fuzzer needs to get past the
404s, then writes a Schemathesis config (TOML) that feeds their identifiers
and a few meaningful values to the generator through dictionaries.

Usage: fixtures.py BASE_URL OUT_TOML

What it creates, through the public API only (demo accounts, password
`demo-password`):
  * an access request by `researcher`, taken through submit → secretariat →
    committee → authority, so that the hub provisions a project (extraction
    of IR_BEN_R) — the only way to reach /api/projects/{id}/… and the SQL
    workspace;
  * two release requests on that project, each with a table computed from
    the workspace's microdata and a README: one left as a draft, one
    reviewed by `checker` and `checker2` and released (so that
    /api/releases/{id}/files/{file} can answer 200);
  * a second access request left as a draft (for /api/requests/{id}/actions).

Only the standard library is used, so any Python 3 runs it.
"""

import json
import sys
import urllib.error
import urllib.request

PASSWORD = "demo-password"

# Queries on the project's extraction (IR_BEN_R with the columns below).
SQL = [
    "SELECT BEN_SEX_COD, count(*) AS n FROM IR_BEN_R GROUP BY BEN_SEX_COD",
    "SELECT BEN_RES_DPT, count(*) AS n FROM IR_BEN_R GROUP BY BEN_RES_DPT ORDER BY n DESC",
    "SELECT * FROM IR_BEN_R LIMIT 5",
    "SELECT BEN_NAI_ANN, count(DISTINCT BEN_NIR_PSA) AS n FROM IR_BEN_R GROUP BY 1",
    "WITH t AS (SELECT BEN_SEX_COD AS s FROM IR_BEN_R) SELECT s, count(*) FROM t GROUP BY s",
    "EXPLAIN SELECT * FROM IR_BEN_R",
    "SELECT * FROM information_schema.tables",
    "SELECT 1/0",
    "SELECT * FROM nope",
    "DROP TABLE IR_BEN_R",
]
COLUMNS = ["BEN_NIR_PSA", "BEN_SEX_COD", "BEN_NAI_ANN", "BEN_RES_DPT"]


def call(base, method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raise SystemExit(f"fixtures: {method} {path} -> {e.code}: {e.read()[:500]!r}")


def login(base, user):
    _, body = call(base, "POST", "/api/login", body={"username": user, "password": PASSWORD})
    if not body["terms"]["accepted"]:
        # The terms of use, accepted at the first sign-in as a person would.
        call(base, "POST", "/api/me/terms", token=body["token"], body={"version": body["terms"]["version"]})
    return body["token"]


def toml_str(s):
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def main():
    base, out = sys.argv[1].rstrip("/"), sys.argv[2]
    tok = {u: login(base, u) for u in ("researcher", "secretariat", "committee", "authority", "checker", "checker2")}

    request_body = {
        "title": "fuzzing fixture",
        "purpose": "exercise the API",
        "public_interest": "tests",
        "scope": [{"dataset_id": "snds-demo", "table": "IR_BEN_R", "columns": COLUMNS}],
        "period_start": "2015-01-01",
        "period_end": "2024-12-31",
        "duration_months": 12,
        "details": {
            "summary_public": "A fixture for the fuzzer.",
            "organisation": "HDH",
            "methodology": "none",
            "expected_results": "none",
            "funding": "none",
            "conflicts_of_interest": "none",
        },
    }
    _, r = call(base, "POST", "/api/requests", tok["researcher"], request_body)
    authorised = r["request"]["id"]
    tok["producer"] = login(base, "producer")
    act = lambda who, body: call(base, "POST", f"/api/requests/{authorised}/actions", tok[who], body)[1]
    act("researcher", {"action": "submit"})
    act("secretariat", {"action": "approve"})
    call(base, "POST", f"/api/requests/{authorised}/reviewers", tok["secretariat"], {"username": "committee"})
    call(base, "POST", f"/api/requests/{authorised}/interests", tok["committee"], {"conflict": False})
    act("committee", {"action": "opinion", "opinion": "favourable", "reason": "fixture"})
    act("authority", {"action": "authorise", "reference": "DR-FUZZ-1"})
    r = act("producer", {"action": "agree", "dataset": "snds-demo"})
    # The workspace is built in the background: wait for the request to be active.
    import time
    for _ in range(600):
        if r["request"]["state"] != "authorised":
            break
        time.sleep(0.2)
        _, r = call(base, "GET", f"/api/requests/{authorised}", tok["authority"], None)
    project = (r.get("project") or {}).get("id")
    if not project:
        raise SystemExit(f"fixtures: the authorised request has no project: {r}")

    _, r = call(base, "POST", "/api/requests", tok["researcher"], dict(request_body, title="draft fixture"))
    draft = r["request"]["id"]

    releases = []
    for i in range(2):
        _, r = call(base, "POST", f"/api/projects/{project}/releases", tok["researcher"],
                    {"description": f"fixture release {i}"})
        rid = r["release"]["id"]
        releases.append(rid)
        call(base, "POST", f"/api/releases/{rid}/files", tok["researcher"],
             {"kind": "table", "name": "by_sex.csv", "description": "Persons by sex",
              "sql": "SELECT BEN_NIR_PSA, BEN_SEX_COD FROM IR_BEN_R", "rows": ["BEN_SEX_COD"],
              "agg": "count", "totals": True})
        call(base, "POST", f"/api/releases/{rid}/files", tok["researcher"],
             {"kind": "text", "name": "README.md", "description": "Methods", "content": "Counts of persons by sex."})
    rid = releases[1]
    call(base, "POST", f"/api/releases/{rid}/submit", tok["researcher"], {})
    files = {"files": [{"file": f, "decision": "approve"} for f in ("by_sex.csv", "README.md")]}
    for checker in ("checker", "checker2"):
        call(base, "POST", f"/api/releases/{rid}/reviews", tok[checker], files)
    call(base, "POST", f"/api/releases/{rid}/release", tok["checker"], {})

    ids = ["snds-demo", authorised, draft, project, *releases]
    lines = [
        "# Generated by tests/openapi/fixtures.py for one run; do not edit.",
        "",
        "[auth.dynamic.openapi.bearer]",
        'path = "/api/login"',
        'method = "post"',
        'payload = { username = "${HDH_FUZZ_USER}", password = "demo-password" }',
        'extract_selector = "/token"',
        "# POST /api/logout ends the session in use: sign in again on 401.",
        "retry_on = [401]",
        "",
        "[dictionaries.ids]",
        f"values = [{', '.join(toml_str(i) for i in ids)}]",
        "[dictionaries.sql]",
        f"values = [{', '.join(toml_str(s) for s in SQL)}]",
        "[dictionaries.actions]",
        'values = ["submit", "withdraw", "approve", "send_back", "refuse", "opinion", "authorise", "agree", "close", "archive"]',
        "[dictionaries.decisions]",
        'values = ["approve", "return"]',
        "[dictionaries.files]",
        'values = ["by_sex.csv", "README.md"]',
        "[dictionaries.users]",
        'values = ["researcher", "researcher2", "security", "checker", "nobody"]',
        "[dictionaries.passwords]",
        'values = ["demo-password"]',
        "[dictionaries.tables]",
        'values = ["IR_BEN_R", "ER_PRS_F", "T_MCO23C"]',
        "[dictionaries.variables]",
        'values = ["BEN_SEX_COD", "BEN_NIR_PSA", "BEN_NAI_ANN", "PRS_NAT_REF"]',
        "[dictionaries.words]",
        'values = ["médicament", "diagnostic principal", "E11", "BEN_SEX_COD", "sexe du beneficiare"]',
        "[dictionaries.dates]",
        'values = ["2015-01-01", "2024-12-31", "2026-01-01T00:00:00Z", "yesterday"]',
        "[dictionaries.outcomes]",
        'values = ["ok", "denied", "failed"]',
        "",
        "# Half the generated values come from the dictionaries, half are fuzzed.",
        "[parameters]",
        '"path.id" = { dictionary = "ids", probability = 0.5 }',
        '"query.project" = { dictionary = "ids", probability = 0.5 }',
        '"path.table" = { dictionary = "tables", probability = 0.5 }',
        '"path.variable" = { dictionary = "variables", probability = 0.5 }',
        '"query.q" = { dictionary = "words", probability = 0.5 }',
        '"query.since" = { dictionary = "dates", probability = 0.5 }',
        '"query.until" = { dictionary = "dates", probability = 0.5 }',
        '"query.outcome" = { dictionary = "outcomes", probability = 0.5 }',
        '"body.sql" = { dictionary = "sql", probability = 0.5 }',
        '"body.action" = { dictionary = "actions", probability = 0.5 }',
        '"body.decision" = { dictionary = "decisions", probability = 0.5 }',
        '"path.file" = { dictionary = "files", probability = 0.5 }',
        '"body.username" = { dictionary = "users", probability = 0.5 }',
        '"body.password" = { dictionary = "passwords", probability = 0.5 }',
        '"body.period_start" = { dictionary = "dates", probability = 0.5 }',
        '"body.period_end" = { dictionary = "dates", probability = 0.5 }',
        "",
    ]
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print(f"fixtures: project {project}, requests {authorised} (active) {draft} (draft), "
          f"releases {releases[0]} (draft) {releases[1]} (released)")


if __name__ == "__main__":
    main()
