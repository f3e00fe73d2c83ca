"""Helpers shared by the project and usage tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Instance


def assert_error(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """The answer is a DSS error body with `status` whose message names every word."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) >= {"errorType", "message", "detailedMessage"}, body
    text = (body["message"] + " " + body["detailedMessage"]).lower()
    for word in words:
        assert word.lower() in text, (word, body)
    return body


def create(instance: Instance, key: str, client=None, **extra: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    answer = (client or instance.admin).post(
        "/projects/", json={"projectKey": key, "name": key.title(), **extra}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def grant(instance: Instance, key: str, group: str, **flags: bool) -> None:
    perms = instance.admin.get(f"/projects/{key}/permissions").json()
    perms["permissions"].append({"group": group, **flags})
    answer = instance.admin.put(f"/projects/{key}/permissions", json=perms)
    assert answer.status_code == 204, answer.text


def keys(client) -> list[str]:  # type: ignore[no-untyped-def]
    answer = client.get("/projects/")
    assert answer.status_code == 200, answer.text
    return [item["projectKey"] for item in answer.json()]
