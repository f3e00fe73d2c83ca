"""A mock transport that records each request and answers from a table of routes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from labkeeper.client import DSSClient

HOST = "http://lab.example:11200"
KEY = "lk_unit_test_key"

Answer = Any | Callable[[httpx.Request], httpx.Response]
_MISSING = object()


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, list[str]]
    body: Any
    headers: httpx.Headers


@dataclass
class Recorder:
    """Answers `(METHOD, path-after-base)` from `routes`; unknown routes get a DSS 404."""

    routes: dict[tuple[str, str], Answer] = field(default_factory=dict)
    calls: list[Recorded] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        base = "/dip/publicapi"
        raw_path = request.url.raw_path.split(b"?")[0].decode()
        assert raw_path.startswith(base), raw_path
        path = raw_path[len(base) :]
        params: dict[str, list[str]] = {}
        for name, value in request.url.params.multi_items():
            params.setdefault(name, []).append(value)
        body = json.loads(request.content) if request.content else None
        self.calls.append(Recorded(request.method, path, params, body, request.headers))
        answer = self.routes.get((request.method, path), _MISSING)
        if answer is _MISSING:
            return httpx.Response(
                404,
                json={"errorType": "NotFoundException", "message": "nope", "detailedMessage": f"no {path}"},
            )
        if callable(answer):
            return answer(request)
        if answer is None:
            return httpx.Response(204)
        return httpx.Response(200, json=answer)

    @property
    def last(self) -> Recorded:
        return self.calls[-1]

    def client(self, **kwargs: Any) -> DSSClient:
        return DSSClient(HOST, KEY, transport=httpx.MockTransport(self.handle), **kwargs)
