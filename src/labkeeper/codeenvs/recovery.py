"""After a restart: complete the records of builds a dead server left half done.

An env still BUILDING whose build lock is held by no live task (the futures recovery has
just failed the tasks of dead server processes and killed their uv processes) becomes
BROKEN with an error saying why, its lock released, and its Python version read from the
env when the env has one, as a finished build would have recorded it.

The env was the build account's while it was built, so nothing in it is trusted: it is
handed back to the server first, and its version is read from `pyvenv.cfg`, never by
running its interpreter (which a build backend may have replaced).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from sqlalchemy import select

from labkeeper.codeenvs.models import BROKEN, BUILDING, CodeEnv
from labkeeper.codeenvs.records import build_is_live
from labkeeper.codeenvs.sandbox import hand_back_env
from labkeeper.db import Store, now_ms

log = logging.getLogger("labkeeper.codeenvs")
INTERRUPTED = "Interrupted by a restart of the server before the build finished; update the env to repair it"


def venv_version(env: Path) -> str:
    """The Python version a virtual environment records (`version_info` as uv writes it,
    `version` as venv does), read as text; "" when absent."""
    try:
        text = (env / "pyvenv.cfg").read_text(errors="replace")[:10_000]
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() in ("version_info", "version") and re.fullmatch(r"3\.\d+\.\d+", value.strip()):
            return value.strip()
    return ""


def complete_interrupted_builds(store: Store) -> int:
    with store.read() as s:
        envs = [
            (env.lang, env.name, env.path)
            for env in s.scalars(select(CodeEnv).where(CodeEnv.state == BUILDING))
            if not build_is_live(s, env)
        ]
    for lang, name, path in envs:
        version = ""
        if path:
            hand_back_env(Path(path))
            version = venv_version(Path(path))
        with store.begin() as s:
            env = s.get(CodeEnv, (lang, name))
            if env is None or env.state != BUILDING or build_is_live(s, env):
                continue  # deleted, or a new build took it meanwhile
            env.state, env.last_error, env.updated_on = BROKEN, INTERRUPTED, now_ms()
            env.python_version = version or env.python_version
            env.build_token, env.build_task_id, env.build_claimed_on = "", "", 0
        log.warning("code env %s was left building by a dead server: now BROKEN", name)
    return len(envs)
