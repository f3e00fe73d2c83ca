"""The one way labkeeper stops what it started: a process, its descendants and its session;
or, for an account that runs nothing else (a build slot's), every process of that account.

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


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (one of another account too)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


def account_pids(uid: int) -> set[int]:
    """The live processes with `uid` as their real, effective, saved or filesystem uid.

    Read from /proc/<pid>/status, not from the owner of /proc/<pid>: a process that makes
    itself non-dumpable shows its folder as root's."""
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", "rb") as status:
                text = status.read(2048)
        except OSError:  # gone meanwhile
            continue
        uids = state = b""
        for line in text.split(b"\n"):
            if line.startswith(b"State:"):
                state = line[6:].strip()[:1]
            elif line.startswith(b"Uid:"):
                uids = line[4:]
                break
        if state in (b"Z", b"X"):  # killed, waiting to be reaped: runs nothing any more
            continue
        if uid in {int(field) for field in uids.split()}:
            found.add(int(entry.name))
    return found


def stop_account(uid: int, gid: int, *, timeout: float = 5.0) -> int:
    """SIGKILL every process of the account `uid` until none is left; returns how many.

    Each round also kills from inside the account (`kill(-1)` as that uid): the kernel sends
    that signal to all of the account's processes at once, a process cannot fork while it
    runs, so a process that forks in a loop, which a scan-then-kill round always trails,
    cannot outrun it. Raises ProcessSurvived when some are still there after `timeout`."""
    if uid == 0 or uid == os.geteuid():
        raise ValueError(f"refusing to stop every process of uid {uid}: that is labkeeper's own or root's")
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        pids = account_pids(uid)
        if not pids:
            return len(killed)
        if time.monotonic() > deadline:
            raise ProcessSurvived(f"{len(pids)} processes of uid {uid} outlived SIGKILL for {timeout:.0f} s")
        _kill_all_as(uid, gid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        killed |= pids
        time.sleep(0.005)


class ProcessSurvived(RuntimeError):
    """An account still has processes after being stopped."""


def _kill_all_as(uid: int, gid: int) -> None:
    pid = os.fork()
    if pid == 0:  # the child runs only system calls, then leaves without cleanup
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)  # every process this uid may signal, but not itself
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
