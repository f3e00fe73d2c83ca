"""A request that submits a task (a build) or aborts one commits with its audit row, or not at
all: when the audit row cannot be written, no task is recorded or started, no env is
created, and an abort leaves the task running."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkeeper.audit.models import AuditEvent
from labkeeper.futures.models import ABORTED, RUNNING, Task
from labkeeper.server import app as app_module
from tests.codeenvs.helpers import configure, wait_for_markers, wait_state
from tests.conftest import Instance


def _no_audit(store, **event):  # type: ignore[no-untyped-def]
    raise RuntimeError("injected: the audit row cannot be written")


def _rows(instance: Instance, request_id: str) -> list[tuple[str, str]]:
    with instance.store.read() as s:
        return [
            (r.action, r.outcome) for r in s.query(AuditEvent).filter(AuditEvent.request_id == request_id)
        ]


def _tasks(instance: Instance) -> dict[str, str]:
    with instance.store.read() as s:
        return {task.id: task.state for task in s.query(Task)}


def test_a_build_and_its_abort_commit_with_their_audit_rows(
    instance: Instance, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(instance, wheelhouse)
    body = {"deploymentMode": "DESIGN_MANAGED", "specPackageList": "lksleepy"}
    url = "/admin/code-envs/PYTHON/held"

    monkeypatch.setattr(app_module, "record_event", _no_audit)
    answer = instance.admin.post(url, params={"wait": "false"}, json=body, headers={"X-Request-Id": "sub-1"})
    assert answer.status_code == 500
    monkeypatch.undo()
    assert _tasks(instance) == {}  # no task recorded, none started
    assert instance.admin.get("/admin/code-envs/python/held").status_code == 404
    assert not list(Path(instance.config.data_dir).glob("run/builds/*/building-*"))

    answer = instance.admin.post(url, params={"wait": "false"}, json=body, headers={"X-Request-Id": "sub-2"})
    assert answer.status_code == 200, answer.text
    job = answer.json()["jobId"]
    assert _rows(instance, "sub-2") == [("POST /admin/code-envs/{env_lang}/{env_name}", "success")]
    wait_for_markers(instance.config.data_dir)  # the build really started, after the commit

    monkeypatch.setattr(app_module, "record_event", _no_audit)
    answer = instance.admin.delete(f"/futures/{job}", headers={"X-Request-Id": "abort-1"})
    assert answer.status_code == 500
    monkeypatch.undo()
    assert _tasks(instance)[job] == RUNNING  # the abort was undone with its audit row
    assert instance.admin.get(f"/futures/{job}", params={"peek": "true"}).json()["alive"] is True

    answer = instance.admin.delete(f"/futures/{job}", headers={"X-Request-Id": "abort-2"})
    assert answer.status_code == 204
    assert _tasks(instance)[job] == ABORTED  # recorded before the answer left
    assert _rows(instance, "abort-2") == [("DELETE /futures/{job_id}", "success")]
    state = wait_state(instance.admin, job, lambda s: not s["alive"], timeout=10)
    assert state["aborted"] is True
