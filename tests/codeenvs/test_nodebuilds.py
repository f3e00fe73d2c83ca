"""A node's builds of code envs (codeenvs/nodebuilds.py) on the store: when a node must build,
when it refuses to, what a deletion leaves on a node. The builds themselves, on real worker
nodes, are in tests/e2e/test_envs_on_nodes.py."""

from __future__ import annotations

import asyncio

import pytest

from labkeeper.codeenvs import kernelspecs, nodebuilds, records
from labkeeper.codeenvs.models import BROKEN, READY, CodeEnv, CodeEnvOnNode
from labkeeper.codeenvs.service import managed_path
from labkeeper.db import now_ms
from labkeeper.errors import Conflict
from labkeeper.futures.models import Task
from tests.conftest import Instance

NODE = "node-x"


def add_env(instance: Instance, name: str, *, state: str = READY, jupyter: bool = True) -> CodeEnv:
    now = now_ms()
    env = CodeEnv(
        lang="PYTHON", name=name, deployment_mode="DESIGN_MANAGED", owner="admin", state=state,
        path=str(managed_path(instance.config.data_dir, name)), desc={}, extra={}, permissions=[],
        jupyter_kernel=jupyter, created_on=now, updated_on=now, last_built_on=now,
    )  # fmt: skip
    with instance.store.begin() as s:
        s.add(env)
    return env


def ensure(instance: Instance, name: str, *, takes_jobs: bool = True) -> None:
    asyncio.run(
        nodebuilds.ensure_built(
            instance.store,
            instance.app.state.runner,
            node=NODE,
            data_dir=instance.config.data_dir,
            env_name=name,
            owner="admin",
            takes_jobs=takes_jobs,
        )
    )


def build_tasks(instance: Instance) -> int:
    with instance.store.read() as s:
        return s.query(Task).filter(Task.kind == nodebuilds.KIND).count()


def test_a_current_build_is_used_as_is(instance: Instance) -> None:
    env = add_env(instance, "here")
    kernelspecs.install(instance.config.data_dir, "here", "/usr/bin/python3")
    nodebuilds.record_built(instance.store, NODE, "PYTHON", "here", env.last_built_on)
    nodebuilds.record_built(instance.store, NODE, "PYTHON", "here", env.last_built_on)  # an upsert
    ensure(instance, "here", takes_jobs=False)
    assert build_tasks(instance) == 0
    with instance.store.read() as s:
        assert records.node_holders(s, "PYTHON", "here") == [
            {"name": NODE, "state": READY, "builtOn": env.last_built_on}
        ]
        # A later build of the env makes the node's build outdated.
        s.get(CodeEnv, ("PYTHON", "here")).last_built_on += 1
        assert records.node_holders(s, "PYTHON", "here")[0]["state"] == "OUTDATED"


@pytest.mark.parametrize(
    ("state", "jupyter", "words"),
    [(READY, True, "--no-worker"), (BROKEN, True, "BROKEN"), (READY, False, "without Jupyter support")],
)
def test_a_node_that_cannot_build_answers_409_and_queues_nothing(
    instance: Instance, state: str, jupyter: bool, words: str
) -> None:
    add_env(instance, "missing", state=state, jupyter=jupyter)
    with pytest.raises(Conflict) as refused:
        ensure(instance, "missing", takes_jobs=state != READY or not jupyter)
    assert words in refused.value.message + refused.value.detail
    assert build_tasks(instance) == 0


def test_a_deleted_env_leaves_the_node_at_its_next_sweep(instance: Instance) -> None:
    data = instance.config.data_dir
    kept = add_env(instance, "kept")
    for name in ("gone", "kept"):
        (managed_path(data, name) / "bin").mkdir(parents=True)
        kernelspecs.install(data, name, str(managed_path(data, name) / "bin" / "python"))
        nodebuilds.record_built(instance.store, NODE, "PYTHON", name, kept.last_built_on)
    outside = data.parent / "outside"
    outside.mkdir()
    assert nodebuilds.sweep(instance.store, NODE, data) == ["gone"]
    assert not managed_path(data, "gone").exists() and not kernelspecs.is_installed(data, "gone")
    assert managed_path(data, "kept").is_dir() and kernelspecs.is_installed(data, "kept")
    assert outside.is_dir()
    with instance.store.read() as s:
        assert [r.env_name for r in s.query(CodeEnvOnNode)] == ["kept"]
    assert nodebuilds.sweep(instance.store, NODE, data) == []


def test_a_build_that_leaves_no_kernel_is_a_409_not_another_build(
    instance: Instance, kernel_runtime: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registered env whose settings ask for no Jupyter support: the node's build ends
    without a kernelspec. One build, then a clear refusal, never a loop of builds."""
    from pathlib import Path

    monkeypatch.setattr(nodebuilds, "BUILD_TIMEOUT", 60.0)
    now = now_ms()
    with instance.store.begin() as s:
        s.add(
            CodeEnv(
                lang="PYTHON",
                name="nokernel",
                deployment_mode="DESIGN_NON_MANAGED",
                owner="admin",
                state=READY,
                path=str(Path(kernel_runtime).parent.parent),
                desc={},
                extra={},
                permissions=[],
                jupyter_kernel=True,
                created_on=now,
                updated_on=now,
                last_built_on=now,
            )  # fmt: skip
        )
    kernelspecs.install(instance.config.data_dir, "nokernel", kernel_runtime)
    with pytest.raises(Conflict, match="no Jupyter kernel"):
        asyncio.run(  # on this node: its worker (PostgreSQL) runs the builds queued for it
            nodebuilds.ensure_built(
                instance.store,
                instance.app.state.runner,
                node=instance.config.effective_node_name,
                data_dir=instance.config.data_dir,
                env_name="nokernel",
                owner="admin",
            )
        )
    assert build_tasks(instance) == 1
