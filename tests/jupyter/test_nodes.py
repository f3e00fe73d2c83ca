"""Notebook sessions and nodes: the kernel's call-back address is the public URL, a session
records its node, a run reaches the node of its kernel, an unload from another node stops the
kernel without touching this machine's processes, and a dead node's sessions are forgotten."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import psutil
import pytest
from fastapi.testclient import TestClient

from labkeeper.auth.models import ApiKey
from labkeeper.config import Config
from labkeeper.db import now_ms
from labkeeper.futures.models import Task
from labkeeper.nodes.models import Node
from labkeeper.notebooks.jupyter.models import JupyterSession
from labkeeper.notebooks.jupyter.placement import NODE_STOPPED
from labkeeper.server.app import create_app
from tests.conftest import Instance
from tests.helpers import alive, wait_for
from tests.jupyter.helpers import kernel_env, notebook, run_cells
from tests.projects.helpers import create

NB = "/projects/SES/jupyter-notebooks"
PUBLIC = "https://labkeeper.example.org:8443"


@contextmanager
def node(config: Config, **changes: object) -> Iterator[Instance]:
    app = create_app(dataclasses.replace(config, **changes))
    with TestClient(app) as main:
        yield Instance(app, app.state.config, main.portal)


def start_session(instance: Instance) -> dict:
    create(instance, "SES")
    assert instance.admin.post(f"{NB}/main", json=notebook("x = 41", "x + 1")).status_code == 200
    answer = instance.admin.post(f"{NB}/main/sessions")
    assert answer.status_code == 200, answer.text
    return answer.json()


def row(instance: Instance, session_id: str) -> JupyterSession | None:
    with instance.store.read() as s:
        return s.get(JupyterSession, session_id)


def test_kernels_call_back_to_the_public_url(config: Config) -> None:
    with node(config, public_url=PUBLIC + "/", node_name="node-a") as instance:
        session = start_session(instance)
        assert kernel_env(session["kernelPid"])["LABKEEPER_URL"] == PUBLIC
        recorded = row(instance, session["sessionId"])
        assert recorded.server_url == PUBLIC and recorded.node == "node-a"


def test_a_run_is_queued_for_the_node_of_its_kernel(config: Config) -> None:
    if not config.database_url:
        pytest.skip("nodes share a PostgreSQL store")
    with node(config, node_name="node-a") as a:
        session = start_session(a)
        # A second node on the same store picks general tasks too: the run must still go to A.
        with node(config, node_name="node-b", data_dir=config.data_dir.with_name("data-b")):
            for _ in range(3):
                state = run_cells(a.admin, "SES", "main", session["sessionId"])
                assert state["hasResult"] is True, state
                with a.store.read() as s:
                    assert s.get(Task, state["jobId"]).node == "node-a"


def test_an_unload_from_another_node_stops_the_kernel_on_its_own(config: Config) -> None:
    with node(config, node_name="node-a") as a:
        session = start_session(a)
        pid = session["kernelPid"]
        # Pretend another node owns it: this node's unload must not kill a local pid...
        with a.store.begin() as s:
            s.get(JupyterSession, session["sessionId"]).node = "node-elsewhere"
        live = a.app.state.jupyter.live.pop(session["sessionId"])
        assert a.admin.delete(f"{NB}/main/sessions/{session['sessionId']}").status_code == 200
        assert row(a, session["sessionId"]) is None
        assert alive(pid), "a pid recorded by another node is not a process of this machine"
        # ...while the owner, seeing the row gone, stops its kernel (here: the same manager).
        a.app.state.jupyter.live[session["sessionId"]] = live
        assert wait_for(lambda: not alive(pid), timeout=10)


def test_sessions_of_a_dead_node_are_forgotten(config: Config, instance: Instance) -> None:
    if not config.database_url:
        pytest.skip("the reaper of dead nodes runs in the procrastinate runner (PostgreSQL)")
    session = start_session(instance)
    pid = session["kernelPid"]
    with instance.store.begin() as s:
        s.add(Node(name="gone", role="worker", started_on=1, heartbeat_on=now_ms() - 60_000))
        s.get(JupyterSession, session["sessionId"]).node = "gone"
        key_id = s.get(JupyterSession, session["sessionId"]).api_key_id
    instance.app.state.jupyter.live.pop(session["sessionId"])  # as if the kernel ran on "gone"
    try:
        assert wait_for(lambda: row(instance, session["sessionId"]) is None, timeout=30, interval=0.2)
        with instance.store.read() as s:
            assert s.get(ApiKey, key_id) is None
        events = instance.admin.get("/admin/audit").json()
        assert any(NODE_STOPPED in str(e.get("details")) for e in events)
    finally:
        psutil.Process(pid).kill()
