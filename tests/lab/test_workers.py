"""With `--workers N`, each worker runs its own jupyter_server over its own kernels: a kernel
websocket that lands on the worker running the kernel works, one that lands on another
worker is refused cleanly (409, saying why), never a 500 and never a hang.

Which worker accepts a connection is the operating system's choice, and the second worker
may still be starting when the first answers: the test opens fresh connections until it
has seen both outcomes (a condition, with a generous deadline), never a fixed number of
tries nor a sleep.
"""

from __future__ import annotations

import time

import httpx
import psutil
import pytest
from websockets.exceptions import InvalidStatus

from labkeeper.config import Config
from tests.conftest import ADMIN_KEY
from tests.e2e.test_serve import Served
from tests.lab.helpers import KernelSocket, notebook

pytestmark = pytest.mark.e2e
HERE, REFUSED = "here\n", "refused"
DEADLINE_SECONDS = 300.0  # a loaded machine: the answer comes far sooner when it is idle


class _Lab:
    def __init__(self, url: str) -> None:
        self.url = url

    def ws_url(self, kernel_id: str) -> str:
        return self.url.replace("http://", "ws://") + f"/lab/api/kernels/{kernel_id}/channels?session_id=t"


def _connect_once(lab: _Lab, kernel_id: str) -> str:
    try:
        with KernelSocket(lab, kernel_id, ADMIN_KEY, open_timeout=120) as ws:  # type: ignore[arg-type]
            return ws.execute("print('here')")[0]
    except InvalidStatus as refused:
        assert refused.response.status_code == 409, (refused.response.status_code, refused.response.body)
        assert b"another labkeeper worker" in refused.response.body
        return REFUSED


def test_a_kernel_of_another_worker_is_refused_cleanly_or_works(config: Config) -> None:
    args = ("--workers", "2", "--kernel-python", config.kernel_python)
    with Served(
        config.data_dir, config.database_url, *args, env={"LABKEEPER_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}
    ) as served:
        api = httpx.Client(
            base_url=served.url + "/dip/publicapi",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=120,
        )
        assert api.post("/projects/", json={"projectKey": "W", "name": "W"}).status_code == 200
        assert api.post("/projects/W/jupyter-notebooks/nb", json=notebook("1")).status_code == 200
        started = api.post("/projects/W/jupyter-notebooks/nb/sessions")
        assert started.status_code == 200, started.text
        kernel_id, pid = started.json()["kernelId"], started.json()["kernelPid"]
        lab, outcomes = _Lab(served.url), []
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not {HERE, REFUSED} <= set(outcomes) and time.monotonic() < deadline:
            outcomes.append(_connect_once(lab, kernel_id))
        assert set(outcomes) == {HERE, REFUSED}, outcomes
        # a refused connection left the kernel and its session as they were
        assert psutil.pid_exists(pid)
        assert [s["kernelId"] for s in api.get("/projects/W/jupyter-notebooks/nb/sessions").json()] == [
            kernel_id
        ]
        unloaded = api.delete(f"/projects/W/jupyter-notebooks/nb/sessions/{started.json()['sessionId']}")
        assert unloaded.status_code in (200, 204), unloaded.text
