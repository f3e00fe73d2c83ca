"""With `--workers N`, each worker runs its own jupyter_server over its own kernels: a kernel
websocket that lands on the worker running the kernel works, one that lands on another
worker is refused cleanly (409, saying why), never a 500 and never a hang."""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus

from labkeeper.config import Config
from tests.conftest import ADMIN_KEY
from tests.e2e.test_serve import Served
from tests.lab.helpers import KernelSocket, notebook

pytestmark = pytest.mark.e2e


class _Live:
    def __init__(self, url: str) -> None:
        self.url = url


class _Lab:
    def __init__(self, url: str) -> None:
        self.url = url

    def ws_url(self, kernel_id: str) -> str:
        return self.url.replace("http://", "ws://") + f"/lab/api/kernels/{kernel_id}/channels?session_id=t"


def test_a_kernel_of_another_worker_is_refused_cleanly_or_works(config: Config) -> None:
    import httpx

    args = ("--workers", "2", "--kernel-python", config.kernel_python)
    with Served(
        config.data_dir, config.database_url, *args, env={"LABKEEPER_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}
    ) as served:
        api = httpx.Client(
            base_url=served.url + "/dip/publicapi", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
        assert api.post("/projects/", json={"projectKey": "W", "name": "W"}).status_code == 200
        assert api.post("/projects/W/jupyter-notebooks/nb", json=notebook("1")).status_code == 200
        started = api.post("/projects/W/jupyter-notebooks/nb/sessions", timeout=120)
        assert started.status_code == 200, started.text
        kernel_id = started.json()["kernelId"]
        outcomes = []
        for _ in range(16):  # fresh connections: the kernel's worker and the other one both answer some
            try:
                with KernelSocket(_Lab(served.url), kernel_id, ADMIN_KEY) as ws:  # type: ignore[arg-type]
                    out, _reply = ws.execute("print('here')")
                    outcomes.append(out)
            except InvalidStatus as refused:
                assert refused.response.status_code == 409, refused.response.status_code
                assert b"another labkeeper worker" in refused.response.body
                outcomes.append("refused")
        assert set(outcomes) <= {"here\n", "refused"}, outcomes
        assert "here\n" in outcomes
        assert api.delete(
            f"/projects/W/jupyter-notebooks/nb/sessions/{started.json()['sessionId']}"
        ).status_code in (
            200,
            204,
        )
