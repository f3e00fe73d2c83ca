"""Global API keys: /admin/global-api-keys/ and the deprecated /admin/globalAPIKeys/{secret}."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from labkeeper.auth.authenticate import authenticate
from labkeeper.auth.keys import masked
from labkeeper.auth.models import ApiKey
from labkeeper.db import now_ms
from tests.auth.helpers import assert_bad, assert_error, post_raw
from tests.conftest import Instance

DAY = 86_400_000


def _create(instance: Instance, **body: object) -> dict:
    response = instance.admin.post("/admin/global-api-keys/", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_create_shows_the_secret_once_then_masked(instance: Instance) -> None:
    created = _create(instance, label="ci", description="for the CI", globalPermissions={"admin": False})
    secret = created["key"]
    assert secret.startswith("lk_") and len(secret) > 30
    assert created["label"] == "ci" and created["description"] == "for the CI"
    assert created["globalPermissions"]["admin"] is False and created["groups"] == []
    assert created["dssUserForImpersonation"] is None and created["createdBy"] == "admin"
    assert created["createdOn"] > 0 and created["expiresOn"] == 0 and created["lastUsedOn"] == 0

    shown = masked(secret[:7])
    got = instance.admin.get(f"/admin/global-api-keys/{created['id']}")
    listed = instance.admin.get("/admin/global-api-keys/")
    by_secret = instance.admin.get(f"/admin/globalAPIKeys/{secret}")
    for response in (got, listed, by_secret):
        assert response.status_code == 200, response.text
        assert secret not in response.text
    assert got.json()["key"] == shown and by_secret.json()["key"] == shown
    assert by_secret.json()["id"] == created["id"]
    assert [(k["id"], k["key"]) for k in listed.json()] == [(created["id"], shown)]
    expected = dict(created, key=shown)
    assert got.json() == expected


def test_the_key_works_with_its_rights(instance: Instance) -> None:
    plain = _create(instance, label="plain")
    admin = _create(instance, label="root", globalPermissions={"admin": True})
    assert_error(instance.client(plain["key"]).get("/admin/users/"), 403, "administrator")
    assert instance.client(admin["key"]).get("/admin/users/").status_code == 200
    instance.admin.post("/admin/groups/", json={"name": "builders", "mayCreateCodeEnvs": True})
    grouped = _create(instance, groups=["builders"], globalPermissions={"mayCreateProjects": True})
    principal = authenticate(instance.store, grouped["key"])
    assert principal.has("mayCreateCodeEnvs") and principal.has("mayCreateProjects")
    assert not principal.has("mayWriteUnsafeCode") and not principal.admin
    assert principal.login is None and principal.groups == frozenset({"builders"})
    me = instance.client(grouped["key"]).get("/current-user").json()
    assert me["groups"] == ["builders"] and me["login"] == f"apikey:{grouped['id']}"


def test_update(instance: Instance) -> None:
    instance.admin.post("/admin/groups/", json={"name": "readers"})
    instance.admin.post("/admin/users/", json={"login": "svc"})
    key = _create(instance, label="old")
    doc = instance.admin.get(f"/admin/global-api-keys/{key['id']}").json()
    doc.update(
        label="new",
        description="changed",
        groups=["readers"],
        dssUserForImpersonation="svc",
        projects=[{"projectKey": "P", "permissions": {"readProjectContent": True}}],
    )
    doc["globalPermissions"]["admin"] = True
    response = instance.admin.put(f"/admin/global-api-keys/{key['id']}", json=doc)
    assert response.status_code == 200, response.text
    again = instance.admin.get(f"/admin/global-api-keys/{key['id']}").json()
    assert again["label"] == "new" and again["description"] == "changed" and again["groups"] == ["readers"]
    assert again["dssUserForImpersonation"] == "svc" and again["globalPermissions"]["admin"] is True
    assert again["projects"] == doc["projects"] and again["createdOn"] == key["createdOn"]
    principal = authenticate(instance.store, key["key"])
    assert principal.admin and principal.login == "svc" and principal.key_kind == "GLOBAL"
    # The key field is read-only: sending anything there changes nothing.
    again["key"] = "lk_attacker_chosen_secret_value"
    assert instance.admin.put(f"/admin/global-api-keys/{key['id']}", json=again).status_code == 200
    assert_error(instance.client("lk_attacker_chosen_secret_value").get("/current-user"), 401)
    assert instance.client(key["key"]).get("/current-user").status_code == 200
    assert_bad(instance.admin.put(f"/admin/global-api-keys/{key['id']}", json={"id": "other"}), "id")


def test_lifetimes(instance: Instance) -> None:
    before = now_ms()
    short = _create(instance, expiry=3)
    assert short["expiry"] == 3
    assert before + 3 * DAY <= short["expiresOn"] <= now_ms() + 3 * DAY
    at = now_ms() + 10 * DAY
    fixed = _create(instance, expiresOn=at)
    assert fixed["expiresOn"] == at and "expiry" not in fixed
    assert_bad(
        instance.admin.post("/admin/global-api-keys/", json={"expiresOn": now_ms() - 1000}), "expiresOn"
    )
    # Changing the lifetime through `expiry` counts from the creation.
    doc = instance.admin.get(f"/admin/global-api-keys/{short['id']}").json()
    doc["expiry"] = 30
    instance.admin.put(f"/admin/global-api-keys/{short['id']}", json=doc)
    assert instance.admin.get(f"/admin/global-api-keys/{short['id']}").json()["expiresOn"] == (
        short["createdOn"] + 30 * DAY
    )
    doc["expiry"] = 0
    instance.admin.put(f"/admin/global-api-keys/{short['id']}", json=doc)
    assert instance.admin.get(f"/admin/global-api-keys/{short['id']}").json()["expiresOn"] == 0


def test_max_lifetime_setting(instance: Instance) -> None:
    settings = instance.admin.get("/admin/general-settings").json()
    settings["apiKeys"]["maxLifetimeDays"] = 7
    assert instance.admin.put("/admin/general-settings", json=settings).status_code == 204
    defaulted = _create(instance, label="no lifetime asked")
    assert defaulted["expiry"] == 7 and defaulted["expiresOn"] == defaulted["createdOn"] + 7 * DAY
    assert _create(instance, expiry=7)["expiry"] == 7
    assert_bad(instance.admin.post("/admin/global-api-keys/", json={"expiry": 8}), "maxLifetimeDays", "7")
    assert_bad(instance.admin.post("/admin/global-api-keys/", json={"expiry": 0}), "maxLifetimeDays")
    assert_bad(instance.admin.post("/admin/global-api-keys/", json={"expiresOn": 0}), "maxLifetimeDays")
    far = now_ms() + 30 * DAY
    assert_bad(instance.admin.post("/admin/global-api-keys/", json={"expiresOn": far}), "maxLifetimeDays")
    doc = dict(defaulted, expiry=60)
    assert_bad(instance.admin.put(f"/admin/global-api-keys/{defaulted['id']}", json=doc), "maxLifetimeDays")
    assert instance.admin.get(f"/admin/global-api-keys/{defaulted['id']}").json()["expiry"] == 7
    personal = instance.admin.post("/personal-api-keys/", json={"label": "x"}).json()
    assert personal["expiresOn"] == personal["createdOn"] + 7 * DAY
    assert_bad(instance.admin.post("/personal-api-keys/", json={"expiry": 9}), "maxLifetimeDays")


def test_revoked_and_expired_keys_are_refused(instance: Instance) -> None:
    key = _create(instance, globalPermissions={"admin": True})
    client = instance.client(key["key"])
    assert client.get("/admin/users/").status_code == 200
    assert instance.admin.delete(f"/admin/global-api-keys/{key['id']}").status_code == 204
    assert_error(client.get("/admin/users/"), 401, "revoked")
    assert_error(instance.admin.get(f"/admin/global-api-keys/{key['id']}"), 404)
    assert_error(instance.admin.delete(f"/admin/global-api-keys/{key['id']}"), 404)

    other = _create(instance, globalPermissions={"admin": True})
    with instance.store.begin() as s:
        s.execute(update(ApiKey).where(ApiKey.id == other["id"]).values(expires_on=now_ms() - 1))
    assert_error(instance.client(other["key"]).get("/admin/users/"), 401, "expired")


def test_last_used_on_is_updated(instance: Instance) -> None:
    key = _create(instance)
    assert instance.admin.get(f"/admin/global-api-keys/{key['id']}").json()["lastUsedOn"] == 0
    before = now_ms()
    instance.client(key["key"]).get("/current-user")
    used = instance.admin.get(f"/admin/global-api-keys/{key['id']}").json()["lastUsedOn"]
    assert before <= used <= now_ms()


def test_the_secret_never_reaches_the_audit_log(instance: Instance) -> None:
    key = _create(instance, label="audited")
    secret = key["key"]
    instance.admin.get(f"/admin/globalAPIKeys/{secret}")
    refused = instance.admin.delete(f"/admin/globalAPIKeys/{secret}")
    assert refused.status_code == 405 and secret not in refused.text
    instance.admin.put(f"/admin/global-api-keys/{key['id']}", json={"label": "renamed"})
    instance.client(secret).post("/admin/audit/custom/probe", json={"note": "hello"})
    instance.admin.delete(f"/admin/global-api-keys/{key['id']}")
    audit = instance.admin.get("/admin/audit")
    assert audit.status_code == 200
    events = audit.json()
    assert any(e["action"] == "POST /admin/global-api-keys/" for e in events)
    assert any(e["action"] == "DELETE /admin/globalAPIKeys/{secret}" for e in events)
    assert secret not in audit.text and secret[7:] not in audit.text


def test_deprecated_lookup_by_secret(instance: Instance) -> None:
    assert_error(instance.admin.get("/admin/globalAPIKeys/lk_no_such_secret_at_all"), 404, "secret")
    response = instance.admin.get("/admin/globalAPIKeys/lk_no_such_secret_at_all")
    assert "lk_no_such_secret_at_all" not in response.text
    # A personal key's secret is not a global key.
    personal = instance.admin.post("/personal-api-keys/", json={}).json()["key"]
    assert_error(instance.admin.get(f"/admin/globalAPIKeys/{personal}"), 404)
    key = _create(instance)
    client = instance.client(instance.make_user("nosy"))
    assert_error(client.get(f"/admin/globalAPIKeys/{key['key']}"), 403, "administrator")


def test_unknown_groups_and_users(instance: Instance) -> None:
    assert_bad(instance.admin.post("/admin/global-api-keys/", json={"groups": ["nope"]}), "nope")
    assert_bad(
        instance.admin.post("/admin/global-api-keys/", json={"dssUserForImpersonation": "ghost"}), "ghost"
    )
    key = _create(instance)
    assert_bad(instance.admin.put(f"/admin/global-api-keys/{key['id']}", json={"groups": ["nope"]}), "nope")
    assert instance.admin.get("/admin/global-api-keys/").json()[0]["groups"] == []
    assert len(instance.admin.get("/admin/global-api-keys/").json()) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"label": "x" * 201}, "label"),
        ({"label": 5}, "label"),
        ({"label": "a\x00b"}, "label"),
        ({"description": ["a"]}, "description"),
        ({"globalPermissions": True}, "globalPermissions"),
        ({"globalPermissions": {"admin": "yes"}}, "globalPermissions.admin"),
        ({"globalPermissions": {"mayCreateProjects": 1}}, "globalPermissions.mayCreateProjects"),
        ({"groups": "ops"}, "groups"),
        ({"groups": ["../x"]}, "group name"),
        ({"dssUserForImpersonation": "../root"}, "dssUserForImpersonation"),
        ({"expiry": -1}, "expiry"),
        ({"expiry": "soon"}, "expiry"),
        ({"expiry": True}, "expiry"),
        ({"expiresOn": "tomorrow"}, "expiresOn"),
        ({"expiresOn": -5}, "expiresOn"),
    ],
)
def test_bad_bodies(instance: Instance, body: dict, field: str) -> None:
    assert_bad(instance.admin.post("/admin/global-api-keys/", json=body), field)
    assert instance.admin.get("/admin/global-api-keys/").json() == []


def test_bad_requests_and_rights(instance: Instance) -> None:
    assert_bad(post_raw(instance.admin, "/admin/global-api-keys/", b"{"), "json")
    assert_bad(post_raw(instance.admin, "/admin/global-api-keys/", b"[]"), "object")
    assert_bad(instance.admin.get("/admin/global-api-keys/..%01"), "API key id")
    assert_error(instance.admin.get("/admin/global-api-keys/0123456789abcdef"), 404)
    key = _create(instance)
    client = instance.client(instance.make_user("pat", ["plain"]))
    for response in (
        client.get("/admin/global-api-keys/"),
        client.post("/admin/global-api-keys/", json={"globalPermissions": {"admin": True}}),
        client.get(f"/admin/global-api-keys/{key['id']}"),
        client.put(f"/admin/global-api-keys/{key['id']}", json={"globalPermissions": {"admin": True}}),
        client.delete(f"/admin/global-api-keys/{key['id']}"),
    ):
        assert_error(response, 403, "administrator")
    assert len(instance.admin.get("/admin/global-api-keys/").json()) == 1
    # Personal keys are not reachable through the global routes.
    personal = instance.admin.post("/personal-api-keys/", json={}).json()
    assert_error(instance.admin.get(f"/admin/global-api-keys/{personal['id']}"), 404)
    assert_error(instance.admin.delete(f"/admin/global-api-keys/{personal['id']}"), 404)


def test_paging(instance: Instance) -> None:
    ids = [_create(instance, label=f"k{i}")["id"] for i in range(3)]
    listed = instance.admin.get("/admin/global-api-keys/", params={"limit": 2, "offset": 1}).json()
    assert len(listed) == 2 and set(k["id"] for k in listed) <= set(ids)
    assert len(instance.admin.get("/admin/global-api-keys/").json()) == 3
