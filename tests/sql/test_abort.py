"""Aborting a run stops the query on the database itself, within a second, and the run is
recorded as ABORTED: a long recursive CTE on SQLite, pg_sleep(30) on PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest

from labkeeper.connections.service import DEFAULT_CONNECTION
from labkeeper.notebooks.sql.models import SqlQueryRun
from tests.conftest import Instance
from tests.helpers import wait_for
from tests.sql.helpers import (
    PG_PARAMS,
    history,
    make_notebook,
    make_pg_connection,
    make_project,
    pg_execute,
    query_cell,
    run,
    unique,
)

ENDLESS_CTE = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.fixture
def project(instance: Instance) -> str:
    return make_project(instance, "ABORTS")


def start(instance: Instance, project: str, connection: str, sql: str) -> tuple[str, str]:
    notebook = make_notebook(instance, project, connection, [query_cell("slow", sql)])
    answer = run(instance, project, notebook, "slow", wait=False)
    assert answer.status_code == 200, answer.text
    assert answer.json()["alive"] is True
    return notebook, answer.json()["jobId"]


def recorded_state(instance: Instance, job: str) -> str:
    """The state the run itself wrote (only after its query returned)."""
    with instance.store.read() as s:
        return s.query(SqlQueryRun.state).filter(SqlQueryRun.job_id == job).scalar()


def task_thread_alive(job: str) -> bool:
    return any(t.name == f"task-{job}" for t in threading.enumerate())


def pg_connection(instance: Instance) -> str:
    """A PostgreSQL connection whose sessions carry a unique application_name, so the test
    finds exactly its backends in pg_stat_activity."""
    marker = unique("lkabort")
    make_pg_connection(
        instance, "pg", params={**PG_PARAMS, "properties": [{"name": "application_name", "value": marker}]}
    )
    return marker


def pg_backend_running(marker: str) -> list[int]:
    """Backends of the marked connection busy on pg_sleep (a server-side cursor shows the
    FETCH as its query, so the wait event names what the backend is doing)."""
    rows = pg_execute(
        "SELECT pid FROM pg_stat_activity WHERE state = 'active' "
        f"AND application_name = '{marker}' AND wait_event = 'PgSleep'"
    )
    return [pid for (pid,) in rows]


def test_abort_interrupts_a_sqlite_query_within_a_second(instance: Instance, project: str) -> None:
    notebook, job = start(instance, project, DEFAULT_CONNECTION, ENDLESS_CTE)
    time.sleep(0.5)  # the CTE is counting by now: nothing but an interrupt ends it
    assert task_thread_alive(job) and recorded_state(instance, job) == "RUNNING"
    started = time.monotonic()
    assert instance.admin.delete(f"/futures/{job}").status_code == 204
    assert wait_for(lambda: recorded_state(instance, job) == "ABORTED", timeout=1.0, interval=0.005)
    assert wait_for(lambda: not task_thread_alive(job), timeout=1.0, interval=0.005)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, elapsed
    state = instance.admin.get(f"/futures/{job}", params={"peek": "true"}).json()
    assert state["aborted"] is True and state["abortedBy"] == "admin"
    [aborted] = history(instance, project, notebook)["slow"]
    assert aborted["state"] == "ABORTED" and aborted["durationMs"] >= 400


def test_abort_cancels_a_postgresql_query_on_the_server_within_a_second(
    instance: Instance, project: str
) -> None:
    marker = pg_connection(instance)
    notebook, job = start(instance, project, "pg", "SELECT pg_sleep(30)")
    pids = wait_for(lambda: pg_backend_running(marker), timeout=10)
    assert len(pids) == 1, "the backend should be working on pg_sleep"
    started = time.monotonic()
    assert instance.admin.delete(f"/futures/{job}").status_code == 204
    assert wait_for(lambda: not pg_backend_running(marker), timeout=1.0, interval=0.005)
    assert wait_for(lambda: recorded_state(instance, job) == "ABORTED", timeout=1.0, interval=0.005)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, elapsed
    # The backend itself is no longer on the query (it may be gone, or idle).
    rows = pg_execute(f"SELECT state, wait_event FROM pg_stat_activity WHERE pid = {pids[0]}")
    assert rows == [] or rows[0] != ("active", "PgSleep"), rows
    [aborted] = history(instance, project, notebook)["slow"]
    assert aborted["state"] == "ABORTED"
    answer = instance.admin.get(f"/futures/{job}")
    assert answer.status_code >= 400 and "aborted by admin" in answer.json()["detailedMessage"]


def test_a_waiting_run_call_answers_the_abort(instance: Instance, project: str) -> None:
    marker = pg_connection(instance)
    notebook = make_notebook(instance, project, "pg", [query_cell("slow", "SELECT pg_sleep(30)")])
    answers: list = []
    caller = threading.Thread(
        target=lambda: answers.append(run(instance, project, notebook, "slow", wait=True))
    )
    caller.start()
    assert wait_for(lambda: pg_backend_running(marker), timeout=10)
    [job] = [f["jobId"] for f in instance.admin.get("/futures/").json()]
    assert instance.admin.delete(f"/futures/{job}").status_code == 204
    caller.join(timeout=5)
    assert answers and answers[0].status_code >= 400
    assert "aborted" in answers[0].json()["detailedMessage"]


def test_deleting_a_notebook_aborts_its_running_query(instance: Instance, project: str) -> None:
    notebook, job = start(instance, project, DEFAULT_CONNECTION, ENDLESS_CTE)
    time.sleep(0.2)
    started = time.monotonic()
    assert instance.admin.delete(f"/projects/{project}/sql-notebooks/{notebook}").status_code == 200
    assert wait_for(lambda: not task_thread_alive(job), timeout=1.0, interval=0.005)
    assert time.monotonic() - started < 1.0
    assert instance.admin.get(f"/futures/{job}", params={"peek": "true"}).json()["aborted"] is True


def test_the_history_shows_an_ended_future_even_before_its_run_writes(
    instance: Instance, project: str
) -> None:
    """A restart fails running tasks: the history reads their state from the future."""
    from labkeeper.futures.models import Task

    notebook, job = start(instance, project, DEFAULT_CONNECTION, ENDLESS_CTE)
    assert wait_for(lambda: task_thread_alive(job), timeout=10)  # picked (a queued runner takes a moment)
    with instance.store.begin() as s:
        s.get(Task, job).state = "FAILED"
    assert history(instance, project, notebook)["slow"][0]["state"] == "FAILED"
    instance.admin.delete(f"/futures/{job}")  # the task is no longer RUNNING: stop it directly
    instance.app.state.runner._live[job].context.abort_now(by="test")
    assert wait_for(lambda: not task_thread_alive(job), timeout=2.0)
