"""SQLite: labkeeper's writers queue on a flock of `<database>-writer`, taken just before
`BEGIN IMMEDIATE` and given back as soon as the transaction ends (db/writer_lock.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from sqlalchemy import text

from labkeeper.db import Store
from tests.conftest import Instance

INSERT = (
    'INSERT INTO audit_events (time, "user", api_key_id, action, target, outcome, details, request_id)'
    " VALUES (0, '', '', 'writer-lock', '', 'ok', '{}', '')"
)


def _sqlite_store(instance: Instance) -> Store:
    if not instance.store.is_sqlite:
        pytest.skip("the writer lock is SQLite's: PostgreSQL has row locks")
    return instance.store


def _lock_path(store: Store) -> str:
    url = store.engine.url.database or ""
    return url.removeprefix("file:") + "-writer"


def _held_elsewhere(path: str) -> bool:
    """Whether another process can take the lock right now (a process of its own: a flock
    taken here would belong to a descriptor of this process)."""
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
        "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(3)\n"
    )
    return subprocess.run([sys.executable, "-c", probe, path], check=False).returncode == 3


def test_a_write_transaction_holds_the_lock_until_it_commits(instance: Instance) -> None:
    store = _sqlite_store(instance)
    path = _lock_path(store)
    with store.begin() as session:
        session.execute(text(INSERT))
        assert _held_elsewhere(path)
    assert not _held_elsewhere(path)
    with store.read() as session:  # readers never take it
        session.execute(text("SELECT count(*) FROM audit_events")).scalar()
        assert not _held_elsewhere(path)


def test_a_failed_or_abandoned_transaction_gives_it_back(instance: Instance) -> None:
    store = _sqlite_store(instance)
    path = _lock_path(store)
    with pytest.raises(RuntimeError), store.begin() as session:
        session.execute(text(INSERT))
        raise RuntimeError("the handler failed")
    assert not _held_elsewhere(path)
    session = store._sessions()
    session.begin()
    session.execute(text(INSERT))
    assert _held_elsewhere(path)
    session.close()  # never committed: rolled back on close
    assert not _held_elsewhere(path)
    connection = store.engine.connect()
    connection.begin()
    assert _held_elsewhere(path)
    connection.invalidate()  # a connection thrown away mid-transaction
    connection.close()
    assert not _held_elsewhere(path)


def test_a_writer_in_another_process_waits_then_writes(instance: Instance, tmp_path: os.PathLike) -> None:
    store = _sqlite_store(instance)
    url = store.url
    other = (
        "import sys\n"
        "from sqlalchemy import text\n"
        "from labkeeper.db import Store\n"
        "store = Store(sys.argv[1])\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "with store.begin() as session:\n"
        f"    session.execute(text({INSERT!r}))\n"
        "print('written', flush=True)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", other, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        assert process.stdout.readline().strip() == "ready"
        with store.begin() as session:
            session.execute(text(INSERT))
            process.stdin.write("go\n")
            process.stdin.flush()
            # It cannot write while this transaction is open: it waits on the lock.
            with pytest.raises(subprocess.TimeoutExpired):
                process.wait(timeout=0.5)
        assert process.stdout.readline().strip() == "written"
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
    with store.read() as session:
        written = session.execute(text("SELECT count(*) FROM audit_events WHERE action = 'writer-lock'"))
        assert written.scalar() == 2


def test_threads_of_one_process_exclude_each_other(instance: Instance) -> None:
    """The flock belongs to each thread's own descriptor, so threads wait for each other."""
    store = _sqlite_store(instance)
    entered = threading.Event()
    release = threading.Event()

    def first() -> None:
        with store.begin() as session:
            session.execute(text(INSERT))
            entered.set()
            release.wait(30)

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(30)
    done = threading.Event()

    def second() -> None:
        with store.begin() as session:
            session.execute(text(INSERT))
        done.set()

    other = threading.Thread(target=second)
    other.start()
    assert not done.wait(0.3)  # waiting for the first thread's transaction
    release.set()
    thread.join(30)
    other.join(30)
    assert done.is_set()
