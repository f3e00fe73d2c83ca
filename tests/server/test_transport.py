"""One write per answer (server/transport.py): uvicorn's own protocol on a recording transport."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from labkeeper.server.transport import FLUSH_AT, CoalescingProtocol, CoalescingTransport
from tests.conftest import ADMIN_KEY


class RecordingTransport(asyncio.Transport):
    """What a socket transport is to uvicorn, recording each `write` call."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        assert not self.closing, "written after close"
        self.writes.append(bytes(data))
        self.events.append("write")

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def abort(self) -> None:
        self.closing = True
        self.events.append("abort")

    def write_eof(self) -> None:
        self.events.append("eof")

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.events.append("set_protocol")


def answering(*chunks: bytes, status: int = 200):  # type: ignore[no-untyped-def]
    """An ASGI app answering `chunks` as one body, each chunk a message of its own."""

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        size = sum(len(chunk) for chunk in chunks)
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(size).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for index, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": index < len(chunks) - 1})

    return app


async def serve(app, request: bytes) -> RecordingTransport:  # type: ignore[no-untyped-def]
    config = uvicorn.Config(app, http=CoalescingProtocol, lifespan="off", log_level="warning")
    config.load()
    state = ServerState()
    protocol = CoalescingProtocol(
        config=config, server_state=state, app_state={}, _loop=asyncio.get_running_loop()
    )
    raw = RecordingTransport()
    protocol.connection_made(raw)
    protocol.data_received(request)
    for _ in range(200):  # until every request's task has ended and its writes have left
        await asyncio.sleep(0)
        if not state.tasks and not protocol.transport._kept:  # type: ignore[attr-defined]
            break
    return raw


def on_a_loop(test: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """An async test, run on a loop of its own."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


@on_a_loop
async def test_an_answer_leaves_in_one_write() -> None:
    raw = await serve(answering(b'{"answer": 42}'), GET)
    assert len(raw.writes) == 1
    head, _, body = raw.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: 14" in head
    assert body == b'{"answer": 42}'


@on_a_loop
async def test_pipelined_requests_are_answered_whole_and_in_order() -> None:
    raw = await serve(answering(b"one"), GET + GET + GET)
    sent = b"".join(raw.writes)
    assert sent.count(b"HTTP/1.1 200 OK") == 3 and sent.count(b"\r\n\r\none") == 3
    assert len(raw.writes) <= 3  # never more than one write an answer


@on_a_loop
async def test_a_large_body_is_written_at_once_and_in_order() -> None:
    chunks = [bytes([65 + index]) * (FLUSH_AT + 1000) for index in range(3)]
    raw = await serve(answering(*chunks), GET)
    head, _, body = b"".join(raw.writes).partition(b"\r\n\r\n")
    assert body == b"".join(chunks)
    # Each chunk over the limit leaves when written, not at the end of the step: never more
    # than one chunk and the headers are held in memory.
    assert len(raw.writes) == 3
    assert raw.writes[0].startswith(b"HTTP/1.1 200 OK")


@on_a_loop
async def test_connection_close_writes_the_answer_before_closing() -> None:
    request = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    raw = await serve(answering(b"bye"), request)
    assert raw.events == ["write", "close"]
    assert raw.writes[0].endswith(b"\r\n\r\nbye")


@on_a_loop
async def test_a_bad_request_is_answered_and_closed() -> None:
    raw = await serve(answering(b"never"), b"NOT HTTP AT ALL\r\n\r\n")
    assert raw.events[-1] == "close"
    assert b"".join(raw.writes).startswith(b"HTTP/1.1 400")


@on_a_loop
async def test_coalescing_transport_keeps_until_the_step_ends() -> None:
    raw = RecordingTransport()
    coalescing = CoalescingTransport(raw, asyncio.get_running_loop())
    coalescing.write(b"a")
    coalescing.writelines([b"b", b"", b"c"])
    assert raw.writes == [] and coalescing.get_write_buffer_size() == 3
    await asyncio.sleep(0)
    assert raw.writes == [b"abc"] and coalescing.get_write_buffer_size() == 0
    coalescing.write(b"d")
    coalescing.write_eof()  # half-closing writes what was kept first
    assert raw.events == ["write", "write", "eof"]


@on_a_loop
async def test_abort_drops_what_was_kept_and_a_gone_peer_gets_nothing() -> None:
    raw = RecordingTransport()
    coalescing = CoalescingTransport(raw, asyncio.get_running_loop())
    coalescing.write(b"never sent")
    coalescing.abort()
    await asyncio.sleep(0)
    assert raw.writes == [] and raw.events == ["abort"]

    raw = RecordingTransport()
    coalescing = CoalescingTransport(raw, asyncio.get_running_loop())
    coalescing.write(b"too late")
    raw.closing = True  # the peer went away before the step ended
    await asyncio.sleep(0)
    assert raw.writes == []


@on_a_loop
async def test_everything_else_is_the_transport_s_own() -> None:
    raw = RecordingTransport()
    coalescing = CoalescingTransport(raw, asyncio.get_running_loop())
    assert coalescing.get_extra_info("peername") == ("127.0.0.1", 50000)
    assert coalescing.is_closing() is False
    coalescing.close()
    assert raw.is_closing()


def _answer(sock: socket.socket, request: bytes) -> tuple[bytes, bytes]:
    sock.sendall(request)
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    lengths = [
        line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    ]
    while len(body) < int(lengths[0]):
        body += sock.recv(65536)
    assert len(body) == int(lengths[0])
    return head, body


def test_a_live_server_answers_whole_on_one_connection(live) -> None:  # type: ignore[no-untyped-def]
    """Through a real socket, on the server the tests run (as `labkeeper serve` runs): small
    and large answers (the OpenAPI document is several times FLUSH_AT) and an error, whole and
    in order on one keep-alive connection."""
    auth = f"Authorization: Bearer {ADMIN_KEY}\r\n"
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        for _ in range(2):
            head, body = _answer(
                sock, f"GET /dip/publicapi/admin/general-settings HTTP/1.1\r\nHost: t\r\n{auth}\r\n".encode()
            )
            assert head.startswith(b"HTTP/1.1 200") and "impersonation" in json.loads(body)
            head, body = _answer(sock, b"GET /openapi.json HTTP/1.1\r\nHost: t\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and len(body) > 3 * FLUSH_AT
            assert json.loads(body)["paths"]
            head, body = _answer(sock, b"GET /dip/publicapi/projects/ HTTP/1.1\r\nHost: t\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 401") and json.loads(body)["errorType"]
