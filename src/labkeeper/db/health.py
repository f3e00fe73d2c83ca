"""Whether the store can be reached, as this process last saw it.

An unreachable store (PostgreSQL refusing connections, the SQLite file removed or replaced)
is a state of the instance, not an error of the request: every API request is answered 503
with `Retry-After` while it lasts, and the log says once that the store went down and once
that it came back. The state moves on what requests see: the first request whose store read
fails marks it down, the first whose per-request read succeeds marks it up again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from labkeeper.errors import LabkeeperError

log = logging.getLogger("labkeeper.store")

RETRY_AFTER_S = 5
# sqlite3.OperationalError messages that mean the file cannot be used (not contention).
_SQLITE_UNREACHABLE = ("unable to open database", "disk i/o error", "no such table", "readonly database")


class StoreUnavailable(LabkeeperError):
    status = 503
    error_type = "ServiceUnavailable"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            "The store is unavailable: retry in a few seconds",
            detail=f"labkeeper cannot reach its database ({reason}); requests are refused until it is back",
        )


def is_unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the store cannot be reached (rather than a bug or a bad request)."""
    import psycopg
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, StoreUnavailable):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
    if isinstance(exc, psycopg.OperationalError):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return any(part in text for part in _SQLITE_UNREACHABLE)
    return False


def describe(exc: BaseException) -> str:
    """One line about what failed, without the driver's multi-line detail."""
    if isinstance(exc, StoreUnavailable):
        return exc.reason
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


class StoreHealth:
    """Up or down, with one log line per change (see the module docstring)."""

    def __init__(self) -> None:
        self.up = True
        self.errors = 0  # store errors seen by this process
        self.down_since = 0.0
        self._lock = threading.Lock()
        self.on_change: list = []  # callables (up: bool) -> None, e.g. the metrics gauge

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self.errors += 1
            changed, self.up = self.up, False
            if changed:
                self.down_since = time.monotonic()
        if changed:
            log.error("store is down: %s; API requests are answered 503 until it is back", describe(exc))
            for callback in self.on_change:
                callback(False)

    def succeeded(self) -> None:
        if self.up:  # the per-request cost: one attribute read
            return
        with self._lock:
            changed, self.up = not self.up, True
            down_for = time.monotonic() - self.down_since
        if changed:
            log.warning("store is back after %.1f s; serving again", down_for)
            for callback in self.on_change:
                callback(True)
