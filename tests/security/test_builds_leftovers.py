"""Nothing of a build outlives it, and builds running at once never share an account.

Mallory publishes `lkdaemon` (served from the admin's find-links folder, as in
test_builds_containment): its build backend double-forks a daemon that calls setsid (so it
is no descendant of the build and in no session of it), plants a file in /tmp, and returns.
The daemon then watches for 30 s: it tries to write into Victor's next env, and to read the
index credentials in the /proc/<pid>/environ of any later build. Victor's later build must
be untouched, and no process of a build account may remain after a build."""

from __future__ import annotations

import functools
import http.server
import json
import os
import pwd
import signal
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from labkeeper.server.app import create_app
from tests.codeenvs.conftest import wheelhouse  # noqa: F401 - the fixture
from tests.codeenvs.helpers import configure, create, wait_for_markers, wait_state
from tests.conftest import Instance
from tests.security.hostile_packages import make_backend_sdist

SECRET = "IdxPass-4711"

DAEMON_BACKEND = """
import base64, glob, hashlib, json, os, time, zipfile

PLAN = json.loads({plan!r})

def _watch():
    me = os.getpid()
    found = {{"pid": me, "uid": os.getuid(), "wrote": [], "read_environ": []}}
    home = os.environ.get("HOME", "")
    deadline = time.time() + 30
    while time.time() < deadline:
        for folder in PLAN["envs"]:
            if folder in found["wrote"]:
                continue
            try:
                with open(os.path.join(folder, "daemon-was-here"), "w") as f:
                    f.write("x")
                found["wrote"].append(folder)
            except OSError:
                pass
        for environ in glob.glob("/proc/[0-9]*/environ"):
            try:
                with open(environ, "rb") as f:
                    text = f.read().decode(errors="replace")
            except OSError:
                continue
            if PLAN["secret"] in text and ("HOME=" + home + "\\0") not in text:
                found["read_environ"].append(environ)
        with open(os.path.join(PLAN["drop"], ".daemon-%d" % me), "w") as f:
            json.dump(found, f)
        os.replace(os.path.join(PLAN["drop"], ".daemon-%d" % me), os.path.join(PLAN["drop"], "daemon.json"))
        time.sleep(0.01)

def _leave_a_daemon():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):  # as a daemon does: the build stops waiting for its output
                os.dup2(null, fd)
            try:
                _watch()
            finally:
                os._exit(0)
        os._exit(0)
    os.wait()
    started = time.time()
    while not os.path.exists(os.path.join(PLAN["drop"], "daemon.json")) and time.time() - started < 10:
        time.sleep(0.01)

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open(PLAN["plant"], "w") as f:
        f.write("import os  # a .pth the next build of this account would trust")
    _leave_a_daemon()
    return _write_wheel(wheel_directory, "lkdaemon")
"""


def make_daemon_sdist(dest: Path, plan: dict) -> None:
    make_backend_sdist(dest, "lkdaemon", textwrap.dedent(DAEMON_BACKEND.format(plan=json.dumps(plan))))


def processes_of(uids: set[int]) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["uids", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE or proc.info["uids"] is None:
            continue
        if uids & set(proc.info["uids"]):
            found.append(proc)
    return found


def kill(procs: list[psutil.Process]) -> None:
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.fixture
def index_url(wheelhouse: Path) -> Iterator[str]:  # noqa: F811
    """The wheelhouse served over HTTP behind credentials every build receives."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(wheelhouse))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://team-index:{SECRET}@127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def hostile(instance: Instance, wheelhouse: Path, index_url: str) -> dict:  # noqa: F811
    data = instance.config.data_dir
    base = data.parent
    daemonhouse, drop = base / "daemonhouse", base / "drop"
    daemonhouse.mkdir(mode=0o755)
    drop.mkdir()
    os.chmod(drop, 0o1777)
    plant = Path("/tmp") / f"lk-planted-{base.name}.pth"
    make_daemon_sdist(
        daemonhouse,
        {
            "envs": [str(data / "code-envs" / "python" / "later")],  # not listable: named
            "secret": SECRET,
            "drop": str(drop),
            "plant": str(plant),
        },
    )
    configure(instance, wheelhouse)
    settings = instance.admin.get("/admin/general-settings").json()
    settings["codeEnvs"]["packageIndex"] = {
        "indexUrl": f"{index_url}/simple/",  # answers 404: uv moves on to find-links
        "extraIndexUrls": [],
        "findLinks": [f"{index_url}/", str(daemonhouse)],
        "offline": False,
    }
    assert instance.admin.put("/admin/general-settings", json=settings).status_code in (200, 204)
    permissions = {"mayCreateCodeEnvs": True}
    mallory = instance.client(instance.make_user("mallory", ["builders"], group_permissions=permissions))
    victor = instance.client(instance.make_user("victor", ["victims"], group_permissions=permissions))
    yield {"mallory": mallory, "victor": victor, "drop": drop, "plant": plant, "data": data}
    plant.unlink(missing_ok=True)
    # What a failing run leaves (the daemon, when labkeeper lets it live) goes; only that:
    # other instances on this machine may be building as the slot accounts meanwhile.
    report = drop / "daemon.json"
    if report.exists():
        try:
            kill([psutil.Process(json.loads(report.read_text())["pid"])])
        except psutil.NoSuchProcess:  # gone already, as it should be
            pass


def test_a_daemon_left_by_a_build_backend_is_gone_and_never_reaches_a_later_build(hostile: dict) -> None:
    report = create(hostile["mallory"], "hostile", specPackageList="lkdaemon")
    assert report["messages"]["error"] is False, report
    seen = json.loads((hostile["drop"] / "daemon.json").read_text())
    assert pwd.getpwuid(seen["uid"]).pw_name.startswith("labkeeper-build"), "the daemon ran"

    assert not psutil.pid_exists(seen["pid"]) or psutil.Process(seen["pid"]).status() == "zombie", (
        "the daemon outlived the build"
    )
    left = [(p.pid, p.info["uids"]) for p in processes_of({seen["uid"]})]
    assert not left, f"processes of the build's account outlived the build: {left}"
    assert not hostile["plant"].exists(), "a file the build planted in /tmp outlived it"

    report = create(hostile["victor"], "later", specPackageList="lkdemo-a\nlkdemo-c")
    assert report["messages"]["error"] is False, report
    time.sleep(0.3)  # what a live daemon would have written meanwhile
    seen = json.loads((hostile["drop"] / "daemon.json").read_text())
    assert seen["wrote"] == [] and seen["read_environ"] == [], seen
    assert not list((hostile["data"] / "code-envs" / "python").rglob("daemon-was-here"))


def test_builds_of_two_users_running_at_once_run_as_different_accounts(hostile: dict) -> None:
    jobs = [
        create(hostile["mallory"], "one", wait=False, specPackageList="lksleepy")["jobId"],
        create(hostile["victor"], "two", wait=False, specPackageList="lksleepy-two")["jobId"],
    ]
    markers = wait_for_markers(hostile["data"], 2)
    backends = [psutil.Process(int(marker.name.split("-")[1])) for marker in markers]
    uids = {backend.uids().real for backend in backends}
    envs = hostile["data"] / "code-envs" / "python"
    owners = {os.stat(envs / name).st_uid for name in ("one", "two")}
    for job in jobs:
        assert hostile["mallory"].delete(f"/futures/{job}").status_code in (204, 403)
        hostile["victor"].delete(f"/futures/{job}")
    for job, client in zip(jobs, (hostile["mallory"], hostile["victor"]), strict=True):
        wait_state(client, job, lambda s: not s["alive"], timeout=10)
    assert len(uids) == 2, f"both builds ran as uid {uids}"
    assert owners == uids, "each env was lent to its own build's account only"
    left = [(p.pid, p.info["uids"]) for p in processes_of(uids)]
    assert not left, f"processes of the builds' accounts outlived the aborted builds: {left}"


def test_a_restart_kills_what_a_dead_server_left_running_as_a_build_slot_account(instance: Instance) -> None:
    from labkeeper.isolation.accounts import service_account

    account = service_account("labkeeper-build-1")
    leftover = subprocess.Popen(  # as a build backend's daemon outlives a killed server
        ["sleep", "600"], user=account.uid, group=account.gid, extra_groups=[], start_new_session=True
    )
    try:
        from fastapi.testclient import TestClient

        with TestClient(create_app(instance.config)):  # a second server start on the same data
            deadline = time.monotonic() + 5
            while leftover.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert leftover.poll() is not None, "the leftover process still runs after the restart"
    finally:
        if leftover.poll() is None:
            os.kill(leftover.pid, signal.SIGKILL)
        leftover.wait()
