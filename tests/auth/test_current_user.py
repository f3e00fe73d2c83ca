"""GET/PUT /current-user: the caller's own identity and settings."""

from __future__ import annotations

from tests.auth.helpers import assert_bad, assert_error
from tests.conftest import ADMIN_KEY, Instance


def test_a_user_sees_itself(instance: Instance) -> None:
    client = instance.client(instance.make_user("ann", ["team"]))
    me = client.get("/current-user")
    assert me.status_code == 200, me.text
    doc = me.json()
    assert doc["login"] == "ann" and doc["groups"] == ["team"] and doc["enabled"] is True
    assert "adminProperties" not in doc and "password" not in doc
    admin = instance.client(ADMIN_KEY).get("/current-user").json()
    assert admin["login"] == "admin" and admin["groups"] == ["administrators"]


def test_a_user_edits_its_own_settings_only(instance: Instance) -> None:
    client = instance.client(instance.make_user("bob", ["team"]))
    doc = client.get("/current-user").json()
    doc.update(
        displayName="Bobby",
        email="bob@x.org",
        userProperties={"theme": "dark"},
        groups=["administrators"],
        enabled=False,
        userProfile="ADMIN",
        adminProperties={"x": 1},
    )
    response = client.put("/current-user", json=doc)
    assert response.status_code == 200, response.text
    seen = instance.admin.get("/admin/users/bob").json()
    assert seen["displayName"] == "Bobby" and seen["email"] == "bob@x.org"
    assert seen["userProperties"] == {"theme": "dark"}
    assert seen["groups"] == ["team"] and seen["enabled"] is True and seen["userProfile"] == "DATA_SCIENTIST"
    assert seen["adminProperties"] == {}
    assert_error(client.get("/admin/users/"), 403)
    assert_bad(client.put("/current-user", json={"login": "someone"}), "login")
    assert_bad(client.put("/current-user", json={"displayName": 7}), "displayName")


def test_a_global_key_without_user(instance: Instance) -> None:
    instance.admin.post("/admin/groups/", json={"name": "bots"})
    key = instance.admin.post("/admin/global-api-keys/", json={"label": "robot", "groups": ["bots"]}).json()
    client = instance.client(key["key"])
    me = client.get("/current-user")
    assert me.status_code == 200, me.text
    doc = me.json()
    assert doc["login"] == f"apikey:{key['id']}" and doc["displayName"] == "robot"
    assert doc["groups"] == ["bots"] and doc["sourceType"] == "API_KEY" and doc["admin"] is False
    assert key["key"] not in me.text
    assert_error(client.put("/current-user", json={"displayName": "x"}), 403, "personal")


def test_a_global_key_impersonating_a_user(instance: Instance) -> None:
    instance.make_user("svc", ["team"])
    key = instance.admin.post("/admin/global-api-keys/", json={"dssUserForImpersonation": "svc"}).json()
    client = instance.client(key["key"])
    assert client.get("/current-user").json()["login"] == "svc"
    assert_error(client.put("/current-user", json={"displayName": "hijacked"}), 403)
    assert instance.admin.get("/admin/users/svc").json()["displayName"] == "Svc"


def test_anonymous_is_401(instance: Instance) -> None:
    assert_error(instance.client(None).get("/current-user"), 401)
