"""A build a dead server left half done: the next start completes the env's record."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from uv import find_uv_bin

from labkeeper.codeenvs.models import BUILDING, DESIGN_MANAGED, CodeEnv
from labkeeper.codeenvs.recovery import complete_interrupted_builds, venv_version
from labkeeper.db import now_ms
from labkeeper.futures.models import FAILED, Task
from labkeeper.isolation.accounts import service_account
from tests.conftest import Instance


def test_an_interrupted_build_leaves_a_broken_env_with_its_error_and_python_version(
    instance: Instance, tmp_path: Path
) -> None:
    """The env was a build account's: the restart hands it back to the server and reads its
    version from pyvenv.cfg, never running an interpreter a build backend may have replaced."""
    env_dir = tmp_path / "halfbuilt"
    subprocess.run(
        [find_uv_bin(), "venv", "--quiet", "--no-config", "--python", sys.executable, str(env_dir)],
        check=True,
    )
    recorded = venv_version(env_dir)
    assert re.fullmatch(r"3\.\d+\.\d+", recorded)
    marker = tmp_path / "ran-as-root"
    (env_dir / "bin" / "python").unlink()
    (env_dir / "bin" / "python").write_text(f"#!/bin/sh\ntouch {marker}\necho 3.99.0\n")
    os.chmod(env_dir / "bin" / "python", 0o777)
    if os.geteuid() == 0:
        account = service_account("labkeeper-build-1")
        for folder, dirs, files in os.walk(env_dir):
            for name in [*dirs, *files, None]:
                path = os.path.join(folder, name) if name else folder
                os.chown(path, account.uid, account.gid, follow_symlinks=False)
    with instance.store.begin() as s:
        # As the futures recovery leaves it: the build's task failed, the env still BUILDING.
        s.add(
            Task(
                id="deadbuild0000001",
                kind="codeenv.build",
                owner="admin",
                state=FAILED,
                error="Interrupted by a restart of the server",
                runner_id="elsewhere:1:x",
                started_on=now_ms(),
                ended_on=now_ms(),
            )
        )
        s.add(
            CodeEnv(
                lang="PYTHON",
                name="halfbuilt",
                deployment_mode=DESIGN_MANAGED,
                owner="admin",
                state=BUILDING,
                path=str(env_dir),
                build_token="tok",
                build_task_id="deadbuild0000001",
                build_claimed_on=now_ms(),
                created_on=now_ms(),
                updated_on=now_ms(),
            )
        )
    assert complete_interrupted_builds(instance.store) == 1
    env = instance.admin.get("/admin/code-envs/PYTHON/halfbuilt/").json()
    assert env["state"] == "BROKEN"
    assert "interrupted by a restart" in env["lastBuildError"].lower()
    assert env["pythonVersion"] == recorded
    assert not marker.exists()  # its interpreter never ran
    if os.geteuid() == 0:
        for folder, dirs, files in os.walk(env_dir):
            for name in [*dirs, *files, None]:
                st = os.lstat(os.path.join(folder, name) if name else folder)
                assert st.st_uid == 0 and not (st.st_mode & 0o6022 and not stat.S_ISLNK(st.st_mode))
    with instance.store.read() as s:
        assert s.get(CodeEnv, ("PYTHON", "halfbuilt")).build_token == ""  # the lock is free
