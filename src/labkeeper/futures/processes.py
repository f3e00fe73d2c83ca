"""Starting processes in their own session and stopping whole process trees."""

from __future__ import annotations

import os
import signal
import time

import psutil


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def kill_tree(pid: int, *, create_time: float | None = None, timeout: float = 0.5) -> None:
    """SIGKILL a process, its process group and every descendant; wait until they are gone.

    `create_time` guards against a recycled pid: a different process with the same pid is
    left alone.
    """
    procs = process_tree(pid)
    if not procs:
        return
    if create_time is not None and abs(procs[0].create_time() - create_time) > 0.01:
        return
    try:
        os.killpg(pid, signal.SIGKILL)  # the tree's own session/group, when it has one
    except (ProcessLookupError, PermissionError):
        pass
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    deadline = time.monotonic() + timeout
    alive = procs
    while alive and time.monotonic() < deadline:
        _gone, alive = psutil.wait_procs(alive, timeout=0.02)  # reaps our own children
        # A killed orphan stays a zombie until PID 1 reaps it, which some inits never do
        # promptly: it runs nothing any more, so it counts as gone.
        alive = [proc for proc in alive if not _is_zombie(proc)]


def _is_zombie(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def identity(pid: int) -> list[float]:
    """[pid, create_time] as recorded in a task row."""
    try:
        return [pid, psutil.Process(pid).create_time()]
    except psutil.NoSuchProcess:
        return [pid, 0.0]
