"""Several machines: (a) submit-to-start latency of a trivial task, procrastinate vs the
in-process runner, in the same run; (b) 20 tasks that each wait on I/O for 2 s, on one
worker node vs two; (c) a worker node killed while it runs a task: how long until the task
is recorded failed, against the bound the heartbeat settings give.

    .venv/bin/python bench/scaleout.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

The URL names a server and a database to connect to first; the bench creates a database of
its own there and drops it at the end. (a) runs both runners inside this process (the
in-process one on SQLite, procrastinate on PostgreSQL with its embedded worker): latency is
from just before `submit()` to the first line of the operation. (b) starts an API node here
(`--no-worker`) and one or two `labkeeper worker` processes, each with its own data
directory and `--task-slots` slots (default 10), and times 20 tasks from submission to the
last end. (c) starts two worker nodes, gives one a task that waits 10 minutes, kills that
node with SIGKILL, and times until the task reads FAILED (the reaper on the other node) and
until a task submitted right after the kill has ended (on the survivor).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _scaleout_ops  # noqa: E402,F401  (registers the bench operations)

from labkeeper.config import Config  # noqa: E402
from labkeeper.futures.models import Task  # noqa: E402
from labkeeper.futures.queued import HEARTBEAT_SECONDS, REAP_CRON, STALLED_AFTER_SECONDS  # noqa: E402
from labkeeper.futures.runner import Submission  # noqa: E402
from labkeeper.server.app import create_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEY = "lk_benchmark_admin_key_000000000001"
SECRET = "bench-instance-secret-0123456789-0123456789"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_done(store, task_ids: list[str], timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.read() as s:
            states = list(s.scalars(sa.select(Task.state).where(Task.id.in_(task_ids))))
        if len(states) == len(task_ids) and all(state != "RUNNING" for state in states):
            return
        time.sleep(0.01)
    raise TimeoutError("tasks did not end")


def latencies(config: Config, count: int) -> list[float]:
    app = create_app(config)
    with TestClient(app):
        runner, store = app.state.runner, app.state.store
        for _ in range(5):  # warm-up
            wait_done(store, [runner.submit(Submission(kind="bench.mark", args={}, owner="admin"))])
        found = []
        for _ in range(count):
            before = time.time()
            task_id = runner.submit(Submission(kind="bench.mark", args={}, owner="admin"))
            wait_done(store, [task_id])
            with store.read() as s:
                result = s.get(Task, task_id).result
            found.append((result["startedAt"] - before) * 1000)
        return found


def start_worker(url: str, name: str, slots: int, base: Path) -> subprocess.Popen:
    env = {**os.environ, "LABKEEPER_SECRET_KEY": SECRET, "LABKEEPER_BOOTSTRAP_ADMIN_KEY": KEY}
    return subprocess.Popen(
        [
            sys.executable, "-m", "labkeeper.cli.main", "worker", "--database-url", url,
            "--data-dir", str(base / name), "--node-name", name, "--task-slots", str(slots),
            "--import", "bench._scaleout_ops",
        ],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def wait_nodes(store, names: set[str], timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    from labkeeper.nodes.service import list_nodes

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if names <= {n["name"] for n in list_nodes(store) if n["alive"] and n["role"] == "worker"}:
            time.sleep(1.0)  # their procrastinate workers listen once the lifespan has started
            return
        time.sleep(0.1)
    raise TimeoutError(f"worker nodes {names} did not start")


@contextmanager
def cluster(config: Config, url: str, names: list[str], slots: int) -> Iterator[tuple[Any, dict]]:
    """An API node here (no worker) and a `labkeeper worker` process per name, all started
    and listed alive; yields the API app and {name: process}. Stops and removes them after."""
    base = Path(tempfile.mkdtemp(prefix="lk-bench-scaleout-"))
    api_config = dataclasses.replace(
        config, data_dir=base / "api", node_name="bench-api", embedded_worker=False
    )
    procs = {name: start_worker(url, name, slots, base) for name in names}
    try:
        app = create_app(api_config)
        with TestClient(app):
            wait_nodes(app.state.store, set(names))
            yield app, procs
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


def io_round(config: Config, url: str, workers: int, slots: int, tasks: int, seconds: float) -> float:
    names = [f"bench-worker-{i}" for i in range(1, workers + 1)]
    with cluster(config, url, names, slots) as (app, _procs):
        started = time.monotonic()
        wait = Submission(kind="bench.io-wait", args={"seconds": seconds}, owner="admin")
        # Submitted at once, as concurrent requests to the API would.
        with ThreadPoolExecutor(tasks) as pool:
            ids = list(pool.map(lambda _: app.state.runner.submit(wait), range(tasks)))
        wait_done(app.state.store, ids)
        elapsed = time.monotonic() - started
        with app.state.store.read() as s:
            ran = sorted(s.scalars(sa.select(Task.node).where(Task.id.in_(ids))))
        counts = ", ".join(f"{name} {ran.count(name)}" for name in sorted(set(ran)))
        print(f"    ({workers} node(s): tasks per node: {counts})")
        return elapsed


# A node is stalled once its last heartbeat is older than STALLED_AFTER_SECONDS; its beat
# may be up to HEARTBEAT_SECONDS old when it dies, and the reaper runs every 3 s (REAP_CRON).
REAP_EVERY_SECONDS = float(REAP_CRON.rsplit("*/", 1)[1])
FAIL_BOUND_SECONDS = STALLED_AFTER_SECONDS + HEARTBEAT_SECONDS + REAP_EVERY_SECONDS


def failover(config: Config, url: str, slots: int) -> tuple[float, float]:
    """(c): seconds from a worker's SIGKILL to its task's FAILED, and to the end of a task
    submitted right after the kill."""
    with cluster(config, url, ["bench-doomed-1", "bench-doomed-2"], slots) as (app, procs):
        store, runner = app.state.store, app.state.runner
        long = runner.submit(Submission(kind="bench.io-wait", args={"seconds": 600}, owner="admin"))
        node, deadline = None, time.monotonic() + 60
        while node is None:  # claimed by one of the two
            if time.monotonic() > deadline:
                raise TimeoutError("no worker node took the task")
            time.sleep(0.01)
            with store.read() as s:
                node = s.get(Task, long).node or None
        procs[node].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        short = runner.submit(Submission(kind="bench.io-wait", args={"seconds": 0}, owner="admin"))
        wait_done(store, [short])
        rerouted = time.monotonic() - killed
        wait_done(store, [long])
        failed = time.monotonic() - killed
        with store.read() as s:
            task = s.get(Task, long)
            assert task.state == "FAILED", (task.state, task.error)
            assert s.get(Task, short).node not in (None, node), "the short task ran on the killed node"
        return failed, rerouted


def make_database(url: str) -> tuple[str, sa.Engine, str]:
    base = sa.engine.make_url(url)
    name = f"lk_bench_{os.getpid()}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return base.set(database=name).render_as_string(hide_password=False), admin, name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--count", type=int, default=200, help="(a): tasks per runner")
    parser.add_argument("--tasks", type=int, default=20, help="(b): tasks per round")
    parser.add_argument("--seconds", type=float, default=2.0, help="(b): each task's I/O wait")
    parser.add_argument("--task-slots", type=int, default=10, help="(b): slots of each worker node")
    args = parser.parse_args()
    url, admin, name = make_database(args.database_url)
    tmp = Path(tempfile.mkdtemp(prefix="lk-bench-scaleout-"))
    os.environ["LABKEEPER_SECRET_KEY"] = SECRET
    try:
        sqlite = Config(data_dir=tmp / "sqlite", bootstrap_admin_key=KEY)
        pg = Config(data_dir=tmp / "pg", database_url=url, bootstrap_admin_key=KEY, node_name="bench-a")
        local = latencies(sqlite, args.count)
        queued = latencies(pg, args.count)
        print(f"(a) submit-to-start of a trivial task, {args.count} tasks each, ms")
        print(f"    {'runner':<14} {'p50':>8} {'p95':>8} {'mean':>8}")
        for label, values in (("in-process", local), ("procrastinate", queued)):
            print(
                f"    {label:<14} {percentile(values, 0.5):8.2f} {percentile(values, 0.95):8.2f} "
                f"{statistics.fmean(values):8.2f}"
            )
        ratio = percentile(queued, 0.5) / percentile(local, 0.5)
        print(f"    ratio procrastinate/in-process (p50): {ratio:.1f}x")
        one = io_round(pg, url, 1, args.task_slots, args.tasks, args.seconds)
        two = io_round(pg, url, 2, args.task_slots, args.tasks, args.seconds)
        print(
            f"(b) {args.tasks} tasks waiting {args.seconds:g} s each, worker nodes of "
            f"{args.task_slots} task slots"
        )
        print(f"    one worker node: {one:6.2f} s")
        print(f"    two worker nodes: {two:6.2f} s")
        print(f"    speed-up: {one / two:.2f}x")
        failed, rerouted = failover(pg, url, args.task_slots)
        print("(c) a worker node killed (SIGKILL) while it runs a task")
        print(f"    its task recorded FAILED after {failed:6.2f} s (bound {FAIL_BOUND_SECONDS:g} s: ", end="")
        print(f"{failed / FAIL_BOUND_SECONDS:.2f}x)")
        print(f"    a task submitted right after the kill ended after {rerouted:6.2f} s (on the other node)")
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
