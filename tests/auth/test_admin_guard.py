"""No write may leave the instance without a usable key that has admin rights."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.auth.helpers import assert_error
from tests.conftest import Instance


def bootstrap_key_id(instance: Instance) -> str:
    return instance.admin.get("/personal-api-keys/").json()[0]["id"]


def admin_user(instance: Instance) -> dict:
    return instance.admin.get("/admin/users/admin").json()


def put_admin(instance: Instance, **change: object) -> object:
    return instance.admin.put("/admin/users/admin", json=admin_user(instance) | change)


# Each takes away the bootstrap admin's rights (its personal key is the only admin key).
LOCKOUTS: dict[str, Callable[[Instance], object]] = {
    "delete the admin user": lambda i: i.admin.delete("/admin/users/admin?allowSelfDeletion=true"),
    "disable the admin user": lambda i: put_admin(i, enabled=False),
    "take the admin out of its groups": lambda i: put_admin(i, groups=[]),
    "delete the admin group": lambda i: i.admin.delete("/admin/groups/administrators"),
    "take admin from the group": lambda i: i.admin.put("/admin/groups/administrators", json={"admin": False}),
    "revoke the admin key": lambda i: i.admin.delete(f"/personal-api-keys/{bootstrap_key_id(i)}"),
}


@pytest.mark.parametrize("lockout", LOCKOUTS)
def test_the_last_admin_key_cannot_be_taken_away(instance: Instance, lockout: str) -> None:
    before = (admin_user(instance), instance.admin.get("/admin/groups/administrators").json())
    assert_error(LOCKOUTS[lockout](instance), 409, "admin rights")
    assert (admin_user(instance), instance.admin.get("/admin/groups/administrators").json()) == before
    assert instance.admin.get("/admin/general-settings").status_code == 200


@pytest.mark.parametrize("lockout", LOCKOUTS)
def test_it_can_once_another_admin_key_exists(instance: Instance, lockout: str) -> None:
    spare = instance.admin.post("/admin/global-api-keys/", json={"globalPermissions": {"admin": True}}).json()
    answer = LOCKOUTS[lockout](instance)
    assert answer.status_code in (200, 204), answer.text
    with TestClient(instance.app, base_url="http://testserver/public/api") as client:
        client.headers["Authorization"] = f"Bearer {spare['key']}"
        assert client.get("/admin/general-settings").status_code == 200


def test_the_last_admin_global_key_is_kept(instance: Instance) -> None:
    robot = instance.admin.post("/admin/global-api-keys/", json={"globalPermissions": {"admin": True}}).json()
    robot_client = instance.client(robot["key"])
    # The bootstrap key goes; the robot is now the only admin key.
    assert robot_client.delete(f"/personal-api-keys/{bootstrap_key_id(instance)}").status_code == 204
    assert_error(robot_client.delete(f"/admin/global-api-keys/{robot['id']}"), 409, "admin rights")
    demoted = robot_client.put(
        f"/admin/global-api-keys/{robot['id']}", json={"globalPermissions": {"admin": False}}
    )
    assert_error(demoted, 409, "admin rights")
    assert robot_client.get("/admin/users/").status_code == 200
