"""Real UNIX users, a kernel runtime they can execute, and a data dir they can reach.

- `kernel_runtime`: a virtual environment built once (uv, PyPI) from a Python every account
  may execute (Debian's /usr/bin/python3.11: the server's own interpreter may live under
  /root), with ipykernel and httpx only, like a code env with Jupyter support. Cached in
  /tmp across runs, keyed by the versions it holds.
- `config`: the data dir lives under a world-traversable folder (pytest's own tmp folder is
  0700), so impersonated kernels can reach `data_dir/run/`.
- `unix_user()`: creates `lk_t_<random>` (uid >= 1000) with a supplementary group; every
  account and group is deleted at teardown.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from labkeeper.config import Config
from tests.conftest import ADMIN_KEY, _empty_postgres

RUNTIME_KERNEL = "py-dku-venv-lkruntime"
# Group permissions that let a user run kernels impersonated ("safe" code) or as the shared
# kernel account ("unsafe" code, impersonation off).
SAFE_CODE = {"mayRunNotebooks": True, "mayWriteSafeCode": True}
UNSAFE_CODE = {"mayRunNotebooks": True, "mayWriteUnsafeCode": True}


def register_runtime_env(store, *, usable_by_all: bool = True, owner: str = "admin", permissions=()) -> None:  # type: ignore[no-untyped-def]
    """Record the env behind RUNTIME_KERNEL, so its `use` right can be granted like any env's:
    a non-managed env at the test kernel runtime (a node without its build registers it there)."""
    from labkeeper.codeenvs.models import DESIGN_NON_MANAGED, READY, CodeEnv
    from labkeeper.db import now_ms
    from tests.conftest import runtime_python

    with store.begin() as s:
        s.merge(
            CodeEnv(
                lang="PYTHON",
                name="lkruntime",
                deployment_mode=DESIGN_NON_MANAGED,
                owner=owner,
                state=READY,
                path=str(Path(runtime_python()).parent.parent),
                permissions=list(permissions),
                usable_by_all=usable_by_all,
                jupyter_kernel=True,
                desc={"installJupyterSupport": True},
                created_on=now_ms(),
                updated_on=now_ms(),
            )
        )


@pytest.fixture
def config(database_url: str | None, kernel_runtime: str) -> Iterator[Config]:
    if database_url:
        _empty_postgres(database_url)
    base = Path(tempfile.mkdtemp(prefix="lk-iso-", dir="/tmp"))
    os.chmod(base, 0o755)
    data_dir = base / "data"
    spec_dir = data_dir / "jupyter" / "kernels" / RUNTIME_KERNEL
    spec_dir.mkdir(parents=True)
    os.chmod(data_dir, 0o700)
    spec = {
        "argv": [kernel_runtime, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (env lkruntime)",
        "language": "python",
        "metadata": {"labkeeper": {"codeEnv": "lkruntime"}},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    yield Config(
        data_dir=data_dir,
        database_url=database_url,
        bootstrap_admin_key=ADMIN_KEY,
        kernel_python=kernel_runtime,
        notebook_storage="files",  # these tests reach notebook files as a kernel would
    )
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def unix_user() -> Iterator[Callable[[], str]]:
    made: list[tuple[str, str]] = []

    def make() -> str:
        suffix = secrets.token_hex(3)
        name, group = f"lk_t_{suffix}", f"lk_tg_{suffix}"
        subprocess.run(["groupadd", group], check=True)
        subprocess.run(
            ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--groups", group, name],
            check=True,
        )
        made.append((name, group))
        return name

    yield make
    for name, group in made:
        uid = pwd.getpwnam(name).pw_uid
        leftovers = [
            p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid
        ]
        for proc in leftovers:  # only processes of the account this test created
            proc.kill()
        psutil.wait_procs(leftovers, timeout=2)
        subprocess.run(["userdel", "-r", name], check=False, capture_output=True)
        subprocess.run(["groupdel", group], check=False, capture_output=True)
