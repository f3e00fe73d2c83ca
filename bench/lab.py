"""JupyterLab at /lab against a plain `jupyter server`, on the same machine, in the same run.

    .venv/bin/python bench/lab.py [--starts 5] [--executes 50] [--opens 10]

Both servers run as processes of their own: `labkeeper serve` (SQLite, one worker) and
`jupyter server` (the same jupyter_server and ipykernel versions, token auth, a root folder
holding the same notebooks). Each is measured through Jupyter's own REST and websocket API:

- kernel start to idle: `POST /api/sessions` for a notebook, then a websocket to the kernel
  and a `kernel_info_request` answered; the session is deleted after each start.
  Target: labkeeper <= 1.3x.
- execute round trip: `execute_request` of `1+1` over one open websocket, until the
  kernel's idle status. Target: labkeeper <= 1.2x + 5 ms.
- notebook open: `GET /api/contents/<notebook>` of a 5 MB notebook. Target: <= 1.3x.

Medians of wall time on the client (loopback); the two servers alternate round by round.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import BENCH_KEY, LabkeeperServer, free_port, wait_healthy  # noqa: E402

JUPYTER_SERVER = str(Path(sys.executable).parent / "jupyter-server")


def big_notebook(megabytes: float = 5.0) -> dict:
    """A notebook of about `megabytes` MB: code cells with text outputs."""
    line = "x" * 99 + "\n"
    cell_output = line * 100  # 10 KB per cell
    cells = []
    for i in range(int(megabytes * 1024 * 1024 / len(cell_output))):
        cells.append(
            {
                "cell_type": "code",
                "id": f"c{i}",
                "metadata": {},
                "execution_count": i + 1,
                "source": f"print('cell {i}')",
                "outputs": [{"output_type": "stream", "name": "stdout", "text": cell_output}],
            }
        )
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": cells,
    }


SMALL = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "cells": [],
}


class Target:
    """One server seen through Jupyter's API: `base` (http), auth header, notebook paths."""

    def __init__(self, name: str, base: str, header: str, small: str, big: str) -> None:
        self.name = name
        self.base = base
        self.headers = {"Authorization": header}
        self.small, self.big = small, big
        self.http = httpx.Client(base_url=base, headers=self.headers, timeout=120)

    def ws(self, kernel_id: str):  # type: ignore[no-untyped-def]
        url = self.base.replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels?session_id=bench"
        return connect(url, additional_headers=self.headers, max_size=None, open_timeout=60)


def _msg(msg_type: str, content: dict) -> dict:
    header = {
        "msg_id": uuid.uuid4().hex,
        "msg_type": msg_type,
        "username": "bench",
        "session": "bench",
        "version": "5.3",
        "date": "",
    }
    return {"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": "shell"}


def _until(ws, sent: dict, done: str) -> None:  # type: ignore[no-untyped-def]
    replied = idle = False
    while not (replied and idle):
        msg = json.loads(ws.recv(timeout=60))
        if msg.get("parent_header", {}).get("msg_id") != sent["header"]["msg_id"]:
            continue
        replied = replied or msg["msg_type"] == done
        idle = idle or (msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle")


def kernel_start(target: Target) -> float:
    started = time.perf_counter()
    body = {"path": target.small, "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    answer = target.http.post("/api/sessions", json=body)
    answer.raise_for_status()
    session = answer.json()
    with target.ws(session["kernel"]["id"]) as ws:
        sent = _msg("kernel_info_request", {})
        ws.send(json.dumps(sent))
        _until(ws, sent, "kernel_info_reply")
        elapsed = time.perf_counter() - started
    target.http.delete(f"/api/sessions/{session['id']}").raise_for_status()
    return elapsed


def open_kernel(target: Target):  # type: ignore[no-untyped-def]
    body = {"path": target.small, "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    answer = target.http.post("/api/sessions", json=body)
    answer.raise_for_status()
    session = answer.json()
    ws = target.ws(session["kernel"]["id"])
    return session, ws


def execute(ws) -> float:  # type: ignore[no-untyped-def]
    sent = _msg("execute_request", {"code": "1+1", "silent": False})
    started = time.perf_counter()
    ws.send(json.dumps(sent))
    _until(ws, sent, "execute_reply")
    return time.perf_counter() - started


def notebook_open(target: Target) -> float:
    started = time.perf_counter()
    answer = target.http.get(f"/api/contents/{target.big}")
    answer.raise_for_status()
    assert len(answer.json()["content"]["cells"]) > 100
    return time.perf_counter() - started


def start_jupyter(root: Path, token: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    args = [
        JUPYTER_SERVER,
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.log_level=WARN",
    ]
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(root.parent / "jupyter-config"))
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc, path="/api/status?token=" + token)
    return proc, url


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--executes", type=int, default=50)
    parser.add_argument("--opens", type=int, default=10)
    options = parser.parse_args()

    big = big_notebook()
    work = Path(tempfile.mkdtemp(prefix="lab-bench-"))
    (work / "root" / "BENCH").mkdir(parents=True)
    (work / "root" / "BENCH" / "small.ipynb").write_text(json.dumps(SMALL))
    (work / "root" / "BENCH" / "big.ipynb").write_text(json.dumps(big))
    token = secrets.token_hex(16)
    labkeeper = LabkeeperServer()
    jupyter_proc, jupyter_url = start_jupyter(work / "root", token)
    try:
        labkeeper.api.post("/projects/", json={"projectKey": "BENCH", "name": "BENCH"}).raise_for_status()
        for name, doc in (("small", SMALL), ("big", big)):
            labkeeper.api.post(f"/projects/BENCH/jupyter-notebooks/{name}", json=doc).raise_for_status()
        targets = [
            Target(
                "labkeeper /lab",
                labkeeper.url + "/lab",
                f"token {BENCH_KEY}",
                "BENCH/small.ipynb",
                "BENCH/big.ipynb",
            ),
            Target("jupyter server", jupyter_url, f"token {token}", "BENCH/small.ipynb", "BENCH/big.ipynb"),
        ]
        size_mb = len(json.dumps(big)) / 1e6
        results: dict[str, dict[str, float]] = {t.name: {} for t in targets}

        starts: dict[str, list[float]] = {t.name: [] for t in targets}
        for target in targets:
            kernel_start(target)  # warm-up
        for _ in range(options.starts):
            for target in targets:
                starts[target.name].append(kernel_start(target))

        kernels = {t.name: open_kernel(t) for t in targets}
        runs: dict[str, list[float]] = {t.name: [] for t in targets}
        for target in targets:
            for _ in range(5):
                execute(kernels[target.name][1])
        for _ in range(options.executes):
            for target in targets:
                runs[target.name].append(execute(kernels[target.name][1]))
        for target in targets:
            session, ws = kernels[target.name]
            ws.close()
            target.http.delete(f"/api/sessions/{session['id']}")

        opens: dict[str, list[float]] = {t.name: [] for t in targets}
        for target in targets:
            notebook_open(target)
        for _ in range(options.opens):
            for target in targets:
                opens[target.name].append(notebook_open(target))

        for name in results:
            results[name] = {
                "start": statistics.median(starts[name]) * 1000,
                "execute": statistics.median(runs[name]) * 1000,
                "open": statistics.median(opens[name]) * 1000,
            }
        lab, base = results["labkeeper /lab"], results["jupyter server"]
        print(f"{'measure':<34}{'labkeeper /lab':>16}{'jupyter server':>16}{'ratio':>8}  target")
        rows = [
            ("kernel start to idle (ms)", "start", "<= 1.3x"),
            ("execute 1+1 round trip (ms)", "execute", "<= 1.2x + 5 ms"),
            (f"open a {size_mb:.1f} MB notebook (ms)", "open", "<= 1.3x"),
        ]
        for label, key, goal in rows:
            ratio = lab[key] / base[key]
            print(f"{label:<34}{lab[key]:>16.1f}{base[key]:>16.1f}{ratio:>7.2f}x  {goal}")
        ok = (
            lab["start"] <= 1.3 * base["start"]
            and lab["execute"] <= 1.2 * base["execute"] + 5
            and lab["open"] <= 1.3 * base["open"]
        )
        print("targets met" if ok else "targets NOT met")
        return 0 if ok else 1
    finally:
        labkeeper.close()
        os.killpg(jupyter_proc.pid, signal.SIGTERM)
        try:
            jupyter_proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(jupyter_proc.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
