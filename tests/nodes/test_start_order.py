"""A worker takes no job before it can run it: the kernel jobs are known to the runner before
it starts taking jobs (procrastinate fails a job whose task it does not know, and the API node
waiting for that start answers 504). tests/e2e/test_envs_on_nodes.py starts a session on a
worker that is still starting."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from labkeeper.config import Config
from labkeeper.notebooks.jupyter.remote import INTERRUPT_JOB, START_JOB, STOP_JOB
from labkeeper.server.app import create_app


def test_the_kernel_jobs_are_registered_before_the_runner_starts(
    config: Config, database_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not database_url:
        pytest.skip("jobs sent to a node exist on PostgreSQL (procrastinate)")
    from labkeeper.futures.queued import ProcrastinateRunner

    known_at_start: list[set[str]] = []
    real_start = ProcrastinateRunner.start

    async def start(self: ProcrastinateRunner) -> None:  # the real start, once it saw what it knows
        known_at_start.append(set(self.app.tasks))
        await real_start(self)

    monkeypatch.setattr(ProcrastinateRunner, "start", start)
    with TestClient(create_app(config)) as client:
        assert client.get("/readyz").status_code == 200
    assert len(known_at_start) == 1
    assert {START_JOB, STOP_JOB, INTERRUPT_JOB} <= known_at_start[0]
