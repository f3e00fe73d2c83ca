"""Small assertions shared by the auth tests."""

from __future__ import annotations

from typing import Any

import httpx


def assert_error(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """The answer is a DSS error body with `status`, and its message names every word."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) >= {"errorType", "message", "detailedMessage"}, body
    text = (body["message"] + " " + body["detailedMessage"]).lower()
    for word in words:
        assert word.lower() in text, (word, body)
    return body


def assert_bad(response: httpx.Response, *words: str) -> dict[str, Any]:
    return assert_error(response, 400, *words)


def post_raw(client, path: str, raw: bytes):  # type: ignore[no-untyped-def]
    return client.post(path, content=raw, headers={"Content-Type": "application/json"})


def put_raw(client, path: str, raw: bytes):  # type: ignore[no-untyped-def]
    return client.put(path, content=raw, headers={"Content-Type": "application/json"})
