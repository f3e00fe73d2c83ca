"""Aborting a run stops the query on the database itself, and the run is recorded as
ABORTED: an endless recursive CTE on SQLite, pg_sleep(600) on PostgreSQL.

Proved by state, never by a clock: each statement would run for minutes (or for ever), so a
task thread that is gone, a backend off its query and a run that wrote ABORTED mean the
abort stopped the work. The waits are hang guards a working system never comes near; how
fast an abort lands is measured by bench/aborts.py."""

from __future__ import annotations

import threading
import time

import pytest

from labkeeper.connections.query import Canceller
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
PG_SLEEP = "SELECT pg_sleep(600)"
HANG_GUARD = 60.0  # seconds: only a broken abort gets near it


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


def statement_running(instance: Instance, job: str) -> bool:
    """The run's statement is executing: its canceller holds the connection's cancel (attached
    just before the first statement runs, detached when the last one has returned)."""
    live = instance.app.state.runner._live.get(job)
    if live is None:
        return False
    cancellers = [getattr(callback, "__self__", None) for callback in list(live.context._callbacks)]
    return any(isinstance(c, Canceller) and c._cancel is not None for c in cancellers)


def stop_marked_backends(marker: str) -> None:
    """Never leave ten minutes of pg_sleep behind a failed test."""
    pg_execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{marker}'")


def pg_backend_running(marker: str) -> list[int]:
    """Backends of the marked connection busy on pg_sleep (a server-side cursor shows the
    FETCH as its query, so the wait event names what the backend is doing)."""
    rows = pg_execute(
        "SELECT pid FROM pg_stat_activity WHERE state = 'active' "
        f"AND application_name = '{marker}' AND wait_event = 'PgSleep'"
    )
    return [pid for (pid,) in rows]


def test_abort_interrupts_a_sqlite_query(instance: Instance, project: str) -> None:
    notebook, job = start(instance, project, DEFAULT_CONNECTION, ENDLESS_CTE)
    assert wait_for(lambda: statement_running(instance, job), timeout=HANG_GUARD)
    time.sleep(0.5)  # counting for half a second at least, which its recorded duration shows
    assert task_thread_alive(job) and recorded_state(instance, job) == "RUNNING"
    assert instance.admin.delete(f"/futures/{job}").status_code == 204
    # The CTE never ends on its own: a thread that is gone was interrupted, and the run itself
    # wrote ABORTED once its statement returned.
    assert wait_for(lambda: not task_thread_alive(job), timeout=HANG_GUARD, interval=0.01)
    assert recorded_state(instance, job) == "ABORTED"
    assert not statement_running(instance, job)
    state = instance.admin.get(f"/futures/{job}", params={"peek": "true"}).json()
    assert state["aborted"] is True and state["alive"] is False and state["abortedBy"] == "admin"
    [aborted] = history(instance, project, notebook)["slow"]
    assert aborted["state"] == "ABORTED" and aborted["durationMs"] >= 400


def test_abort_cancels_a_postgresql_query_on_the_server(instance: Instance, project: str) -> None:
    marker = pg_connection(instance)
    try:
        notebook, job = start(instance, project, "pg", PG_SLEEP)
        pids = wait_for(lambda: pg_backend_running(marker), timeout=HANG_GUARD)
        assert len(pids) == 1, "the backend should be working on pg_sleep"
        assert instance.admin.delete(f"/futures/{job}").status_code == 204
        # pg_sleep(600) does not end on its own while this test runs: off the query means
        # cancelled on the server.
        assert wait_for(lambda: not pg_backend_running(marker), timeout=HANG_GUARD, interval=0.01)
        assert wait_for(lambda: recorded_state(instance, job) == "ABORTED", timeout=HANG_GUARD)
        assert wait_for(lambda: not task_thread_alive(job), timeout=HANG_GUARD)
        # The backend itself is no longer on the query (it may be gone, or idle).
        rows = pg_execute(f"SELECT state, wait_event FROM pg_stat_activity WHERE pid = {pids[0]}")
        assert rows == [] or rows[0] != ("active", "PgSleep"), rows
        [aborted] = history(instance, project, notebook)["slow"]
        assert aborted["state"] == "ABORTED"
        answer = instance.admin.get(f"/futures/{job}")
        assert answer.status_code >= 400 and "aborted by admin" in answer.json()["detailedMessage"]
    finally:
        stop_marked_backends(marker)


def test_a_waiting_run_call_answers_the_abort(instance: Instance, project: str) -> None:
    marker = pg_connection(instance)
    try:
        notebook = make_notebook(instance, project, "pg", [query_cell("slow", PG_SLEEP)])
        answers: list = []
        caller = threading.Thread(
            target=lambda: answers.append(run(instance, project, notebook, "slow", wait=True))
        )
        caller.start()
        assert wait_for(lambda: pg_backend_running(marker), timeout=HANG_GUARD)
        [job] = [f["jobId"] for f in instance.admin.get("/futures/").json()]
        assert instance.admin.delete(f"/futures/{job}").status_code == 204
        caller.join(timeout=HANG_GUARD)  # a hang guard: the query alone would take ten minutes
        assert not caller.is_alive(), "the waiting run call did not answer the abort"
        assert answers and answers[0].status_code >= 400
        assert "aborted" in answers[0].json()["detailedMessage"]
        assert not pg_backend_running(marker)
    finally:
        stop_marked_backends(marker)


def test_deleting_a_notebook_aborts_its_running_query(instance: Instance, project: str) -> None:
    notebook, job = start(instance, project, DEFAULT_CONNECTION, ENDLESS_CTE)
    assert wait_for(lambda: statement_running(instance, job), timeout=HANG_GUARD)
    assert instance.admin.delete(f"/projects/{project}/sql-notebooks/{notebook}").status_code == 200
    # The CTE never ends on its own: the thread gone means the delete interrupted it.
    assert wait_for(lambda: not task_thread_alive(job), timeout=HANG_GUARD, interval=0.01)
    assert not statement_running(instance, job)
    assert instance.admin.get(f"/futures/{job}", params={"peek": "true"}).json()["aborted"] is True


def test_the_history_shows_an_ended_future_even_before_its_run_writes(
    instance: Instance, project: str
) -> None:
    """A restart fails running tasks: the history reads their state from the future."""
    from labkeeper.futures.models import Task

    notebook, job = start(instance, project, DEFAULT_CONNECTION, ENDLESS_CTE)
    assert wait_for(lambda: task_thread_alive(job), timeout=HANG_GUARD)  # a queued runner takes a moment
    with instance.store.begin() as s:
        s.get(Task, job).state = "FAILED"
    assert history(instance, project, notebook)["slow"][0]["state"] == "FAILED"
    instance.admin.delete(f"/futures/{job}")  # the task is no longer RUNNING: stop it directly
    instance.app.state.runner._live[job].context.abort_now(by="test")
    assert wait_for(lambda: not task_thread_alive(job), timeout=HANG_GUARD)
