"""Small assertions shared by the auth tests."""

from __future__ import annotations

from tests.helpers import assert_bad, assert_error

__all__ = ["assert_bad", "assert_error", "post_raw", "put_raw"]


def post_raw(client, path: str, raw: bytes):  # type: ignore[no-untyped-def]
    return client.post(path, content=raw, headers={"Content-Type": "application/json"})


def put_raw(client, path: str, raw: bytes):  # type: ignore[no-untyped-def]
    return client.put(path, content=raw, headers={"Content-Type": "application/json"})
