"""Aborting a build that really runs (a package whose build step sleeps), the build lock of
one env, and the limit on builds of different envs running side by side.

Proved by state, never by a clock: a sleepy build would run ten minutes, so a future that
says aborted and a build tree that is gone before the hang guard mean the abort stopped it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.codeenvs.helpers import (
    configure,
    create,
    definition,
    save,
    update,
    wait_for_markers,
    wait_state,
)
from tests.conftest import Instance
from tests.helpers import alive, task_tree, wait_for

HANG_GUARD = 60.0  # seconds: only a broken abort gets near it


@pytest.fixture
def envs(instance: Instance, wheelhouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Instance:
    configure(instance, wheelhouse)
    return instance


def abort(instance: Instance, job: str) -> dict:
    """Abort, wait until the future says it ended aborted; its state."""
    assert instance.admin.delete(f"/futures/{job}").status_code == 204
    state = wait_state(instance.admin, job, lambda s: s["aborted"] and not s["alive"], timeout=HANG_GUARD)
    assert state["aborted"] is True and state["alive"] is False
    return state


def test_abort_stops_the_whole_build_tree_and_never_leaves_a_ready_env(
    envs: Instance, tmp_path: Path
) -> None:
    create(envs.admin, "slow", specPackageList="lkdemo-a")
    save(envs.admin, "slow", specPackageList="lkdemo-a\nlksleepy")
    job = update(envs.admin, "slow", wait=False).json()["jobId"]
    marker = wait_for_markers(envs.config.data_dir)[0]
    backend, grandchild = int(marker.name.split("-")[1]), int(marker.read_text())
    pids = task_tree(envs, job)
    assert backend in pids and grandchild in pids and len(pids) >= 3  # uv, the backend, its sleep
    running = definition(envs.admin, "slow")
    assert running["state"] == "BUILDING" and running["buildFutureId"] == job

    abort(envs, job)
    # uv, the backend and its sleep would run ten minutes: gone means the abort killed them.
    assert wait_for(lambda: not any(alive(pid) for pid in pids), timeout=HANG_GUARD, interval=0.01)

    env = definition(envs.admin, "slow")
    assert env["state"] == "BROKEN" and env["buildFutureId"] is None
    # The build thread records why, just after the abort.
    assert wait_for(lambda: "aborted" in definition(envs.admin, "slow")["lastBuildError"], timeout=HANG_GUARD)
    log = envs.admin.get("/admin/code-envs/python/slow/logs").json()[0]
    assert log["futureId"] == job and log["mode"] == "update"
    assert "aborted" in envs.admin.get(f"/admin/code-envs/python/slow/logs/{log['name']}").text

    # A later update repairs the env.
    save(envs.admin, "slow", specPackageList="lkdemo-a")
    assert update(envs.admin, "slow").json()["messages"]["error"] is False
    assert definition(envs.admin, "slow")["state"] == "READY"


def test_an_aborted_creation_leaves_a_broken_env_that_an_update_repairs(
    envs: Instance, tmp_path: Path
) -> None:
    job = create(envs.admin, "fresh", wait=False, specPackageList="lksleepy")["jobId"]
    wait_for_markers(envs.config.data_dir)
    abort(envs, job)
    assert definition(envs.admin, "fresh")["state"] == "BROKEN"
    save(envs.admin, "fresh", specPackageList="lkdemo-c")
    assert update(envs.admin, "fresh").json()["messages"]["error"] is False
    assert definition(envs.admin, "fresh")["state"] == "READY"


def test_a_second_build_of_the_same_env_is_refused_with_409(envs: Instance, tmp_path: Path) -> None:
    job = create(envs.admin, "busy", wait=False, specPackageList="lksleepy")["jobId"]
    wait_for_markers(envs.config.data_dir)
    for answer in (
        update(envs.admin, "busy"),
        envs.admin.post("/admin/code-envs/python/busy/jupyter", params={"active": "true"}),
        envs.admin.delete("/admin/code-envs/python/busy", params={"force": "true"}),
    ):
        assert answer.status_code == 409, answer.text
        assert job in answer.json()["detailedMessage"]
    abort(envs, job)
    save(envs.admin, "busy", specPackageList="lkdemo-c")
    assert update(envs.admin, "busy").json()["messages"]["error"] is False


def test_builds_of_different_envs_run_side_by_side_up_to_the_limit(
    envs: Instance, wheelhouse: Path, tmp_path: Path
) -> None:
    configure(envs, wheelhouse, maxConcurrentBuilds=1)
    first = create(envs.admin, "one", wait=False, specPackageList="lksleepy")["jobId"]
    wait_for_markers(envs.config.data_dir, 1)
    second = create(envs.admin, "two", wait=False, specPackageList="lksleepy-two")["jobId"]
    state = wait_state(
        envs.admin, second, lambda s: s["progress"]["states"] and "slot" in s["progress"]["states"][0]["name"]
    )
    assert state["alive"] and state["progress"]["states"][0]["name"] == "Waiting for a build slot"
    time.sleep(1.0)
    assert len(list(envs.config.data_dir.glob("run/builds/*/building-*"))) == 1, (
        "the limit is one build at a time"
    )

    # A waiting build can be aborted too.
    abort(envs, second)
    third = create(envs.admin, "three", wait=False, specPackageList="lksleepy-three")["jobId"]
    configure(envs, wheelhouse, maxConcurrentBuilds=2)
    # The waiting build starts once the limit rises.
    wait_for_markers(envs.config.data_dir, 2, timeout=HANG_GUARD)
    assert wait_state(envs.admin, first, lambda s: True)["alive"]
    for job in (first, third):
        abort(envs, job)
    assert {definition(envs.admin, n)["state"] for n in ("one", "two", "three")} == {"BROKEN"}
