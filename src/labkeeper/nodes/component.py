"""Registers this node in the store and keeps its heartbeat (live kernels, running tasks); each
beat also removes this node's builds of code envs deleted meanwhile (`codeenvs.nodebuilds`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from labkeeper.codeenvs import nodebuilds
from labkeeper.nodes import service

log = logging.getLogger("labkeeper.nodes")


def _running_tasks(app: FastAPI) -> int:
    runner = getattr(app.state, "runner", None)
    local = getattr(runner, "local", runner)
    return len(getattr(local, "_live", {}))


def _kernels(app: FastAPI) -> dict[str, str] | None:
    """The kernels this node can start (None: it starts none, or cannot tell now)."""
    jupyter = getattr(app.state, "jupyter", None)
    if jupyter is None or "worker" not in app.state.config.role:
        return {}
    try:
        return jupyter.specs.kernel_envs()
    except Exception:  # noqa: BLE001 - a spec folder being written: the next beat tells
        return None


def _live_kernels(app: FastAPI) -> int:
    jupyter = getattr(app.state, "jupyter", None)
    return len(getattr(jupyter, "live", {}))


class NodesComponent:
    def __init__(self) -> None:
        self._beats: dict[int, asyncio.Task] = {}

    async def start(self, app: FastAPI) -> None:
        config, store = app.state.config, app.state.store
        name = config.effective_node_name
        app.state.node_name = name
        await asyncio.to_thread(
            service.register,
            store,
            name=name,
            role=config.role,
            public_url=config.public_url or "",
            kernels=await asyncio.to_thread(_kernels, app),
            labels=config.node_labels,
        )
        if config.background:
            self._beats[id(app)] = asyncio.create_task(self._beat(app, name))

    async def _beat(self, app: FastAPI, name: str) -> None:
        while True:
            await asyncio.sleep(service.HEARTBEAT_SECONDS)
            try:
                await asyncio.to_thread(
                    service.beat,
                    app.state.store,
                    name,
                    live_kernels=_live_kernels(app),
                    running_tasks=_running_tasks(app),
                    kernels=await asyncio.to_thread(_kernels, app),
                )
            except Exception:  # noqa: BLE001 - the store may be down; the next beat retries
                log.debug("node heartbeat failed", exc_info=True)
            try:  # the builds of envs deleted meanwhile go from this node too
                await asyncio.to_thread(nodebuilds.sweep, app.state.store, name, app.state.config.data_dir)
            except Exception:  # noqa: BLE001 - as above: the next beat retries
                log.debug("removing the builds of deleted code envs failed", exc_info=True)

    async def stop(self, app: FastAPI) -> None:
        beat = self._beats.pop(id(app), None)
        if beat is not None:
            beat.cancel()
            with contextlib.suppress(BaseException):
                await beat
        with contextlib.suppress(Exception):
            await asyncio.to_thread(service.stopped, app.state.store, app.state.node_name)


component = NodesComponent()
