"""Shared fixtures: a fresh labkeeper instance per test, on SQLite or on PostgreSQL.

With LABKEEPER_TEST_DATABASE_URL set (a PostgreSQL URL), each pytest run creates its own
database next to the one named there, migrates it once, empties it before every test and
drops it at the end; without it every test gets its own SQLite file.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient

from labkeeper.auth.keys import hash_secret, new_id, new_secret, shown_prefix
from labkeeper.auth.models import ApiKey, Group, Membership, User
from labkeeper.config import Config
from labkeeper.db import Base, Store, now_ms
from labkeeper.db.migrate import upgrade
from labkeeper.server.app import create_app
from labkeeper.server.transport import CoalescingProtocol

ADMIN_KEY = "lk_test_admin_key_0123456789abcdef"
API = "/dip/publicapi"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str | None]:
    base = os.environ.get("LABKEEPER_TEST_DATABASE_URL")
    if not base:
        yield None
        return
    url = sa.engine.make_url(base)
    name = f"lk_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin_engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    test_url = url.set(database=name).render_as_string(hide_password=False)
    store = Store(test_url)
    upgrade(store.engine)
    store.dispose()
    yield test_url
    with admin_engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_engine.dispose()


def _empty_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    # procrastinate's tables too (migration 0013): no job of a previous test may run in this one.
    queue = ["procrastinate_jobs", "procrastinate_periodic_defers", "procrastinate_workers"]
    tables = ", ".join(f'"{t}"' for t in [*(t.name for t in Base.metadata.sorted_tables), *queue])
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    engine.dispose()


def reachable_tmp_dir(prefix: str) -> Path:
    """A fresh folder other accounts may traverse (pytest's tmp_path sits under a 0700
    folder): as root, code env builds run as an unprivileged account that must reach the
    data directory."""
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(base, 0o711)
    return base


RUNTIME_PACKAGES = [f"ipykernel=={metadata.version('ipykernel')}", f"httpx=={metadata.version('httpx')}"]


def _shared_python() -> str:
    for candidate in ("/usr/bin/python3.11", "/usr/local/bin/python3.11", "/usr/bin/python3"):
        if os.path.exists(candidate) and os.stat(os.path.realpath(candidate)).st_mode & 0o001:
            return candidate
    raise RuntimeError(
        "no Python interpreter that every account may execute (looked for /usr/bin/python3.11)"
    )


@pytest.fixture(scope="session")
def kernel_runtime() -> str:
    return runtime_python()


def runtime_python() -> str:
    """The python of a world-readable venv with ipykernel + httpx (no orjson), made once."""
    python = _shared_python()
    tag = hashlib.sha256(" ".join([python, *RUNTIME_PACKAGES]).encode()).hexdigest()[:12]
    root = Path(tempfile.gettempdir()) / f"labkeeper-test-kernel-runtime-{tag}"
    env_python = root / "bin" / "python"
    with open(f"{root}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".complete").exists():
            shutil.rmtree(root, ignore_errors=True)
            uv = Path(sys.executable).parent / "uv"
            subprocess.run([str(uv), "venv", "--quiet", "--python", python, str(root)], check=True)
            subprocess.run(
                [
                    str(uv),
                    "pip",
                    "install",
                    "--quiet",
                    "--compile-bytecode",
                    "--python",
                    str(env_python),
                    *RUNTIME_PACKAGES,
                ],
                check=True,
            )
            subprocess.run(["chmod", "-R", "a+rX", str(root)], check=True)
            (root / ".complete").write_text("ok")
    os.chmod(root.parent, os.stat(root.parent).st_mode | 0o001)
    return str(env_python)


@pytest.fixture
def config(database_url: str | None, kernel_runtime: str) -> Iterator[Config]:
    """A data dir every account can traverse to: run as root, labkeeper builds envs as
    labkeeper-build-<n> and starts kernels as labkeeper-kernel, which must reach it; kernels run
    the shared runtime's interpreter (one under /root is out of their reach)."""
    if database_url:
        _empty_postgres(database_url)
    base = reachable_tmp_dir("lk-test-")
    yield Config(
        data_dir=base / "data",
        database_url=database_url,
        bootstrap_admin_key=ADMIN_KEY,
        kernel_python=kernel_runtime,
        # The suite reads and writes notebook files of the data dir; the store's notebooks
        # have their own tests (tests/jupyter/test_notebook_store.py).
        notebook_storage="files",
    )
    shutil.rmtree(base, ignore_errors=True)


def make_user(
    store: Store,
    login: str,
    groups: list[str],
    *,
    group_permissions: dict | None = None,
    admin_group: bool = False,
) -> str:
    """Create a user (and its groups, with `group_permissions` when new) directly in the
    store; return a personal key secret."""
    secret = new_secret()
    with store.begin() as s:
        s.add(User(login=login, display_name=login.title(), created_on=now_ms()))
        s.flush()
        for name in groups:
            if s.get(Group, name) is None:
                s.add(Group(name=name, admin=admin_group, permissions=group_permissions or {}))
                s.flush()
            s.add(Membership(login=login, group_name=name))
        s.add(
            ApiKey(
                id=new_id(),
                kind="PERSONAL",
                prefix=shown_prefix(secret),
                secret_hash=hash_secret(secret),
                user_login=login,
                created_on=now_ms(),
                created_by="tests",
            )
        )
    return secret


class Instance:
    """A running in-process labkeeper with helpers to make users and keys."""

    def __init__(self, app, config: Config, portal) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.config = config
        self.portal = portal  # every client serves on the app's one event loop, as a server does
        self.http = TestClient(app, raise_server_exceptions=False)
        self.http.portal = portal
        self.admin = self.client(ADMIN_KEY)

    @property
    def store(self) -> Store:
        return self.app.state.store

    def client(self, key: str | None) -> TestClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        client = TestClient(
            self.app, headers=headers, base_url="http://testserver" + API, raise_server_exceptions=False
        )
        client.portal = self.portal
        return client

    def make_user(
        self,
        login: str,
        groups: list[str] = (),
        *,
        group_permissions: dict | None = None,
        admin_group: bool = False,
    ) -> str:
        """Create a user (and its groups) directly in the store; return a personal key secret."""
        return make_user(
            self.store, login, groups, group_permissions=group_permissions, admin_group=admin_group
        )


@pytest.fixture
def instance(config: Config) -> Iterator[Instance]:
    app = create_app(config)
    with TestClient(app) as main:  # runs the lifespan: migrations, bootstrap, components
        yield Instance(app, config, main.portal)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.app = create_app(config)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="on",
                http=CoalescingProtocol,  # as `labkeeper serve` runs it
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("labkeeper test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    @property
    def store(self) -> Store:
        return self.app.state.store


@pytest.fixture
def live(config: Config) -> Iterator[LiveServer]:
    """labkeeper served over real HTTP on loopback, for the official client."""
    with LiveServer(config) as server:
        yield server


@pytest.fixture
def dss(live: LiveServer):  # type: ignore[no-untyped-def]
    """The official dataikuapi client, as admin, against a live labkeeper."""
    import dataikuapi

    return dataikuapi.DSSClient(live.url, ADMIN_KEY)
