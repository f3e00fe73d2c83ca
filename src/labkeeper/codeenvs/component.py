"""Wires code envs into the app: registers the build operations with the task runner, clears
the build slot accounts no live build holds (what a dead server left running), completes
the records of interrupted builds, and starts finding the machine's Python interpreters
(in the background: the first request that needs them waits for the search to end)."""

from __future__ import annotations

import asyncio
import threading

from fastapi import FastAPI

from labkeeper.codeenvs import builds, interpreters, nodebuilds, slots
from labkeeper.codeenvs.recovery import complete_interrupted_builds


class CodeEnvsComponent:
    operations = (builds.build_env, builds.delete_env, nodebuilds.build_on_node)

    async def start(self, app: FastAPI) -> None:
        await asyncio.to_thread(slots.clear_idle_slots, app.state.config.data_dir)
        await asyncio.to_thread(complete_interrupted_builds, app.state.store)
        threading.Thread(target=interpreters.available, name="find-interpreters", daemon=True).start()

    async def stop(self, app: FastAPI) -> None:
        return None


component = CodeEnvsComponent()
