"""Times DuckDB on the SPEC section 6 queries over auditlog's Parquet lake
(run by the ignored test `bench_lake_duckdb_vs_engine` in tests/parquet.rs).

usage: lake_bench_duckdb.py LAKE_DIR PARAMS_JSON REPS

PARAMS_JSON holds the query parameters (RFC 3339 window bounds, person,
customer, needle, the reseller's children, the sort limit). Each query's
result is materialised inside DuckDB (CREATE TEMP TABLE ... AS), every
column, as our engine materialises every row; the median of REPS runs is
printed per query, with the row count, as one JSON object.
"""

import json
import statistics
import sys
import time

import duckdb


def main():
    lake, params, reps = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"CREATE VIEW audit AS SELECT * EXCLUDE (date) FROM "
        f"read_parquet('{lake}/*/*.parquet', hive_partitioning = true)"
    )
    p = params
    win = lambda w: f"time >= TIMESTAMPTZ '{w[0]}' AND time < TIMESTAMPTZ '{w[1]}'"
    children = ",".join(str(c) for c in p["children"])
    queries = {
        "time_slice": f"SELECT * FROM audit WHERE {win(p['time_slice'])} ORDER BY time, id",
        "person_window": f"SELECT * FROM audit WHERE person = '{p['person']}' AND {win(p['person_window'])} ORDER BY time, id",
        "customer_all": f"SELECT * FROM audit WHERE customer = {p['customer']} ORDER BY time, id",
        "name_contains": f"SELECT * FROM audit WHERE contains(name, '{p['needle']}') AND {win(p['name_contains'])} ORDER BY time, id",
        "subtree_day": f"SELECT * FROM audit WHERE customer IN ({children}) AND {win(p['subtree_day'])} ORDER BY time, id",
        "sort_by_name": f"SELECT * FROM audit WHERE {win(p['sort_by_name'])} ORDER BY name, id LIMIT {p['sort_limit']}",
    }
    out = {}
    for key, sql in queries.items():
        times = []
        rows = None
        for _ in range(reps):
            t = time.perf_counter()
            con.execute(f"CREATE OR REPLACE TEMP TABLE r AS {sql}")
            times.append((time.perf_counter() - t) * 1000.0)
            rows = con.execute("SELECT count(*) FROM r").fetchone()[0]
        out[key] = {"ms": statistics.median(times), "rows": rows}
    t = time.perf_counter()
    n = con.execute("SELECT count(*) FROM audit").fetchone()[0]
    out["count_all"] = {"ms": (time.perf_counter() - t) * 1000.0, "rows": n}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
