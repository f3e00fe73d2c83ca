"""The one way labkeeper stops what it started: a process, its descendants and its session.

Tasks and kernels are started in a session of their own (`start_new_session`), so their
session id is their pid and every process they start keeps it unless it calls setsid
itself. Descendants are found through the live process tree; orphans, whose parent is
already gone, are still found through the session id. A recorded start time guards against
a recycled pid: a different process that now holds the pid is left alone.
"""

from __future__ import annotations

import os
import signal
import time

import psutil

_SAME_START = 0.01  # seconds: create times are recorded with this precision


def identity(pid: int) -> list[float]:
    """[pid, create time], as recorded to find the process again later."""
    try:
        return [pid, psutil.Process(pid).create_time()]
    except psutil.NoSuchProcess:
        return [pid, 0.0]


def stop_tree(pid: int, *, started_at: float | None = None, timeout: float = 0.5) -> int:
    """SIGKILL the process `pid` (if it is the one started at `started_at`), its descendants
    and the other members of its session; wait until they are gone. Returns how many."""
    targets = _targets(pid, started_at)
    if targets is None:
        return 0  # the pid was recycled: nothing of ours to stop
    try:
        os.killpg(pid, signal.SIGKILL)  # its own process group, when it leads one
    except (ProcessLookupError, PermissionError):
        pass
    for proc in targets:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    deadline = time.monotonic() + timeout
    alive = targets
    while alive and time.monotonic() < deadline:
        _gone, alive = psutil.wait_procs(alive, timeout=0.02)  # reaps our own children
        # A killed orphan stays a zombie until PID 1 reaps it, which some inits never do
        # promptly: it runs nothing any more, so it counts as gone.
        alive = [proc for proc in alive if not _is_zombie(proc)]
    return len(targets)


def _targets(pid: int, started_at: float | None) -> list[psutil.Process] | None:
    found: dict[int, psutil.Process] = {}
    try:
        root = psutil.Process(pid)
        if started_at and abs(root.create_time() - started_at) > _SAME_START:
            return None
        found[root.pid] = root
        found.update((child.pid, child) for child in root.children(recursive=True))
    except psutil.NoSuchProcess:
        pass
    for proc in psutil.process_iter(["create_time"]):
        try:
            if os.getsid(proc.pid) != pid:
                continue
        except (ProcessLookupError, PermissionError):
            continue
        if not started_at or (proc.info.get("create_time") or 0) + _SAME_START >= started_at:
            found.setdefault(proc.pid, proc)
    return list(found.values())


def _is_zombie(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
