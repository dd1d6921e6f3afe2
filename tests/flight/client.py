"""Drives a Flight SQL endpoint with the Python ADBC Flight SQL driver, as a
researcher's notebook would, and checks what it answers.

    run.sh --uri grpc://127.0.0.1:PORT --token TOKEN [CHECK ...]

Each CHECK is a JSON object, or a JSON list of them; with none, a JSON list is
read from stdin. Every check opens its own connection (`"auth": "bearer"`, the
default, sends `authorization: Bearer TOKEN`; `"basic"` does the Flight
handshake with HTTP Basic, the token as password). Checks (`op`):

  connect        connect and read adbc_get_info();
                 expect_info: {"vendor_name": "hdh", ...}
  tables         adbc_get_objects(); catalog / db_schema / table_name_filter
                 (SQL LIKE patterns); expect: sorted table names;
                 expect_columns: {"TABLE": ["COL", ...]}
  table_schema   adbc_get_table_schema(table, catalog, db_schema);
                 expect_columns: ["COL", ...]
  query          cursor.execute(sql) then fetch_df(); expect_rows,
                 expect_columns, expect_values: {"COL": [v, ...]}
  refused        cursor.execute(sql) must fail; expect_error: substring
  update_refused statement.execute_update() must fail; expect_error
  bad_token      connect with `token` and run `sql` (SELECT 1 by default):
                 must fail; expect_error: substring

Prints one JSON object {"ok": bool, "checks": [...]}; exits 1 if any check
failed, 2 on bad usage.
"""

import argparse
import json
import sys
import traceback

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flightsql
import pandas as pd


def connect(uri, token, auth):
    if auth == "basic":
        # Flight handshake with HTTP Basic: any user name, the token as
        # password; the server answers with the bearer header to use.
        db_kwargs = {"username": "researcher", "password": token}
    elif auth == "bearer":
        db_kwargs = {
            adbc_driver_flightsql.DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}",
        }
    else:
        raise ValueError(f"unknown auth {auth!r}")
    # autocommit=True: the endpoint is read-only, it has no transactions.
    return flightsql.connect(uri, db_kwargs=db_kwargs, autocommit=True)


def plain(v):
    """A JSON-comparable value from a pandas/numpy one."""
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def table_names(objects, with_columns=False):
    names = {}
    for catalog in objects:
        for schema in catalog.get("catalog_db_schemas") or []:
            for table in schema.get("db_schema_tables") or []:
                columns = [c["column_name"] for c in table.get("table_columns") or []]
                names[table["table_name"]] = columns
    return names


def expect_error(run, expected):
    try:
        run()
    except Exception as e:  # the driver's errors are DB-API exceptions
        message = f"{type(e).__name__}: {e}"
        if expected and expected not in message:
            return False, f"error {message!r} does not contain {expected!r}"
        return True, message
    return False, "no error"


def check(c, uri, token):
    op = c["op"]
    auth = c.get("auth", "bearer")
    if op == "bad_token":
        def run():
            with connect(uri, c["token"], auth) as conn, conn.cursor() as cur:
                cur.execute(c.get("sql", "SELECT 1"))
                cur.fetchall()
        return expect_error(run, c.get("expect_error"))

    with connect(uri, token, auth) as conn:
        if op == "connect":
            info = {k: plain(v) for k, v in conn.adbc_get_info().items()
                    if isinstance(v, (str, int, float, bool))}
            for k, v in (c.get("expect_info") or {}).items():
                if info.get(k) != v:
                    return False, f"info {k} = {info.get(k)!r}, expected {v!r}"
            return True, info

        if op == "tables":
            objects = conn.adbc_get_objects(
                depth="all",
                catalog_filter=c.get("catalog"),
                db_schema_filter=c.get("db_schema"),
                table_name_filter=c.get("table_name_filter"),
            ).read_all().to_pylist()
            found = table_names(objects)
            names = sorted(found)
            if "expect" in c and names != sorted(c["expect"]):
                return False, f"tables {names}, expected {sorted(c['expect'])}"
            for table, cols in (c.get("expect_columns") or {}).items():
                if found.get(table) != cols:
                    return False, f"{table} columns {found.get(table)}, expected {cols}"
            return True, found

        if op == "table_schema":
            schema = conn.adbc_get_table_schema(
                c["table"], catalog_filter=c.get("catalog"), db_schema_filter=c.get("db_schema"))
            cols = schema.names
            if "expect_columns" in c and cols != c["expect_columns"]:
                return False, f"columns {cols}, expected {c['expect_columns']}"
            return True, {f.name: str(f.type) for f in schema}

        if op == "query":
            with conn.cursor() as cur:
                cur.execute(c["sql"])
                df = cur.fetch_df()
            detail = {"rows": len(df), "columns": list(df.columns)}
            if "expect_rows" in c and len(df) != c["expect_rows"]:
                return False, f"{len(df)} rows, expected {c['expect_rows']}"
            if "expect_columns" in c and list(df.columns) != c["expect_columns"]:
                return False, f"columns {list(df.columns)}, expected {c['expect_columns']}"
            for col, values in (c.get("expect_values") or {}).items():
                if col not in df.columns:
                    return False, f"no column {col!r} in {list(df.columns)}"
                got = [plain(v) for v in df[col].tolist()]
                if got != values:
                    return False, f"{col} = {got}, expected {values}"
                detail[col] = got
            return True, detail

        if op == "refused":
            def run():
                with conn.cursor() as cur:
                    cur.execute(c["sql"])
                    cur.fetchall()
            return expect_error(run, c.get("expect_error"))

        if op == "update_refused":
            def run():
                with conn.cursor() as cur:
                    stmt = cur.adbc_statement
                    stmt.set_sql_query(c["sql"])
                    stmt.execute_update()
            return expect_error(run, c.get("expect_error"))

    raise ValueError(f"unknown check {op!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uri", required=True, help="grpc://HOST:PORT")
    parser.add_argument("--token", required=True)
    parser.add_argument("checks", nargs="*", help="JSON check objects or lists")
    args = parser.parse_args()

    try:
        sources = args.checks or [sys.stdin.read()]
        checks = []
        for s in sources:
            parsed = json.loads(s)
            checks.extend(parsed if isinstance(parsed, list) else [parsed])
    except json.JSONDecodeError as e:
        print(json.dumps({"ok": False, "error": f"checks are not JSON: {e}"}))
        sys.exit(2)

    results = []
    for c in checks:
        try:
            ok, detail = check(c, args.uri, args.token)
        except Exception as e:
            ok, detail = False, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
        results.append({"check": c, "ok": ok, "detail": detail})

    ok = bool(results) and all(r["ok"] for r in results)
    print(json.dumps({"ok": ok, "checks": results}, default=str, ensure_ascii=False))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
