"""labkeeper's own client for futures, against a live instance running real tasks."""

from __future__ import annotations

import pytest

from labkeeper.client import DataikuException, DSSClient, DSSFuture
from labkeeper.futures.runner import Submission
from tests.futures import ops  # noqa: F401  (registers the test operations)
from tests.helpers import returns

HANG_GUARD = 30.0  # seconds: only a client that never stops waiting gets near it


def submit(live, kind: str, owner: str = "admin", **args: object) -> str:  # type: ignore[no-untyped-def]
    return live.app.state.runner.submit(
        Submission(kind=kind, args=dict(args), owner=owner, display_name=kind)
    )


def test_list_get_and_abort(live, lk: DSSClient) -> None:  # type: ignore[no-untyped-def]
    job = submit(live, "test.sleep-tree", seconds=30)
    try:
        listed = lk.list_futures()
        assert [f["jobId"] for f in listed] == [job]
        [handle] = lk.list_futures(as_objects=True, all_users=True)
        assert isinstance(handle, DSSFuture) and handle.job_id == job and handle.state["alive"] is True
        assert lk.list_running_scenarios(all_users=True) == []
        future = lk.get_future(job)
        assert future.peek_state()["alive"] is True and future.state_is_peek
        with pytest.raises(TimeoutError, match=job):
            future.wait_for_result(timeout=0.3)
    finally:
        lk.get_future(job).abort()
    with pytest.raises(DataikuException, match="aborted by admin"):
        lk.get_future(job).wait_for_result()
    assert lk.list_futures() == []


def test_wait_for_result_reports_progress_and_returns_the_result(live, lk: DSSClient) -> None:  # type: ignore[no-untyped-def]
    job = submit(live, "test.async-wait", seconds=0.6)
    seen: list[dict] = []
    # The wait returning is the proof it does not hang.
    future = lk.get_future(job)
    result, raised = returns(
        lambda: future.wait_for_result(on_progress=seen.append), HANG_GUARD, "wait_for_result"
    )
    assert raised is None and result == {"slept": 0.6}
    assert seen and seen[0]["alive"] is True and seen[-1]["alive"] is False
    future = lk.get_future(submit(live, "test.echo", text="hi"))
    assert future.wait_for_result() == {"code": 0, "output": "hi"}
    assert future.has_result() and future.get_result() == {"code": 0, "output": "hi"}


def test_a_failed_future_raises_its_error(live, lk: DSSClient) -> None:  # type: ignore[no-untyped-def]
    future = lk.get_future(submit(live, "test.fail", message="the wheel was not found"))
    with pytest.raises(DataikuException, match="the wheel was not found"):
        future.wait_for_result(timeout=10)


def test_an_answer_holding_its_result_needs_no_call(lk: DSSClient) -> None:
    future = DSSFuture.from_resp(lk, {"hasResult": True, "result": {"done": 1}})
    assert future.job_id is None and future.wait_for_result() == {"done": 1}
    assert DSSFuture.get_result_wait_if_needed(lk, {"result": 5}) == 5
    wrapped = DSSFuture.from_resp(lk, {"hasResult": True, "result": 2}, result_wrapper=lambda r: r * 10)
    assert wrapped.wait_for_result() == 20
