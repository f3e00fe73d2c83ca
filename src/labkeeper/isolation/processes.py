"""What a kernel costs: resident memory and CPU time of a process and its descendants."""

from __future__ import annotations

from collections import defaultdict

import psutil

ProcessTree = dict[int, list[int]]


def process_tree() -> ProcessTree:
    """{pid: its children's pids} of every process, read once: finding a process's
    descendants otherwise reads every process of the machine, once per process asked about
    (a listing of n kernels would read them n times)."""
    tree: ProcessTree = defaultdict(list)
    for proc in psutil.process_iter(["ppid"]):
        ppid = proc.info.get("ppid")
        if ppid is not None:
            tree[ppid].append(proc.pid)
    return tree


def _descendants(root: psutil.Process, tree: ProcessTree | None) -> list[psutil.Process]:
    if tree is None:
        return root.children(recursive=True)
    found, todo = [], list(tree.get(root.pid, ()))
    while todo:
        pid = todo.pop()
        try:
            found.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
        todo.extend(tree.get(pid, ()))
    return found


def usage(
    pid: int, *, create_time: float | None = None, tree: ProcessTree | None = None
) -> tuple[int, float] | None:
    """(resident memory in bytes, CPU seconds) of a process and its descendants, or None.
    `tree`: a `process_tree()` shared by the calls of one listing."""
    try:
        root = psutil.Process(pid)
        if create_time is not None and abs(root.create_time() - create_time) > 0.01:
            return None
        procs = [root, *_descendants(root, tree)]
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
