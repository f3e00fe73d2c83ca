"""Wires JupyterLab into the app: the `/lab` route (mounted when the app is built) and, at
start, the in-process jupyter_server over the Jupyter component's session manager."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from labkeeper.lab.proxy import LabProxy, dss_error_body
from labkeeper.lab.server import LabServer


class LabDoor:
    """The ASGI app mounted at /lab: the proxy once Lab is started, a 503 before."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        proxy = getattr(self.app.state, "lab_proxy", None)
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
        server = LabServer(app.state.store, app.state.config, app.state.jupyter)
        server.start()
        app.state.lab = server
        app.state.lab_proxy = LabProxy(server.socket_path)

    async def stop(self, app: FastAPI) -> None:
        proxy = getattr(app.state, "lab_proxy", None)
        app.state.lab_proxy = None
        if proxy is not None:
            await proxy.aclose()
        server = getattr(app.state, "lab", None)
        if server is not None:
            await server.stop()


component = LabComponent()
