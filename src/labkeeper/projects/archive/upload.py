"""Receiving a project archive as the official client sends it (multipart/form-data with one
`file` part) without holding it in memory: the body goes to a file as it arrives (writes in
a thread, a megabyte at a time), then the part's bytes are copied out of it, checking that
no second part hides inside. Memory stays at a few megabytes whatever the archive's size."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from starlette.requests import Request

from labkeeper.errors import BadRequest

MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
FLUSH_BYTES = 1024 * 1024
_HEAD_BYTES = 64 * 1024
_BOUNDARY = re.compile(r'boundary="?([^";]{1,200})"?', re.IGNORECASE)
_FILE_PART = re.compile(rb'content-disposition:[^\r\n]*\bname="file"', re.IGNORECASE)


def boundary_of(content_type: str | None) -> bytes:
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        raise BadRequest("The project archive must be sent as multipart/form-data with a 'file' part")
    found = _BOUNDARY.search(content_type)
    if found is None:
        raise BadRequest("Malformed multipart body: the Content-Type names no boundary")
    return found.group(1).encode("latin-1")


async def receive_to_file(request: Request, path: Path) -> int:
    """Write the request body to `path` (created 0600, must not exist) as it arrives."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    total = 0
    pending: list[bytes] = []
    pending_bytes = 0
    with os.fdopen(fd, "wb") as out:
        async for chunk in request.stream():
            pending.append(chunk)
            pending_bytes += len(chunk)
            total += len(chunk)
            if pending_bytes >= FLUSH_BYTES:
                await asyncio.to_thread(out.write, b"".join(pending))
                pending, pending_bytes = [], 0
        if pending:
            await asyncio.to_thread(out.write, b"".join(pending))
    return total


def extract_file_part(raw: Path, boundary: bytes, target: Path) -> None:
    """Copy the `file` part of the multipart body in `raw` to `target` (created 0600);
    BadRequest when the body is not one such part (blocking: run in a thread)."""
    delimiter = b"--" + boundary
    size = raw.stat().st_size
    with open(raw, "rb") as body:
        head = body.read(_HEAD_BYTES)
        if not head.startswith(delimiter + b"\r\n"):
            raise BadRequest("Malformed multipart body: it does not start with its boundary")
        headers_end = head.find(b"\r\n\r\n")
        if headers_end < 0:
            raise BadRequest("Malformed multipart body: the part's headers do not end")
        if not _FILE_PART.search(head[:headers_end]):
            raise BadRequest("The multipart body's part is not named 'file' (the project archive)")
        start = headers_end + 4
        body.seek(max(0, size - len(delimiter) - 256))
        tail = body.read()
        closing = tail.rfind(b"\r\n" + delimiter + b"--")
        if closing < 0:
            raise BadRequest("Malformed multipart body: the closing boundary is missing")
        end = size - len(tail) + closing
        if end < start:
            raise BadRequest("Malformed multipart body: the part is empty")
        body.seek(start)
        inner = b"\r\n" + delimiter
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            left, carry = end - start, b""
            while left > 0:
                chunk = body.read(min(FLUSH_BYTES, left))
                if not chunk:
                    raise BadRequest("Malformed multipart body: it ends early")
                left -= len(chunk)
                if inner in carry + chunk:
                    raise BadRequest(
                        "The multipart body must hold one part, the project archive, and no other"
                    )
                carry = chunk[-len(inner) :]
                out.write(chunk)
