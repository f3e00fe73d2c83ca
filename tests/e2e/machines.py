"""Several labkeeper nodes as real processes, each on a "machine" of its own: its own data
directory and, with network namespaces, its own network stack (`ip netns`), joined to the
test's namespace by a bridge. PostgreSQL (listening on loopback) is reached from the
namespaces through a TCP relay on the bridge address, so nothing works by accident through
loopback or a shared folder."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.conftest import ADMIN_KEY, free_port, reachable_tmp_dir

ROOT = Path(__file__).resolve().parents[2]
SECRET = "e2e-instance-secret-0123456789-0123456789"


def netns_possible() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"lkprobe{secrets.token_hex(3)}"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return done.returncode == 0


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Relay:
    """Forwards TCP connections from (host, port) to 127.0.0.1:target, in a thread."""

    def __init__(self, host: str, port: int, target: int) -> None:
        self.host, self.port, self.target = host, port, target
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        self.server = self.loop.run_until_complete(asyncio.start_server(handle, self.host, self.port))
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> Relay:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Network:
    """Where nodes live: loopback ports of the test's namespace, or a namespace each."""

    def __init__(self, isolated: bool) -> None:
        self.isolated = isolated
        self.tag = secrets.token_hex(2)
        self.subnet = f"10.{200 + int(self.tag[:2], 16) % 50}.{int(self.tag[2:], 16)}"
        self.bridge = f"lkbr{self.tag}"
        self.namespaces: list[str] = []
        self.gateway = f"{self.subnet}.1" if isolated else "127.0.0.1"

    def __enter__(self) -> Network:
        if self.isolated:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        return self

    def machine(self, index: int) -> tuple[list[str], str]:
        """(command prefix, address) of machine number `index` (1..200)."""
        if not self.isolated:
            return [], "127.0.0.1"
        ns, host_end, ns_end = f"lk{self.tag}n{index}", f"lk{self.tag}h{index}", f"lk{self.tag}v{index}"
        address = f"{self.subnet}.{10 + index}"
        _ip("netns", "add", ns)
        self.namespaces.append(ns)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        _ip("link", "set", host_end, "master", self.bridge, "up")
        _ip("link", "set", ns_end, "netns", ns)
        _ip("-n", ns, "addr", "add", f"{address}/24", "dev", ns_end)
        _ip("-n", ns, "link", "set", ns_end, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "route", "add", "default", "via", self.gateway)
        return ["ip", "netns", "exec", ns], address

    def __exit__(self, *exc: object) -> None:
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if self.isolated:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


class Node:
    """`labkeeper serve` or `labkeeper worker` on a machine of its own."""

    def __init__(
        self,
        network: Network,
        index: int,
        name: str,
        command: str,
        database_url: str,
        kernel_python: str | None = None,
        extra: list[str] | None = None,
    ) -> None:
        prefix, self.address = network.machine(index)
        self.name = name
        self.port = free_port()
        self.url = f"http://{self.address}:{self.port}"
        self.base = reachable_tmp_dir(f"lk-e2e-{name}-")
        args = [sys.executable, "-m", "labkeeper.cli.main", command]
        args += ["--data-dir", str(self.base / "data"), "--database-url", database_url, "--node-name", name]
        if kernel_python:
            args += ["--kernel-python", kernel_python]
        args += extra or []
        if command == "serve":
            args += ["--host", self.address, "--port", str(self.port), "--no-worker"]
            args += ["--public-url", self.url]
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABKEEPER_")}
        env.update(LABKEEPER_SECRET_KEY=SECRET, LABKEEPER_BOOTSTRAP_ADMIN_KEY=ADMIN_KEY)
        self.log = open(self.base / "output.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*prefix, *args], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return (self.base / "output.log").read_text(errors="replace")[-4000:]

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"node {self.name} exited:\n{self.output()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"node {self.name} did not get ready:\n{self.output()}")

    def kill_hard(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def cluster(
    isolated: bool,
    database_url: str,
    kernel_python: str | None = None,
    extra: dict[str, list[str]] | None = None,
) -> Iterator[tuple[Network, dict[str, Node], int]]:
    """Two API nodes (api-a, api-b) and two worker nodes (worker-1, worker-2); and the port
    at which the nodes reach PostgreSQL (on `network.gateway`). `kernel_python`: the
    interpreter of every node's built-in kernel; `extra`: more arguments of a node, by name."""
    import sqlalchemy as sa

    with Network(isolated) as network:
        pg_port = free_port() if isolated else 5432
        relay = Relay(network.gateway, pg_port, 5432) if isolated else contextlib.nullcontext()
        with relay:
            url = sa.engine.make_url(database_url).set(host=network.gateway, port=pg_port)
            url_text = url.render_as_string(hide_password=False)
            nodes: dict[str, Node] = {}
            try:
                # The first start migrates and bootstraps; the others find it done.
                nodes["api-a"] = Node(network, 1, "api-a", "serve", url_text, kernel_python)
                nodes["api-a"].wait_healthy()
                for index, (name, command) in enumerate(
                    [("api-b", "serve"), ("worker-1", "worker"), ("worker-2", "worker")], start=2
                ):
                    more = (extra or {}).get(name)
                    nodes[name] = Node(network, index, name, command, url_text, kernel_python, more)
                nodes["api-b"].wait_healthy()
                yield network, nodes, pg_port
            finally:
                for node in nodes.values():
                    node.stop()
