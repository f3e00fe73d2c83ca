"""50/50 read/write mix against labkeeper and, in the same run, against the floor app.

    .venv/bin/python bench/mixed_load.py [--seconds 60] [--clients 50] [--workers 2]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--only labkeeper|floor]
        [--rate REQUESTS_PER_SECOND]

Starts `labkeeper serve --workers 2` on a fresh data dir (SQLite, or a fresh PostgreSQL
database next to the one the URL names) and `uvicorn bench._floor_app:app --workers 2` on
the same kind of store, then runs the same mix against each for --seconds: half the
requests write (create and delete projects, create and delete global API keys, save
project variables, save the general settings), half read the same things (a page of the
project list, a project, its variables, the settings, the key list). Each client owns the
projects and keys it creates and deletes only those.

Without --rate the clients form a closed loop (each sends its next request when the last is
answered): that measures throughput at saturation, where latency is simply clients /
throughput (Little's law: 50 clients at 250 req/s wait 200 ms on average, whatever the
server does with its time). With --rate the same clients offer that many requests per
second in all, each at fixed times, and a request's latency counts from when it was due:
the latency a user sees at that load, queueing included.

The load generator is asyncio with a minimal HTTP/1.1 client of its own (httpx costs several
times the CPU per request, and it shares the 2 cores with the servers). Connection churn:
each client opens a new connection every 10 requests, so that `--workers 2`, which shares
one listening socket, spreads connections over both workers (with long-lived keep-alive
connections they often all land on one). Errors are any non-2xx answer or transport
failure. At the end, the projects and keys the bench created and did not delete must be
exactly those listed (objects stored = objects acknowledged).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ADMIN_KEY = "lk_bench_mixed_admin_" + "0123456789abcdef"
RECONNECT_EVERY = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Connection:
    """One HTTP/1.1 keep-alive connection: requests in turn, Content-Length bodies."""

    def __init__(self, port: int, headers: bytes) -> None:
        self.port, self.headers = port, headers
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0

    async def request(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        if self.writer is None or self.used >= RECONNECT_EVERY:
            await self.close()
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.used = 0
        self.used += 1
        payload = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(payload)}\r\n"
            + ("Content-Type: application/json\r\n" if payload else "")
        ).encode()
        self.writer.write(head + self.headers + b"\r\n" + payload)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        length, chunked = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.strip().lower() == b"close":
                self.used = RECONNECT_EVERY
        if chunked:
            data = b""
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                data += chunk[:-2]
        else:
            data = await self.reader.readexactly(length) if length else b""
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)  # "POST /projects/" -> latencies
    errors: list[str] = field(default_factory=list)
    projects: set[str] = field(default_factory=set)  # acknowledged and not deleted
    keys: dict[str, str] = field(default_factory=dict)  # id -> label


def kind_of(path: str) -> str:
    """The route a path is a request to: "/projects/{key}" for "/projects/MIX03X7"."""
    path = path.split("?", 1)[0]
    parts = path.split("/")
    if len(parts) > 2 and parts[1] == "projects" and parts[2]:
        parts[2] = "{key}"
    if len(parts) > 3 and parts[2] == "global-api-keys" and parts[3]:
        parts[3] = "{id}"
    return "/".join(parts)


def per_kind(result: Result) -> None:
    for kind, latencies in sorted(result.by_kind.items()):
        lat = sorted(latencies)
        p50, p99 = lat[len(lat) // 2] * 1000, lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000
        print(f"    {kind:40s} {len(lat):6d} requests  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms", flush=True)


class Target:
    def __init__(self, name: str, port: int, prefix: str, headers: bytes) -> None:
        self.name, self.port, self.prefix, self.headers = name, port, prefix, headers


async def client(
    target: Target, number: int, deadline: float, result: Result, settings: object, rate: float | None
) -> None:
    conn = Connection(target.port, target.headers)
    # --rate: this client's share of the offered load, at fixed times; a request's latency
    # counts from when it was due, so time spent queued behind a slow answer counts too.
    interval = 1 / rate if rate else 0.0
    due = time.perf_counter() + random.Random(-number).random() * interval
    rng = random.Random(number)
    mine: list[str] = []
    my_keys: list[str] = []
    serial = 0
    p = target.prefix

    async def call(
        method: str, path: str, body: object = None, ok: tuple[int, ...] = (200, 204)
    ) -> bytes | None:
        """The answer's body (b"" for a 204), or None for an error."""
        started = due if interval else time.perf_counter()
        try:
            status, data = await asyncio.wait_for(conn.request(method, p + path, body), 30)
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
            result.errors.append(f"{method} {path}: {exc!r}")
            await conn.close()
            conn.writer = None
            return None
        took = time.perf_counter() - started
        result.latencies.append(took)
        result.by_kind.setdefault(f"{method} {kind_of(path)}", []).append(took)
        if status not in ok:
            result.errors.append(f"{method} {path}: {status} {data[:200]!r}")
            return None
        return data

    while time.perf_counter() < deadline:
        if interval:
            due += interval
            if due >= deadline:
                break
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        if rng.random() < 0.5:  # a write
            kind = rng.randrange(5)
            if kind == 0 or not mine:
                serial += 1
                key = f"MIX{number:02d}X{serial}"
                if await call("POST", "/projects/", {"projectKey": key, "name": key}) is not None:
                    mine.append(key)
                    result.projects.add(key)
            elif kind == 1:
                key = mine.pop(0)
                if await call("DELETE", f"/projects/{key}") is not None:
                    result.projects.discard(key)
                else:
                    mine.insert(0, key)
            elif kind == 2 or (kind == 3 and not my_keys):
                label = f"mix-{number}-{serial}"
                serial += 1
                data = await call("POST", "/admin/global-api-keys/", {"label": label})
                if data is not None:
                    key_id = json.loads(data)["id"]
                    my_keys.append(key_id)
                    result.keys[key_id] = label
            elif kind == 3:
                key_id = my_keys.pop(0)
                if await call("DELETE", f"/admin/global-api-keys/{key_id}") is not None:
                    result.keys.pop(key_id, None)
                else:
                    my_keys.insert(0, key_id)
            elif rng.random() < 0.8:
                await call(
                    "PUT",
                    f"/projects/{rng.choice(mine)}/variables/",
                    {"standard": {"n": serial}, "local": {}},
                )
            else:
                await call("PUT", "/admin/general-settings", settings)
        else:  # a read
            kind = rng.randrange(5)
            if kind == 0:
                await call("GET", "/projects/?limit=50")
            elif kind == 1 and mine:
                await call("GET", f"/projects/{rng.choice(mine)}")
            elif kind == 2 and mine:
                await call("GET", f"/projects/{rng.choice(mine)}/variables/")
            elif kind == 3:
                await call("GET", "/admin/general-settings")
            else:
                await call("GET", "/admin/global-api-keys/")
    await conn.close()


def wait_ready(port: int, path: str, headers: dict[str, str], timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
            with urllib.request.urlopen(request, timeout=2) as answer:
                if answer.status == 200:
                    return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not start")


def fetch(port: int, path: str, headers: dict[str, str]) -> object:
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def fresh_postgres_database(url: str, name: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return str(sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False))


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(40)
    except subprocess.TimeoutExpired:
        process.kill()


async def run_load(
    target: Target, seconds: float, clients: int, settings: object, rate: float | None
) -> tuple[Result, float]:
    result = Result()
    started = time.perf_counter()
    deadline = started + seconds
    share = rate / clients if rate else None
    await asyncio.gather(*(client(target, n, deadline, result, settings, share) for n in range(clients)))
    return result, time.perf_counter() - started


def summary(name: str, result: Result, elapsed: float) -> dict[str, object]:
    lat = sorted(result.latencies)
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0.0  # noqa: E731
    return {
        "target": name,
        "requests": len(lat),
        "req_per_s": round(len(lat) / elapsed, 1),
        "p50_ms": round(pick(0.50), 2),
        "p99_ms": round(pick(0.99), 2),
        "max_ms": round(lat[-1] * 1000, 1) if lat else 0.0,
        "errors": len(result.errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", help="PostgreSQL URL (fresh databases are made beside it)")
    parser.add_argument("--only", choices=["labkeeper", "floor"])
    parser.add_argument(
        "--rate",
        type=float,
        help="offer this many requests per second in all, at fixed times (default: "
        "each client sends its next request as soon as the last is answered)",
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    base = Path(tempfile.mkdtemp(prefix="lk-mixed-"))
    env = dict(os.environ, LABKEEPER_BOOTSTRAP_ADMIN_KEY=ADMIN_KEY, PYTHONPATH=str(ROOT))
    rows = []
    print(f"load average before: {os.getloadavg()}", flush=True)
    try:
        for name in ("labkeeper", "floor"):
            if args.only and args.only != name:
                continue
            port = free_port()
            if name == "labkeeper":
                url = (
                    fresh_postgres_database(args.database_url, "lk_mixed_labkeeper")
                    if args.database_url
                    else None
                )
                command = [PY, "-m", "labkeeper.cli.main", "serve", "--workers", str(args.workers),
                           "--port", str(port), "--data-dir", str(base / "labkeeper")]  # fmt: skip
                if url:
                    command += ["--database-url", url]
                auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
                prefix, probe = "/dip/publicapi", "/dip/publicapi/projects/"
            else:
                url = (
                    fresh_postgres_database(args.database_url, "lk_mixed_floor")
                    if args.database_url
                    else f"sqlite:///{base / 'floor.db'}"
                )
                env["FLOOR_DATABASE_URL"] = url
                subprocess.run([PY, "-c", "from bench._floor_app import create_schema; create_schema()"],
                               check=True, env=env, cwd=ROOT)  # fmt: skip
                command = [PY, "-m", "uvicorn", "bench._floor_app:app", "--workers", str(args.workers),
                           "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
                auth, prefix, probe = {}, "", "/projects/"
            server = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            try:
                wait_ready(port, probe, auth)
                settings = fetch(port, prefix + "/admin/general-settings", auth)
                headers = b"".join(f"{k}: {v}\r\n".encode() for k, v in auth.items())
                target = Target(name, port, prefix, headers)
                load = run_load(target, args.seconds, args.clients, settings, args.rate)
                result, elapsed = asyncio.run(load)
                listed = {
                    p["projectKey"]
                    for p in fetch(port, prefix + "/projects/?limit=100000", auth)
                    if p["projectKey"].startswith("MIX")
                }
                keys = {
                    k["id"]
                    for k in fetch(port, prefix + "/admin/global-api-keys/", auth)
                    if str(k.get("label", "")).startswith("mix-")
                }
                row = summary(name, result, elapsed)
                row["stored_equals_acknowledged"] = listed == result.projects and keys == set(result.keys)
                row["projects_left"], row["keys_left"] = len(listed), len(keys)
                rows.append(row)
                print(json.dumps(row), flush=True)
                per_kind(result)
                if not row["stored_equals_acknowledged"]:
                    print("  acknowledged, not stored:", sorted(result.projects - listed)[:5],
                          sorted(set(result.keys) - keys)[:5], flush=True)  # fmt: skip
                    print("  stored, not acknowledged:", sorted(listed - result.projects)[:5],
                          sorted(keys - set(result.keys))[:5], flush=True)  # fmt: skip
                for error in result.errors[:5]:
                    print("  error:", error, flush=True)
            finally:
                stop(server)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"load average after: {os.getloadavg()}")
    if len(rows) == 2:
        lk, floor = rows
        print(
            f"labkeeper/floor throughput: {lk['req_per_s'] / floor['req_per_s']:.2f}x (target >= 0.5); "
            f"labkeeper p99 {lk['p99_ms']} ms (target < 50); errors {lk['errors']}; "
            f"stored = acknowledged: {lk['stored_equals_acknowledged']}"
        )


if __name__ == "__main__":
    main()
