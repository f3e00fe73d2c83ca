"""Unload every notebook session of a user who was disabled or deleted (auth/retirement.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labkeeper.auth.retirement import register_stopper, unregister_stopper, wait_on_loop

if TYPE_CHECKING:
    from labkeeper.notebooks.jupyter.sessions import SessionManager

STOPPER = "kernels"
UNLOAD_TIMEOUT = 60.0


def install(manager: SessionManager) -> None:
    def stop(login: str, reason: str, by: str) -> list[str]:
        assert manager._loop is not None
        coroutine = manager.unload_user(login, reason=reason, by=by)
        return wait_on_loop(manager._loop, coroutine, UNLOAD_TIMEOUT) or []

    register_stopper(manager.store, STOPPER, stop)


def uninstall(manager: SessionManager) -> None:
    unregister_stopper(manager.store, STOPPER)
