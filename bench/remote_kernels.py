"""Kernels on worker nodes: start-to-idle and unload-to-gone of a notebook session started on
this node (an `api+worker` node) vs placed on a worker node by an API node without a worker,
in the same run, on one PostgreSQL server.

    .venv/bin/python bench/remote_kernels.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

The URL names a server and a database to connect to first; the bench creates a database of
its own for each setup and drops it at the end. Both setups run in this process (two apps
for the remote one, each with its own data directory): the remote start adds the
reservation, the procrastinate job on the worker's queue and the API node's polling of the
session's row; the remote unload adds the stop job. Starts and unloads alternate, one at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scaleout import KEY, SECRET, make_database  # noqa: E402

from labkeeper.config import Config  # noqa: E402
from labkeeper.server.app import create_app  # noqa: E402

API = "/dip/publicapi"
NB = f"{API}/projects/BENCH/jupyter-notebooks/nb"
NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "cells": [],
}


@contextlib.contextmanager
def app(config: Config) -> Iterator[TestClient]:
    with TestClient(create_app(config), headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client


def rounds(client: TestClient, count: int) -> tuple[list[float], list[float]]:
    assert client.post(f"{API}/projects/", json={"projectKey": "BENCH", "name": "B"}).status_code == 200
    assert client.post(NB, json=NOTEBOOK).status_code == 200
    starts, unloads = [], []
    for _ in range(count):
        began = time.perf_counter()
        answer = client.post(f"{NB}/sessions")
        starts.append(time.perf_counter() - began)
        assert answer.status_code == 200, answer.text
        pid = answer.json()["kernelPid"]
        began = time.perf_counter()
        assert client.delete(f"{NB}/sessions/{answer.json()['sessionId']}").status_code == 200
        while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.005)
        unloads.append(time.perf_counter() - began)
    return starts, unloads


def main() -> int:
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--count", type=int, default=10, help="sessions started and unloaded per setup")
    parser.add_argument("--kernel-python", help="interpreter of the built-in kernel (default: labkeeper's)")
    args = parser.parse_args()
    os.environ["LABKEEPER_SECRET_KEY"] = SECRET
    tmp = Path(tempfile.mkdtemp(prefix="lk-bench-kernels-"))
    os.chmod(tmp, 0o755)
    results = {}
    for setup in ("local", "remote"):
        url, admin, name = make_database(args.database_url)
        base = Config(
            data_dir=tmp / setup / "a",
            database_url=url,
            bootstrap_admin_key=KEY,
            kernel_python=args.kernel_python,
            node_name="bench-a",
        )
        try:
            if setup == "local":
                with app(base) as client:
                    results[setup] = rounds(client, args.count)
            else:
                api = dataclasses.replace(base, embedded_worker=False)
                worker = dataclasses.replace(
                    base, data_dir=tmp / setup / "b", node_name="bench-b", serves_api=False
                )
                with app(api) as client, app(worker):
                    results[setup] = rounds(client, args.count)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    print(f"notebook sessions, {args.count} each, seconds (median / max)")
    print(f"    {'setup':<34} {'start-to-idle':>16} {'unload-to-gone':>16}")
    labels = {"local": "this node (api+worker)", "remote": "worker node, asked by an API node"}
    for setup, (starts, unloads) in results.items():
        print(
            f"    {labels[setup]:<34} {statistics.median(starts):7.3f} / {max(starts):6.3f} "
            f"{statistics.median(unloads):7.3f} / {max(unloads):6.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
