"""The change-stamp read a PostgreSQL server makes for each batch of requests, against the
same read through psycopg's async `execute`.

    .venv/bin/python bench/stamp_reads.py [--reads 3000] \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/lk_bench_stamps

The database must be one of its own (its schema is brought to labkeeper's newest). On one
uvloop event loop, `--reads` reads in a row through labkeeper's reader (db/store.py
`_AsyncReader`: the statement prepared once, one send and one receive on libpq), then as
many through the baseline: psycopg's async connection running the same statement with
`execute` (a cursor a read, prepared by psycopg after its fifth run), which was labkeeper's
reader before. Prints the process CPU and wall time per read of each, and their ratio (a
request pays a read's cost divided by the requests sharing it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from labkeeper.db import migrate  # noqa: E402
from labkeeper.db.stamps import READ_STAMPS_POSTGRESQL  # noqa: E402
from labkeeper.db.store import Store, _AsyncReader  # noqa: E402


async def _psycopg_reader(conninfo: str) -> Any:
    import psycopg

    connection = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)

    async def read() -> dict[str, int]:
        cursor = await connection.execute(READ_STAMPS_POSTGRESQL)
        return dict(await cursor.fetchall())

    return connection, read


async def _time(read: Any, reads: int) -> tuple[float, float]:
    for _ in range(20):
        await read()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(reads):
        await read()
    return (time.process_time() - cpu) / reads * 1e6, (time.perf_counter() - wall) / reads * 1e6


async def _main(url: str, reads: int) -> None:
    store = Store(url)
    migrate.upgrade(store.engine)
    conninfo = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    ours = _AsyncReader(store.engine.url.set(drivername="postgresql"))
    connection, baseline = await _psycopg_reader(conninfo)
    assert await ours.stamps() == await baseline(), "the two reads disagree"
    mine, theirs = await _time(ours.stamps, reads), await _time(baseline, reads)
    ours.close()
    await connection.close()
    store.engine.dispose()
    print(f"{reads} change-stamp reads in a row, one uvloop event loop (CPU us, wall us per read)")
    print(f"  labkeeper (libpq, prepared)   {mine[0]:7.1f} {mine[1]:7.1f}")
    print(f"  psycopg async execute         {theirs[0]:7.1f} {theirs[1]:7.1f}")
    print(f"  CPU: labkeeper costs {mine[0] / theirs[0]:.2f}x the baseline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="an empty PostgreSQL database of its own")
    parser.add_argument("--reads", type=int, default=3000)
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        sys.exit("--database-url must be a PostgreSQL URL: SQLite reads the stamps without a round trip")
    import uvloop

    uvloop.run(_main(args.database_url, args.reads))


if __name__ == "__main__":
    main()
