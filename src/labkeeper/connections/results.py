"""Values of a result as JSON, and the part of a result a run keeps.

`Keeper` keeps at most `max_rows` rows and at most `max_bytes` bytes of cell data (as
JSON). Rows are fetched in chunks sized from the widest row seen so far, so memory stays
near what is kept; when the byte budget is spent the fetch stops there.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson

FETCH_CHUNK = 10_000


def jsonable(value: Any) -> Any:
    """A JSON value for one database value, without losing digits."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, uuid.UUID | dt.timedelta):
        return str(value)
    return str(value)


def _raw_size(row: Sequence[Any]) -> int:
    return sum(len(v) if isinstance(v, str | bytes) else 8 for v in row) + 8


class Keeper:
    """The rows kept from one result, within `max_rows` rows and `max_bytes` JSON bytes."""

    def __init__(self, max_rows: int, max_bytes: int) -> None:
        self.max_rows = max(max_rows, 0)
        self.max_bytes = max(max_bytes, 0)
        self.reset()

    def reset(self) -> None:
        self.raw: list[Sequence[Any]] = []
        self.rows: list[list[Any]] = []
        self.bytes = 0
        self.seen = 0
        self.widest = 0  # raw bytes of the widest row seen: sizes the next chunk
        self.out_of_bytes = False

    @property
    def full(self) -> bool:
        return self.out_of_bytes or len(self.rows) >= self.max_rows

    def chunk(self, limit: int | None = None) -> int:
        if self.widest == 0:
            return 1
        room = self.max_bytes - self.bytes if not self.full else self.max_bytes
        size = max(1, min(FETCH_CHUNK, room // self.widest))
        return size if limit is None else max(1, min(size, limit))

    def take(self, raw: Sequence[Sequence[Any]]) -> None:
        for row in raw:
            self.seen += 1
            self.widest = max(self.widest, _raw_size(row))
            if self.full:
                continue
            converted = [jsonable(v) for v in row]
            size = len(orjson.dumps(converted))
            if self.bytes + size > self.max_bytes:
                self.out_of_bytes = True
                continue
            self.bytes += size
            self.rows.append(converted)
            self.raw.append(row)

    def fill(self, fetchmany: Callable[[int], Sequence[Sequence[Any]]]) -> bool:
        """Fetch until the keeper is full; False when the result ended first."""
        while not self.full:
            chunk = fetchmany(self.chunk(self.max_rows - len(self.rows)))
            if not chunk:
                return False
            self.take(chunk)
        return True

    def count_rest(self, fetchmany: Callable[[int], Sequence[Sequence[Any]]]) -> None:
        while chunk := fetchmany(self.chunk()):
            self.seen += len(chunk)
            self.widest = max(self.widest, max(_raw_size(row) for row in chunk))
