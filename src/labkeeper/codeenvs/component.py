"""Wires code envs into the app: registers the build operations with the task runner and
starts finding the machine's Python interpreters at start-up (in the background: the first
request that needs them waits for the search to end)."""

from __future__ import annotations

import threading

from fastapi import FastAPI

from labkeeper.codeenvs import builds, interpreters


class CodeEnvsComponent:
    operations = (builds.build_env, builds.delete_env)

    async def start(self, app: FastAPI) -> None:
        threading.Thread(target=interpreters.available, name="find-interpreters", daemon=True).start()

    async def stop(self, app: FastAPI) -> None:
        return None


component = CodeEnvsComponent()
