"""A kernel as labkeeper-kernel reaches nothing of the instance, and its sockets are IPC
sockets no other account can open, whatever the data dir's path (issue 9, points 2, 4, 6)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkeeper.config import Config
from labkeeper.connections.secrets import encrypt
from labkeeper.errors import Conflict
from labkeeper.isolation.identity import OTHERS, first_denied
from tests.conftest import ADMIN_KEY, Instance
from tests.isolation import conftest as isolation
from tests.security.kernels_helpers import (
    NB,
    UNSAFE_CODE,
    member,
    outputs_text,
    project,
    put_notebook,
    run_and_wait,
)

config, unix_user = isolation.config, isolation.unix_user

PROBE = """
import os, signal
targets = {targets!r}
for target in targets:
    try:
        open(target, 'rb').read() if not os.path.isdir(target) else os.listdir(target)
        print("READ", target)
    except PermissionError:
        print("DENIED", target)
    except FileNotFoundError:
        print("MISSING", target)
try:
    os.kill({server_pid}, 0)
    print("KILL allowed")
except PermissionError:
    print("KILL denied")
"""


def test_a_kernel_as_the_kernel_account_reaches_nothing_of_the_instance(
    instance: Instance, unix_user
) -> None:  # type: ignore[no-untyped-def]
    data = instance.config.data_dir
    encrypt(data, "make the connections key exist")
    other = unix_user()
    other_home = data / "run" / "homes" / other  # as an impersonated kernel of another user leaves it
    other_home.mkdir(mode=0o700)
    (other_home / "notes.txt").write_text("private")
    shutil.chown(other_home, other, other)
    shutil.chown(other_home / "notes.txt", other, other)
    targets = [
        str(data / "labkeeper.db"),
        str(data / "initial-admin-key"),
        str(data / "secrets"),
        str(data / "secrets" / "connections.key"),
        str(data / "projects" / "SEC" / "jupyter" / "probe.ipynb"),
        str(other_home / "notes.txt"),
        "/root",
    ]
    if instance.config.database_url:  # no database file on PostgreSQL
        targets.pop(0)
    project(instance, "team")
    mallory = member(instance, "mallory", "team", UNSAFE_CODE)
    put_notebook(mallory, "probe", PROBE.format(targets=targets, server_pid=os.getpid()))
    state = run_and_wait(mallory, "probe")
    assert state["hasResult"], state
    lines = outputs_text(mallory, "probe")[0].splitlines()
    assert lines == [f"DENIED {t}" for t in targets] + ["KILL denied"], lines


@pytest.fixture
def long_config(database_url: str | None, kernel_runtime: str) -> Iterator[Config]:
    """A data dir whose path is over 120 characters (sockets there would not fit sun_path)."""
    if database_url:
        from tests.conftest import _empty_postgres

        _empty_postgres(database_url)
    base = Path(tempfile.mkdtemp(prefix="lk-long-", dir="/tmp"))
    deep = base / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    for folder in (base, base / ("d" * 60), deep):
        os.chmod(folder, 0o755)
    data_dir = deep / "data"
    assert len(str(data_dir)) > 120
    yield Config(
        data_dir=data_dir,
        database_url=database_url,
        bootstrap_admin_key=ADMIN_KEY,
        kernel_python=kernel_runtime,
        notebook_storage="files",  # these tests reach notebook files as a kernel would
    )
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def long_instance(long_config: Config) -> Iterator[Instance]:
    from fastapi.testclient import TestClient

    from labkeeper.server.app import create_app

    app = create_app(long_config)
    with TestClient(app) as main:
        yield Instance(app, long_config, main.portal)


CONNECT = """
import json, socket, sys
info = json.load(open(sys.argv[1]))
path = f"{info['ip']}-{info['shell_port']}"
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(path)
    print("CONNECTED")
except PermissionError:
    print("DENIED")
"""


def test_kernel_sockets_are_ipc_in_a_private_short_folder_even_for_a_long_data_dir(
    long_instance: Instance, unix_user, kernel_runtime: str
) -> None:  # type: ignore[no-untyped-def]
    project(long_instance, "team")
    ann = member(long_instance, "ann", "team", UNSAFE_CODE)
    put_notebook(ann, "nb", "1")
    session = ann.post(f"{NB}/nb/sessions")
    assert session.status_code == 200, session.text
    from labkeeper.notebooks.jupyter.models import JupyterSession

    with long_instance.store.read() as s:
        row = s.get(JupyterSession, session.json()["sessionId"])
    info = json.loads(Path(row.connection_file).read_text())
    assert info["transport"] == "ipc", info
    sockets = Path(info["ip"]).parent
    st = os.lstat(sockets)
    assert st.st_uid == __import__("pwd").getpwnam("labkeeper-kernel").pw_uid and st.st_mode & 0o077 == 0
    # Root (the server) reaches the shell socket; another UNIX account may not.
    probe = socket.socket(socket.AF_UNIX)
    probe.connect(f"{info['ip']}-{info['shell_port']}")
    probe.close()
    copy = Path(tempfile.mkdtemp(prefix="lk-conn-", dir="/tmp"))
    os.chmod(copy, 0o755)
    try:
        (copy / "c.json").write_text(json.dumps(info))
        os.chmod(copy / "c.json", 0o644)  # the intruder knows the paths; it must still fail
        other = unix_user()
        done = subprocess.run(
            ["runuser", "-u", other, "--", kernel_runtime, "-c", CONNECT, str(copy / "c.json")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.stdout.strip() == "DENIED", (done.stdout, done.stderr)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def test_a_planted_symlink_in_place_of_the_socket_folder_is_refused(config: Config) -> None:
    from labkeeper.isolation.layout import RunTree, socket_base

    base = socket_base(config.data_dir)
    base.parent.mkdir(parents=True, exist_ok=True)
    decoy = Path(tempfile.mkdtemp(prefix="lk-decoy-", dir="/tmp"))
    try:
        base.symlink_to(decoy)
        with pytest.raises(Conflict, match="not a folder owned"):
            RunTree(config.data_dir).prepare()
        assert os.listdir(decoy) == []
    finally:
        if base.is_symlink():
            base.unlink()
        shutil.rmtree(decoy, ignore_errors=True)


@pytest.fixture
def default_python_instance(config: Config) -> Iterator[Instance]:
    """An instance as `python3 run.py serve` starts one: no --kernel-python."""
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from labkeeper.server.app import create_app

    plain = replace(config, kernel_python=None)
    app = create_app(plain)
    with TestClient(app) as main:
        yield Instance(app, plain, main.portal)


def test_the_built_in_kernel_starts_as_the_kernel_account_without_kernel_python(
    default_python_instance: Instance,
) -> None:
    """Run as root with labkeeper's interpreter out of other accounts' reach (under /root
    on this kind of machine), the built-in kernel still starts, as labkeeper-kernel."""
    instance = default_python_instance
    project(instance, "team")
    mallory = member(instance, "mallory", "team", UNSAFE_CODE)
    put_notebook(
        mallory, "who", "import os, pwd, sys; print(pwd.getpwuid(os.getuid()).pw_name, sys.executable)"
    )
    state = run_and_wait(mallory, "who")
    assert state["hasResult"], state
    account, executable = outputs_text(mallory, "who")[0].split()
    assert account == "labkeeper-kernel"
    if first_denied(sys.executable, OTHERS) is not None:  # out of reach: the runtime serves
        assert executable == str(instance.config.data_dir / "run" / "kernel-runtime" / "bin" / "python")
    else:
        assert executable == sys.executable
