"""Futures on PostgreSQL: procrastinate jobs picked by any worker node, aborted on the node
that runs them, failed when that node dies. Each node here has its own data directory."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from fastapi.testclient import TestClient

from labkeeper.config import Config
from labkeeper.futures.models import Task
from labkeeper.futures.queued import NODE_STOPPED, ProcrastinateRunner
from labkeeper.futures.runner import Submission
from labkeeper.server.app import create_app
from tests.conftest import ADMIN_KEY, Instance, reachable_tmp_dir
from tests.futures import ops  # noqa: F401  (registers the test operations)
from tests.helpers import alive, task_tree, wait_for

ROOT = Path(__file__).resolve().parents[2]
SECRET = "a-test-instance-secret-of-enough-length-0123456789"
HANG_GUARD = 60.0  # seconds: only a broken runner gets near it


@pytest.fixture
def pg(config: Config) -> Config:
    if not config.database_url:
        pytest.skip("the procrastinate runner needs PostgreSQL (LABKEEPER_TEST_DATABASE_URL)")
    return config


@contextmanager
def node(config: Config, name: str, **changes: object) -> Iterator[Instance]:
    base = reachable_tmp_dir(f"lk-node-{name}-")
    node_config = dataclasses.replace(config, data_dir=base / "data", node_name=name, **changes)
    app = create_app(node_config)
    with TestClient(app) as main:
        yield Instance(app, node_config, main.portal)


def submit(instance: Instance, kind: str, *, node: str = "", **args: object) -> str:
    return instance.app.state.runner.submit(
        Submission(kind=kind, args=dict(args), owner="admin", display_name=f"test {kind}", node=node)
    )


def peek(instance: Instance, job_id: str) -> dict:
    return instance.admin.get(f"/futures/{job_id}", params={"peek": "true"}).json()


def task(instance: Instance, job_id: str) -> Task:
    with instance.store.read() as s:
        return s.get(Task, job_id)


def test_postgresql_runs_futures_as_procrastinate_jobs(pg: Config, instance: Instance) -> None:
    assert isinstance(instance.app.state.runner, ProcrastinateRunner)
    job = submit(instance, "test.echo", text="queued")
    state = wait_for(lambda: (s := peek(instance, job))["alive"] is False and s)
    assert state["hasResult"] is True
    assert instance.admin.get(f"/futures/{job}").json()["result"] == {"code": 0, "output": "queued"}
    row = task(instance, job)
    assert row.job_id is not None and row.node == instance.config.effective_node_name


def test_an_api_node_without_worker_leaves_tasks_to_a_worker_node(pg: Config) -> None:
    with node(pg, "api-a", embedded_worker=False) as api, node(pg, "worker-b", serves_api=False) as worker:
        job = submit(api, "test.sleep-tree", seconds=600)
        assert wait_for(lambda: len(task_tree(api, job)) >= 3, timeout=HANG_GUARD)
        assert task(api, job).node == "worker-b"
        pids = task_tree(api, job)
        nodes = {n["name"]: n for n in api.admin.get("/admin/nodes").json()}
        assert nodes["api-a"]["role"] == "api" and nodes["worker-b"]["role"] == "worker"
        # Abort through the API node: procrastinate reaches worker-b, which kills the tree. The
        # sleeps last ten minutes: gone before the hang guard means killed.
        assert api.admin.delete(f"/futures/{job}").status_code == 204
        gone = wait_for(lambda: not any(alive(pid) for pid in pids), timeout=HANG_GUARD, interval=0.01)
        assert gone, "the task's processes on worker-b survived the abort"
        state = api.admin.get(f"/futures/{job}?peek=true").json()
        assert state["aborted"] is True and state["alive"] is False and state["abortedBy"] == "admin"
        assert wait_for(lambda: worker.app.state.runner.running_here() == 0, timeout=HANG_GUARD)


def test_a_task_queued_for_a_node_runs_there(pg: Config) -> None:
    with node(pg, "api-a") as api, node(pg, "worker-b", serves_api=False):
        jobs = [submit(api, "test.echo", node="worker-b", text=str(i)) for i in range(4)]
        for job in jobs:
            assert wait_for(lambda job=job: task(api, job).state == "DONE")
        assert {task(api, job).node for job in jobs} == {"worker-b"}


def test_a_worker_killed_hard_has_its_tasks_failed(pg: Config) -> None:
    with node(pg, "api-a") as api:
        base = reachable_tmp_dir("lk-node-doomed-")
        env = {**os.environ, "LABKEEPER_SECRET_KEY": SECRET, "LABKEEPER_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}
        worker = subprocess.Popen(
            [
                sys.executable, "-m", "labkeeper.cli.main", "worker",
                "--database-url", str(pg.database_url), "--data-dir", str(base / "data"),
                "--node-name", "doomed", "--import", "tests.futures.ops",
            ],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        pids: list[int] = []
        try:
            assert wait_for(
                lambda: any(n["name"] == "doomed" for n in api.admin.get("/admin/nodes").json()), timeout=120
            )  # a node shows once started: slow on a machine other suites share
            job = submit(api, "test.sleep-tree", node="doomed", seconds=120)
            assert wait_for(lambda: len(task_tree(api, job)) >= 3, timeout=20)
            pids = task_tree(api, job)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            # Nothing of the dead node can end its task any more: failed with NODE_STOPPED means
            # another node noticed it stopped (STALLED_AFTER_SECONDS, 12 s; the wait is a guard).
            state = wait_for(
                lambda: (s := api.admin.get(f"/futures/{job}?peek=true").json())["alive"] is False and s,
                timeout=90,
                interval=0.5,
            )
            assert state and state["alive"] is False and state["error"] == NODE_STOPPED
            assert wait_for(
                lambda: not {n["name"]: n["alive"] for n in api.admin.get("/admin/nodes").json()}["doomed"],
                timeout=30,
                interval=0.5,
            )
            # The live node keeps serving.
            other = submit(api, "test.echo", text="still here")
            assert wait_for(lambda: task(api, other).state == "DONE")
        finally:
            worker.kill()
            for pid in pids:  # what the dead node left: its restart would kill them
                try:
                    psutil.Process(pid).kill()
                except psutil.NoSuchProcess:
                    pass
