"""Futures over real processes: list, watch, fail loudly, abort a whole tree fast."""

from __future__ import annotations

import time

import pytest

from labkeeper.futures.runner import Submission
from tests.conftest import Instance
from tests.futures import ops  # noqa: F401  (registers the test operations)
from tests.helpers import alive, returns, task_tree, wait_for

HANG_GUARD = 30.0  # seconds: only a broken runner or client gets near it


def submit(instance: Instance, kind: str, owner: str = "admin", **args: object) -> str:
    return instance.app.state.runner.submit(
        Submission(kind=kind, args=dict(args), owner=owner, display_name=f"test {kind}")
    )


def wait_state(instance: Instance, job_id: str, predicate, timeout: float = 20.0) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        state = instance.admin.get(f"/futures/{job_id}", params={"peek": "true"}).json()
        if predicate(state) or time.monotonic() > deadline:
            return state
        time.sleep(0.02)


def test_result_of_a_finished_task(instance: Instance) -> None:
    job = submit(instance, "test.echo", text="hello")
    state = wait_state(instance, job, lambda s: not s["alive"])
    assert state["hasResult"] is True and "result" not in state  # peek leaves the result out
    full = instance.admin.get(f"/futures/{job}", params={"peek": "False"}).json()
    assert full["result"] == {"code": 0, "output": "hello"}


def test_failed_task_answers_the_non_peek_call_with_its_error(instance: Instance) -> None:
    job = submit(instance, "test.fail", message="the wheel was not found")
    state = wait_state(instance, job, lambda s: not s["alive"])
    assert state["hasResult"] is False and state["error"] == "the wheel was not found"
    answer = instance.admin.get(f"/futures/{job}", params={"peek": "false"})
    assert answer.status_code >= 400
    assert "the wheel was not found" in answer.json()["detailedMessage"]


def test_abort_kills_the_whole_process_tree(instance: Instance) -> None:
    """Proved by state: the sleeps would last ten minutes, so a tree that is gone and a future
    that says aborted before the hang guard mean the abort killed them."""
    job = submit(instance, "test.sleep-tree", seconds=600)
    deadline = time.monotonic() + HANG_GUARD
    while len(task_tree(instance, job)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    pids = task_tree(instance, job)
    assert len(pids) >= 3, "the shell and its two sleeps should be running"
    assert instance.admin.delete(f"/futures/{job}").status_code == 204
    state = wait_state(instance, job, lambda s: s["aborted"] and not s["alive"], timeout=HANG_GUARD)
    assert state["aborted"] is True and state["alive"] is False
    assert state["abortedBy"] == "admin"
    assert not any(alive(pid) for pid in pids)
    answer = instance.admin.get(f"/futures/{job}").json()
    assert "aborted by admin" in answer["detailedMessage"]


def test_abort_of_a_coroutine_task(instance: Instance) -> None:
    job = submit(instance, "test.async-wait", seconds=600)
    assert wait_state(instance, job, lambda s: s["alive"])["alive"]
    instance.admin.delete(f"/futures/{job}")
    # The coroutine would wait ten minutes: ended and aborted means cancelled.
    state = wait_state(instance, job, lambda s: s["aborted"] and not s["alive"], timeout=HANG_GUARD)
    assert state["aborted"] is True and state["alive"] is False and state["hasResult"] is False


def test_listing_is_per_owner_and_all_users_is_for_admins(instance: Instance) -> None:
    key = instance.make_user("alice", ["analysts"])
    alice = instance.client(key)
    mine = submit(instance, "test.sleep-tree", owner="alice", seconds=30)
    theirs = submit(instance, "test.sleep-tree", owner="admin", seconds=30)
    try:
        listed = [f["jobId"] for f in alice.get("/futures/").json()]
        assert listed == [mine]
        assert alice.get("/futures/", params={"allUsers": "True"}).status_code == 403
        everyone = {f["jobId"] for f in instance.admin.get("/futures/", params={"allUsers": "true"}).json()}
        assert {mine, theirs} <= everyone
        entry = instance.admin.get("/futures/", params={"allUsers": "true"}).json()[0]
        assert {
            "jobId",
            "alive",
            "aborted",
            "unknown",
            "hasResult",
            "startTime",
            "runningTime",
            "progress",
            "owner",
            "target",
        } <= set(entry)
        assert alice.get(f"/futures/{theirs}").status_code == 403
        assert alice.delete(f"/futures/{theirs}").status_code == 403
        assert alice.delete(f"/futures/{mine}").status_code == 204
        assert alice.get("/futures/").json() == []
    finally:
        instance.admin.delete(f"/futures/{theirs}")


def test_unknown_future_is_404(instance: Instance) -> None:
    answer = instance.admin.get("/futures/doesnotexist")
    assert answer.status_code == 404 and answer.json()["errorType"] == "NotFoundException"


def test_restart_fails_running_tasks_and_kills_their_processes(instance: Instance) -> None:
    from labkeeper.futures.inprocess import InProcessRunner
    from labkeeper.futures.models import Task

    job = submit(instance, "test.sleep-tree", seconds=60)
    deadline = time.monotonic() + 10
    while len(task_tree(instance, job)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    pids = task_tree(instance, job)
    # Pretend the runner that owns the task died: a new runner on this host recovers it.
    with instance.store.begin() as s:
        host = instance.app.state.runner.runner_id.split(":")[0]
        s.get(Task, job).runner_id = f"{host}:{2**22 + 7}:dead"
    InProcessRunner(instance.store).recover_after_restart()
    state = instance.admin.get(f"/futures/{job}", params={"peek": "true"}).json()
    assert state["alive"] is False and "restart" in state["error"]
    assert not any(alive(pid) for pid in pids)


@pytest.mark.parametrize("kind", ["test.fail", "test.sleep-tree"])
def test_official_client_wait_for_result_never_hangs(live, dss, kind: str) -> None:  # type: ignore[no-untyped-def]
    """The proof that it never hangs is that the wait returns: run in a thread joined with a
    hang guard, it must have ended, raising the task's error."""
    from dataikuapi.utils import DataikuException

    runner = live.app.state.runner
    job = runner.submit(Submission(kind=kind, args={"message": "boom", "seconds": 600}, owner="admin"))
    future = dss.get_future(job)
    if kind == "test.sleep-tree":
        assert wait_for(lambda: future.peek_state()["alive"], timeout=HANG_GUARD)
        future.abort()
    _, error = returns(future.wait_for_result, HANG_GUARD, "wait_for_result")
    assert isinstance(error, DataikuException)
    assert ("boom" if kind == "test.fail" else "aborted by admin") in str(error)


def test_official_client_lists_and_reads_futures(live, dss) -> None:  # type: ignore[no-untyped-def]
    runner = live.app.state.runner
    job = runner.submit(Submission(kind="test.sleep-tree", args={"seconds": 30}, owner="admin"))
    try:
        assert job in [f["jobId"] for f in dss.list_futures(all_users=True)]
        assert dss.list_running_scenarios(all_users=True) == []
        assert dss.get_future(job).peek_state()["alive"] is True
    finally:
        dss.get_future(job).abort()
    done = runner.submit(Submission(kind="test.echo", args={"text": "x"}, owner="admin"))
    assert dss.get_future(done).wait_for_result() == {"code": 0, "output": "x"}
