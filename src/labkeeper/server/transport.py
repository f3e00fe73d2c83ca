"""One write per answer: uvicorn's HTTP protocol with the writes of a loop step coalesced.

uvicorn writes an answer in two `write` calls, the status line and headers at
`http.response.start`, the body at `http.response.body`. Over TCP each call is a send that
wakes the client once more: measured with `perf` under `bench/http_api.py`, the kernel's
wake-up of the reader on the other core was about a fifth of a kept answer's whole cost.

`CoalescingProtocol` hands uvicorn a transport that keeps what is written during one step
of the event loop and writes it after that step, in one call (a `call_soon` callback, run
after the task that wrote): the headers and body of an answer leave together. Nothing waits
for a timer, and the loop does not sleep while that callback is pending. A large write goes
at once, after what was kept (`FLUSH_AT`), so a streamed body is never held in memory;
closing, half-closing and upgrading to a WebSocket write what was kept first, an abort
drops it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

FLUSH_AT = 64 * 1024


class CoalescingTransport:
    """A transport whose writes made in one loop step leave in one `write` (module docstring)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.raw = transport
        self._loop = loop
        self._kept: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._kept.append(data)
        self._size += len(data)
        if self._size >= FLUSH_AT:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush_scheduled)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def _flush_scheduled(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        if not self._kept:
            return
        kept = self._kept
        data = kept[0] if len(kept) == 1 else b"".join(kept)
        self._kept, self._size = [], 0
        if not self.raw.is_closing():
            self.raw.write(data)

    def close(self) -> None:
        self.flush()
        self.raw.close()

    def write_eof(self) -> None:
        self.flush()
        self.raw.write_eof()

    def abort(self) -> None:
        self._kept, self._size = [], 0
        self.raw.abort()

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size() + self._size

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's own
        return getattr(self.raw, name)


class CoalescingProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def handle_websocket_upgrade(self) -> None:
        coalescing: CoalescingTransport = self.transport  # type: ignore[assignment]
        coalescing.flush()
        self.transport = coalescing.raw  # the WebSocket protocol writes on the transport itself
        super().handle_websocket_upgrade()
