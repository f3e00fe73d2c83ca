"""labkeeper's ASGI app called directly, in this process: no HTTP server, no wrk.

Microseconds per request, route by route, stable on a machine other work shares (what a
request costs the server's CPU, not what a load generator sees). The app runs its lifespan
on one event loop (Starlette's TestClient portal), the fixtures are made through it, and each
route is called `--requests` times in a row on that loop.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import BENCH_KEY

API = "/dip/publicapi"


class InProcessServer:
    """What the fixtures need of a server (`api`, `url`), backed by the ASGI app itself."""

    def __init__(self, *, database_url: str | None = None) -> None:
        from fastapi.testclient import TestClient

        from labkeeper.config import Config
        from labkeeper.server.app import create_app

        self._tmp = tempfile.TemporaryDirectory(prefix="labkeeper-bench-inprocess-")
        config = Config(
            data_dir=Path(self._tmp.name) / "data", database_url=database_url, bootstrap_admin_key=BENCH_KEY
        )
        self.app = create_app(config)
        self._main = TestClient(self.app)
        self._main.__enter__()  # the lifespan: migrations, bootstrap, components
        self.portal = self._main.portal
        self.url = "http://testserver"
        self.api = TestClient(
            self.app,
            base_url=self.url + API,
            headers={"Authorization": f"Bearer {BENCH_KEY}"},
            raise_server_exceptions=False,
        )
        self.api.portal = self.portal

    def time_route(self, path: str, requests: int) -> float:
        """Microseconds per GET of `path` (with its query), the answer checked to be a 200."""
        return self.portal.call(_time_route, self.app, path, requests)

    def close(self) -> None:
        self._main.__exit__(None, None, None)
        self._tmp.cleanup()


def _scope(path: str) -> dict[str, Any]:
    route, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": API + route,
        "raw_path": (API + route).encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {BENCH_KEY}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def _time_route(app: Any, path: str, requests: int) -> float:
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(min(20, requests)):  # warm: kept answers, caches, connections
        await app(_scope(path), receive, send)
    statuses.clear()
    started = time.perf_counter()
    for _ in range(requests):
        await app(_scope(path), receive, send)
    elapsed = time.perf_counter() - started
    if set(statuses) != {200}:
        raise RuntimeError(f"{path} answered {sorted(set(statuses))}")
    return elapsed / requests * 1e6
