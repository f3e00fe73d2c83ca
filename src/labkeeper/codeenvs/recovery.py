"""After a restart: complete the records of builds a dead server left half done.

An env still BUILDING whose build lock is held by no live task (the futures recovery has
just failed the tasks of dead server processes and killed their uv processes) becomes
BROKEN with an error saying why, its lock released, and its Python version read from the
env when the env has one, as a finished build would have recorded it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select

from labkeeper.codeenvs.builds import env_python
from labkeeper.codeenvs.models import BROKEN, BUILDING, CodeEnv
from labkeeper.codeenvs.packages import probe_interpreter
from labkeeper.codeenvs.records import build_is_live
from labkeeper.db import Store, now_ms

log = logging.getLogger("labkeeper.codeenvs")
INTERRUPTED = "Interrupted by a restart of the server before the build finished; update the env to repair it"


def complete_interrupted_builds(store: Store) -> int:
    with store.read() as s:
        envs = [
            (env.lang, env.name, env.path)
            for env in s.scalars(select(CodeEnv).where(CodeEnv.state == BUILDING))
            if not build_is_live(s, env)
        ]
    for lang, name, path in envs:
        version, _problem = probe_interpreter(env_python(Path(path))) if path else ("", "")
        with store.begin() as s:
            env = s.get(CodeEnv, (lang, name))
            if env is None or env.state != BUILDING or build_is_live(s, env):
                continue  # deleted, or a new build took it meanwhile
            env.state, env.last_error, env.updated_on = BROKEN, INTERRUPTED, now_ms()
            env.python_version = version or env.python_version
            env.build_token, env.build_task_id, env.build_claimed_on = "", "", 0
        log.warning("code env %s was left building by a dead server: now BROKEN", name)
    return len(envs)
