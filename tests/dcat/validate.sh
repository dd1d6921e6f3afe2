#!/usr/bin/env bash
# Validates RDF exports of the catalogue against the official DCAT-AP 3 SHACL
# shapes (pyshacl, no inference) and the HealthDCAT-AP checks of
# healthdcat_check.py.
#
#   tests/dcat/validate.sh FILE.ttl|FILE.jsonld...
#
# Creates (or reuses) a virtual environment in tests/dcat/.venv with a pinned
# pyshacl (pip from PyPI: the only network access). Prints each report and one
# line per file:
#   RESULT <file>: conforms=<bool> violations=<n> warnings=<n> infos=<n> healthdcat=<ok|failed>
# Exits non-zero when any file has a violation (sh:Violation), fails the
# HealthDCAT-AP checks, or cannot be read. Warnings are counted, not fatal.
#
# Environment: HDH_DCAT_FULL (comma-separated dataset identifiers that must
# carry the full HealthDCAT-AP description, see healthdcat_check.py);
# HEALTHDCAT_EXAMPLE (the HealthDCAT-AP example to compare property IRIs with,
# default ../shared/data/dcat/dataset_health.ttl beside the repository).
set -euo pipefail

PYSHACL_VERSION=0.40.1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
shapes="$here/dcat-ap_3_shacl_shapes.ttl"

if [ "$#" -eq 0 ]; then
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi

if ! "$venv/bin/python" - "$PYSHACL_VERSION" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import version
sys.exit(0 if version("pyshacl") == sys.argv[1] else 1)
PY
then
    echo "validate.sh: installing pyshacl==$PYSHACL_VERSION into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "pyshacl==$PYSHACL_VERSION" >&2
fi

status=0
total_violations=0
total_warnings=0
for file in "$@"; do
    case "$file" in
        *.ttl) format=turtle ;;
        *.jsonld | *.json) format=json-ld ;;
        *) echo "validate.sh: $file: expected a .ttl or .jsonld file" >&2; status=1; continue ;;
    esac
    if [ ! -r "$file" ]; then
        echo "validate.sh: $file: cannot read" >&2
        status=1
        continue
    fi
    echo "=== $file ($format)"
    set +e
    # -w: warnings alone do not make the graph non-conforming; counted below.
    report="$("$venv/bin/pyshacl" -s "$shapes" -sf turtle -df "$format" -i none -w "$file" 2>&1)"
    rc=$?
    set -e
    echo "$report"
    violations=$(grep -c 'Severity: [A-Za-z]*:Violation' <<<"$report" || true)
    warnings=$(grep -c 'Severity: [A-Za-z]*:Warning' <<<"$report" || true)
    infos=$(grep -c 'Severity: [A-Za-z]*:Info' <<<"$report" || true)
    conforms=$(sed -n 's/^Conforms: //p' <<<"$report" | head -n1)
    # pyshacl exits 0 (conforms), 1 (does not conform), else an error.
    if [ "$rc" -gt 1 ] || [ -z "$conforms" ]; then
        echo "validate.sh: $file: pyshacl failed (exit $rc)" >&2
        status=1
    fi
    if [ "$violations" -gt 0 ] || [ "$rc" -eq 1 ]; then
        status=1
    fi
    health=ok
    if ! "$venv/bin/python" "$here/healthdcat_check.py" "$file"; then
        health=failed
        status=1
    fi
    total_violations=$((total_violations + violations))
    total_warnings=$((total_warnings + warnings))
    echo "RESULT $file: conforms=${conforms:-?} violations=$violations warnings=$warnings infos=$infos healthdcat=$health"
done
echo "TOTAL $# file(s): violations=$total_violations warnings=$total_warnings status=$([ "$status" -eq 0 ] && echo ok || echo failed)"
exit "$status"
