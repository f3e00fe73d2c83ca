"""Wires code envs into the app: registers the build operations with the task runner and
finds the machine's Python interpreters once, at start-up."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from labkeeper.codeenvs import builds, interpreters


class CodeEnvsComponent:
    operations = (builds.build_env, builds.delete_env)

    async def start(self, app: FastAPI) -> None:
        await asyncio.to_thread(interpreters.available)

    async def stop(self, app: FastAPI) -> None:
        return None


component = CodeEnvsComponent()
