"""Groups: /admin/groups/ and what their permissions grant."""

from __future__ import annotations

import pytest

from labkeeper.auth.authenticate import authenticate
from labkeeper.auth.principal import GLOBAL_PERMISSIONS
from tests.auth.helpers import assert_bad, assert_error, post_raw
from tests.conftest import Instance


def test_create_get_list_update_delete(instance: Instance) -> None:
    created = instance.admin.post(
        "/admin/groups/",
        json={
            "name": "data team",
            "description": None,
            "sourceType": "LOCAL",
            "mayCreateProjects": True,
            "mayDevelopPlugins": True,
            "someNote": {"x": 1},
        },
    )
    assert created.status_code == 200, created.text
    doc = created.json()
    assert doc["name"] == "data team" and doc["description"] == "" and doc["admin"] is False
    assert doc["sourceType"] == "LOCAL" and doc["mayCreateProjects"] is True
    for permission in GLOBAL_PERMISSIONS:
        assert isinstance(doc[permission], bool)
    assert doc["mayDevelopPlugins"] is True and doc["someNote"] == {"x": 1}

    assert instance.admin.get("/admin/groups/data team").json() == doc
    names = [g["name"] for g in instance.admin.get("/admin/groups/").json()]
    assert names == ["administrators", "data team"]
    assert [g["name"] for g in instance.admin.get("/admin/groups/", params={"offset": 1}).json()] == [
        "data team"
    ]
    assert [g["name"] for g in instance.admin.get("/admin/groups/", params={"limit": 1}).json()] == [
        "administrators"
    ]

    doc["description"] = "The data team"
    doc["mayCreateProjects"] = False
    doc["mayWriteUnsafeCode"] = True
    updated = instance.admin.put("/admin/groups/data team", json=doc)
    assert updated.status_code == 200, updated.text
    again = instance.admin.get("/admin/groups/data team").json()
    assert again["description"] == "The data team" and again["mayCreateProjects"] is False
    assert again["mayWriteUnsafeCode"] is True and again["someNote"] == {"x": 1}

    assert instance.admin.delete("/admin/groups/data team").status_code == 204
    assert_error(instance.admin.get("/admin/groups/data team"), 404, "data team")
    assert_error(instance.admin.delete("/admin/groups/data team"), 404)
    assert_error(instance.admin.put("/admin/groups/data team", json={}), 404)


def test_group_permissions_reach_their_members(instance: Instance) -> None:
    key = instance.make_user("ann", ["builders"])
    assert not authenticate(instance.store, key).has("mayCreateCodeEnvs")
    instance.admin.put("/admin/groups/builders", json={"mayCreateCodeEnvs": True})
    principal = authenticate(instance.store, key)
    assert principal.has("mayCreateCodeEnvs") and not principal.admin
    instance.admin.put("/admin/groups/builders", json={"admin": True})
    assert authenticate(instance.store, key).admin
    assert instance.client(key).get("/admin/users/").status_code == 200
    instance.admin.delete("/admin/groups/builders")
    assert instance.admin.get("/admin/users/ann").json()["groups"] == []
    assert_error(instance.client(key).get("/admin/users/"), 403)


def test_deleting_a_group_removes_it_from_global_keys(instance: Instance) -> None:
    instance.admin.post("/admin/groups/", json={"name": "ops", "admin": True})
    key = instance.admin.post("/admin/global-api-keys/", json={"groups": ["ops"]}).json()
    assert instance.client(key["key"]).get("/admin/users/").status_code == 200
    instance.admin.delete("/admin/groups/ops")
    assert instance.admin.get(f"/admin/global-api-keys/{key['id']}").json()["groups"] == []
    # A new group with the old name grants the key nothing.
    instance.admin.post("/admin/groups/", json={"name": "ops", "admin": True})
    assert_error(instance.client(key["key"]).get("/admin/users/"), 403)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "../etc"}, "group name"),
        ({"name": "tab\tname"}, "group name"),
        ({"name": "x" * 101}, "group name"),
        ({"name": None}, "group name"),
        ({}, "group name"),
        ({"name": "g", "admin": "true"}, "admin"),
        ({"name": "g", "mayCreateProjects": 1}, "mayCreateProjects"),
        ({"name": "g", "mayWriteUnsafeCode": None}, "mayWriteUnsafeCode"),
        ({"name": "g", "description": 12}, "description"),
        ({"name": "g", "description": "d" * 5000}, "description"),
        ({"name": "g", "sourceType": "L D A P"}, "sourceType"),
    ],
)
def test_bad_group_bodies(instance: Instance, body: dict, field: str) -> None:
    assert_bad(instance.admin.post("/admin/groups/", json=body), field)
    assert [g["name"] for g in instance.admin.get("/admin/groups/").json()] == ["administrators"]


def test_bad_requests(instance: Instance) -> None:
    assert_bad(post_raw(instance.admin, "/admin/groups/", b"{'single': 'quotes'}"), "json")
    assert_bad(post_raw(instance.admin, "/admin/groups/", b"42"), "object")
    instance.admin.post("/admin/groups/", json={"name": "g"})
    assert_error(instance.admin.post("/admin/groups/", json={"name": "g"}), 409, "g")
    assert_bad(instance.admin.put("/admin/groups/g", json={"name": "h"}), "renamed")
    assert_bad(instance.admin.put("/admin/groups/g", json={"admin": "no"}), "admin")
    assert_bad(instance.admin.get("/admin/groups/..g"), "group name")


def test_admin_only(instance: Instance) -> None:
    client = instance.client(instance.make_user("joe", ["plain"]))
    for response in (
        client.get("/admin/groups/"),
        client.post("/admin/groups/", json={"name": "mine", "admin": True}),
        client.get("/admin/groups/plain"),
        client.put("/admin/groups/plain", json={"admin": True}),
        client.delete("/admin/groups/plain"),
    ):
        assert_error(response, 403, "administrator")
    assert instance.admin.get("/admin/groups/plain").json()["admin"] is False
