"""Lab's terminals: off unless an admin turns on `notebooks.terminalsEnabled` in the general
settings; then each terminal is its creator's alone and runs as the creator's resolved UNIX
account, under the rules of kernels.

- The setting is read at every call: turned off, every terminal route and websocket answers
  404. A terminal already open is then out of reach but keeps running until the worker
  stops (or terminals are turned on again and its owner closes it); terminals are not
  culled when idle. A user disabled or deleted has their terminals closed (those of the
  worker that served the change: another worker's stay, out of reach of the user's keys).
- Opening one needs what starting a kernel needs (`notebooks/jupyter/rights.py`): the global
  permission `mayRunNotebooks` and the safe/unsafe code right matching the account the
  impersonation rules resolve (no project: project-scoped rules do not apply); never a
  notebook session's key. The shell runs as that account (`setpriv`, the kernels' uid, gid
  and groups), in its labkeeper home, with an environment built from scratch: never the
  server's own (which may hold the database URL or the bootstrap key).
- The caller chooses nothing: no shell, no working directory, no environment, no name. Names
  are random (Jupyter's are "1", "2": guessable).
- Another user's terminal is a 404 on the REST API and on the websocket, as a kernel is.

A terminal lives in the worker process that opened it (like a kernel); from another worker
its websocket is a 404.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
from typing import Any

from jupyter_server._tz import utcnow
from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from jupyter_server_terminals.api_handlers import TerminalHandler, TerminalRootHandler
from jupyter_server_terminals.handlers import TermSocket
from jupyter_server_terminals.terminalmanager import TerminalManager
from terminado.management import PtyWithClients
from tornado import web

from labkeeper.auth.principal import Principal
from labkeeper.auth.service import groups_of
from labkeeper.errors import Conflict, LabkeeperError
from labkeeper.isolation.identity import UnixIdentity, first_denied, kernel_identity
from labkeeper.lab import calls
from labkeeper.lab.handlers import JsonErrors
from labkeeper.lab.identity import current_principal, require_principal
from labkeeper.notebooks.jupyter import rights
from labkeeper.notebooks.jupyter.sessions import SessionManager
from labkeeper.settings.service import get_general_settings

SETTING = "terminalsEnabled"
OFF = f"Terminals are off: an admin turns them on with notebooks.{SETTING} in the general settings"
SHELL = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
_RWX = 7


def terminals_enabled(sessions: SessionManager) -> bool:
    return get_general_settings(sessions.store)["notebooks"].get(SETTING) is True


def terminal_env(ident: UnixIdentity, home: str) -> dict[str, str]:
    passed = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
    env = {name: os.environ[name] for name in passed if name in os.environ}
    env.update(
        PATH="/usr/local/bin:/usr/bin:/bin",
        HOME=home,
        USER=ident.name,
        LOGNAME=ident.name,
        SHELL=SHELL,
        TERM="xterm-256color",
    )
    return env


def shell_argv(ident: UnixIdentity) -> list[str]:
    """The shell, switched to `ident` when it is not the server's own account."""
    if not ident.impersonated:
        return [SHELL]
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise Conflict(
            "Terminals need setpriv (util-linux) to run as another UNIX account, and it is not installed"
        )
    groups = ",".join(str(g) for g in ident.groups)
    switch = [f"--groups={groups}"] if groups else ["--clear-groups"]
    return [setpriv, f"--reuid={ident.uid}", f"--regid={ident.gid}", *switch, "--", SHELL]


class LabTerminalManager(TerminalManager):
    """Jupyter's terminal manager, with labkeeper's rules (see the module docstring)."""

    sessions: SessionManager | None = None  # set by lab/server.py

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.owners: dict[str, str] = {}
        self.identities: dict[str, UnixIdentity] = {}

    def _manager(self) -> SessionManager:
        assert self.sessions is not None, "the Lab server sets the session manager"
        return self.sessions

    # -- who sees what -------------------------------------------------------------------------
    def require_own(self, name: str) -> PtyWithClients:
        """The requesting user's terminal `name`; 404 when terminals are off, for a terminal of
        another user, and for one that does not exist (never told apart)."""
        principal = require_principal()
        if not terminals_enabled(self._manager()):
            raise web.HTTPError(404, OFF)
        if name not in self.terminals or self.owners.get(name) != principal.login:
            raise web.HTTPError(404, f"Terminal not found: {name}")
        try:  # rights withdrawn since it opened close the door, as to one's own kernel
            rights.require_code_right(principal, self.identities[name])
        except LabkeeperError as exc:
            raise calls.http_error(exc) from None
        return self.terminals[name]

    def list(self) -> list[dict[str, Any]]:
        principal = require_principal()
        if not terminals_enabled(self._manager()):
            raise web.HTTPError(404, OFF)
        return [
            self.get_terminal_model(name)
            for name in list(self.terminals)
            if self.owners.get(name) == principal.login
        ]

    def get(self, name: str) -> dict[str, Any]:
        self.require_own(name)
        return self.get_terminal_model(name)

    def get_terminal(self, term_name: str) -> PtyWithClients:  # type: ignore[override]
        """For the websocket: the user's own terminal, never a new one (Jupyter's creates any
        name it is given)."""
        return self.require_own(term_name)

    # -- opening and closing -------------------------------------------------------------------
    def _admit(self, principal: Principal) -> tuple[UnixIdentity, list[str], str]:
        """The account a terminal of `principal` runs as, its shell and its home (blocking: store
        reads, impersonation rules, folders)."""
        manager = self._manager()
        if not terminals_enabled(manager):
            raise web.HTTPError(404, OFF)
        assert principal.login is not None
        rights.require_may_run(principal)
        ident = kernel_identity(
            get_general_settings(manager.store)["impersonation"],
            login=principal.login,
            groups=groups_of(manager.store, principal.login),
            project_key=None,
        )
        rights.require_code_right(principal, ident)
        argv = shell_argv(ident)
        if ident.impersonated:
            manager.tree.seal(shared=manager.tree.shared_roots(manager.specs.interpreters()))
        home = manager.tree.home(ident)
        denied = first_denied(home, ident, _RWX)
        if denied:
            raise Conflict(f"UNIX user {ident.name} cannot reach its home {home}: {denied} is closed to it")
        return ident, argv, str(home)

    async def open_for(self, principal: Principal) -> dict[str, Any]:
        """Open a terminal for `principal` (audited either way)."""
        name = secrets.token_hex(8)
        ident, argv, home = await calls.change(
            self._manager().store,
            principal,
            "open terminal",
            f"terminal {name}",
            lambda: self._admit(principal),
        )
        term = PtyWithClients(argv, terminal_env(ident, home), home)
        term.term_name = name
        term.last_activity = utcnow()  # type: ignore[attr-defined]
        self.terminals[name] = term
        self.owners[name], self.identities[name] = principal.login or "", ident
        self.start_reading(term)
        self._initialize_culler()
        return self.get_terminal_model(name)

    def create(self, **kwargs: Any) -> dict[str, Any]:
        raise web.HTTPError(405, "Terminals are opened with POST /api/terminals")

    async def terminate(self, name: str, force: bool = False) -> None:
        principal = current_principal()
        if principal is not None:  # a request: only one's own; labkeeper itself stops any
            self.require_own(name)
        self._check_terminal(name)
        await super().terminate(name, force=force)
        self._forget(name)
        if principal is not None:
            await asyncio.to_thread(
                calls.audit, self._manager().store, principal, "close terminal", f"terminal {name}", "success"
            )

    async def close_user(self, login: str) -> list[str]:
        """Close every terminal of `login`, a user disabled or deleted (auth/retirement.py)."""
        names = [name for name, owner in list(self.owners.items()) if owner == login]
        for name in names:
            if name in self.terminals:
                await TerminalManager.terminate(self, name, force=True)
            self._forget(name)
        return [f"terminal {name}" for name in names]

    def _forget(self, name: str) -> None:
        self.terminals.pop(name, None)  # gone now, not once the loop reads the end of its pty
        self.owners.pop(name, None)
        self.identities.pop(name, None)

    def on_eof(self, ptywclients: PtyWithClients) -> None:
        super().on_eof(ptywclients)
        self._forget(ptywclients.term_name or "")


class _ServerLogged:
    """Jupyter's terminal handlers log through their extension app, which is not loaded here
    (labkeeper serves terminals itself): they log through the server's log instead."""

    settings: dict[str, Any]

    @property
    def log(self) -> logging.Logger:
        return self.settings["serverapp"].log


class LabTerminalRootHandler(_ServerLogged, TerminalRootHandler):
    """POST opens a terminal for the caller; its body is ignored (the caller chooses nothing)."""

    @web.authenticated
    @authorized
    async def post(self) -> None:  # type: ignore[override]
        model = await self.terminal_manager.open_for(require_principal())  # type: ignore[attr-defined]
        self.finish(json.dumps(model))


class LabTermSocket(_ServerLogged, JsonErrors, TermSocket):
    """The terminal websocket, refused before the upgrade unless the terminal is the caller's."""

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if self.current_user:  # else Jupyter refuses with its 403
            self.term_manager.require_own(args[0])  # type: ignore[attr-defined]
        await super().get(*args, **kwargs)


class LabTerminalHandler(_ServerLogged, TerminalHandler):
    """GET and DELETE of one terminal, as Jupyter's (the manager decides whose it is)."""


def install(web_app: web.Application, base_url: str, manager: LabTerminalManager) -> None:
    """Serve terminals through `manager`, and tell Lab's pages whether they are on."""
    web_app.settings["terminal_manager"] = manager
    web_app.settings["page_config_hook"] = lambda _handler, page: {
        **page,
        "terminalsAvailable": terminals_enabled(manager._manager()),
    }
    named = {"name": "jupyter_server_terminals"}
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base_url, r"/api/terminals"), LabTerminalRootHandler, named),
            (url_path_join(base_url, r"/api/terminals/(\w+)"), LabTerminalHandler, named),
            (
                url_path_join(base_url, r"/terminals/websocket/(\w+)"),
                LabTermSocket,
                {**named, "term_manager": manager},
            ),
        ],
    )
