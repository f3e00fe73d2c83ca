"""Unload every notebook session of a user who was disabled or deleted (auth/retirement.py)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from sqlalchemy import select

from labkeeper.auth.retirement import register_stopper, unregister_stopper, wait_on_loop
from labkeeper.errors import NotFound
from labkeeper.notebooks.jupyter.models import JupyterSession

if TYPE_CHECKING:
    from labkeeper.notebooks.jupyter.sessions import SessionManager

STOPPER = "kernels"
UNLOAD_TIMEOUT = 60.0


async def unload_sessions_of(manager: SessionManager, login: str, *, reason: str, by: str) -> list[str]:
    """Unload every session `login` created, on any worker (see SessionManager.unload); their ids."""
    with manager.store.read() as s:
        session_ids = list(s.scalars(select(JupyterSession.id).where(JupyterSession.creator == login)))
    for session_id in session_ids:
        with contextlib.suppress(NotFound):  # ended meanwhile
            await manager.unload(session_id, reason=reason, by=by)
    return session_ids


def install(manager: SessionManager) -> None:
    def stop(login: str, reason: str, by: str) -> list[str]:
        assert manager._loop is not None
        coroutine = unload_sessions_of(manager, login, reason=reason, by=by)
        return wait_on_loop(manager._loop, coroutine, UNLOAD_TIMEOUT) or []

    register_stopper(manager.store, STOPPER, stop)


def uninstall(manager: SessionManager) -> None:
    unregister_stopper(manager.store, STOPPER)
