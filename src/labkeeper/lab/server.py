"""jupyter_server, in labkeeper's own process and event loop, reached through labkeeper's port.

Why this way: jupyter_server is a Tornado application and labkeeper an ASGI one; Tornado
cannot be mounted in ASGI, and a second public port (or a separate process) would need its
own sign-in, TLS and firewall story and could not share labkeeper's kernels, which live in
this process's `SessionManager`. So each labkeeper worker builds one `ServerApp` (at its
first /lab request), on the worker's own event loop (Tornado runs on asyncio), with
labkeeper's contents manager, kernel manager, kernelspec manager and identity provider, and
serves it on a unix socket in
a private 0700 folder that only the server's account can open (a kernel account cannot
reach it). labkeeper's `/lab` route (lab/proxy.py) forwards HTTP and websocket traffic there,
after labkeeper's own request path (request id, body limit, metrics). The extra hop is a
local socket inside one process: its cost is measured in bench/lab.py.

With `--workers N` each worker has its own ServerApp over its own kernels. A kernel runs in
the worker that started it; a websocket that lands on another worker is refused with a 409
that says so (lab/kernels.py), never connected to a kernel it cannot manage.

Jupyter's config files, the host's extensions and its signal handlers are left out: the
server is exactly what is configured here. Jupyter's terminals extension is not loaded:
labkeeper serves terminals itself (lab/terminals.py), off unless an admin turns them on.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from jupyter_server.serverapp import ServerApp
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_unix_socket
from traitlets.config import Config as TraitletsConfig

from labkeeper.auth.retirement import register_stopper, unregister_stopper, wait_on_loop
from labkeeper.config import Config
from labkeeper.db import Store
from labkeeper.lab import handlers, terminals
from labkeeper.lab.contents import LabContentsManager
from labkeeper.lab.identity import LabIdentityProvider
from labkeeper.lab.kernels import (
    LabChannelsConnection,
    LabKernelManager,
    LabKernelSpecManager,
    LabSessionManager,
)
from labkeeper.lab.terminals import SHELL, LabTerminalManager
from labkeeper.notebooks.jupyter.sessions import SessionManager

BASE_URL = "/lab/"
TERMINALS_STOPPER = "terminals"


class InProcessServerApp(ServerApp):
    """A ServerApp that reads no Jupyter config files and installs no signal handlers."""

    @property
    def config_file_paths(self) -> list[str]:  # type: ignore[override]
        return []

    def init_signal(self) -> None:
        return None  # labkeeper's supervision handles signals


def _cookie_secret(data_dir: Path) -> bytes:
    """One secret per instance, shared by its workers (Jupyter signs its cookies with it)."""
    folder = data_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "lab-cookie-secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    value = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as out:
        out.write(value)
    return value


def _traitlets_config(config: Config, lab_dir: Path) -> TraitletsConfig:
    c = TraitletsConfig()
    c.ServerApp.base_url = BASE_URL
    c.ServerApp.default_url = "/lab"
    c.ServerApp.root_dir = str(lab_dir / "root")
    c.ServerApp.open_browser = False
    c.ServerApp.allow_remote_access = True  # which host names reach labkeeper is labkeeper's business
    c.ServerApp.allow_origin = ""  # same origin only
    c.ServerApp.jpserver_extensions = {"jupyterlab": True}
    c.ServerApp.terminals_enabled = False
    c.ServerApp.cookie_secret = _cookie_secret(config.data_dir)
    c.ServerApp.log_level = "WARN"
    c.ServerApp.max_body_size = config.max_body_bytes
    c.ServerApp.max_buffer_size = config.max_body_bytes
    c.ServerApp.identity_provider_class = LabIdentityProvider
    c.IdentityProvider.token = ""  # no Jupyter token: Lab's pages would send it instead of the cookie
    c.ServerApp.contents_manager_class = LabContentsManager
    c.ServerApp.kernel_manager_class = LabKernelManager
    c.ServerApp.kernel_spec_manager_class = LabKernelSpecManager
    c.ServerApp.kernel_websocket_connection_class = LabChannelsConnection
    c.ServerApp.session_manager_class = LabSessionManager
    c.MappingKernelManager.cull_idle_timeout = 0  # labkeeper culls idle sessions itself
    c.LabApp.workspaces_dir = str(lab_dir / "workspaces")
    c.LabApp.user_settings_dir = str(lab_dir / "user-settings")
    c.LabApp.news_url = None
    c.LabApp.check_for_updates_class = "jupyterlab.handlers.announcements.NeverCheckForUpdate"
    c.LabApp.extension_manager = "readonly"
    return c


class LabServer:
    """The in-process jupyter_server of one worker, listening on a private unix socket."""

    def __init__(self, store: Store, config: Config, sessions: SessionManager) -> None:
        self.store = store
        self.config = config
        self.sessions = sessions
        self.socket_dir = Path(tempfile.mkdtemp(prefix="lk-lab-"))  # 0700, short enough for a socket
        self.socket_path = str(self.socket_dir / "jupyter.sock")
        self.app: ServerApp | None = None
        self.http: HTTPServer | None = None
        self.terminals: LabTerminalManager | None = None

    def start(self) -> None:
        """Build and serve the ServerApp; call it on the event loop the kernels live on."""
        lab_dir = self.config.data_dir / "lab"
        for folder in (lab_dir, lab_dir / "root", lab_dir / "runtime"):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        app = InProcessServerApp(config=_traitlets_config(self.config, lab_dir))
        app.runtime_dir = str(lab_dir / "runtime")
        app.initialize(argv=[], find_extensions=False, new_httpserver=False)
        app.identity_provider.store = self.store
        app.contents_manager.sessions = self.sessions
        app.kernel_spec_manager.sessions = self.sessions
        app.kernel_manager.bind(self.sessions)
        handlers.install(app.web_app, BASE_URL)
        self.terminals = LabTerminalManager(shell_command=[SHELL], parent=app)
        self.terminals.sessions = self.sessions
        self.terminals.log = app.log
        terminals.install(app.web_app, BASE_URL, self.terminals)
        loop, closer = asyncio.get_running_loop(), self.terminals.close_user
        register_stopper(
            self.store,
            TERMINALS_STOPPER,
            lambda login, _reason, _by: wait_on_loop(loop, closer(login), 30.0) or [],
        )
        self.app = app
        self.http = HTTPServer(
            app.web_app,
            max_body_size=self.config.max_body_bytes,
            max_buffer_size=self.config.max_body_bytes,
            xheaders=False,
        )
        self.http.add_socket(bind_unix_socket(self.socket_path, mode=0o600))

    async def stop(self) -> None:
        if self.http is not None:
            self.http.stop()
            await self.http.close_all_connections()
        unregister_stopper(self.store, TERMINALS_STOPPER)
        if self.terminals is not None:
            await self.terminals.shutdown()  # every shell, and the reader thread
        app: Any = self.app
        if app is not None:
            connection_class = app.kernel_websocket_connection_class
            if hasattr(connection_class, "close_all"):
                await connection_class.close_all()
            if getattr(app, "session_manager", None) is not None:
                app.session_manager.close()
        shutil.rmtree(self.socket_dir, ignore_errors=True)
