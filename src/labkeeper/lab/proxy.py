"""The `/lab` route: labkeeper's door to the in-process jupyter_server (lab/server.py).

HTTP: the request (already through labkeeper's request path: request id, body limit,
metrics) is forwarded over the private unix socket and the answer streamed back. Error
answers of Jupyter's REST API get the DSS error body (`errorType`, `message`,
`detailedMessage`) next to Jupyter's own fields, and never a traceback.

Websockets: a connection whose `Origin` is not this very host is refused before anything
else (a page of another site must never drive a kernel with the user's cookie); the others
are relayed frame by frame to jupyter_server, which authenticates them and checks the
origin again. A refusal upstream (403, 404, 409) is answered with the same status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import unix_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from labkeeper.lab.identity import SERVER_URL_HEADER

log = logging.getLogger("labkeeper.lab")
_FIRST_BYTE = re.compile(rb"\S")

_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"x-labkeeper-server-url",
    }
)
_WS_FORWARDED = ("cookie", "authorization", "origin", "user-agent")
_ERROR_TYPES = {
    400: "BadRequestException",
    401: "UnauthorizedException",
    403: "UnauthorizedException",
    404: "NotFoundException",
    405: "BadRequestException",
    409: "ConflictException",
    413: "PayloadTooLargeException",
    429: "TooManyRequestsException",
}


def _server_url(scope: Scope) -> str:
    host, port = scope.get("server") or ("127.0.0.1", 11200)
    if host in ("0.0.0.0", "::", "", None):
        host = "127.0.0.1"
    if ":" in str(host):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def dss_error_body(status: int, body: bytes) -> bytes:
    """Jupyter's error answer with the DSS error fields added and any traceback removed."""
    try:
        reply = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        reply = {}
    if not isinstance(reply, dict):
        reply = {}
    message = str(reply.get("message") or reply.get("reason") or f"HTTP {status}")
    reply.pop("traceback", None)
    reply.update(
        errorType=_ERROR_TYPES.get(status, "InternalError" if status >= 500 else "BadRequestException"),
        message=message,
        detailedMessage=message,
    )
    return orjson.dumps(reply)


class LabProxy:
    """ASGI app for `/lab`: forwards to the ServerApp listening at `socket_path`."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=socket_path),
            base_url="http://lab",
            timeout=httpx.Timeout(300.0, connect=10.0),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    # -- HTTP ------------------------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [
            (k, v)
            for k, v in scope["headers"]
            if k.lower() not in _HOP_BY_HOP and k not in (b"x-request-id", b"accept-encoding")
        ]
        headers.append((SERVER_URL_HEADER.lower().encode(), _server_url(scope).encode()))
        if scope["path"] == "/lab":
            location = b"/lab/lab"
            headers_out = [(b"location", location), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 302, "headers": headers_out})
            await send({"type": "http.response.body", "body": b""})
            return
        if _not_an_object(scope, body):
            await _answer(send, 400, "Jupyter's API takes a JSON object as its request body")
            return
        target = _target(scope)
        try:
            request = self.client.build_request(scope["method"], target, headers=headers, content=bytes(body))
            upstream = await self.client.send(request, stream=True)
        except httpx.InvalidURL:
            await _answer(send, 400, "Invalid path")
            return
        except httpx.TransportError:
            await _answer(send, 503, "JupyterLab is not available")
            return
        try:
            out = [(k.lower(), v) for k, v in upstream.headers.raw if k.lower() not in _HOP_BY_HOP]
            api_error = upstream.status_code >= 400 and "/api/" in scope["path"]
            if api_error:
                data = dss_error_body(upstream.status_code, await upstream.aread())
                out = [(k, v) for k, v in out if k not in (b"content-type", b"content-encoding")]
                out += [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
                await send({"type": "http.response.start", "status": upstream.status_code, "headers": out})
                await send({"type": "http.response.body", "body": data})
                return
            length = upstream.headers.get("content-length")
            if length is not None:
                out.append((b"content-length", length.encode()))
            await send({"type": "http.response.start", "status": upstream.status_code, "headers": out})
            async for chunk in upstream.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await upstream.aclose()

    # -- websockets ------------------------------------------------------------------------------
    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        host = _header(scope, b"host") or "lab"
        origin = _header(scope, b"origin")
        if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
            log.warning("refused a cross-origin websocket to %s from %r", scope["path"], origin[:200])
            await _deny(scope, send, 403, "Cross-origin websocket connections are refused")
            return
        target = _target(scope)
        headers = [(n, v) for n in _WS_FORWARDED if (v := _header(scope, n.encode())) is not None]
        headers.append((SERVER_URL_HEADER, _server_url(scope)))
        try:
            upstream = await unix_connect(
                self.socket_path,
                f"ws://{host}{target}",
                additional_headers=headers,
                subprotocols=scope.get("subprotocols") or None,
                max_size=None,
                compression=None,
                ping_interval=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            await _deny(scope, send, status if 400 <= status < 500 else 502, bytes(exc.response.body or b""))
            return
        except (OSError, TimeoutError):
            await _deny(scope, send, 503, "JupyterLab is not available")
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        await _relay(upstream, receive, send)


async def _answer(send: Send, status: int, message: str) -> None:
    data = dss_error_body(status, orjson.dumps({"message": message}))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _not_an_object(scope: Scope, body: bytearray) -> bool:
    """A body of Jupyter's REST API that cannot be a JSON object: Jupyter's handlers read their
    fields without checking (a list or a number there is a 500)."""
    if scope["method"] not in ("POST", "PUT", "PATCH") or not scope["path"].startswith("/lab/api/"):
        return False
    first = _FIRST_BYTE.search(body)
    return first is not None and first.group() != b"{"


def _target(scope: Scope) -> str:
    """The path as the caller sent it (still percent-encoded: a decoded `%00` or `%2F` must
    reach jupyter_server as the caller wrote it), whole, since it serves under /lab/ too."""
    raw = scope.get("raw_path")
    target = raw.decode("latin-1") if raw else quote(scope["path"])
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    return target


async def _deny(scope: Scope, send: Send, status: int, body: str | bytes) -> None:
    """Refuse a websocket with an HTTP status (where the server can), else close it."""
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    data = body if isinstance(body, bytes) else body.encode()
    data = dss_error_body(status, orjson.dumps({"message": data.decode("utf-8", "replace")[:2000]}))
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "websocket.http.response.body", "body": data})


async def _relay(upstream: Any, receive: Receive, send: Send) -> None:
    async def downstream_to_upstream() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close()
                return
            data = message.get("bytes")
            await upstream.send(data if data is not None else message.get("text") or "")

    async def upstream_to_downstream() -> None:
        try:
            async for data in upstream:
                if isinstance(data, bytes):
                    await send({"type": "websocket.send", "bytes": data})
                else:
                    await send({"type": "websocket.send", "text": data})
        except ConnectionClosed:
            pass
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": upstream.close_code or 1000})

    tasks = [asyncio.ensure_future(downstream_to_upstream()), asyncio.ensure_future(upstream_to_downstream())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await upstream.close()
