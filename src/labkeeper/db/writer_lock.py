"""SQLite: labkeeper's writers queue in the kernel, not in SQLite's busy handler.

SQLite allows one write transaction per database file. When a `BEGIN IMMEDIATE` finds the
lock taken, SQLite's busy handler sleeps and retries on a fixed schedule (1, 2, 5, 10, 15,
20, 25, 25, 25, 50, 50, 100 ms...), so the lock sits free for most of each sleep while a
newcomer that happens to arrive at the right moment takes it first. With two workers
writing, bench/mixed_load.py saw p99 in seconds while the database was mostly idle.

So each writer first takes an exclusive `flock` of `<database>-writer`, blocking: the kernel
wakes the waiters the moment the holder lets go, whichever process or thread they are in.
Each thread locks through a descriptor of its own (a flock belongs to an open file
description, so threads of one process exclude each other too). The lock is taken just
before `BEGIN IMMEDIATE` and given back right after the COMMIT or ROLLBACK (db/store.py), so
SQLite's own lock is free whenever this one is granted; a process that dies loses its flock
with its descriptors. Nothing else depends on it: writers that are not labkeeper (the
sqlite3 shell, another program), or two transactions of one thread, still meet SQLite's busy
handler and its timeout, as before.

A wait here lasts as long as the transactions ahead of it, which are labkeeper's own: short,
and each statement in them bounded by SQLite's busy timeout.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from dataclasses import dataclass


@dataclass
class _Descriptor:
    fd: int
    pid: int
    holders: int = 0  # transactions begun under this descriptor's lock and not yet ended


class WriterLock:
    def __init__(self, database_path: str) -> None:
        self.path = database_path + "-writer"
        self._local = threading.local()
        self._guard = threading.Lock()
        self._held: dict[int, _Descriptor] = {}  # id() of a DB-API connection -> its lock
        this = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (lock := this()) and lock._forget())

    def acquire_for(self, connection: object) -> None:
        """Wait for the lock for `connection`, about to begin a write transaction."""
        descriptor = self._descriptor()
        with self._guard:
            if descriptor.holders:  # this thread holds it already (see the module docstring)
                descriptor.holders += 1
                self._held[id(connection)] = descriptor
                return
        fcntl.flock(descriptor.fd, fcntl.LOCK_EX)
        with self._guard:
            descriptor.holders += 1
            self._held[id(connection)] = descriptor

    def release_for(self, connection: object) -> None:
        """Give the lock back if `connection` took it; from any thread (a connection may be
        rolled back where it is garbage-collected)."""
        with self._guard:
            descriptor = self._held.pop(id(connection), None)
            if descriptor is None:
                return
            descriptor.holders -= 1
            if descriptor.holders == 0 and descriptor.pid == os.getpid():
                fcntl.flock(descriptor.fd, fcntl.LOCK_UN)

    def _descriptor(self) -> _Descriptor:
        descriptor: _Descriptor | None = getattr(self._local, "descriptor", None)
        if descriptor is None or descriptor.pid != os.getpid():
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            descriptor = self._local.descriptor = _Descriptor(fd, os.getpid())
            weakref.finalize(threading.current_thread(), os.close, fd)
        return descriptor

    def _forget(self) -> None:
        # A forked child holds nothing, whatever its parent's threads held at the fork.
        self._guard = threading.Lock()
        self._held = {}
