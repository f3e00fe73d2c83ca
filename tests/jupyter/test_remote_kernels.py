"""Kernels placed on a worker node: an API node without a worker (api-a) and a worker node
(worker-b), each with its own data dir, on one PostgreSQL store, in this process. The API
node places the session, the worker starts the kernel (with its own session key), the API
node lists the truth, unloads and interrupts reach the worker, and neither a project member
on another node nor a crafted job stops or starts someone else's kernel."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from labkeeper.auth.models import ApiKey
from labkeeper.config import Config
from labkeeper.db import now_ms
from labkeeper.futures.queued import node_queue
from labkeeper.nodes.models import Node
from labkeeper.notebooks.jupyter import remote
from labkeeper.notebooks.jupyter.models import JupyterSession
from labkeeper.server.app import create_app
from tests.conftest import Instance
from tests.helpers import alive, assert_error, wait_for
from tests.jupyter.helpers import kernel_env, notebook, set_settings
from tests.projects.helpers import create, grant

NB = "/projects/REM/jupyter-notebooks"
HANG_GUARD = 60.0  # seconds: only a broken node or kernel gets near it
CODE = {"mayRunNotebooks": True, "mayWriteUnsafeCode": True}


@contextmanager
def node(config: Config, name: str, **changes: object) -> Iterator[Instance]:
    app = create_app(dataclasses.replace(config, node_name=name, notebook_storage="store", **changes))
    with TestClient(app) as main:
        yield Instance(app, app.state.config, main.portal)


@pytest.fixture
def nodes(config: Config) -> Iterator[tuple[Instance, Instance]]:
    if not config.database_url:
        pytest.skip("worker nodes share a PostgreSQL store (LABKEEPER_TEST_DATABASE_URL)")
    with node(config, "api-a", embedded_worker=False) as a:
        worker_dir = config.data_dir.with_name("data-b")
        with node(config, "worker-b", serves_api=False, data_dir=worker_dir) as b:
            create(a, "REM")
            made = a.admin.post(f"{NB}/main", json=notebook("x = 41", "x + 1"))
            assert made.status_code == 200, made.text
            yield a, b


def queued_for(instance: Instance, node_name: str) -> list[str]:
    """The jobs of `node_name`'s queue not yet ended (taken or waiting)."""
    with instance.store.read() as s:
        rows = s.execute(
            text(
                "SELECT status FROM procrastinate_jobs WHERE queue_name = :q AND status IN ('todo', 'doing')"
            ),
            {"q": node_queue(node_name)},
        )
        return [status for (status,) in rows]


def start(client) -> dict:  # type: ignore[no-untyped-def]
    answer = client.post(f"{NB}/main/sessions")
    assert answer.status_code == 200, answer.text
    return answer.json()


def row(instance: Instance, session_id: str) -> JupyterSession | None:
    with instance.store.read() as s:
        return s.get(JupyterSession, session_id)


def test_the_kernel_runs_on_the_worker_and_the_api_node_answers_the_truth(
    nodes: tuple[Instance, Instance],
) -> None:
    a, b = nodes
    session = start(a.admin)
    sid, pid = session["sessionId"], session["kernelPid"]
    assert row(a, sid).node == "worker-b" and sid in b.app.state.jupyter.live
    assert sid not in a.app.state.jupyter.live
    assert b.app.state.jupyter.live[sid].pid == pid and alive(pid)
    assert session["kernelExecutionState"] == "idle"
    # The key was made on the worker and handed to the kernel only; it acts as its creator.
    secret = kernel_env(pid)["LABKEEPER_API_KEY"]
    assert a.client(secret).get("/auth/info").json()["authIdentifier"] == "admin"
    assert "LABKEEPER_API_KEY" not in str(row(a, sid).start_error)

    def listed() -> dict:
        sessions = a.admin.get(f"{NB}/main/sessions").json()
        return sessions[0] if len(sessions) == 1 else {}

    assert wait_for(lambda: listed().get("kernelMemoryRss", 0) > 1_000_000, timeout=10)
    assert listed()["kernelPid"] == pid and listed()["kernelCpuTime"] > 0
    running = a.admin.get("/admin/notebooks/").json()
    assert [s["kernelPid"] for nb in running for s in nb["activeSessions"]] == [pid]

    # An idle kernel runs for ever: gone before the hang guard means the worker stopped it.
    assert a.admin.delete(f"{NB}/main/sessions/{sid}").status_code == 200
    assert wait_for(lambda: not alive(pid), timeout=HANG_GUARD, interval=0.02), "the worker did not stop it"
    assert row(a, sid) is None and sid not in b.app.state.jupyter.live
    assert a.client(secret).get("/auth/info").status_code == 401


def test_an_interrupt_sent_to_the_api_node_reaches_the_kernel(nodes: tuple[Instance, Instance]) -> None:
    a, b = nodes
    assert a.admin.put(f"{NB}/main", json=notebook("import time; time.sleep(600)")).status_code == 200
    session = start(a.admin)
    sid = session["sessionId"]
    job = a.admin.post(f"{NB}/main/actions/run", json={"sessionId": sid}).json()["jobId"]
    assert wait_for(lambda: row(a, sid).execution_state == "busy", timeout=HANG_GUARD)
    answer = a.admin.post(f"{NB}/main/sessions/{sid}/actions/interrupt")
    assert answer.status_code == 200, answer.text

    def ended() -> dict | None:
        state = a.admin.get(f"/futures/{job}", params={"peek": "true"}).json()
        return None if state["alive"] else state

    # The cell sleeps ten minutes: a run ended by a KeyboardInterrupt was interrupted.
    state = wait_for(ended, timeout=HANG_GUARD, interval=0.05)
    assert state and "KeyboardInterrupt" in str(state), state
    assert alive(session["kernelPid"]), "an interrupt keeps the session"


def test_a_member_cannot_stop_another_users_kernel_through_any_node(
    nodes: tuple[Instance, Instance],
) -> None:
    a, b = nodes
    alice = a.client(a.make_user("alice", ["writers"], group_permissions=CODE))
    mallory = a.client(a.make_user("mallory", ["writers"], group_permissions=CODE))
    grant(a, "REM", "writers", writeProjectContent=True)
    session = start(alice)
    sid, pid = session["sessionId"], session["kernelPid"]
    assert row(a, sid).creator == "alice" and row(a, sid).node == "worker-b"
    assert_error(mallory.delete(f"{NB}/main/sessions/{sid}"), 403, "ADMIN")
    assert_error(mallory.post(f"{NB}/main/sessions/{sid}/actions/interrupt"), 403, "ADMIN")
    legacy = mallory.delete("/projects/REM/notebooks/", params={"notebookName": "main", "sessionId": sid})
    assert_error(legacy, 403)
    # Jobs crafted straight into the worker's queue: a stop of a session still recorded, a
    # start of a running one, a start naming someone else, a session that does not exist.
    runner = a.app.state.runner
    runner.send_to_node("worker-b", remote.STOP_JOB, session_id=sid)
    runner.send_to_node("worker-b", remote.START_JOB, session_id=sid)
    runner.send_to_node("worker-b", remote.START_JOB, session_id=sid, login="mallory")
    runner.send_to_node("worker-b", remote.START_JOB, session_id="0123456789abcdef")
    # Once the worker has taken and ended all four, nothing of the session has changed.
    assert wait_for(lambda: not queued_for(a, "worker-b"), timeout=HANG_GUARD, interval=0.02)
    assert alive(pid) and row(a, sid).creator == "alice" and row(a, sid).pid == pid
    assert list(b.app.state.jupyter.live) == [sid]
    with a.store.read() as s:
        assert s.query(JupyterSession).count() == 1
    assert alice.delete(f"{NB}/main/sessions/{sid}").status_code == 200
    assert wait_for(lambda: not alive(pid), timeout=HANG_GUARD, interval=0.02)


def test_no_node_to_place_on_is_a_503_and_a_silent_node_a_504(
    nodes: tuple[Instance, Instance], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = nodes
    assert a.admin.post("/admin/nodes/worker-b/drain").status_code == 200
    body = assert_error(a.admin.post(f"{NB}/main/sessions"), 503, "no worker node", "python3")
    assert body["errorType"] == "ServiceUnavailableException"
    # A node that beats but never takes its jobs: the start gives up, and leaves nothing behind.
    monkeypatch.setattr(remote, "PICK_SECONDS", 1.0)
    with a.store.begin() as s:
        s.add(
            Node(
                name="silent",
                role="worker",
                started_on=now_ms(),
                heartbeat_on=now_ms(),
                kernels={"python3": ""},
            )
        )
    # The start giving up at all is the proof: a thread joined with a hang guard far above
    # PICK_SECONDS, then the 504 it answered.
    answers: list = []
    asking = threading.Thread(target=lambda: answers.append(a.admin.post(f"{NB}/main/sessions")), daemon=True)
    asking.start()
    asking.join(HANG_GUARD)
    assert not asking.is_alive(), "the start waited for a node that never takes its jobs"
    assert_error(answers[0], 504, "silent", "did not")
    with a.store.read() as s:
        assert s.query(JupyterSession).count() == 0
        assert s.query(ApiKey).filter(ApiKey.kind == "SESSION").count() == 0
    assert a.admin.post("/admin/nodes/worker-b/undrain").status_code == 200
    with a.store.begin() as s:
        s.get(Node, "silent").draining = True
    assert row(a, start(a.admin)["sessionId"]).node == "worker-b"


def test_the_session_quota_counts_every_node(nodes: tuple[Instance, Instance]) -> None:
    a, b = nodes
    set_settings(a.admin, "notebooks", maxSessionsPerUser=1)
    start(a.admin)
    assert_error(a.admin.post(f"{NB}/main/sessions"), 429, "maxSessionsPerUser")


def test_a_notebook_saved_through_one_node_is_read_and_run_on_another(
    nodes: tuple[Instance, Instance],
) -> None:
    a, b = nodes
    saved = a.admin.put(f"{NB}/main", json=notebook("y = 6 * 7", "y"))
    assert saved.status_code == 200, saved.text
    assert not list(a.config.data_dir.rglob("*.ipynb")) and not list(b.config.data_dir.rglob("*.ipynb"))
    assert b.app.state.jupyter.notebooks.read("REM", "main")["cells"][0]["source"] == "y = 6 * 7"
    job = a.admin.post(f"{NB}/main/actions/run", json={}).json()["jobId"]
    assert wait_for(lambda: not a.admin.get(f"/futures/{job}", params={"peek": "true"}).json()["alive"], 30)
    cells = a.admin.get(f"{NB}/main").json()["cells"]
    assert cells[1]["outputs"][0]["data"]["text/plain"] == "42"


def test_a_kernel_goes_to_the_least_busy_node_that_has_it(instance: Instance) -> None:
    from labkeeper.errors import Unavailable
    from labkeeper.notebooks.jupyter.placement import choose_node

    now = now_ms()
    with instance.store.begin() as s:
        s.get(Node, instance.config.effective_node_name).draining = True  # this test's own node
        for name, kernels in (("n1", {"python3": "", "py-dku-venv-x": "x"}), ("n2", {"python3": ""})):
            s.add(Node(name=name, role="worker", started_on=now, heartbeat_on=now, kernels=kernels))
        s.add(
            Node(name="n3", role="worker", started_on=now, heartbeat_on=now - 60_000, kernels={"python3": ""})
        )
        for i in range(2):
            s.add(
                JupyterSession(
                    id=f"s{i}", kernel_id=f"k{i}", project_key="P", notebook_name="nb", kernel_name="python3",
                    creator="admin", unix_owner="x", unix_uid=1, worker_id="w", node="n1", started_on=now,
                )
            )  # fmt: skip

    def choose(kernel: str) -> str:
        return choose_node(instance.store, here="api", executes_here=False, kernel=kernel)

    assert choose("python3") == "n2"  # n1 runs two sessions; n3 stopped beating
    assert choose("PY-DKU-VENV-X") == "n1"  # only n1 has the env, busy or not
    with pytest.raises(Unavailable):
        choose("py-dku-venv-elsewhere")
    with instance.store.begin() as s:
        s.get(Node, "n1").draining = True
    with pytest.raises(Unavailable):
        choose("py-dku-venv-x")
    assert choose_node(instance.store, here="n1", executes_here=True, kernel="python3") == "n2"


def test_the_log_of_a_kernel_on_the_worker_is_read_through_the_api_node(
    nodes: tuple[Instance, Instance],
) -> None:
    a, b = nodes
    code = (
        "import os\n"
        "os.write(2, b'written-on-the-worker\\n')\n"
        "os.write(2, os.environ['LABKEEPER_API_KEY'].encode())"
    )
    assert a.admin.put(f"{NB}/main", json=notebook(code)).status_code == 200
    sid = start(a.admin)["sessionId"]
    assert sid in b.app.state.jupyter.live
    job = a.admin.post(f"{NB}/main/actions/run", json={"sessionId": sid}).json()["jobId"]
    assert wait_for(
        lambda: not a.admin.get(f"/futures/{job}", params={"peek": "true"}).json()["alive"], timeout=30
    )

    def logged() -> dict | None:
        body = a.admin.get(f"{NB}/main/sessions/{sid}/log").json()
        return body if "written-on-the-worker" in body.get("content", "") else None

    log = wait_for(logged, timeout=15, interval=0.2)
    assert log["node"] == "worker-b" and "lk_***" in log["content"]
    assert "lk_" not in log["content"].replace("lk_***", "")
