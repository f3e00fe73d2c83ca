"""Jupyter notebooks: session start-to-idle against raw jupyter_client, and the documented
all-notebooks listing over 100 projects x 10 notebooks with 20 running sessions.

    .venv/bin/python bench/notebooks.py [--starts 10] [--projects 100] [--notebooks 10] [--sessions 20]

1. Start-to-idle: `POST .../sessions` on a real `labkeeper serve` answers once the kernel is
   ready and idle (kernel launched, kernel_info answered, IOPub watched, key, row, dirs);
   the baseline starts the same kernelspec (the built-in one: this venv's python with
   ipykernel) with jupyter_client's AsyncKernelManager and waits for `wait_for_ready`. Runs
   alternate, so both see the same machine state; medians are compared (target <= 1.3x).
2. Listing: the DSS documentation's example (every notebook of every project with
   "ACTIVE - n session(s)" / "INACTIVE") through the official client (target < 3 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import BENCH_KEY, LabkeeperServer  # noqa: E402

NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "cells": [
        {
            "id": "c0",
            "cell_type": "code",
            "metadata": {},
            "source": "1 + 1",
            "outputs": [],
            "execution_count": None,
        }
    ],
}


async def raw_start_to_idle() -> float:
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name="python3")
    km.kernel_spec_manager.ensure_native_kernel = True
    began = time.perf_counter()
    await km.start_kernel()
    client = km.client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    elapsed = time.perf_counter() - began
    client.stop_channels()
    await km.shutdown_kernel(now=True)
    return elapsed


def bench_starts(server: LabkeeperServer, starts: int) -> tuple[list[float], list[float]]:
    api = server.api
    assert api.post("/projects/", json={"projectKey": "BENCHSTART", "name": "start"}).status_code == 200
    assert api.post("/projects/BENCHSTART/jupyter-notebooks/nb", json=NOTEBOOK).status_code == 200
    ours, raw = [], []
    asyncio.run(raw_start_to_idle())  # warm the interpreter's files in the page cache
    for _ in range(starts):
        began = time.perf_counter()
        answer = api.post("/projects/BENCHSTART/jupyter-notebooks/nb/sessions")
        ours.append(time.perf_counter() - began)
        session = answer.json()
        assert session["kernelExecutionState"] == "idle", session
        api.delete(f"/projects/BENCHSTART/jupyter-notebooks/nb/sessions/{session['sessionId']}")
        raw.append(asyncio.run(raw_start_to_idle()))
    return ours, raw


DOC_EXAMPLE = """
def get_instance_notebooks(client):
    all_notebooks = dict()
    for p in client.list_projects():
        p_key = p["projectKey"]
        project = client.get_project(p_key)
        project_notebooks = project.list_jupyter_notebooks()
        if project_notebooks:
            notebooks = []
            for nb in project_notebooks:
                # If the notebook is active then it has at least 1 running session
                sessions = nb.get_sessions()
                if sessions:
                    status = "ACTIVE - {} session(s)".format(len(sessions))
                else:
                    status = "INACTIVE"
                notebooks.append({"name": nb.notebook_name,
                                  "status": status})
            all_notebooks[p_key] = notebooks
    return all_notebooks

def pprint_instance_notebooks(client):
    all_notebooks = get_instance_notebooks(client)
    pprint.pprint(all_notebooks)
"""


def bench_listing(
    server: LabkeeperServer, projects: int, notebooks: int, sessions: int
) -> tuple[float, int, int, float, int]:
    import pprint

    import dataikuapi

    api = server.api
    for p in range(projects):
        key = f"LIST{p:03d}"
        assert api.post("/projects/", json={"projectKey": key, "name": key}).status_code == 200
        for n in range(notebooks):
            assert api.post(f"/projects/{key}/jupyter-notebooks/nb{n:02d}", json=NOTEBOOK).status_code == 200
    settings = api.get("/admin/general-settings").json()
    settings["notebooks"]["maxSessionsPerUser"] = sessions + 10
    api.put("/admin/general-settings", json=settings)
    for s in range(sessions):
        key = f"LIST{(s * 7) % projects:03d}"
        answer = api.post(f"/projects/{key}/jupyter-notebooks/nb{s % notebooks:02d}/sessions")
        assert answer.status_code == 200, answer.text
    namespace: dict = {"pprint": pprint}
    exec(DOC_EXAMPLE, namespace)  # noqa: S102 - the documented example, verbatim
    client = dataikuapi.DSSClient(server.url, BENCH_KEY)
    namespace["get_instance_notebooks"](client)  # warm-up (connection, caches)
    out = io.StringIO()
    began = time.perf_counter()
    with contextlib.redirect_stdout(out):
        namespace["pprint_instance_notebooks"](client)
    elapsed = time.perf_counter() - began
    active = out.getvalue().count("ACTIVE - ")
    listed = out.getvalue().count("'name'")
    # The HTTP floor: as many official-client calls to a plain read (GET /projects/{key}).
    calls = 1 + projects + listed
    began = time.perf_counter()
    for i in range(calls):
        client.get_project(f"LIST{i % projects:03d}").get_summary()
    floor = time.perf_counter() - began
    return elapsed, active, listed, floor, calls


def main() -> None:
    raw_help = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw_help)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--notebooks", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args()

    server = LabkeeperServer()
    try:
        ours, raw = bench_starts(server, args.starts)
        ratio = statistics.median(ours) / statistics.median(raw)
        print(f"session start-to-idle, {args.starts} runs each (median / min):")
        for label, runs in (("labkeeper POST .../sessions", ours), ("raw jupyter_client", raw)):
            print(f"  {label:28} {statistics.median(runs) * 1000:7.0f} ms / {min(runs) * 1000:5.0f} ms")
        print(f"  ratio {ratio:.2f}x (target <= 1.3x)")
        elapsed, active, listed, floor, calls = bench_listing(
            server, args.projects, args.notebooks, args.sessions
        )
        print(
            f"all-notebooks listing, official client: {args.projects} projects x {args.notebooks} notebooks, "
            f"{args.sessions} running sessions: {elapsed:.2f} s ({listed} notebooks listed, {active} ACTIVE) "
            "(target < 3 s)"
        )
        print(f"  floor: the same {calls} calls to GET /projects/{{key}}, official client: {floor:.2f} s")
    finally:
        server.close()


if __name__ == "__main__":
    main()
