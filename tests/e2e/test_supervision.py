"""`labkeeper serve` under faults: kill -9 of the main process, SIGTERM during a long
wait, kill -9 during a PostgreSQL query. Real processes, real databases."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest

from tests.e2e.test_serve import Served
from tests.helpers import alive, wait_for

pytestmark = pytest.mark.e2e
ADMIN = "lk_automation_key_for_ci_0100"
ENV = {"LABKEEPER_BOOTSTRAP_ADMIN_KEY": ADMIN}
PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
HANG_GUARD = 60.0  # seconds: only a broken server gets near it
# Counts for ever on SQLite, interruptible: only a stop ends it.
ENDLESS_SQLITE_QUERY = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
)


def api(served: Served, method: str, path: str, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("timeout", 30)
    return httpx.request(method, served.url + "/public/api" + path, auth=(ADMIN, ""), **kwargs)


def sql_notebook(served: Served, key: str, connection: str, sql: str) -> str:
    assert api(served, "POST", "/projects/", json={"projectKey": key, "name": key}).status_code == 200
    cell = {"id": "slow", "type": "QUERY", "name": "slow", "code": sql}
    body = {"connection": connection, "cells": [cell], "name": "nb"}
    answer = api(served, "POST", f"/projects/{key}/sql-notebooks/", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def workers_of(pid: int) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(pid).children():
        try:
            if any("spawn_main" in part for part in child.cmdline()):
                found.append(child)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):  # a worker that just died
            continue
    return found


def test_kill_9_of_the_main_process_takes_its_workers_down_and_a_restart_serves(
    tmp_path: Path,
    config,  # type: ignore[no-untyped-def]
) -> None:
    data = tmp_path / "data"
    first = Served(data, config.database_url, "--workers", "2", env=ENV).__enter__()
    try:
        workers = wait_for(lambda: len(workers_of(first.proc.pid)) == 2 and workers_of(first.proc.pid))
        assert workers, "two worker processes expected"
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(timeout=10)
        # The workers would serve for ever: gone before the hang guard means taken down.
        gone = wait_for(lambda: not any(alive(w.pid) for w in workers), timeout=HANG_GUARD)
        assert gone, [w.pid for w in workers if alive(w.pid)]
        with Served(data, config.database_url, "--workers", "2", env=ENV, port=first.port) as second:
            answer = api(second, "GET", "/admin/general-settings")
            assert answer.status_code == 200
    finally:
        for worker in workers_of(first.proc.pid) if first.proc.poll() is None else []:
            worker.kill()
        first.__exit__()


def test_sigterm_during_a_long_wait_stops_without_waiting_for_it_and_records_the_interruption(
    tmp_path: Path,
    config,  # type: ignore[no-untyped-def]
) -> None:
    data = tmp_path / "data"
    bound = 3.0
    served = Served(data, config.database_url, "--graceful-timeout", str(bound), env=ENV).__enter__()
    try:
        notebook = sql_notebook(served, "STOP", "local-sqlite", ENDLESS_SQLITE_QUERY)
        answers: list[httpx.Response | Exception] = []

        def wait_for_the_cell() -> None:
            try:
                path = f"/projects/STOP/sql-notebooks/{notebook}/cells/slow/actions/run"
                answers.append(api(served, "POST", path, params={"wait": "true"}, timeout=120))
            except httpx.HTTPError as exc:
                answers.append(exc)

        waiter = threading.Thread(target=wait_for_the_cell, daemon=True)
        waiter.start()
        running = wait_for(lambda: api(served, "GET", "/futures/", params={"allUsers": "true"}).json())
        assert running, "the cell's future should be running"
        job_id = running[0]["jobId"]
        time.sleep(0.5)  # the request is waiting on the future
        os.kill(served.proc.pid, signal.SIGTERM)
        # The cell counts for ever: a server that stops at all did not wait for it (the guard
        # is far above the 3 s graceful timeout), and the waiting call's answer and the
        # record below say it was interrupted.
        try:
            served.proc.wait(timeout=HANG_GUARD)
        except Exception:  # noqa: BLE001
            pytest.fail(f"labkeeper serve did not stop within the {HANG_GUARD} s hang guard")
        waiter.join(HANG_GUARD)
        assert not waiter.is_alive(), "the waiting call never got an answer"
        assert answers and isinstance(answers[0], httpx.Response), answers
        assert "shut down" in answers[0].text.lower(), answers[0].text
    finally:
        served.__exit__()
    with Served(data, config.database_url, env=ENV) as again:
        answer = api(again, "GET", f"/futures/{job_id}")
        assert "interrupted: the server shut down" in answer.text.lower(), answer.text
        history = api(again, "GET", f"/projects/STOP/sql-notebooks/{notebook}/history").json()
        (entry,) = history["slow"]
        assert entry["state"] == "FAILED" and entry["endedOn"] > 0, entry
        assert "shut down" in entry["error"].lower(), entry


def _backends(marker: str) -> list[tuple]:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        return conn.execute(
            "SELECT pid, state FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
            (f"%{marker}%",),
        ).fetchall()


def test_kill_9_during_a_postgresql_query_the_restart_stops_it_and_completes_its_record(
    tmp_path: Path,
    config,  # type: ignore[no-untyped-def]
) -> None:
    data = tmp_path / "data"
    marker = f"lk_e2e_{secrets.token_hex(5)}"
    served = Served(data, config.database_url, env=ENV).__enter__()
    try:
        body = {
            "name": "pg",
            "type": "PostgreSQL",
            "params": {"host": "127.0.0.1", "port": 5432, "db": "test", "user": "postgres"},
        }
        assert api(served, "POST", "/admin/connections/", json=body).status_code == 200
        # Two statements: run as typed (not through a cursor), so the marker shows in
        # pg_stat_activity.query while it sleeps.
        sql = f"SELECT 1 AS {marker}_first; SELECT pg_sleep(600) AS {marker}"
        notebook = sql_notebook(served, "CRASH", "pg", sql)
        path = f"/projects/CRASH/sql-notebooks/{notebook}/cells/slow/actions/run"
        assert api(served, "POST", path, params={"wait": "false"}).status_code == 200
        assert wait_for(lambda: _backends(marker)), "the query should be running on PostgreSQL"
        os.kill(served.proc.pid, signal.SIGKILL)
        served.proc.wait(timeout=10)
    finally:
        served.__exit__()
    try:
        with Served(data, config.database_url, env=ENV, port=served.port) as again:
            # pg_sleep(600) outlives the hang guard: gone means the restart stopped it.
            assert wait_for(lambda: not _backends(marker), timeout=HANG_GUARD), _backends(marker)
            history = api(again, "GET", f"/projects/CRASH/sql-notebooks/{notebook}/history").json()
            (entry,) = history["slow"]
            assert entry["state"] == "FAILED", entry
            assert entry["endedOn"] > 0 and entry["durationMs"] > 0, entry
            assert "interrupted by a restart" in entry["error"].lower(), entry
    finally:
        for pid, _state in _backends(marker):  # never leave a minute of pg_sleep behind
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_dead_workers_live_gauges_leave_the_scrape(
    tmp_path: Path,
    config,  # type: ignore[no-untyped-def]
) -> None:
    """kill -9 of one worker: it is replaced, and its per-process gauges are dropped, so a
    scrape no longer adds a dead process's last values to the live ones."""
    data = tmp_path / "data"
    with Served(data, config.database_url, "--workers", "2", env=ENV) as served:
        workers = wait_for(lambda: len(workers_of(served.proc.pid)) == 2 and workers_of(served.proc.pid))
        assert workers
        metrics_dir = data / "run" / "prometheus"
        victim = workers[0].pid
        assert wait_for(lambda: (metrics_dir / f"gauge_livemin_{victim}.db").exists(), timeout=30)
        os.kill(victim, signal.SIGKILL)

        def replaced() -> bool:
            pids = {w.pid for w in workers_of(served.proc.pid)}
            return len(pids) == 2 and victim not in pids

        assert wait_for(replaced, timeout=60)
        assert wait_for(lambda: not (metrics_dir / f"gauge_livemin_{victim}.db").exists(), timeout=10)
        scrape = httpx.get(served.url + "/metrics", auth=(ADMIN, ""), timeout=30)
        assert scrape.status_code == 200
        assert "labkeeper_store_up 1.0" in scrape.text
