"""`labkeeper serve` as a real process: first start, restart, bootstrap key, workers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.e2e
LABKEEPER = str(Path(sys.executable).parent / "labkeeper")


class Served:
    def __init__(
        self,
        data_dir: Path,
        database_url: str | None,
        *extra: str,
        env: dict | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [LABKEEPER, "serve", "--data-dir", str(data_dir), "--port", str(self.port), *extra]
        if database_url:
            args += ["--database-url", database_url]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("LABKEEPER_")}
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
            start_new_session=True,
        )
        self.output = ""

    def __enter__(self) -> Served:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"labkeeper serve exited: {self.proc.stdout.read()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("labkeeper serve did not answer /healthz within 60 s")

    def __exit__(self, *exc: object) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:  # the test already ended it
            pass
        try:
            out, _ = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            out, _ = self.proc.communicate()
        self.output = out


def get(served: Served, path: str, key: str) -> httpx.Response:
    return httpx.get(served.url + "/public/api" + path, auth=(key, ""), timeout=10)


def test_first_start_prints_and_stores_the_key_once(tmp_path: Path, config) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    with Served(data, config.database_url) as first:
        key_file = data / "initial-admin-key"
        key = key_file.read_text().strip()
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        assert get(first, "/admin/general-settings", key).status_code == 200
        assert get(first, "/admin/general-settings", "wrong-key-0123456789").status_code == 401
    assert key in first.output  # printed once on first start
    with Served(data, config.database_url) as second:
        assert get(second, "/admin/general-settings", key).status_code == 200
    assert key not in second.output and "created user 'admin'" not in second.output
    assert (data / "initial-admin-key").read_text().strip() == key


def test_bootstrap_key_from_the_environment(tmp_path: Path, config) -> None:  # type: ignore[no-untyped-def]
    wanted = "lk_automation_key_for_ci_0001"
    with Served(
        tmp_path / "data", config.database_url, env={"LABKEEPER_BOOTSTRAP_ADMIN_KEY": wanted}
    ) as served:
        assert get(served, "/admin/variables/", wanted).status_code == 200
    assert (tmp_path / "data" / "initial-admin-key").read_text().strip() == wanted


def test_two_workers_share_one_store(tmp_path: Path, config) -> None:  # type: ignore[no-untyped-def]
    wanted = "lk_automation_key_for_ci_0002"
    with Served(
        tmp_path / "data",
        config.database_url,
        "--workers",
        "2",
        env={"LABKEEPER_BOOTSTRAP_ADMIN_KEY": wanted},
    ) as served:
        for index in range(6):  # new connections spread over both workers
            answer = httpx.put(
                served.url + "/dip/publicapi/admin/variables/",
                auth=(wanted, ""),
                json={"n": index},
                timeout=10,
            )
            assert answer.status_code == 204
            assert get(served, "/admin/variables/", wanted).json() == {"n": index}


def test_a_key_revoked_through_one_worker_fails_on_every_worker(tmp_path: Path, config) -> None:  # type: ignore[no-untyped-def]
    admin = "lk_automation_key_for_ci_0003"
    with Served(
        tmp_path / "data", config.database_url, "--workers", "2", env={"LABKEEPER_BOOTSTRAP_ADMIN_KEY": admin}
    ) as served:
        created = httpx.post(
            served.url + "/public/api/personal-api-keys/", auth=(admin, ""), json={"label": "x"}, timeout=10
        ).json()
        for _ in range(12):  # new connections: both workers come to know the key
            assert get(served, "/admin/general-settings", created["key"]).status_code == 200
        revoked = httpx.delete(
            served.url + f"/public/api/personal-api-keys/{created['id']}", auth=(admin, ""), timeout=10
        )
        assert revoked.status_code == 204
        assert {get(served, "/admin/general-settings", created["key"]).status_code for _ in range(12)} == {
            401
        }


def test_the_secret_of_the_deprecated_route_never_reaches_the_log(tmp_path: Path, config) -> None:  # type: ignore[no-untyped-def]
    wanted = "lk_automation_key_for_ci_0003"
    with Served(
        tmp_path / "data", config.database_url, "--access-log", env={"LABKEEPER_BOOTSTRAP_ADMIN_KEY": wanted}
    ) as served:
        httpx.get(served.url + f"/dip/publicapi/admin/globalAPIKeys/{wanted}", auth=(wanted, ""), timeout=10)
    # The access line names the route template, never the path the caller sent.
    assert "GET /admin/globalAPIKeys/{secret} " in served.output
    assert served.output.count(wanted) == 0
