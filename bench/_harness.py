"""Shared pieces of the benchmarks: a real `labkeeper serve`, a bare ASGI baseline, wrk."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BENCH_KEY = "lk_benchmark_admin_key_000000000001"
LABKEEPER = str(Path(sys.executable).parent / "labkeeper")


def pinned(command: list[str], cpu: int | None) -> list[str]:
    """The command run on one CPU (`taskset`), or as is when `cpu` is None."""
    return command if cpu is None else ["taskset", "-c", str(cpu), *command]


def split_cpus() -> tuple[int | None, int | None]:
    """(server CPU, load generator CPU): the server alone on one core and wrk on another,
    so that neither steals the other's time; (None, None) on a one-core machine."""
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return None, None
    return 0, 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, path: str = "/healthz", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(url + path, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


class LabkeeperServer:
    """`labkeeper serve` on a fresh data directory (SQLite unless a database URL is given)."""

    def __init__(self, *, database_url: str | None = None, workers: int = 1, cpu: int | None = None) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="labkeeper-bench-"))
        # As root, builds run as labkeeper-build-<n> and kernels as labkeeper-kernel: both must
        # traverse to the data dir (kernels also to data/run/).
        os.chmod(self.data_dir, 0o711)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            LABKEEPER,
            "serve",
            "--data-dir",
            str(self.data_dir / "data"),
            "--port",
            str(self.port),
            "--workers",
            str(workers),
        ]
        if database_url:
            args += ["--database-url", database_url]
        env = dict(os.environ, LABKEEPER_BOOTSTRAP_ADMIN_KEY=BENCH_KEY)
        self.proc = subprocess.Popen(
            pinned(args, cpu),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_healthy(self.url, self.proc)
        self.api = httpx.Client(base_url=self.url + "/dip/publicapi", auth=(BENCH_KEY, ""), timeout=60)

    def close(self) -> None:
        self.api.close()
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        shutil.rmtree(self.data_dir, ignore_errors=True)


class BareServer:
    """A bare ASGI handler on uvicorn (same loop and parser) answering fixed JSON bodies."""

    def __init__(self, bodies: dict[str, bytes], cpu: int | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="labkeeper-bare-"))
        for index, (path, body) in enumerate(bodies.items()):
            (self.dir / f"{index}.path").write_text(path)
            (self.dir / f"{index}.json").write_bytes(body)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        script = Path(__file__).with_name("_bare_asgi.py")
        self.proc = subprocess.Popen(
            pinned([sys.executable, str(script), str(self.dir), str(self.port)], cpu),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_healthy(self.url, self.proc, path="/")

    def close(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=20)
        shutil.rmtree(self.dir, ignore_errors=True)


def wrk(
    url: str, *, connections: int = 32, seconds: int = 10, threads: int = 2, cpu: int | None = None
) -> dict[str, float]:
    """Run wrk with an auth header; return requests/s and p50/p99 latency in ms."""
    if shutil.which("wrk") is None:
        sys.exit("this benchmark needs wrk (Debian package 'wrk': apt-get install wrk)")
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    command += ["-H", f"Authorization: Bearer {BENCH_KEY}", url]
    out = subprocess.run(pinned(command, cpu), capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"wrk saw {errors.group(1)} error answers from {url}")
    return {"rps": rps, "p50": _latency(out, "50%"), "p99": _latency(out, "99%")}


def _latency(out: str, label: str) -> float:
    value, unit = re.search(rf"{re.escape(label)}\s+([\d.]+)(us|ms|s)", out).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
