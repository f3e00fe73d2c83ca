"""A SQL notebook cell selecting 100,000 rows, run through a real `labkeeper serve`
(`DSSSQLNotebook.run_cell(wait=True)`: HTTP, the future, the query, the history write),
against the same SELECT through SQLAlchemy directly (`execute` + `fetchall()`), in one
run, on the instance's SQLite connection and on PostgreSQL. A third line times labkeeper's
own query code called in-process (no server, no future, no store), which shows what the
server around it costs.

    .venv/bin/python bench/sql.py [--repeat 15] [--rows 100000] [--no-postgresql]

Target: labkeeper at most 1.2x the direct SQLAlchemy time + 20 ms (medians).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))

from _harness import BENCH_KEY, LabkeeperServer  # noqa: E402

from labkeeper.client import DSSClient  # noqa: E402
from labkeeper.connections.engines import build_engine  # noqa: E402
from labkeeper.connections.query import Canceller, run_query  # noqa: E402
from labkeeper.connections.service import ConnectionSpec  # noqa: E402

OURS = "labkeeper run_cell(wait=True)"
DIRECT = "SQLAlchemy execute + fetchall"
IN_PROCESS = "labkeeper query code, in-process"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_PARAMS = {"host": "127.0.0.1", "port": 5432, "db": "test", "user": "postgres"}
KEPT = 1000  # sqlNotebooks.maxRowsKept of a fresh instance


def fill_sql(table: str, rows: int, postgresql: bool) -> str:
    if postgresql:
        return (
            f"CREATE TABLE {table} AS SELECT g AS id, 'name ' || g AS name, g * 1.5::float8 AS value, "
            f"now() - g * interval '1 minute' AS created FROM generate_series(1, {rows}) g"
        )
    return (
        f"CREATE TABLE {table} AS WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g "
        f"WHERE x < {rows}) SELECT x AS id, 'name ' || x AS name, x * 1.5 AS value, "
        "datetime('now', '-' || x || ' minutes') AS created FROM g"
    )


def timed(fn: Callable[[], int], expected: int) -> float:
    started = time.perf_counter()
    count = fn()
    elapsed = (time.perf_counter() - started) * 1000
    if count != expected:
        sys.exit(f"expected {expected} rows, got {count}")
    return elapsed


def measure(label: str, variants: dict[str, Callable[[], int]], rows: int, repeat: int) -> bool:
    for _ in range(2):  # warm every path: pools, caches, the page cache
        for fn in variants.values():
            timed(fn, rows)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeat):  # interleaved, so drift hits all of them alike
        for name, fn in variants.items():
            times[name].append(timed(fn, rows))
    for name, values in times.items():
        print(
            f"{label:11} {name:34} median {statistics.median(values):7.1f} ms"
            f"  min {min(values):7.1f}  max {max(values):7.1f}"
        )
    ours, direct = statistics.median(times[OURS]), statistics.median(times[DIRECT])
    budget = 1.2 * direct + 20
    verdict = "met" if ours <= budget else "MISSED"
    print(f"{label:11} ratio {ours / direct:.2f}; target 1.2x + 20 ms = {budget:.1f} ms: {verdict}")
    return ours <= budget


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args()

    server = LabkeeperServer()
    client = DSSClient(server.url, BENCH_KEY)
    data_dir = server.data_dir / "data"
    table = f"lk_bench_{secrets.token_hex(4)}"
    query = f"SELECT id, name, value, created FROM {table}"
    targets = [("SQLite", "local-sqlite", {"path": "local.db"}, f"sqlite:///{data_dir}/sql/local.db")]
    if not args.no_postgresql:
        targets.append(("PostgreSQL", "pg", PG_PARAMS, PG_URL))
    results = []
    try:
        project = client.create_project("SQLBENCH", "SQL bench", "admin")
        if not args.no_postgresql:
            client.create_connection("pg", "PostgreSQL", params=PG_PARAMS)
        print(
            f"SELECT of {args.rows} rows x 4 columns; {args.repeat} interleaved runs each, after 2 warm-ups"
        )
        for label, connection, params, url in targets:
            fill = fill_sql(table, args.rows, label == "PostgreSQL")
            cells = [
                {"id": "fill", "type": "QUERY", "name": "fill", "code": fill},
                {"id": "select", "type": "QUERY", "name": "select", "code": query},
            ]
            notebook = project.create_sql_notebook({"connection": connection, "cells": cells})
            notebook.run_cell("fill")
            direct_engine = sa.create_engine(url)
            in_process_engine = build_engine(data_dir, ConnectionSpec(connection, label, params, 1))

            def ours(notebook=notebook) -> int:  # type: ignore[no-untyped-def]
                result = notebook.run_cell("select")
                assert len(result["rows"]) == KEPT
                return result["rowCount"]

            def direct(engine=direct_engine) -> int:  # type: ignore[no-untyped-def]
                with engine.connect() as conn:
                    return len(conn.execute(sa.text(query)).fetchall())

            def in_process(engine=in_process_engine, kind=label) -> int:  # type: ignore[no-untyped-def]
                return run_query(engine, kind, query, max_rows=KEPT, canceller=Canceller()).row_count

            variants = {OURS: ours, DIRECT: direct, IN_PROCESS: in_process}
            results.append(measure(label, variants, args.rows, args.repeat))
            notebook.clear_history()
            if label == "PostgreSQL":
                with direct_engine.begin() as conn:
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
            direct_engine.dispose()
            in_process_engine.dispose()
    finally:
        client.close()
        server.close()
    if not all(results):
        sys.exit(1)


if __name__ == "__main__":
    main()
