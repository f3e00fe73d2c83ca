"""Stopping everything a kernel started, even after the kernel itself is gone.

Kernels are launched in a session of their own (setsid), so their session id is their pid
and every process they start keeps it unless it calls setsid itself. Processes survive
their parent's death, when `psutil.children` can no longer find them; the session id
still does.
"""

from __future__ import annotations

import os
import signal

import psutil


def session_members(sid: int, *, not_before: float = 0.0) -> list[psutil.Process]:
    """Processes in session `sid` created at or after `not_before` (guards against pid reuse)."""
    members = []
    for proc in psutil.process_iter(["pid", "create_time"]):
        try:
            if os.getsid(proc.pid) != sid:
                continue
        except (ProcessLookupError, PermissionError):
            continue
        if (proc.info.get("create_time") or 0) + 0.01 >= not_before:
            members.append(proc)
    return members


def kill_session(sid: int, *, not_before: float = 0.0, timeout: float = 1.0) -> int:
    """SIGKILL every process of session `sid`; wait until they are gone. Returns how many."""
    members = session_members(sid, not_before=not_before)
    for proc in members:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(members, timeout=timeout)
    return len(members)


def usage(pid: int, *, create_time: float | None = None) -> tuple[int, float] | None:
    """(resident memory in bytes, CPU seconds) of a process and its descendants, or None."""
    try:
        root = psutil.Process(pid)
        if create_time is not None and abs(root.create_time() - create_time) > 0.01:
            return None
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return None
    rss, cpu = 0, 0.0
    for proc in procs:
        try:
            with proc.oneshot():
                rss += proc.memory_info().rss
                times = proc.cpu_times()
                cpu += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return rss, cpu
