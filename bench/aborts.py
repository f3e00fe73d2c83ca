"""How fast an abort stops the work, through a real `labkeeper serve`, against the same stop
done straight in Python, in one run. The tests prove that an abort stops the work (by state,
never by a clock); this is where "within a second" is measured.

    .venv/bin/python bench/aborts.py [--aborts 10] [--no-postgresql] [--no-jupyter]

1. SQLite: a SQL cell counting for ever (an endless recursive CTE), aborted with
   `DELETE /futures/{id}`; timed until the future says aborted and the run has written its
   own ABORTED outcome (it writes only once its statement has returned: the work stopped).
   Baseline: sqlite3's `interrupt()` from another thread on the same query, in this process,
   timed until the query's thread has returned.
2. PostgreSQL (postgresql://postgres@127.0.0.1:5432/test): a SQL cell `SELECT pg_sleep(600)`
   aborted the same way, timed until its backend is off the query in pg_stat_activity (and
   the future says aborted). Baseline: `pg_cancel_backend` from psycopg on a psycopg
   connection running the same statement, timed the same way.
3. Jupyter: a notebook run whose cell would sleep ten minutes, aborted the same way (a kernel
   interrupt), timed until the session's kernel is idle again (and the future says aborted).
   Baseline: jupyter_client's `interrupt_kernel` on a kernel it started itself, timed until
   the kernel reports idle on IOPub. Kernels run as for bench/notebooks.py (as root, set
   LABKEEPER_KERNEL_PYTHON to a Python every account may execute, with ipykernel).

Every wait polls every 5 ms, labkeeper's side over HTTP. Each stop starts once the work is
seen running (the CTE's run is RUNNING for 0.3 s, the backend on PgSleep, the kernel busy).
Target: every labkeeper abort under 1 s (its max); the ratio of medians is printed.
"""

from __future__ import annotations

import argparse
import secrets
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import LabkeeperServer  # noqa: E402

ENDLESS_CTE = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
PG_SLEEP = "SELECT pg_sleep(600)"
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
PG_PARAMS = {"host": "127.0.0.1", "port": 5432, "db": "test", "user": "postgres"}
SLEEPY_CELL = "import time\nfor _ in range(6000):\n    time.sleep(0.1)"
POLL = 0.005
GUARD = 60.0  # seconds: a stop that takes longer is reported as a failure, not waited for
PROJECT = "ABORTBENCH"
TARGET_SECONDS = 1.0


def until(predicate: Callable[[], Any], what: str) -> Any:
    """Poll `predicate` every POLL seconds until it is true; exit past GUARD."""
    deadline = time.monotonic() + GUARD
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            sys.exit(f"gave up after {GUARD:.0f} s waiting for {what}")
        time.sleep(POLL)


def pg_rows(sql: str, *params: object) -> list[tuple]:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def pg_sleeping(application_name: str) -> list[int]:
    """Backends of that application_name busy on pg_sleep (a server-side cursor shows its
    FETCH as the query: the wait event says what the backend does)."""
    rows = pg_rows(
        "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND application_name = %s "
        "AND wait_event = 'PgSleep'",
        application_name,
    )
    return [pid for (pid,) in rows]


def stop_backends(application_name: str) -> None:
    pg_rows(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", application_name
    )


# ---- labkeeper ---------------------------------------------------------------------------


class Labkeeper:
    def __init__(self, server: LabkeeperServer) -> None:
        self.api: httpx.Client = server.api
        answer = self.api.post("/projects/", json={"projectKey": PROJECT, "name": "Abort bench"})
        assert answer.status_code == 200, answer.text

    def sql_notebook(self, connection: str, sql: str) -> str:
        cells = [{"id": "slow", "type": "QUERY", "name": "slow", "code": sql}]
        body = {"connection": connection, "cells": cells, "name": f"nb-{connection}"}
        answer = self.api.post(f"/projects/{PROJECT}/sql-notebooks/", json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()["id"]

    def run_cell(self, notebook: str) -> str:
        path = f"/projects/{PROJECT}/sql-notebooks/{notebook}/cells/slow/actions/run"
        answer = self.api.post(path, params={"wait": "false"})
        assert answer.status_code == 200, answer.text
        return answer.json()["jobId"]

    def peek(self, job: str) -> dict[str, Any]:
        return self.api.get(f"/futures/{job}", params={"peek": "true"}).json()

    def aborted(self, job: str) -> bool:
        state = self.peek(job)
        return bool(state["aborted"]) and not state["alive"]

    def abort(self, job: str) -> None:
        answer = self.api.delete(f"/futures/{job}")
        assert answer.status_code == 204, answer.text

    def run_entry(self, notebook: str, job: str) -> dict[str, Any]:
        runs = self.api.get(f"/projects/{PROJECT}/sql-notebooks/{notebook}/history").json()["slow"]
        return next((run for run in runs if run["jobId"] == job), {})


def labkeeper_sqlite(lk: Labkeeper, notebook: str) -> float:
    job = lk.run_cell(notebook)
    until(lambda: lk.run_entry(notebook, job).get("state") == "RUNNING", "the SQLite run to start")
    time.sleep(0.3)  # counting by now
    began = time.perf_counter()
    lk.abort(job)

    def stopped() -> bool:
        # endedOn is set only by the run's own final write, after its statement returned.
        entry = lk.run_entry(notebook, job)
        return entry.get("state") == "ABORTED" and bool(entry.get("endedOn")) and lk.aborted(job)

    until(stopped, "the SQLite run to stop")
    return time.perf_counter() - began


def labkeeper_postgresql(lk: Labkeeper, notebook: str, marker: str) -> float:
    job = lk.run_cell(notebook)
    until(lambda: pg_sleeping(marker), "the PostgreSQL backend to sleep")
    began = time.perf_counter()
    lk.abort(job)
    until(lambda: not pg_sleeping(marker) and lk.aborted(job), "the backend to leave pg_sleep")
    elapsed = time.perf_counter() - began
    until(lambda: lk.run_entry(notebook, job).get("endedOn"), "the PostgreSQL run to record its end")
    return elapsed


def labkeeper_jupyter(lk: Labkeeper, session: str) -> float:
    nb = f"/projects/{PROJECT}/jupyter-notebooks/sleepy"
    answer = lk.api.post(f"{nb}/actions/run", json={"sessionId": session})
    assert answer.status_code == 200, answer.text
    job = answer.json()["jobId"]

    def kernel_state() -> str:
        sessions = lk.api.get(f"{nb}/sessions").json()
        return next((s["kernelExecutionState"] for s in sessions if s["sessionId"] == session), "")

    until(lambda: kernel_state() == "busy", "the kernel to be busy")
    began = time.perf_counter()
    lk.abort(job)
    until(lambda: kernel_state() == "idle" and lk.aborted(job), "the kernel to be idle again")
    return time.perf_counter() - began


# ---- baselines: the same stop, straight in Python -----------------------------------------


def direct_sqlite(path: Path) -> float:
    conn = sqlite3.connect(path, check_same_thread=False)
    failed: list[BaseException] = []

    def count() -> None:
        try:
            conn.execute(ENDLESS_CTE).fetchall()
        except sqlite3.OperationalError as exc:  # "interrupted"
            failed.append(exc)

    counter = threading.Thread(target=count, daemon=True)
    counter.start()
    time.sleep(0.3)  # counting by now, as on labkeeper's side
    began = time.perf_counter()
    conn.interrupt()
    counter.join(GUARD)
    elapsed = time.perf_counter() - began
    if counter.is_alive() or not failed:
        sys.exit("sqlite3's interrupt did not stop the query")
    conn.close()
    return elapsed


def direct_postgresql() -> float:
    marker = f"lk_abort_direct_{secrets.token_hex(4)}"
    conn = psycopg.connect(PG_DSN, autocommit=True, application_name=marker)
    cancelled: list[BaseException] = []

    def sleep() -> None:
        try:
            conn.execute(PG_SLEEP)
        except psycopg.errors.QueryCanceled as exc:
            cancelled.append(exc)

    sleeper = threading.Thread(target=sleep, daemon=True)
    sleeper.start()
    try:
        [pid] = until(lambda: pg_sleeping(marker), "the direct backend to sleep")
        with psycopg.connect(PG_DSN, autocommit=True) as other:
            began = time.perf_counter()
            other.execute("SELECT pg_cancel_backend(%s)", (pid,))
            until(lambda: not pg_sleeping(marker), "the direct backend to leave pg_sleep")
            elapsed = time.perf_counter() - began
        sleeper.join(GUARD)
        if not cancelled:
            sys.exit("pg_cancel_backend did not cancel the query")
    finally:
        stop_backends(marker)
        conn.close()
    return elapsed


class DirectKernel:
    """A kernel jupyter_client started itself (the built-in kernelspec: this Python)."""

    def __init__(self) -> None:
        from jupyter_client.manager import KernelManager

        self.km = KernelManager(kernel_name="python3")
        self.km.kernel_spec_manager.ensure_native_kernel = True
        self.km.start_kernel()
        self.client = self.km.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=GUARD)

    def _status(self, msg_id: str, wanted: str) -> None:
        deadline = time.monotonic() + GUARD
        while time.monotonic() < deadline:
            msg = self.client.get_iopub_msg(timeout=GUARD)
            if (
                msg["msg_type"] == "status"
                and msg["parent_header"].get("msg_id") == msg_id
                and msg["content"]["execution_state"] == wanted
            ):
                return
        sys.exit(f"the direct kernel never reported {wanted}")

    def interrupt(self) -> float:
        msg_id = self.client.execute(SLEEPY_CELL)
        self._status(msg_id, "busy")
        time.sleep(0.05)  # inside the loop by now
        began = time.perf_counter()
        self.km.interrupt_kernel()
        self._status(msg_id, "idle")
        elapsed = time.perf_counter() - began
        self.client.get_shell_msg(timeout=GUARD)  # the execute_reply (KeyboardInterrupt)
        return elapsed

    def close(self) -> None:
        self.client.stop_channels()
        self.km.shutdown_kernel(now=True)


# ---- report --------------------------------------------------------------------------------


def report(label: str, ours: list[float], direct: list[float], baseline: str) -> bool:
    for name, runs in (("labkeeper DELETE /futures/{id}", ours), (baseline, direct)):
        print(
            f"{label:10} {name:34} p50 {statistics.median(runs) * 1000:7.1f} ms"
            f"  max {max(runs) * 1000:7.1f} ms"
        )
    met = max(ours) < TARGET_SECONDS
    ratio = statistics.median(ours) / statistics.median(direct)
    verdict = "met" if met else "MISSED"
    print(f"{label:10} ratio of p50s {ratio:.1f}x; target every abort < {TARGET_SECONDS:.0f} s: {verdict}")
    return met


def interleaved(aborts: int, ours: Callable[[], float], direct: Callable[[], float]) -> tuple[list, list]:
    """One of each per round, so that drift in the machine's load hits both alike."""
    ours(), direct()  # warm-up: pools, caches, the page cache
    mine, theirs = [], []
    for _ in range(aborts):
        mine.append(ours())
        theirs.append(direct())
    return mine, theirs


def main() -> None:
    raw_help = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw_help)
    parser.add_argument("--aborts", type=int, default=10)
    parser.add_argument("--no-postgresql", action="store_true")
    parser.add_argument("--no-jupyter", action="store_true")
    args = parser.parse_args()

    server = LabkeeperServer()
    scratch = Path(tempfile.mkdtemp(prefix="labkeeper-abort-bench-"))
    marker = f"lk_abort_bench_{secrets.token_hex(4)}"
    results = []
    try:
        lk = Labkeeper(server)
        print(f"{args.aborts} aborts each, after one warm-up, labkeeper and baseline interleaved")

        notebook = lk.sql_notebook("local-sqlite", ENDLESS_CTE)
        ours, direct = interleaved(
            args.aborts, lambda: labkeeper_sqlite(lk, notebook), lambda: direct_sqlite(scratch / "direct.db")
        )
        results.append(report("SQLite", ours, direct, "sqlite3 interrupt()"))

        if not args.no_postgresql:
            params = {**PG_PARAMS, "properties": [{"name": "application_name", "value": marker}]}
            answer = lk.api.post(
                "/admin/connections/", json={"name": "pg", "type": "PostgreSQL", "params": params}
            )
            assert answer.status_code == 200, answer.text
            notebook = lk.sql_notebook("pg", PG_SLEEP)
            ours, direct = interleaved(
                args.aborts, lambda: labkeeper_postgresql(lk, notebook, marker), direct_postgresql
            )
            results.append(report("PostgreSQL", ours, direct, "psycopg pg_cancel_backend"))

        if not args.no_jupyter:
            nb = f"/projects/{PROJECT}/jupyter-notebooks/sleepy"
            cell = {"id": "c0", "cell_type": "code", "metadata": {}, "source": SLEEPY_CELL}
            content = {
                "nbformat": 4,
                "nbformat_minor": 5,
                "metadata": {
                    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
                },
                "cells": [{**cell, "outputs": [], "execution_count": None}],
            }
            assert lk.api.post(nb, json=content).status_code == 200
            answer = lk.api.post(f"{nb}/sessions")
            if answer.status_code != 200:
                sys.exit(f"no kernel session ({answer.status_code}): {answer.text[:300]}")
            session = answer.json()["sessionId"]
            kernel = DirectKernel()
            try:
                ours, direct = interleaved(
                    args.aborts, lambda: labkeeper_jupyter(lk, session), kernel.interrupt
                )
            finally:
                kernel.close()
                lk.api.delete(f"{nb}/sessions/{session}")
            results.append(report("Jupyter", ours, direct, "jupyter_client interrupt_kernel"))
    finally:
        if not args.no_postgresql:
            stop_backends(marker)
        server.close()
    if not all(results):
        sys.exit(1)


if __name__ == "__main__":
    main()
