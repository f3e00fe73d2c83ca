"""A user who may create code envs publishes a package whose build backend spies: it reports
its account, its environment, and what it can read, list or write in the data directory.
The admin's own find-links folder serves it (direct references are refused), so this is the
legitimate path for user code to run during a build."""

from __future__ import annotations

import json
import os
import pwd
import re
import stat
import textwrap
from pathlib import Path

import pytest

from tests.codeenvs.conftest import wheelhouse  # noqa: F401 - the fixture
from tests.codeenvs.helpers import configure, create, definition
from tests.conftest import ADMIN_KEY, Instance
from tests.security.hostile_packages import make_backend_sdist

LEAKY = {
    "LABKEEPER_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
    "LABKEEPER_DATABASE_URL": "postgresql+psycopg://lk:db-pass-4711@127.0.0.1/lk",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-4711",
    "PIP_INDEX_URL": "https://pip-user:pip-pass-4711@pip.example/simple",
    "UV_INDEX_URL": "https://uv-user:uv-pass-4711@uv.example/simple",
}

SPY_BACKEND = """
import base64, hashlib, json, os, zipfile

PLAN = json.loads({plan!r})

def _read(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return True
    except OSError:
        return False

def _list(path):
    try:
        os.listdir(path)
        return True
    except OSError:
        return False

def _write(path):
    try:
        if path.endswith("/"):
            os.mkdir(path + "spy-was-here")
        else:
            with open(path, "a") as f:
                f.write("")
        return True
    except OSError:
        return False

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    report = {{
        "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
        "environ": dict(os.environ),
        "read": {{p: _read(p) for p in PLAN["read"]}},
        "list": {{p: _list(p) for p in PLAN["list"]}},
        "write": {{p: _write(p) for p in PLAN["write"]}},
    }}
    with open(os.path.join(PLAN["drop"], "report-%d.json" % os.getpid()), "w") as f:
        json.dump(report, f)
    return _write_wheel(wheel_directory, "lkspy")
"""


def make_spy_sdist(dest: Path, plan: dict) -> None:
    make_backend_sdist(dest, "lkspy", textwrap.dedent(SPY_BACKEND.format(plan=json.dumps(plan))))


@pytest.fixture
def spied(instance: Instance, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch) -> dict:  # noqa: F811
    """A victim env of another user, the spy package in the admin's find-links, a drop box."""
    for name, value in LEAKY.items():
        monkeypatch.setenv(name, value)
    data = instance.config.data_dir
    base = data.parent
    spyhouse, drop = base / "spyhouse", base / "drop"
    spyhouse.mkdir(mode=0o755)
    drop.mkdir()
    os.chmod(drop, 0o1777)
    for secret in ("initial-admin-key", "secrets/connections.key"):  # as a real instance holds them
        path = data / secret
        if not path.exists():
            path.parent.mkdir(mode=0o700, exist_ok=True)
            path.write_text("secret")
            path.chmod(0o600)
    configure(instance, wheelhouse)
    victim_key = instance.make_user("victor", ["victims"], group_permissions={"mayCreateCodeEnvs": True})
    victim = instance.client(victim_key)
    report = create(victim, "victim", specPackageList="lkdemo-a")
    assert report["messages"]["error"] is False, report
    victim_env = data / "code-envs" / "python" / "victim"
    site = next(victim_env.glob("lib/python3*/site-packages"))
    paths = {
        "read": [
            str(data / ("labkeeper.db" if instance.config.database_url is None else "initial-admin-key")),
            str(data / "initial-admin-key"),
            str(data / "secrets" / "connections.key"),
            "/root/.bashrc",
        ],
        "list": [str(data), str(data / "code-envs" / "logs"), "/root", str(data / "secrets")],
        "write": [
            str(victim_env / "pyvenv.cfg"),
            str(site / "lkdemo_a" / "__init__.py"),
            str(site) + "/",
            str(data) + "/",
            str(data / "code-envs" / "python") + "/",
        ],
    }
    for path in [*paths["read"][:3], str(victim_env / "pyvenv.cfg")]:
        assert Path(path).exists(), path  # the spy's targets are real
    make_spy_sdist(spyhouse, {**paths, "drop": str(drop)})
    configure(instance, wheelhouse)
    settings = instance.admin.get("/admin/general-settings").json()
    settings["codeEnvs"]["packageIndex"]["findLinks"].append(str(spyhouse))
    assert instance.admin.put("/admin/general-settings", json=settings).status_code in (200, 204)
    mallory_key = instance.make_user("mallory", ["builders"], group_permissions={"mayCreateCodeEnvs": True})
    return {"mallory": instance.client(mallory_key), "drop": drop, "paths": paths, "victim": victim_env}


def spy_report(spied: dict) -> dict:
    report = create(spied["mallory"], "spy", specPackageList="lkspy")
    assert report["messages"]["error"] is False, report
    found = list(spied["drop"].glob("report-*.json"))
    assert len(found) == 1, "the spy's build backend ran"
    return json.loads(found[0].read_text())


def test_the_build_backend_never_runs_as_root(spied: dict) -> None:
    seen = spy_report(spied)
    build = pwd.getpwuid(seen["uid"])
    assert seen["uid"] != 0 and seen["euid"] != 0 and 0 not in seen["groups"] and seen["gid"] != 0
    assert re.fullmatch(r"labkeeper-build-\d+", build.pw_name) and seen["gid"] == build.pw_gid


def test_the_build_backend_sees_no_secret_of_the_server(spied: dict, instance: Instance) -> None:
    environ = spy_report(spied)["environ"]
    assert not [name for name in environ if name.startswith("LABKEEPER_")]
    everything = json.dumps(environ)
    for value in [*LEAKY.values(), "4711", ADMIN_KEY]:
        assert value not in everything
    assert not {"PIP_INDEX_URL", "UV_INDEX_URL", "AWS_SECRET_ACCESS_KEY"} & set(environ)
    home = environ["HOME"]
    assert home != os.environ.get("HOME") and not home.startswith("/root")
    assert home.startswith(str(instance.config.data_dir / "run" / "builds") + "/")
    assert "/root" not in environ.get("PATH", "") and "/.pyenv" not in environ.get("PATH", "")
    assert environ.get("UV_NO_CONFIG") == "1"
    assert not environ.get("UV_CACHE_DIR", "").startswith(("/root", str(Path.home())))


def test_the_build_backend_reads_no_instance_file_and_writes_nothing_but_its_env(spied: dict) -> None:
    seen = spy_report(spied)
    assert not any(seen["read"].values()), seen["read"]
    assert not any(seen["list"].values()), seen["list"]
    assert not any(seen["write"].values()), seen["write"]
    victim = spied["victim"]
    assert not list(victim.rglob("spy-was-here"))


def test_after_the_build_the_env_is_the_servers_and_logs_are_closed(spied: dict, instance: Instance) -> None:
    spy_report(spied)
    env = instance.config.data_dir / "code-envs" / "python" / "spy"
    for path in [env, *env.rglob("*")]:
        st = os.lstat(path)
        assert st.st_uid == os.geteuid(), f"{path} still belongs to uid {st.st_uid}"
        if not stat.S_ISLNK(st.st_mode):
            assert not st.st_mode & 0o6022, f"{path} is writable by others or setuid"
    assert os.stat(env / "bin" / "python").st_mode & 0o005  # kernels of any account run it
    logs = instance.config.data_dir / "code-envs" / "logs"
    assert stat.S_IMODE(os.stat(logs).st_mode) == 0o700
    files = list(logs.rglob("*.log"))
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert definition(spied["mallory"], "spy")["state"] == "READY"
