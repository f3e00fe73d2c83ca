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
    _gone, alive = psutil.wait_procs(procs, timeout=max(0.0, deadline - time.monotonic()))
    for proc in alive:  # e.g. zombies of a parent that is gone: nothing more to do
        _ = proc


def identity(pid: int) -> list[float]:
    """[pid, create_time] as recorded in a task row."""
    try:
        return [pid, psutil.Process(pid).create_time()]
    except psutil.NoSuchProcess:
        return [pid, 0.0]
