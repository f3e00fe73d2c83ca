"""After the server dies, the next start leaves no kernel (nor anything it started) running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from labkeeper.config import Config
from tests.conftest import ADMIN_KEY, free_port
from tests.helpers import alive, wait_for
from tests.jupyter.helpers import kernel_env, notebook

pytestmark = pytest.mark.e2e


def serve(data_dir: Path, port: int, database_url: str | None, kernel_python: str) -> subprocess.Popen:
    args = [
        sys.executable,
        "-m",
        "labkeeper.cli.main",
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--kernel-python",
        kernel_python,
    ]
    if database_url:
        args += ["--database-url", database_url]
    env = {**os.environ, "LABKEEPER_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5)

    def up() -> bool:
        try:
            return client.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_for(up, timeout=60), "labkeeper serve did not start"
    return proc


def test_kernels_of_a_killed_server_are_stopped_at_the_next_start(
    config: Config, database_url: str | None, kernel_runtime: str
) -> None:
    if database_url:
        from tests.conftest import _empty_postgres

        _empty_postgres(database_url)
    port = free_port()
    data_dir = config.data_dir  # one kernels as labkeeper-kernel can reach
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}/dip/publicapi", auth=(ADMIN_KEY, ""), timeout=60)
    first = serve(data_dir, port, database_url, kernel_runtime)
    try:
        assert api.post("/projects/", json={"projectKey": "RS", "name": "RS"}).status_code == 200
        code = notebook("import subprocess\nprint(subprocess.Popen(['sleep', '300']).pid)")
        assert api.post("/projects/RS/jupyter-notebooks/nb", json=code).status_code == 200
        job = api.post("/projects/RS/jupyter-notebooks/nb/actions/run", json={}).json()["jobId"]
        assert wait_for(
            lambda: api.get(f"/futures/{job}", params={"peek": "true"}).json()["hasResult"], timeout=60
        )
        session = api.get("/projects/RS/jupyter-notebooks/nb/sessions").json()[0]
        child = int(api.get("/projects/RS/jupyter-notebooks/nb").json()["cells"][0]["outputs"][0]["text"])
        secret = kernel_env(session["kernelPid"])["LABKEEPER_API_KEY"]
        assert alive(session["kernelPid"]) and alive(child)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    time.sleep(0.5)
    assert alive(child), "the kernel's child outlives a crash of the server: only a restart can stop it"

    second = serve(data_dir, port, database_url, kernel_runtime)
    try:
        # The child sleeps five minutes, the kernel idles for ever: both gone before this hang
        # guard means the restart stopped them.
        assert wait_for(lambda: not alive(session["kernelPid"]) and not alive(child), timeout=60)
        assert api.get("/projects/RS/jupyter-notebooks/nb/sessions").json() == []
        assert api.get("/admin/notebooks/").json() == []
        as_session = httpx.Client(base_url=api.base_url, auth=(secret, ""), timeout=10)
        assert as_session.get("/current-user").status_code == 401
        events = [e for e in api.get("/admin/audit").json() if e["action"] == "jupyter-kernel-unloaded"]
        assert events and "restarted" in events[0]["details"]["reason"]
        assert events[0]["details"]["sessionId"] == session["sessionId"]
        # The restarted server runs new sessions normally.
        assert api.post("/projects/RS/jupyter-notebooks/nb/sessions").status_code == 200
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert not list(Path(data_dir / "run" / "kernels").glob("*.json"))
