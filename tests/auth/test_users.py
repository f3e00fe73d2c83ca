"""Users: /admin/users/ through the in-process app."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from labkeeper.auth.models import ApiKey, Membership, User
from labkeeper.auth.passwords import verify_password
from tests.auth.helpers import assert_bad, assert_error, post_raw, put_raw
from tests.conftest import Instance


def _group(instance: Instance, name: str, **fields: object) -> None:
    response = instance.admin.post("/admin/groups/", json={"name": name, **fields})
    assert response.status_code == 200, response.text


def test_create_get_list_update_delete(instance: Instance) -> None:
    _group(instance, "analysts")
    created = instance.admin.post(
        "/admin/users/",
        json={
            "login": "alice",
            "password": "s3cret-pass",
            "displayName": "Alice",
            "email": "alice@example.org",
            "groups": ["analysts"],
            "userProfile": "DATA_SCIENTIST",
            "sourceType": "LOCAL",
            "somethingElse": {"kept": [1, 2]},
        },
    )
    assert created.status_code == 200, created.text
    doc = created.json()
    assert doc["login"] == "alice" and doc["displayName"] == "Alice" and doc["email"] == "alice@example.org"
    assert doc["groups"] == ["analysts"] and doc["enabled"] is True and doc["sourceType"] == "LOCAL"
    assert doc["userProfile"] == "DATA_SCIENTIST" and doc["creationDate"] > 0
    assert doc["somethingElse"] == {"kept": [1, 2]}
    assert doc["userProperties"] == {} and doc["secrets"] == [] and doc["credentials"] == {}
    assert "password" not in doc and "s3cret-pass" not in created.text

    got = instance.admin.get("/admin/users/alice").json()
    assert got == doc
    listed = instance.admin.get("/admin/users/").json()
    assert [u["login"] for u in listed] == ["admin", "alice"]
    assert "userProperties" not in listed[1]
    with_settings = instance.admin.get("/admin/users/", params={"includeSettings": "True"}).json()
    assert with_settings[1]["somethingElse"] == {"kept": [1, 2]}

    got["displayName"] = "Alice A."
    got["enabled"] = False
    got["groups"] = []
    got["userProperties"] = {"team": "blue"}
    updated = instance.admin.put("/admin/users/alice", json=got)
    assert updated.status_code == 200, updated.text
    again = instance.admin.get("/admin/users/alice").json()
    assert again["displayName"] == "Alice A." and again["enabled"] is False and again["groups"] == []
    assert again["userProperties"] == {"team": "blue"} and again["email"] == "alice@example.org"
    assert again["creationDate"] == doc["creationDate"]

    assert instance.admin.delete("/admin/users/alice").status_code == 204
    assert_error(instance.admin.get("/admin/users/alice"), 404, "alice")
    assert_error(instance.admin.delete("/admin/users/alice"), 404, "alice")


def test_partial_update_keeps_what_is_not_sent(instance: Instance) -> None:
    _group(instance, "g1")
    instance.admin.post("/admin/users/", json={"login": "bob", "displayName": "Bob", "groups": ["g1"]})
    assert instance.admin.put("/admin/users/bob", json={"email": "bob@x.org"}).status_code == 200
    doc = instance.admin.get("/admin/users/bob").json()
    assert doc["displayName"] == "Bob" and doc["groups"] == ["g1"] and doc["email"] == "bob@x.org"


def test_password_is_a_salted_hash_never_returned(instance: Instance) -> None:
    for login in ("p1", "p2"):
        response = instance.admin.post("/admin/users/", json={"login": login, "password": "same-password"})
        assert response.status_code == 200
        assert "same-password" not in response.text
    with instance.store.read() as s:
        hashes = {
            u.login: u.password_hash for u in s.scalars(select(User).where(User.login.in_(["p1", "p2"])))
        }
    assert hashes["p1"] != hashes["p2"], "the same password must hash differently (salt)"
    for stored in hashes.values():
        assert stored.startswith("scrypt$") and "same-password" not in stored
        assert verify_password("same-password", stored)
        assert not verify_password("other-password", stored)
    assert instance.admin.put("/admin/users/p1", json={"password": "changed-password"}).status_code == 200
    with instance.store.read() as s:
        changed = s.get(User, "p1").password_hash
    assert verify_password("changed-password", changed) and not verify_password("same-password", changed)
    everything = instance.admin.get("/admin/users/", params={"includeSettings": "true"}).text
    assert "password" not in everything.lower() and "scrypt$" not in everything


def test_unknown_group_is_a_400_naming_it_and_writes_nothing(instance: Instance) -> None:
    _group(instance, "real")
    response = instance.admin.post("/admin/users/", json={"login": "carol", "groups": ["real", "ghosts"]})
    assert_bad(response, "ghosts")
    assert_error(instance.admin.get("/admin/users/carol"), 404)
    instance.admin.post("/admin/users/", json={"login": "carol", "groups": ["real"]})
    assert_bad(instance.admin.put("/admin/users/carol", json={"groups": ["phantoms"]}), "phantoms")
    assert instance.admin.get("/admin/users/carol").json()["groups"] == ["real"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"login": "../x"}, "login"),
        ({"login": "a/b"}, "login"),
        ({"login": "bad\x01name"}, "login"),
        ({"login": " padded"}, "login"),
        ({"login": "x" * 101}, "login"),
        ({"login": ""}, "login"),
        ({"login": 42}, "login"),
        ({}, "login"),
        ({"login": "ok", "displayName": 3}, "displayName"),
        ({"login": "ok", "displayName": "x" * 201}, "displayName"),
        ({"login": "ok", "displayName": "bell\x07"}, "displayName"),
        ({"login": "ok", "email": ["a"]}, "email"),
        ({"login": "ok", "enabled": "yes"}, "enabled"),
        ({"login": "ok", "groups": "analysts"}, "groups"),
        ({"login": "ok", "groups": ["../up"]}, "group name"),
        ({"login": "ok", "groups": [1]}, "groups.0"),
        ({"login": "ok", "userProfile": "not a profile!"}, "userProfile"),
        ({"login": "ok", "sourceType": 5}, "sourceType"),
        ({"login": "ok", "password": 1234}, "password"),
        ({"login": "ok", "password": "p" * 2000}, "password"),
        ({"login": "ok", "userProperties": ["a"]}, "userProperties"),
        ({"login": "ok", "secrets": {"a": 1}}, "secrets"),
    ],
)
def test_bad_user_bodies_are_400_naming_the_field(instance: Instance, body: dict, field: str) -> None:
    assert_bad(instance.admin.post("/admin/users/", json=body), field)
    assert [u["login"] for u in instance.admin.get("/admin/users/").json()] == ["admin"]


def test_malformed_bodies(instance: Instance) -> None:
    assert_bad(post_raw(instance.admin, "/admin/users/", b"{not json"), "json")
    assert_bad(post_raw(instance.admin, "/admin/users/", b'["alice"]'), "object")
    assert_bad(post_raw(instance.admin, "/admin/users/", b""), "body")
    assert_bad(put_raw(instance.admin, "/admin/users/admin", b"{"), "json")
    assert_bad(put_raw(instance.admin, "/admin/users/admin", b"null"), "object")


def test_bad_logins_in_the_path(instance: Instance) -> None:
    assert_bad(instance.admin.get("/admin/users/..x"), "login")
    assert_bad(instance.admin.get("/admin/users/a%01b"), "login")
    assert_bad(instance.admin.put("/admin/users/a..b", json={}), "login")
    assert_bad(instance.admin.delete("/admin/users/%20lead"), "login")
    # An encoded '/' never reaches a user route.
    assert instance.admin.get("/admin/users/..%2Fx").status_code in (400, 404)


def test_login_cannot_change_and_duplicates_conflict(instance: Instance) -> None:
    assert instance.admin.post("/admin/users/", json={"login": "dave"}).status_code == 200
    assert_error(instance.admin.post("/admin/users/", json={"login": "dave"}), 409, "dave")
    assert_bad(instance.admin.put("/admin/users/dave", json={"login": "eve"}), "login")
    assert_error(instance.admin.put("/admin/users/nobody", json={"displayName": "x"}), 404, "nobody")


def test_admin_only(instance: Instance) -> None:
    key = instance.make_user("mallory", ["plain"], group_permissions={"mayCreateProjects": True})
    client = instance.client(key)
    calls = [
        client.get("/admin/users/"),
        client.post("/admin/users/", json={"login": "x"}),
        client.get("/admin/users/admin"),
        client.put("/admin/users/mallory", json={"groups": ["administrators"]}),
        client.delete("/admin/users/admin"),
    ]
    for response in calls:
        assert_error(response, 403, "administrator")
    assert instance.admin.get("/admin/users/mallory").json()["groups"] == ["plain"]
    assert_error(instance.client(None).get("/admin/users/"), 401)
    assert_error(instance.client("lk_not_a_real_key_000000000").get("/admin/users/"), 401)


def test_deleting_a_user_deletes_its_keys(instance: Instance) -> None:
    key = instance.make_user("frank", ["team"])
    client = instance.client(key)
    second = client.post("/personal-api-keys/", json={"label": "laptop"}).json()["key"]
    assert client.get("/current-user").status_code == 200
    assert instance.admin.delete("/admin/users/frank").status_code == 204
    assert_error(client.get("/current-user"), 401)
    assert_error(instance.client(second).get("/current-user"), 401)
    with instance.store.read() as s:
        assert s.scalars(select(ApiKey).where(ApiKey.user_login == "frank")).all() == []
        assert s.scalars(select(Membership).where(Membership.login == "frank")).all() == []


def test_self_deletion_needs_confirmation(instance: Instance) -> None:
    assert_bad(instance.admin.delete("/admin/users/admin"), "allowSelfDeletion")
    assert instance.admin.get("/admin/users/admin").status_code == 200
    assert_bad(
        instance.admin.delete("/admin/users/admin", params={"allowSelfDeletion": "maybe"}),
        "allowSelfDeletion",
    )


def test_user_impersonated_by_a_global_key_is_not_deleted(instance: Instance) -> None:
    instance.admin.post("/admin/users/", json={"login": "svc"})
    key = instance.admin.post("/admin/global-api-keys/", json={"dssUserForImpersonation": "svc"}).json()
    assert_error(instance.admin.delete("/admin/users/svc"), 409, key["id"])
    assert instance.admin.delete(f"/admin/global-api-keys/{key['id']}").status_code == 204
    assert instance.admin.delete("/admin/users/svc").status_code == 204


def test_disabled_user_keys_stop_working(instance: Instance) -> None:
    key = instance.make_user("gina")
    assert instance.client(key).get("/current-user").status_code == 200
    assert instance.admin.put("/admin/users/gina", json={"enabled": False}).status_code == 200
    assert_error(instance.client(key).get("/current-user"), 401, "disabled")
    assert instance.admin.put("/admin/users/gina", json={"enabled": True}).status_code == 200
    assert instance.client(key).get("/current-user").status_code == 200


def test_paging(instance: Instance) -> None:
    for login in ("u1", "u2", "u3", "u4"):
        instance.admin.post("/admin/users/", json={"login": login})
    logins = lambda r: [u["login"] for u in r.json()]  # noqa: E731
    assert logins(instance.admin.get("/admin/users/")) == ["admin", "u1", "u2", "u3", "u4"]
    assert logins(instance.admin.get("/admin/users/", params={"limit": 2})) == ["admin", "u1"]
    assert logins(instance.admin.get("/admin/users/", params={"limit": 2, "offset": 3})) == ["u3", "u4"]
    assert_bad(instance.admin.get("/admin/users/", params={"limit": "many"}), "limit")
    assert_bad(instance.admin.get("/admin/users/", params={"includeSettings": "perhaps"}), "includeSettings")
