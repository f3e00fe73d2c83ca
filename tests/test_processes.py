"""stop_tree: descendants, orphans left in the session, and recycled pids."""

from __future__ import annotations

import subprocess
import time

import psutil

from labkeeper.processes import identity, stop_tree
from tests.helpers import alive


def test_stops_descendants_and_orphans_of_the_session() -> None:
    # The shell starts a sleeper in the background and exits: the sleeper is an orphan
    # that no process tree leads to any more, but it is still in the session.
    leader = subprocess.Popen(
        ["/bin/sh", "-c", "sleep 60 & echo $!"], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    orphan = int(leader.stdout.readline())
    started = identity(leader.pid)[1]
    leader.wait()
    assert alive(orphan)
    assert stop_tree(leader.pid, started_at=started) >= 1
    assert not alive(orphan)


def test_a_recycled_pid_is_left_alone() -> None:
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        recorded_start = psutil.Process(other.pid).create_time() - 100  # an older process's
        assert stop_tree(other.pid, started_at=recorded_start) == 0
        time.sleep(0.05)
        assert alive(other.pid)
    finally:
        other.kill()
        other.wait()


def test_a_live_tree_is_gone_when_it_returns() -> None:
    shell = subprocess.Popen(["/bin/sh", "-c", "sleep 60 & sleep 60; wait"], start_new_session=True)
    deadline = time.monotonic() + 5
    while len(psutil.Process(shell.pid).children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    members = [shell.pid, *(c.pid for c in psutil.Process(shell.pid).children())]
    stop_tree(shell.pid, started_at=identity(shell.pid)[1])
    shell.wait(timeout=1)
    assert not any(alive(pid) for pid in members)
