"""Wires JupyterLab into the app: the `/lab` route (mounted when the app is built) and the
in-process jupyter_server over the Jupyter component's session manager, built by the first
request to /lab (a worker that never serves Lab never pays for building it)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from labkeeper.lab.proxy import LabProxy, dss_error_body
from labkeeper.lab.server import LabServer


class LabDoor:
    """The ASGI app mounted at /lab: the proxy, started on first use; a 503 while stopping."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.starting = asyncio.Lock()

    async def _proxy(self) -> LabProxy | None:
        state = self.app.state
        if getattr(state, "lab_proxy", None) is None and getattr(state, "lab_enabled", False):
            async with self.starting:
                if getattr(state, "lab_proxy", None) is None and state.lab_enabled:
                    server = LabServer(state.store, state.config, state.jupyter)
                    server.start()
                    state.lab, state.lab_proxy = server, LabProxy(server.socket_path)
        return getattr(state, "lab_proxy", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        proxy = await self._proxy()
        if proxy is not None:
            await proxy(scope, receive, send)
        elif scope["type"] == "http":
            body = dss_error_body(503, b'{"message": "JupyterLab is starting or stopping"}')
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1013})


def mount(app: FastAPI) -> None:
    app.router.routes.append(Mount("/lab", app=LabDoor(app), name="lab"))


class LabComponent:
    async def start(self, app: FastAPI) -> None:
        app.state.lab_enabled = True  # the first request to /lab builds the server

    async def stop(self, app: FastAPI) -> None:
        app.state.lab_enabled = False
        proxy = getattr(app.state, "lab_proxy", None)
        app.state.lab_proxy = None
        if proxy is not None:
            await proxy.aclose()
        server = getattr(app.state, "lab", None)
        if server is not None:
            await server.stop()


component = LabComponent()
