"""Build slots: how many builds run at once on the machine, and as which account.

A build that runs processes holds one slot for its whole run: slot n is the exclusive
`flock` of `<slots folder>/<n>.lock`, n in 1..`codeEnvs.maxConcurrentBuilds`. A lock is an
open file of the process that took it, so it is taken across threads, server workers and
labkeeper instances alike, and the kernel releases it when its holder dies. When labkeeper
runs as root, the slot folder is `/run/labkeeper/build-slots` (one per machine, as the
accounts are) and the build runs as the slot's own system account `labkeeper-build-<n>`
(created on first use): two builds that run at the same time never share an account.
Otherwise it is `<data dir>/run/build-slots` and builds run as the server's account.

Nothing of a build outlives it (as root): before the slot is released, and before the env
and the uv cache are handed back to the server (an open file would outlive the chown),
every process of the slot's account is killed and what it owns in /tmp and the other
shared places is removed (isolation/leftovers.py). The same is done when a slot is taken
and, at start, for every slot no live build holds (what a dead server left).

A build that finds every slot taken waits, abortable, showing "Waiting for a build slot";
it looks again when a build of this process ends and every 0.1 s (builds of other
processes), and reads the limit again every second.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from labkeeper.isolation.accounts import build_slot_account, can_switch_accounts, existing_build_slots
from labkeeper.isolation.identity import UnixIdentity, server_identity
from labkeeper.isolation.leftovers import clear_account
from labkeeper.processes import ProcessSurvived

log = logging.getLogger("labkeeper.codeenvs")
MACHINE_SLOTS = Path("/run/labkeeper/build-slots")
_ENDED = threading.Condition()  # notified when a build of this process releases its slot


@dataclass
class Slot:
    number: int
    identity: UnixIdentity
    fd: int


def slots_folder(data_dir: Path) -> Path:
    return MACHINE_SLOTS if can_switch_accounts() else Path(data_dir) / "run" / "build-slots"


@contextmanager
def hold_slot(
    data_dir: Path, *, limit: Callable[[], int], on_wait: Callable[[], None], check_abort: Callable[[], None]
) -> Iterator[Slot]:
    """A free slot, cleared, for the duration of the block; waits for one while all are
    taken. The caller clears the account (`clear`) before the block ends: what it hands back
    to the server must be out of reach of the build's processes first."""
    slot = _claim(data_dir, limit, on_wait, check_abort)
    try:
        yield slot
    finally:
        os.close(slot.fd)  # releases the lock
        with _ENDED:
            _ENDED.notify_all()


def clear(slot: Slot) -> None:
    """Kill every process of the slot's account, remove its files in the shared places."""
    if can_switch_accounts():
        clear_account(slot.identity)


def clear_idle_slots(data_dir: Path) -> int:
    """At start: clear every slot account no live build holds. Returns how many."""
    if not can_switch_accounts():
        return 0
    cleared = 0
    for number, ident in sorted(existing_build_slots().items()):
        fd = _try_lock(slots_folder(data_dir), number)
        if fd is None:
            continue  # a build of a live server process holds it: its own end clears it
        try:
            clear_account(ident)
            cleared += 1
        except ProcessSurvived as exc:
            log.error("build slot %d: %s", number, exc)
        finally:
            os.close(fd)
    return cleared


def _claim(
    data_dir: Path, limit: Callable[[], int], on_wait: Callable[[], None], check_abort: Callable[[], None]
) -> Slot:
    folder = slots_folder(data_dir)
    current, checked = limit(), time.monotonic()
    while True:
        for number in range(1, max(current, 1) + 1):
            fd = _try_lock(folder, number)
            if fd is None:
                continue
            try:
                ident = build_slot_account(number) if can_switch_accounts() else server_identity()
                slot = Slot(number, ident, fd)
                clear(slot)  # a server that died during a build may have left some
                return slot
            except ProcessSurvived as exc:
                log.error("build slot %d is unusable: %s", number, exc)
                os.close(fd)
            except BaseException:
                os.close(fd)
                raise
        on_wait()
        check_abort()
        with _ENDED:
            _ENDED.wait(0.1)
        if time.monotonic() - checked > 1.0:  # the setting may change while we wait
            current, checked = limit(), time.monotonic()


def _try_lock(folder: Path, number: int) -> int | None:
    folder.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
    folder.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(folder / f"{number}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
