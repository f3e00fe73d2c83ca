"""Futures: long operations running on the server (`DSSFuture`), and the `DSSClient` methods
that list and find them (`FutureMethods`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from labkeeper.client._http import Requester, path_segment

ResultWrapper = Callable[[Any], Any]
ProgressCallback = Callable[[dict[str, Any]], None]


def _same(result: Any) -> Any:
    return result


class DSSFuture:
    """A long-running task on the server: watch its state, wait for its result, abort it.

    Calls that start long work return one (`create_code_env(..., wait=False)`,
    `DSSProject.delete(wait=False)`, ...); `client.get_future(job_id)` makes one for a known
    id. `state` is the last state read (`peek_state()` / `get_state()` refresh it).
    """

    def __init__(
        self,
        client: Requester,
        job_id: str | None,
        state: dict[str, Any] | None = None,
        result_wrapper: ResultWrapper = _same,
    ) -> None:
        self.client = client
        self.job_id = job_id
        self.state = state
        self.state_is_peek = True
        self.result_wrapper = result_wrapper

    @staticmethod
    def from_resp(
        client: Requester, resp: dict[str, Any], result_wrapper: ResultWrapper = _same
    ) -> DSSFuture:
        """The future described by the answer of a call that started long work (the answer
        may also hold the result already, with no `jobId`)."""
        return DSSFuture(client, resp.get("jobId"), state=resp, result_wrapper=result_wrapper)

    @classmethod
    def get_result_wait_if_needed(cls, client: Requester, ret: dict[str, Any]) -> Any:
        """The result of an answer that is either a future (wait for it) or a finished result."""
        if "jobId" in ret:
            future = DSSFuture(client, ret["jobId"], ret)
            future.wait_for_result()
            return future.get_result()
        return ret["result"]

    def _path(self) -> str:
        return f"/futures/{path_segment(self.job_id)}"

    def abort(self) -> None:
        """Ask the server to stop the task (its processes are gone within a second)."""
        self.client._perform_empty("DELETE", self._path())

    def get_state(self) -> dict[str, Any]:
        """The state with the result once ready; raises if the task failed or was aborted."""
        self.state = self.client._perform_json("GET", self._path(), params={"peek": False})
        self.state_is_peek = False
        return self.state

    def peek_state(self) -> dict[str, Any]:
        """The state without the result (never raises for a failed task: read `error`)."""
        self.state = self.client._perform_json("GET", self._path(), params={"peek": True})
        self.state_is_peek = True
        return self.state

    def get_result(self) -> Any:
        """The result if the task has finished; raises `Exception` if it is not ready."""
        if self.state is None or not self.state.get("hasResult", False) or self.state_is_peek:
            self.get_state()
        assert self.state is not None
        if self.state.get("hasResult", False):
            return self.result_wrapper(self.state.get("result"))
        raise Exception("Result not ready")

    def has_result(self) -> bool:
        """Whether the task has finished with a result (raises if it failed)."""
        if self.state is None or not self.state.get("hasResult", False):
            self.get_state()
        assert self.state is not None
        return bool(self.state.get("hasResult", False))

    def wait_for_result(
        self, timeout: float | None = None, on_progress: ProgressCallback | None = None
    ) -> Any:
        """Wait until the task ends and return its result; a failed or aborted task raises
        the server's error. `on_progress(state)` (labkeeper addition) is called with each
        state read while waiting; `timeout` (seconds, labkeeper addition) raises
        `TimeoutError` if the task is still running then."""
        state = self.state
        if state is not None and state.get("hasResult", False) and ("result" in state or not self.job_id):
            return self.result_wrapper(state.get("result"))  # the answer holds the result already
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.05
        while True:
            state = self.peek_state()
            if on_progress is not None:
                on_progress(state)
            if not state.get("alive", False):
                final = self.get_state()  # raises for a failed or aborted task
                if final.get("hasResult", False):
                    return self.result_wrapper(final.get("result"))
                raise Exception(f"Future {self.job_id} ended without a result")
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"Future {self.job_id} is still running after {timeout} s")
            pause = delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic()))
            time.sleep(pause)
            delay = min(delay * 1.5, 1.0)

    def __repr__(self) -> str:
        return f"DSSFuture({self.job_id!r})"


class FutureMethods(Requester):
    """`DSSClient` methods for futures."""

    def list_futures(self, as_objects: bool = False, all_users: bool = False) -> list[Any]:
        """The running long tasks (scenarios aside) of the caller, or of everyone
        (`all_users`, admins only); dicts with at least `jobId`, or `DSSFuture`s."""
        items = self._perform_json(
            "GET",
            "/futures/",
            params={"withScenarios": False, "withNotScenarios": True, "allUsers": all_users},
        )
        if as_objects:
            return [DSSFuture(self, item["jobId"], item) for item in items]
        return items

    def list_running_scenarios(self, all_users: bool = False) -> list[dict[str, Any]]:
        """The running scenarios of the caller, or of everyone (`all_users`, admins only)."""
        return self._perform_json(
            "GET",
            "/futures/",
            params={"withScenarios": True, "withNotScenarios": False, "allUsers": all_users},
        )

    def get_future(self, job_id: str) -> DSSFuture:
        """A handle on a future by its id (sends nothing)."""
        return DSSFuture(self, job_id)
