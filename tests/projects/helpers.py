"""Helpers shared by the project and usage tests."""

from __future__ import annotations

from typing import Any

from tests.conftest import Instance
from tests.helpers import assert_error

__all__ = ["assert_error", "create", "grant", "keys"]


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
