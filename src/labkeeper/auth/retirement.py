"""What happens when a user is disabled or deleted: their work stops.

Their keys already fail from the next request on, on every worker: the key check (and the
X-DKU-ProxyUser check) reads users under the `identity` change stamp. What runs for them is
stopped here, after the change is committed, by the stoppers the components registered for
the store: the Jupyter component unloads every session of the user (a kernel another worker
on this machine runs is killed here and its row deleted, and that worker shuts its handle
down when it sees the row gone), the futures component aborts every running task the user
owns (one of another worker is stopped through the store, as any abort is). One audit event
lists what was stopped.

Stoppers are called from the thread of the service call (a worker thread: the routes that
disable or delete a user run their service off the event loop), and wait for their work.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from labkeeper.audit.service import record_event
from labkeeper.db import Store

log = logging.getLogger("labkeeper.auth")

T = TypeVar("T")
# (login, reason, by) -> what it stopped, as short descriptions
Stopper = Callable[[str, str, str], list[str]]

_STOPPERS: weakref.WeakKeyDictionary[Store, dict[str, Stopper]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def register_stopper(store: Store, name: str, stopper: Stopper) -> None:
    with _LOCK:
        _STOPPERS.setdefault(store, {})[name] = stopper


def unregister_stopper(store: Store, name: str) -> None:
    with _LOCK:
        _STOPPERS.get(store, {}).pop(name, None)


def user_retired(store: Store, login: str, *, reason: str, by: str) -> dict[str, list[str]]:
    """Stop everything running for `login` (call after the commit that disabled or deleted
    them); returns what each stopper stopped. A failing stopper is logged, never raised: the
    change is done, and the user's keys fail anyway."""
    with _LOCK:
        stoppers = dict(_STOPPERS.get(store, {}))
    stopped: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    for name, stopper in stoppers.items():
        try:
            stopped[name] = stopper(login, reason, by)
        except Exception as exc:  # noqa: BLE001 - reported in the audit event below
            log.exception("stopping the %s of user %s failed", name, login)
            errors[name] = f"{type(exc).__name__}: {exc}"
    record_event(
        store,
        user=by,
        action="user-work-stopped",
        target=login,
        outcome="success" if not errors else "error",
        details={"reason": reason, "stopped": stopped, "errors": errors},
    )
    return stopped


def wait_on_loop(
    loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T], timeout: float
) -> T | None:
    """Run `coroutine` on `loop` (a component's own) from a worker thread and wait for it; on
    that loop's own thread it can only be scheduled: None then."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        loop.create_task(coroutine)
        return None
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)
