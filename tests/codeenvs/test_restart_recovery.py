"""A build a dead server left half done: the next start completes the env's record."""

from __future__ import annotations

import sys

from labkeeper.codeenvs.models import BUILDING, DESIGN_MANAGED, CodeEnv
from labkeeper.codeenvs.recovery import complete_interrupted_builds
from labkeeper.db import now_ms
from labkeeper.futures.models import FAILED, Task
from tests.conftest import Instance


def test_an_interrupted_build_leaves_a_broken_env_with_its_error_and_python_version(
    instance: Instance,
) -> None:
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
                path=sys.prefix,  # an env with a working bin/python
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
    assert env["pythonVersion"] == "{}.{}.{}".format(*sys.version_info[:3])
    with instance.store.read() as s:
        assert s.get(CodeEnv, ("PYTHON", "halfbuilt")).build_token == ""  # the lock is free
