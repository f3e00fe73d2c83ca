"""Index credentials configured by the admin never reach a code env's users: not in build
logs (files or API), reports, futures, nor in any process's command line."""

from __future__ import annotations

import functools
import http.server
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.codeenvs.conftest import wheelhouse  # noqa: F401 - the fixture
from tests.codeenvs.helpers import configure, create, update, wait_for_markers, wait_state
from tests.conftest import Instance

SECRET = "S3cretPw-4711"


@pytest.fixture
def index_url(wheelhouse: Path) -> Iterator[str]:  # noqa: F811
    """The wheelhouse served over HTTP (a directory listing is a find-links page)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(wheelhouse))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://mallory-index:{SECRET}@127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def envs(instance: Instance, wheelhouse: Path, index_url: str) -> Instance:  # noqa: F811
    configure(instance, wheelhouse)
    settings = instance.admin.get("/admin/general-settings").json()
    settings["codeEnvs"]["packageIndex"] = {
        "indexUrl": f"{index_url}/simple/",  # answers 404: uv moves on to find-links
        "extraIndexUrls": [f"{index_url}/extra/"],
        "findLinks": [f"{index_url}/"],
        "offline": False,
    }
    assert instance.admin.put("/admin/general-settings", json=settings).status_code in (200, 204)
    return instance


def updater(instance: Instance) -> object:
    key = instance.make_user("mallory", ["builders"], group_permissions={"mayCreateCodeEnvs": True})
    return instance.client(key)


def all_logs(instance: Instance, client: object, name: str) -> str:
    names = [item["name"] for item in client.get(f"/admin/code-envs/python/{name}/logs").json()]
    assert names
    return "".join(client.get(f"/admin/code-envs/python/{name}/logs/{n}").text for n in names)


def test_build_logs_reports_and_futures_mask_index_credentials(envs: Instance) -> None:
    mallory = updater(envs)
    report = create(mallory, "good", specPackageList="lkdemo-b")
    assert report["messages"]["error"] is False, report
    failed = mallory.post(
        "/admin/code-envs/PYTHON/bad",
        params={"wait": "false"},
        json={"deploymentMode": "DESIGN_MANAGED", "specPackageList": "lkdoes-not-exist"},
    ).json()
    state = wait_state(mallory, failed["jobId"], lambda s: not s["alive"])
    result = mallory.get(f"/futures/{failed['jobId']}")
    seen = [str(report), str(state), result.text, mallory.get("/admin/code-envs/python/bad").text]
    for name in ("good", "bad"):
        text = all_logs(envs, mallory, name)
        assert "mallory-index:***@127.0.0.1" in text  # the log says which index, without the password
        seen.append(text)
    files = list((envs.config.data_dir / "code-envs" / "logs").rglob("*.log"))
    seen += [f.read_text() for f in files]
    assert not [text for text in seen if SECRET in text]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_no_build_process_shows_the_credentials_on_its_command_line(envs: Instance) -> None:
    mallory = updater(envs)
    job = mallory.post(
        "/admin/code-envs/PYTHON/slow",
        params={"wait": "false"},
        json={"deploymentMode": "DESIGN_MANAGED", "specPackageList": "lksleepy"},
    ).json()["jobId"]
    wait_for_markers(envs.config.data_dir)
    leaking = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if any(SECRET in part for part in proc.info["cmdline"] or []):
            leaking.append(proc.info)
    assert envs.admin.delete(f"/futures/{job}").status_code == 204
    assert not leaking, leaking
    assert os.path.exists(envs.config.data_dir / "code-envs")


def test_a_refused_spec_line_never_echoes_its_credentials(envs: Instance) -> None:
    mallory = updater(envs)
    answer = mallory.post(
        "/admin/code-envs/PYTHON/x",
        json={"deploymentMode": "DESIGN_MANAGED", "specPackageList": f"x @ https://u:{SECRET}@h/x.whl"},
    )
    assert answer.status_code == 400 and SECRET not in answer.text and "u:***@h" in answer.text
    assert update(mallory, "x").status_code == 404
