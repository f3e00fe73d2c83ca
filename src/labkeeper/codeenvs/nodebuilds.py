"""Code envs built on each node on first use, and removed from every node with the env.

Every node has its own data directory, so an env built on one node is not there on another.
When a kernel of an env is to start on a node (`ensure_built`, run on that node), the node's
build of the env (its `code_env_nodes` row) must be READY at the env's current version (the
env's `last_built_on`: a later update or rebuild moves it); otherwise the node builds it
first, as the task `codeenv.node-build` queued on its own queue: the same uv build as the
env's own (`builds.Build`, from the spec in the store, in a build slot, contained), into
`<data dir>/code-envs/python/<env>` of that node, with its kernelspec there. The row is the
lock: a starter that finds it BUILDING by a task still running waits for that task instead
of building again, so concurrent first uses on one node build once. A failed build leaves
the row BROKEN with its error, and the start answers it (409); the next use tries again.

The build that made or updated the env records itself too (`record_built`, on the node that
ran it). Deleting an env deletes its row; each node then finds its rows of envs that are gone
at its next heartbeat (`sweep`) and removes its kernelspec and its managed folder.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from labkeeper.codeenvs import kernelspecs, logs, storedlogs
from labkeeper.codeenvs.builds import Build, _slot_for, make_plan, node_data_dir
from labkeeper.codeenvs.masking import Masker
from labkeeper.codeenvs.models import BROKEN, BUILDING, DESIGN_MANAGED, READY, CodeEnv, CodeEnvOnNode
from labkeeper.codeenvs.service import managed_path
from labkeeper.db import Store, now_ms
from labkeeper.errors import Conflict, NoAnswer
from labkeeper.futures.models import RUNNING, Task
from labkeeper.futures.runner import OperationError, Submission, TaskContext, TaskRunner, operation

KIND = "codeenv.node-build"
BUILD_TIMEOUT = 900.0  # a first use waits this long at most for its node's build


def env_of_kernel(store: Store, kernel: str) -> str | None:
    """The PYTHON env whose Jupyter kernel is `kernel` (Jupyter lower-cases kernel names)."""
    kernel = kernel.lower()
    if not kernel.startswith(kernelspecs.KERNEL_PREFIX):
        return None
    wanted = kernel[len(kernelspecs.KERNEL_PREFIX) :]
    with store.read() as s:
        return s.scalar(
            select(CodeEnv.name).where(
                CodeEnv.lang == "PYTHON", func.lower(CodeEnv.name) == wanted, CodeEnv.jupyter_kernel.is_(True)
            )
        )


def record_built(store: Store, node: str, lang: str, name: str, version: int, task_id: str = "") -> None:
    """Record that `node` holds the env at `version` (a build there just finished)."""
    values = {"state": READY, "version": version, "task_id": task_id, "error": "", "updated_on": now_ms()}
    for _ in range(3):
        try:
            with store.begin() as s:
                row = s.get(CodeEnvOnNode, (node, lang, name), with_for_update=True)
                if row is None:
                    s.add(CodeEnvOnNode(node=node, env_lang=lang, env_name=name, **values))
                else:
                    for key, value in values.items():
                        setattr(row, key, value)
            return
        except IntegrityError:  # another writer inserted it first: update it
            continue


# -- on the node that starts a kernel ---------------------------------------------------------
def _is_current(store: Store, node: str, data_dir: Path, env: CodeEnv) -> bool:
    with store.read() as s:
        row = s.get(CodeEnvOnNode, (node, env.lang, env.name))
    return (
        row is not None
        and row.state == READY
        and row.version >= env.last_built_on
        and kernelspecs.is_installed(data_dir, env.name)
    )


def _claim(store: Store, node: str, env: CodeEnv) -> tuple[str, bool]:
    """(task id, mine): the running build of the env on `node` to wait for, or "" and True
    when this caller took the row and must submit the build ("" and False: another caller
    is taking it, look again)."""
    try:
        return _take(store, node, env)
    except IntegrityError:  # another first use inserted the row at the same moment
        return "", False


def _take(store: Store, node: str, env: CodeEnv) -> tuple[str, bool]:
    now = now_ms()
    with store.begin() as s:
        row = s.get(CodeEnvOnNode, (node, env.lang, env.name), with_for_update=True)
        if row is not None and row.state == BUILDING:
            if row.task_id:
                state = s.scalar(select(Task.state).where(Task.id == row.task_id))
                if state == RUNNING:
                    return row.task_id, False
            elif now - row.updated_on < 60_000:  # claimed, being submitted
                return "", False
        if row is None:
            s.add(
                CodeEnvOnNode(node=node, env_lang=env.lang, env_name=env.name, state=BUILDING, updated_on=now)
            )
        else:
            row.state, row.task_id, row.error, row.updated_on = BUILDING, "", "", now
    return "", True


def _set_task(store: Store, node: str, env: CodeEnv, task_id: str) -> None:
    with store.begin() as s:
        s.execute(
            update(CodeEnvOnNode)
            .where(
                CodeEnvOnNode.node == node,
                CodeEnvOnNode.env_lang == env.lang,
                CodeEnvOnNode.env_name == env.name,
                CodeEnvOnNode.task_id == "",
            )
            .values(task_id=task_id)
        )


def _outcome(store: Store, node: str, env: CodeEnv) -> CodeEnvOnNode | None:
    with store.read() as s:
        return s.get(CodeEnvOnNode, (node, env.lang, env.name))


def _load(store: Store, name: str) -> CodeEnv:
    with store.read() as s:
        env = s.get(CodeEnv, ("PYTHON", name))
    if env is None:
        raise Conflict(f"Code env {name!r} was deleted", detail=f"Code env {name!r} no longer exists")
    return env


def _check_buildable(env: CodeEnv) -> None:
    if env.state != READY or not env.jupyter_kernel:
        state = "without Jupyter support" if env.state == READY else env.state
        raise Conflict(
            f"Code env {env.name!r} cannot be built on this node: it is {state}",
            detail=f"A kernel of code env {env.name!r} is built on each node on first use, from the env "
            f"as its own build left it, and that env is {state}: update it (labkeeper code-envs update) "
            "and start the session again",
        )


async def ensure_built(
    store: Store,
    runner: TaskRunner,
    *,
    node: str,
    data_dir: Path,
    env_name: str,
    owner: str,
    takes_jobs: bool = True,
) -> None:
    """Make sure `node` (this one) holds env `env_name` at its current version, building it
    here first when it does not; a 409 with the build's error when that build fails (or when
    this node takes no jobs: nothing would run its build), a 504 when it does not end within
    BUILD_TIMEOUT."""
    env = await asyncio.to_thread(_load, store, env_name)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUILD_TIMEOUT
    while not await asyncio.to_thread(_is_current, store, node, data_dir, env):
        if loop.time() > deadline:
            raise NoAnswer(
                f"Code env {env.name!r} was not built on node {node} in time",
                detail=f"The build of code env {env.name!r} on node {node} did not end within "
                f"{BUILD_TIMEOUT:.0f} s (its future is in GET /futures/); start the session again later",
            )
        _check_buildable(env)
        if not takes_jobs:
            raise Conflict(
                f"Code env {env.name!r} is not built on node {node}, which runs no worker to build it",
                detail=f"Node {node} was started without a worker (--no-worker), so it cannot build code "
                f"env {env.name!r} for a kernel of its own: start the session through the notebook API "
                "(it goes to a worker node), or run this node with its worker",
            )
        task_id, mine = await asyncio.to_thread(_claim, store, node, env)
        if mine:
            submission = Submission(
                kind=KIND,
                args={"lang": env.lang, "name": env.name, "node": node, "dataDir": str(data_dir)},
                owner=owner,
                target={"objectType": "CODE_ENV", "envLang": env.lang, "envName": env.name},
                display_name=f"Build code env {env.name} on node {node}",
                node=node,
            )
            try:
                task_id = await asyncio.to_thread(runner.submit, submission)
            except BaseException:
                why = "the build could not be queued"
                await asyncio.to_thread(_fail, store, node, env.lang, env.name, "", why)
                raise
            await asyncio.to_thread(_set_task, store, node, env, task_id)
        ended = False
        if task_id:
            ended = await runner.wait(task_id, timeout=max(1.0, deadline - loop.time()))
        else:
            await asyncio.sleep(0.2)
        row = await asyncio.to_thread(_outcome, store, node, env)
        if row is not None and row.state == BROKEN and (mine or row.task_id == task_id):
            raise Conflict(
                f"Code env {env.name!r} could not be built on node {node}: {row.error}",
                detail=f"Code env {env.name!r} is built on each node on first use, and its build on node "
                f"{node} failed: {row.error}. Its log is in the env's logs (labkeeper code-envs logs); fix "
                "the env and start the session again",
            )
        if mine and ended and not await asyncio.to_thread(_is_current, store, node, data_dir, env):
            # Its own build ended and the env is still not usable here (no kernelspec: the
            # env's settings do not ask for Jupyter support): building again would not help.
            raise Conflict(
                f"Code env {env.name!r} was built on node {node} but gives no Jupyter kernel there",
                detail=f"The build of code env {env.name!r} on node {node} ended without its Jupyter "
                "kernelspec: set installJupyterSupport in the env's settings (or its Jupyter support: "
                "POST /admin/code-envs/{lang}/{name}/jupyter), update it and start the session again",
            )


def _fail(store: Store, node: str, lang: str, name: str, task_id: str, error: str) -> None:
    with store.begin() as s:
        s.execute(
            update(CodeEnvOnNode)
            .where(
                CodeEnvOnNode.node == node,
                CodeEnvOnNode.env_lang == lang,
                CodeEnvOnNode.env_name == name,
                CodeEnvOnNode.task_id == task_id,
            )
            .values(state=BROKEN, error=error[:4000], updated_on=now_ms())
        )


@operation(KIND)
def build_on_node(ctx: TaskContext, args: dict[str, Any]) -> dict[str, Any]:
    """Build an env on this node from its record, as its own build did (never changing the
    env's row: its state is the env's, this build is the node's)."""
    lang, name, node = args["lang"], args["name"], args["node"]
    data_dir = node_data_dir(ctx, args)
    log = logs.BuildLog(data_dir, lang, name, "node", ctx.task_id)
    log.line(f"labkeeper: build of {lang} code env {name!r} on node {node}, future {ctx.task_id}")
    try:
        with ctx.store.read() as s:
            env = s.get(CodeEnv, (lang, name))
            version = env.last_built_on if env is not None else 0
        if env is None:
            raise OperationError(f"Code env {name!r} was deleted")
        managed = env.deployment_mode == DESIGN_MANAGED
        plan = make_plan(ctx, {"lang": lang, "name": name, "token": "", "dataDir": str(data_dir),
                               "mode": "rebuild" if managed else "register"})  # fmt: skip
        log.mask = Masker(plan.secrets)
        with _slot_for(ctx, plan) as account:
            build = Build(ctx, plan, log, account)
            try:
                build.prepare()
                build.build_managed() if managed else build.build_registered()
                build.sandbox.finish()
                ctx.check_abort()
            finally:
                build.sandbox.finish()
        record_built(ctx.store, node, lang, name, version, ctx.task_id)
        log.line(f"labkeeper: env {name!r} is ready on node {node}")
        return {"envName": name, "node": node, "messages": {"messages": []}}
    except BaseException as exc:
        reason = log.mask(str(exc) if isinstance(exc, OperationError) else f"{type(exc).__name__}: {exc}")
        log.line(f"labkeeper: build failed: {reason}")
        _fail(ctx.store, node, lang, name, ctx.task_id, reason)
        if isinstance(exc, Exception) and reason != str(exc):
            raise OperationError(reason) from None
        raise
    finally:
        log.close()
        storedlogs.keep(ctx.store, lang, name, log, ctx.task_id)


# -- every node's heartbeat ---------------------------------------------------------------------
def sweep(store: Store, node: str, data_dir: Path) -> list[str]:
    """Remove, on this node, the builds of envs that were deleted (their kernelspec, their
    folder in this node's data directory, their row); the names removed."""
    with store.read() as s:
        gone = list(
            s.execute(
                select(CodeEnvOnNode.env_lang, CodeEnvOnNode.env_name)
                .outerjoin(
                    CodeEnv,
                    (CodeEnv.lang == CodeEnvOnNode.env_lang) & (CodeEnv.name == CodeEnvOnNode.env_name),
                )
                .where(CodeEnvOnNode.node == node, CodeEnv.name.is_(None))
            ).all()
        )
    for lang, name in gone:
        kernelspecs.remove(data_dir, name)
        folder = managed_path(data_dir, name)
        if folder.is_symlink():
            folder.unlink()
        elif folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        logs.remove_logs(data_dir, lang, name)
        with store.begin() as s:
            s.execute(
                delete(CodeEnvOnNode).where(
                    CodeEnvOnNode.node == node, CodeEnvOnNode.env_lang == lang, CodeEnvOnNode.env_name == name
                )
            )
    return [name for _, name in gone]
