"""Reading code env rows, and the build lock every build and deletion takes.

The lock is a token written into the env's row with a compare-and-swap, so that two builds
of the same env never run at once, on SQLite and PostgreSQL alike, in one worker or several:
the second caller gets a 409 naming the running build's future. A token whose task has
ended (a crash, a restart) or that never got a task within a minute is stale and may be
taken over.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from labkeeper.codeenvs.models import BROKEN, BUILDING, READY, CodeEnv, CodeEnvOnNode
from labkeeper.db import Store, now_ms
from labkeeper.errors import Conflict, NotFound
from labkeeper.futures.models import RUNNING, Task

UNATTACHED_CLAIM_MS = 60_000


def new_token() -> str:
    return secrets.token_hex(8)


def get_env(s: Session, lang: str, name: str) -> CodeEnv:
    env = s.get(CodeEnv, (lang, name))
    if env is None:
        raise NotFound(f"No {lang} code env named {name!r}")
    return env


def load_env(store: Store, lang: str, name: str) -> CodeEnv:
    with store.read() as s:
        return get_env(s, lang, name)


def build_is_live(s: Session, env: CodeEnv) -> bool:
    """True while a build or deletion holds the env's lock."""
    if not env.build_token:
        return False
    if not env.build_task_id:
        return now_ms() - env.build_claimed_on < UNATTACHED_CLAIM_MS
    state = s.scalar(select(Task.state).where(Task.id == env.build_task_id))
    return state == RUNNING


def state_waits_on_clock(env: CodeEnv) -> bool:
    """Whether the env's shown state may change with no write: a build claim not yet attached
    to its task expires after UNATTACHED_CLAIM_MS (counted as such even once expired, so
    that no answer is kept from the moment of its expiry)."""
    return bool(env.build_token) and not env.build_task_id


def effective_state(s: Session, env: CodeEnv) -> str:
    """BUILDING only while a build really runs: an interrupted build leaves a broken env."""
    if env.state == BUILDING and not build_is_live(s, env):
        return BROKEN
    return env.state


def claim(store: Store, lang: str, name: str, *, changes: dict[str, Any] | None = None) -> str:
    """Take the env's build lock (and apply `changes` to the row in the same transaction);
    a 409 names the build that holds it."""
    token = new_token()
    with store.begin() as s:
        env = get_env(s, lang, name)
        if build_is_live(s, env):
            running = env.build_task_id or "being submitted"
            raise Conflict(
                f"A build of code env {name!r} is already running (future {running})",
                detail=f"A build of code env {name!r} is already running (future {running}); "
                "wait for it to end (labkeeper futures status) or abort it, then retry",
            )
        done = s.execute(
            update(CodeEnv)
            .where(CodeEnv.lang == lang, CodeEnv.name == name, CodeEnv.build_token == env.build_token)
            .values(build_token=token, build_task_id="", build_claimed_on=now_ms(), **(changes or {}))
        )
        if done.rowcount != 1:
            raise Conflict(f"Another build of code env {name!r} started at the same moment; retry")
    return token


def attach_task(store: Store, lang: str, name: str, token: str, task_id: str) -> None:
    with store.begin() as s:
        s.execute(
            update(CodeEnv)
            .where(CodeEnv.lang == lang, CodeEnv.name == name, CodeEnv.build_token == token)
            .values(build_task_id=task_id)
        )


def release(store: Store, lang: str, name: str, token: str) -> None:
    with store.begin() as s:
        s.execute(
            update(CodeEnv)
            .where(CodeEnv.lang == lang, CodeEnv.name == name, CodeEnv.build_token == token)
            .values(build_token="", build_task_id="", build_claimed_on=0)
        )


def set_if_holder(store: Store, lang: str, name: str, token: str, **values: Any) -> bool:
    """Update the row only while `token` still holds the lock (a taken-over build's late
    writes change nothing)."""
    with store.begin() as s:
        done = s.execute(
            update(CodeEnv)
            .where(CodeEnv.lang == lang, CodeEnv.name == name, CodeEnv.build_token == token)
            .values(updated_on=now_ms(), **values)
        )
        return done.rowcount == 1


def finish_ready(store: Store, lang: str, name: str, token: str, task_id: str, **values: Any) -> bool:
    """Mark the env READY unless its task was aborted meanwhile. The task row is locked
    (PostgreSQL) or the database is (SQLite), so an abort is ordered before or after."""
    with store.begin() as s:
        task_state = s.scalar(select(Task.state).where(Task.id == task_id).with_for_update())
        if task_state is not None and task_state != RUNNING:
            return False
        done = s.execute(
            update(CodeEnv)
            .where(CodeEnv.lang == lang, CodeEnv.name == name, CodeEnv.build_token == token)
            .values(state=READY, last_error="", updated_on=now_ms(), last_built_on=now_ms(), **values)
        )
        return done.rowcount == 1


def node_holders(s: Session, lang: str, name: str) -> list[dict[str, Any]]:
    """The nodes holding a build of the env, for its definition (a labkeeper addition)."""
    env = s.get(CodeEnv, (lang, name))
    version = env.last_built_on if env is not None else 0
    rows = s.scalars(
        select(CodeEnvOnNode)
        .where(CodeEnvOnNode.env_lang == lang, CodeEnvOnNode.env_name == name)
        .order_by(CodeEnvOnNode.node)
    )
    return [
        {
            "name": row.node,
            "state": "OUTDATED" if row.state == READY and row.version < version else row.state,
            "builtOn": row.version,
        }
        for row in rows
    ]
