"""What a kernel costs: resident memory and CPU time of a process and its descendants."""

from __future__ import annotations

import psutil


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
