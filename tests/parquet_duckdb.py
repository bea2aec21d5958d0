"""Independent reader for tests/parquet.rs: reads auditlog's Parquet output
with DuckDB and prints what it sees as one JSON object on stdout.

usage: parquet_duckdb.py EXPORT_FILE LAKE_DIR CUSTOMER NEEDLE

For the single exported file and for the Hive-partitioned lake dataset it
reports the column types, the row count, the count by action, min/max time
(epoch microseconds) of one customer, the count of names containing NEEDLE,
and the first and last 50 rows ordered by id; for the lake also the count
per `date` partition.
"""

import json
import sys

import duckdb


def row_json(cols, row):
    out = {}
    for c, v in zip(cols, row):
        out[c] = v
    return out


def facts(con, src, customer, needle, lake):
    types = con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
    f = {"types": {r[0]: r[1] for r in types}}
    f["count"] = con.execute(f"SELECT count(*) FROM {src}").fetchone()[0]
    f["by_action"] = {
        a: n
        for a, n in con.execute(
            f"SELECT action, count(*) FROM {src} GROUP BY action"
        ).fetchall()
    }
    lo, hi = con.execute(
        f"SELECT epoch_us(min(time)), epoch_us(max(time)) FROM {src} WHERE customer = ?",
        [customer],
    ).fetchone()
    f["customer_min_time"] = lo
    f["customer_max_time"] = hi
    f["name_contains"] = con.execute(
        f"SELECT count(*) FROM {src} WHERE contains(name, ?)", [needle]
    ).fetchone()[0]
    cols = [
        "id", "time", "customer", "person", "source", "action", "object",
        "object_id", "name", "field", "old", "new", "refs", "args", "result",
    ]
    sel = ", ".join("epoch_us(time) AS time" if c == "time" else c for c in cols)
    for key, order in (("first", "ASC"), ("last", "DESC")):
        rows = con.execute(
            f"SELECT {sel} FROM {src} ORDER BY id {order} LIMIT 50"
        ).fetchall()
        f[key] = [row_json(cols, r) for r in rows]
    if lake:
        f["by_date"] = {
            str(d): n
            for d, n in con.execute(
                f"SELECT CAST(date AS VARCHAR), count(*) FROM {src} GROUP BY date"
            ).fetchall()
        }
    return f


def main():
    export_file, lake_dir, customer, needle = sys.argv[1:5]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    out = {
        "export": facts(
            con, f"read_parquet('{export_file}')", int(customer), needle, False
        ),
        "lake": facts(
            con,
            f"read_parquet('{lake_dir}/*/*.parquet', hive_partitioning = true)",
            int(customer),
            needle,
            True,
        ),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
