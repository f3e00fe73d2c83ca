"""Real kernels and tasks: a session key dies with its session, and disabling or deleting a
user stops everything that runs as them and every key acting as them."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from labkeeper.auth.models import ApiKey
from labkeeper.db import now_ms
from labkeeper.futures.models import ABORTED, Task
from labkeeper.notebooks.jupyter.models import JupyterSession
from labkeeper.notebooks.jupyter.sessions import SessionManager
from tests.conftest import ADMIN_KEY, Instance
from tests.futures import ops  # noqa: F401  (registers the test operations)
from tests.futures.test_futures import submit
from tests.helpers import alive, assert_error, wait_for
from tests.jupyter.helpers import kernel_env, notebook
from tests.projects.helpers import create, grant

NB = "/projects/SEC/jupyter-notebooks"
HANG_GUARD = 60.0  # seconds: only a broken lease renewal gets near it
MAY_RUN = {"mayRunNotebooks": True, "mayWriteSafeCode": True, "mayWriteUnsafeCode": True}


@pytest.fixture
def project(instance: Instance) -> str:
    assert instance.admin.post("/admin/groups/", json={"name": "coders", **MAY_RUN}).status_code == 200
    create(instance, "SEC")
    grant(instance, "SEC", "coders", readProjectContent=True, writeProjectContent=True)
    assert instance.admin.post(f"{NB}/main", json=notebook("x = 1")).status_code == 200
    return "SEC"


def _key_expiry(instance: Instance, session_id: str) -> int:
    """When the session's API key expires, as the store has it now."""
    with instance.store.read() as s:
        key_id = s.get(JupyterSession, session_id).api_key_id
        return s.get(ApiKey, key_id).expires_on


def _start(client) -> dict:  # type: ignore[no-untyped-def]
    answer = client.post(f"{NB}/main/sessions")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_session_key_dies_with_its_session(instance: Instance, project: str) -> None:
    session = _start(instance.admin)
    kernel_key = instance.client(kernel_env(session["kernelPid"])["LABKEEPER_API_KEY"])
    assert kernel_key.get("/current-user").json()["login"] == "admin"
    assert_error(kernel_key.post("/personal-api-keys/", json={}), 403, "session keys")
    assert instance.admin.delete(f"{NB}/main/sessions/{session['sessionId']}").status_code in (200, 204)
    assert_error(kernel_key.get("/current-user"), 401)


def test_a_session_key_cannot_start_kernels_that_would_outlive_it(instance: Instance, project: str) -> None:
    session = _start(instance.admin)
    kernel_key = instance.client(kernel_env(session["kernelPid"])["LABKEEPER_API_KEY"])
    assert instance.admin.post(f"{NB}/other", json=notebook("y = 2")).status_code == 200
    assert_error(kernel_key.post(f"{NB}/other/sessions"), 403, "session's key")
    assert_error(kernel_key.post(f"{NB}/other/actions/run"), 403, "session's key")
    sessions = instance.admin.get("/projects/SEC/jupyter-notebooks/other/sessions").json()
    assert sessions == []
    assert instance.admin.delete(f"{NB}/main/sessions/{session['sessionId']}").status_code in (200, 204)


def test_a_session_key_expires_even_if_its_deletion_failed(
    instance: Instance, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("labkeeper.notebooks.jupyter.keylease.LEASE_MS", 3_000)

    def forget_row_only(self: SessionManager, session_id: str) -> None:  # the key deletion "failed"
        self.live.pop(session_id, None)
        with self.store.begin() as s:
            s.execute(delete(JupyterSession).where(JupyterSession.id == session_id))

    session = _start(instance.admin)
    kernel_key = instance.client(kernel_env(session["kernelPid"])["LABKEEPER_API_KEY"])
    # Renewed while the session runs: still valid once its first lease has run out.
    first = _key_expiry(instance, session["sessionId"])
    assert wait_for(lambda: now_ms() > first, timeout=HANG_GUARD)
    assert _key_expiry(instance, session["sessionId"]) > first
    assert kernel_key.get("/current-user").status_code == 200
    monkeypatch.setattr(SessionManager, "_forget", forget_row_only)
    instance.admin.delete(f"{NB}/main/sessions/{session['sessionId']}")
    assert wait_for(lambda: kernel_key.get("/current-user").status_code == 401, timeout=15)
    assert_error(kernel_key.get("/current-user"), 401, "expired")


@pytest.mark.parametrize("how", ["disable", "delete"])
def test_retiring_a_user_stops_their_kernels_tasks_and_keys(
    instance: Instance, project: str, how: str
) -> None:
    bob_key = instance.make_user("bob", ["coders"])
    bob = instance.client(bob_key)
    session = _start(bob)
    pid = session["kernelPid"]
    kernel_key = instance.client(kernel_env(pid)["LABKEEPER_API_KEY"])
    task = submit(instance, "test.sleep-tree", owner="bob", seconds=60)
    other = submit(instance, "test.sleep-tree", owner="admin", seconds=60)
    assert wait_for(lambda: instance.admin.get(f"/futures/{task}", params={"peek": "true"}).json()["alive"])
    proxied = instance.client(ADMIN_KEY)
    proxied.headers["X-DKU-ProxyUser"] = "bob"
    assert proxied.get("/current-user").json()["login"] == "bob"
    if how == "disable":
        impersonating = instance.admin.post(
            "/admin/global-api-keys/", json={"dssUserForImpersonation": "bob", "groups": ["coders"]}
        ).json()["key"]
        assert instance.client(impersonating).get("/current-user").json()["login"] == "bob"
        answer = instance.admin.put("/admin/users/bob", json={"enabled": False})
    else:
        answer = instance.admin.delete("/admin/users/bob")
    assert answer.status_code in (200, 204), answer.text

    assert wait_for(lambda: not alive(pid), timeout=10)
    assert instance.admin.get(f"{NB}/main/sessions").json() == []
    with instance.store.read() as s:
        assert s.get(Task, task).state == ABORTED
        assert s.get(Task, other).state != ABORTED  # only bob's work stops
    for client in [bob, kernel_key] + ([instance.client(impersonating)] if how == "disable" else []):
        assert_error(client.get("/current-user"), 401)
    assert proxied.get("/current-user").status_code in (400, 403)
    events = [e for e in instance.admin.get("/admin/audit").json() if e["action"] == "user-work-stopped"]
    assert len(events) == 1 and events[0]["target"] == "bob" and events[0]["user"] == "admin"
    assert events[0]["details"]["stopped"] == {"kernels": [session["sessionId"]], "tasks": [task]}
    assert instance.admin.get(f"/futures/{other}", params={"peek": "true"}).json()["alive"]
