"""Writes: a request's changes and its audit row commit together (or neither does), a held-up
write does not stall the worker's other requests, and `GET /projects/` pages."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time

import httpx
import pytest

from labkeeper.audit.models import AuditEvent
from labkeeper.projects import service as project_service
from labkeeper.projects.models import Project
from labkeeper.server import app as app_module
from tests.conftest import ADMIN_KEY, API, Instance, LiveServer
from tests.helpers import assert_bad, wait_for


def _audit_rows(instance: Instance, request_id: str) -> list[AuditEvent]:
    with instance.store.read() as s:
        return list(s.query(AuditEvent).filter(AuditEvent.request_id == request_id))


def test_a_failure_after_the_service_wrote_leaves_neither_change_nor_row(
    instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    create = project_service.create_project

    def create_then_fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        create(*args, **kwargs)  # written (and flushed) in the request's transaction
        raise RuntimeError("injected failure after the write")

    monkeypatch.setattr(project_service, "create_project", create_then_fail)
    answer = instance.admin.post(
        "/projects/", json={"projectKey": "GONE", "name": "x"}, headers={"X-Request-Id": "write-fail-1"}
    )
    assert answer.status_code == 500
    with instance.store.read() as s:
        assert s.get(Project, "GONE") is None
    assert _audit_rows(instance, "write-fail-1") == []


def test_a_write_is_acknowledged_only_with_its_audit_row(
    instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = instance.admin.post(
        "/projects/", json={"projectKey": "P1", "name": "P1"}, headers={"X-Request-Id": "write-ok-1"}
    )
    assert answer.status_code == 200, answer.text
    rows = _audit_rows(instance, "write-ok-1")
    assert [(r.action, r.outcome, r.target) for r in rows] == [("POST /projects/", "success", "")]
    # A refusal is audited on its own (nothing else was written).
    answer = instance.admin.post(
        "/projects/", json={"projectKey": "P1", "name": "y"}, headers={"X-Request-Id": "write-409"}
    )
    assert answer.status_code == 409
    assert [(r.action, r.outcome) for r in _audit_rows(instance, "write-409")] == [
        ("POST /projects/", "error 409")
    ]

    def no_audit(store, **event):  # type: ignore[no-untyped-def]
        raise RuntimeError("injected: the audit row cannot be written")

    monkeypatch.setattr(app_module, "record_event", no_audit)
    answer = instance.admin.post(
        "/projects/", json={"projectKey": "NOAUDIT", "name": "x"}, headers={"X-Request-Id": "write-fail-2"}
    )
    assert answer.status_code == 500
    with instance.store.read() as s:
        assert s.get(Project, "NOAUDIT") is None


def test_a_constraint_violation_leaves_neither_change_nor_row(
    instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's own write succeeds, a second insert of the same request violates the
    primary key: the whole request is undone."""
    put = project_service.put_variables

    def put_then_violate(store, *, principal, key, body):  # type: ignore[no-untyped-def]
        put(store, principal=principal, key=key, body=body)
        with store.begin() as s:
            s.add(AuditEvent(id=1, time=0, action="x", outcome="x"))  # id 1 exists: the create's row
            s.flush()

    assert instance.admin.post("/projects/", json={"projectKey": "CV", "name": "x"}).status_code == 200
    monkeypatch.setattr(project_service, "put_variables", put_then_violate)
    answer = instance.admin.put(
        "/projects/CV/variables/",
        json={"standard": {"a": 1}, "local": {}},
        headers={"X-Request-Id": "write-fail-3"},
    )
    assert answer.status_code == 500
    with instance.store.read() as s:
        assert s.get(Project, "CV").variables_standard == {}
    assert _audit_rows(instance, "write-fail-3") == []


SQL_CELL_RUN = "/projects/HELDSQL/sql-notebooks/{id}/cells/q1/actions/run"


# The lock holder's own guard: it lets go before the waiting write's SQLite busy timeout
# (store.SQLITE_BUSY_SECONDS, 10 s), so a GET stalled behind the write ends in a failed
# assertion rather than a failed write. A working server answers the GET in milliseconds.
HOLD_GUARD = 8.0


def _a_write_waits_for_the_lock(live: LiveServer) -> bool:
    """A labkeeper write is blocked on the lock the test holds. SQLite: one of its writers holds
    the `<database>-writer` flock (db/writer_lock.py), taken just before the BEGIN IMMEDIATE
    that the test's transaction blocks. PostgreSQL: a backend waits on a lock."""
    if live.store.is_sqlite:
        fd = os.open(live.store.url.split("///", 1)[1] + "-writer", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also lets go of the flock if this probe got it
        return False
    with live.store.engine.connect() as conn:
        waiting = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        ).scalar()
    return bool(waiting)


@pytest.mark.parametrize("kind", ["in a unit of work", "on the event loop (takes the task runner)"])
def test_a_held_up_write_does_not_stall_reads(live: LiveServer, kind: str) -> None:
    """Another connection holds the store's write lock until a cheap GET on the same worker
    has answered, while a write waits for that lock: the GET answering while the write still
    waits proves it is not queued behind it, whether the waiting write runs in a unit of work
    or is one of the routes that run on the event loop (here a SQL cell run). Proved by
    state, not by timing the GET."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    base = live.url + API
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        assert client.get("/current-user").status_code == 200
        if kind.startswith("in a unit"):
            path, body = "/projects/", {"projectKey": "HELD", "name": "x"}
        else:
            assert client.post("/projects/", json={"projectKey": "HELDSQL", "name": "x"}).status_code == 200
            cells = [{"id": "q1", "type": "QUERY", "name": "q1", "code": "SELECT 1"}]
            notebook = client.post(
                "/projects/HELDSQL/sql-notebooks/", json={"connection": "local-sqlite", "cells": cells}
            )
            path, body = SQL_CELL_RUN.format(id=notebook.json()["id"]), None
        release = threading.Event()
        locked = threading.Event()
        held_until_released: list[bool] = []  # False: the holder's guard let go first

        def hold_lock() -> None:
            if live.store.is_sqlite:
                path = live.store.url.split("///", 1)[1]
                conn = sqlite3.connect(path, isolation_level=None)
                conn.execute("BEGIN IMMEDIATE")
                locked.set()
                held_until_released.append(release.wait(HOLD_GUARD))
                conn.execute("ROLLBACK")
                conn.close()
            else:
                with live.store.engine.connect() as conn:
                    conn.exec_driver_sql("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
                    locked.set()
                    held_until_released.append(release.wait(HOLD_GUARD))
                    conn.rollback()

        holder = threading.Thread(target=hold_lock)
        holder.start()
        assert locked.wait(30)
        write_result: list[int] = []

        def write() -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=30) as other:
                answer = other.post(path, json=body)
                write_result.append(answer.status_code)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            assert wait_for(lambda: _a_write_waits_for_the_lock(live), timeout=HOLD_GUARD, interval=0.01)
            answer = client.get("/current-user")
            # Still blocked: the write has no answer and the lock was never let go.
            write_waiting = writer.is_alive() and write_result == [] and not held_until_released
        finally:
            release.set()
            writer.join(30)
            holder.join(30)
        assert answer.status_code == 200
        assert write_waiting, "the cheap GET answered only after the waiting write went through"
        assert held_until_released == [True], "the lock holder's guard let go before the GET answered"
        assert not writer.is_alive() and write_result == [200]


def test_project_list_pages(instance: Instance) -> None:
    keys = [f"PG{i:02d}" for i in range(7)]
    for key in keys:
        assert instance.admin.post("/projects/", json={"projectKey": key, "name": key}).status_code == 200
    listed = [p["projectKey"] for p in instance.admin.get("/projects/").json()]
    assert listed == keys
    page = instance.admin.get("/projects/", params={"limit": 3, "offset": 2}).json()
    assert [p["projectKey"] for p in page] == keys[2:5]
    assert [p["projectKey"] for p in instance.admin.get("/projects/", params={"offset": 5}).json()] == keys[
        5:
    ]
    assert instance.admin.get("/projects/", params={"limit": 0}).json() == []
    assert instance.admin.get("/projects/", params={"offset": 100}).json() == []
    located = instance.admin.get("/projects/", params={"limit": 1, "includeLocation": "true"}).json()
    assert [p["projectKey"] for p in located] == keys[:1] and "projectLocation" in located[0]
    # after a write the page reflects it
    assert instance.admin.delete("/projects/PG03").status_code == 200
    page = instance.admin.get("/projects/", params={"limit": 3, "offset": 2}).json()
    assert [p["projectKey"] for p in page] == ["PG02", "PG04", "PG05"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "-1"},
        {"offset": "-3"},
        {"limit": "abc"},
        {"offset": "1.5"},
        {"limit": str(10**30)},
        {"offset": str(10**30)},
    ],
)
def test_project_list_refuses_hostile_paging(instance: Instance, params: dict[str, str]) -> None:
    assert_bad(instance.admin.get("/projects/", params=params), next(iter(params)))


def test_a_changed_project_rebuilds_only_its_item(
    instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labkeeper.projects import listing

    for i in range(5):
        instance.admin.post("/projects/", json={"projectKey": f"R{i}", "name": f"R{i}"})
    instance.admin.get("/projects/")
    built: list[str] = []
    entry = listing._entry

    def counting(row):  # type: ignore[no-untyped-def]
        built.append(row[0])
        return entry(row)

    monkeypatch.setattr(listing, "_entry", counting)
    assert instance.admin.put("/projects/R2/metadata", json={"label": "renamed"}).status_code == 204
    names = {p["projectKey"]: p["name"] for p in instance.admin.get("/projects/").json()}
    assert names["R2"] == "renamed" and built == ["R2"]


def test_every_state_changing_call_is_audited_before_its_answer_leaves(config) -> None:  # type: ignore[no-untyped-def]
    """Refusals and calls that run on the event loop (here: aborting a future, which takes
    the task runner) are not in a unit of work: their row must still be there when the
    caller has the answer, so a script that reads the audit log at once finds it."""
    with LiveServer(config) as live:
        request_path = live.app.request_path
        record = request_path.record
        recorded: dict[str, float] = {}

        def slow_record(**fields):  # type: ignore[no-untyped-def]
            time.sleep(0.3)  # a store that is slow to take the row
            record(**fields)
            recorded[fields["request_id"]] = time.monotonic()

        request_path.record = slow_record
        with httpx.Client(base_url=live.url + API, auth=(ADMIN_KEY, ""), timeout=30) as client:
            calls = {
                "loop-bound": lambda: client.delete("/futures/nosuchfuture"),
                "refused-in-unit": lambda: client.post("/projects/", json={"name": "no key"}),
            }
            for label, call in calls.items():
                answer = call()
                answered = time.monotonic()
                assert 400 <= answer.status_code < 500, (label, answer.text)
                request_id = answer.headers["x-request-id"]
                assert request_id in recorded, f"{label}: no audit row when the answer arrived"
                assert recorded[request_id] <= answered, label


def test_a_notebook_change_commits_with_its_audit_row(
    instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creating, saving and clearing a Jupyter notebook: when the audit row cannot be written,
    the notebook (a file on the embedded store, a row on PostgreSQL) is left as it was."""
    assert instance.admin.post("/projects/", json={"projectKey": "NBW", "name": "x"}).status_code == 200
    url = "/projects/NBW/jupyter-notebooks/nb"
    cell = {
        "cell_type": "code",
        "source": "1",
        "metadata": {},
        "outputs": [{"output_type": "stream", "name": "stdout", "text": "1"}],
        "execution_count": 1,
    }
    first = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]}
    assert instance.admin.post(url, json=first).status_code == 200
    before = instance.admin.get(url).json()

    def no_audit(store, **event):  # type: ignore[no-untyped-def]
        raise RuntimeError("injected: the audit row cannot be written")

    monkeypatch.setattr(app_module, "record_event", no_audit)
    changed = {**first, "cells": [{**cell, "source": "2"}]}
    assert instance.admin.put(url, json=changed, headers={"X-Request-Id": "nb-1"}).status_code == 500
    assert instance.admin.delete(f"{url}/outputs", headers={"X-Request-Id": "nb-2"}).status_code == 500
    other = "/projects/NBW/jupyter-notebooks/other"
    assert instance.admin.post(other, json=first, headers={"X-Request-Id": "nb-3"}).status_code == 500
    monkeypatch.undo()
    assert instance.admin.get(url).json() == before
    assert instance.admin.get(other).status_code == 404
    for request_id in ("nb-1", "nb-2", "nb-3"):
        assert _audit_rows(instance, request_id) == []
    assert instance.admin.put(url, json=changed, headers={"X-Request-Id": "nb-4"}).status_code == 200
    assert instance.admin.get(url).json()["cells"][0]["source"] == "2"
    assert [r.outcome for r in _audit_rows(instance, "nb-4")] == ["success"]
