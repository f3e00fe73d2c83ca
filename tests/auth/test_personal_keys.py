"""Personal API keys: /personal-api-keys/ (own) and /admin/personal-api-keys/ (all users)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from labkeeper.auth import key_service
from labkeeper.auth.keys import masked
from labkeeper.auth.models import ApiKey
from labkeeper.db import now_ms
from tests.auth.helpers import assert_bad, assert_error, put_raw
from tests.conftest import Instance


def test_own_keys_round_trip(instance: Instance) -> None:
    client = instance.client(instance.make_user("ann", ["team"]))
    created = client.post("/personal-api-keys/", json={"label": "laptop", "description": "my laptop"})
    assert created.status_code == 200, created.text
    doc = created.json()
    secret = doc["key"]
    assert doc["user"] == "ann" and doc["label"] == "laptop" and doc["description"] == "my laptop"
    assert doc["createdBy"] == "ann" and doc["createdOn"] > 0 and doc["expiresOn"] == 0
    assert doc["lastUsedOn"] == 0

    listed = client.get("/personal-api-keys/")
    got = client.get(f"/personal-api-keys/{doc['id']}")
    for response in (listed, got):
        assert response.status_code == 200 and secret not in response.text
    assert got.json() == dict(doc, key=masked(secret[:7]))
    assert doc["id"] in [k["id"] for k in listed.json()]
    assert all(k["user"] == "ann" for k in listed.json())

    new = client.get(f"/personal-api-keys/{doc['id']}").json()
    new.update(label="desktop", description="moved")
    assert client.put(f"/personal-api-keys/{doc['id']}", json=new).status_code == 200
    again = client.get(f"/personal-api-keys/{doc['id']}").json()
    assert again["label"] == "desktop" and again["description"] == "moved"

    second = instance.client(secret)
    assert second.get("/current-user").json()["login"] == "ann"
    assert client.delete(f"/personal-api-keys/{doc['id']}").status_code == 204
    # Revocation holds from the very next request.
    assert_error(second.get("/current-user"), 401)
    assert_error(client.get(f"/personal-api-keys/{doc['id']}"), 404)


def test_a_key_can_revoke_itself(instance: Instance) -> None:
    client = instance.client(instance.make_user("bea"))
    own = client.get("/personal-api-keys/").json()
    assert len(own) == 1
    assert client.delete(f"/personal-api-keys/{own[0]['id']}").status_code == 204
    assert_error(client.get("/personal-api-keys/"), 401)


def test_other_users_keys_are_out_of_reach(instance: Instance) -> None:
    ann = instance.client(instance.make_user("ann"))
    bob = instance.client(instance.make_user("bob"))
    key = ann.post("/personal-api-keys/", json={"label": "ann's"}).json()
    # The own-key route makes keys for the caller, whatever `user` the body names.
    assert bob.post("/personal-api-keys/", json={"user": "ann"}).json()["user"] == "bob"
    assert key["id"] not in [k["id"] for k in bob.get("/personal-api-keys/").json()]
    assert_error(bob.get(f"/personal-api-keys/{key['id']}"), 404)
    assert_error(bob.put(f"/personal-api-keys/{key['id']}", json={"label": "mine now"}), 404)
    assert_error(bob.delete(f"/personal-api-keys/{key['id']}"), 404)
    assert ann.get(f"/personal-api-keys/{key['id']}").json()["label"] == "ann's"
    for response in (
        bob.get("/admin/personal-api-keys/"),
        bob.post("/admin/personal-api-keys/", json={"user": "ann"}),
    ):
        assert_error(response, 403, "administrator")
    # An admin reaches every user's keys.
    assert instance.admin.get(f"/personal-api-keys/{key['id']}").json()["user"] == "ann"
    assert (
        instance.admin.put(f"/personal-api-keys/{key['id']}", json={"label": "by admin"}).status_code == 200
    )
    assert instance.admin.delete(f"/personal-api-keys/{key['id']}").status_code == 204
    assert_error(instance.client(key["key"]).get("/current-user"), 401)


def test_admin_lists_and_creates_for_users(instance: Instance) -> None:
    instance.make_user("carl")
    created = instance.admin.post("/admin/personal-api-keys/", json={"user": "carl", "label": "issued"})
    assert created.status_code == 200, created.text
    doc = created.json()
    assert doc["user"] == "carl" and doc["createdBy"] == "admin" and doc["key"].startswith("lk_")
    assert instance.client(doc["key"]).get("/current-user").json()["login"] == "carl"
    everything = instance.admin.get("/admin/personal-api-keys/")
    assert doc["key"] not in everything.text
    assert {k["user"] for k in everything.json()} == {"admin", "carl"}
    assert all(k["key"].endswith("*" * 12) for k in everything.json())
    assert len(instance.admin.get("/admin/personal-api-keys/", params={"limit": 1}).json()) == 1
    # The admin's own listing has only the admin's keys.
    assert {k["user"] for k in instance.admin.get("/personal-api-keys/").json()} == {"admin"}
    assert_bad(instance.admin.post("/admin/personal-api-keys/", json={"user": "ghost"}), "ghost")
    assert_bad(instance.admin.post("/admin/personal-api-keys/", json={"label": "no user"}), "user")
    assert_bad(instance.admin.post("/admin/personal-api-keys/", json={"user": "../carl"}), "user")


def test_global_keys_have_no_personal_keys(instance: Instance) -> None:
    key = instance.admin.post("/admin/global-api-keys/", json={"globalPermissions": {"admin": False}}).json()
    client = instance.client(key["key"])
    assert client.get("/personal-api-keys/").json() == []
    assert_error(client.post("/personal-api-keys/", json={"label": "x"}), 403, "personal")
    # Even a global key that names a user cannot mint keys acting as that user.
    instance.make_user("dora")
    imp = instance.admin.post("/admin/global-api-keys/", json={"dssUserForImpersonation": "dora"}).json()
    impersonating = instance.client(imp["key"])
    assert_error(impersonating.post("/personal-api-keys/", json={}), 403)
    assert impersonating.get("/personal-api-keys/").json() == []


def test_session_keys_never_show(instance: Instance) -> None:
    instance.make_user("eve")
    key_id, secret = key_service.create_session_key(
        instance.store, login="eve", label="nb", lifetime_ms=60_000
    )
    session = instance.client(secret)
    assert session.get("/current-user").json()["login"] == "eve"
    eve_keys = [k["id"] for k in session.get("/personal-api-keys/").json()]
    all_keys = [k["id"] for k in instance.admin.get("/admin/personal-api-keys/").json()]
    global_keys = [k["id"] for k in instance.admin.get("/admin/global-api-keys/").json()]
    assert key_id not in eve_keys + all_keys + global_keys
    assert_error(instance.admin.get(f"/personal-api-keys/{key_id}"), 404)
    assert_error(instance.admin.delete(f"/personal-api-keys/{key_id}"), 404)
    assert_error(instance.admin.get(f"/admin/global-api-keys/{key_id}"), 404)
    key_service.delete_key(instance.store, key_id)
    assert_error(session.get("/current-user"), 401)


def test_expired_key_is_401(instance: Instance) -> None:
    secret = instance.make_user("fay")
    with instance.store.begin() as s:
        s.execute(update(ApiKey).where(ApiKey.user_login == "fay").values(expires_on=now_ms() - 60_000))
    assert_error(instance.client(secret).get("/current-user"), 401, "expired")
    with instance.store.begin() as s:
        s.execute(update(ApiKey).where(ApiKey.user_login == "fay").values(expires_on=now_ms() + 60_000))
    assert instance.client(secret).get("/current-user").status_code == 200


def test_last_used_on(instance: Instance) -> None:
    created = instance.admin.post("/personal-api-keys/", json={"label": "probe"}).json()
    assert instance.admin.get(f"/personal-api-keys/{created['id']}").json()["lastUsedOn"] == 0
    before = now_ms()
    assert instance.client(created["key"]).get("/current-user").status_code == 200
    used = instance.admin.get(f"/personal-api-keys/{created['id']}").json()["lastUsedOn"]
    assert before <= used <= now_ms()


def test_only_label_and_description_change(instance: Instance) -> None:
    instance.make_user("gil")
    key = instance.admin.post("/personal-api-keys/", json={"label": "a"}).json()
    assert_bad(instance.admin.put(f"/personal-api-keys/{key['id']}", json={"user": "gil"}), "user")
    assert_bad(instance.admin.put(f"/personal-api-keys/{key['id']}", json={"id": "x"}), "id")
    assert_bad(instance.admin.put(f"/personal-api-keys/{key['id']}", json={"label": "x" * 300}), "label")
    assert_bad(put_raw(instance.admin, f"/personal-api-keys/{key['id']}", b"{oops"), "json")
    assert instance.admin.get(f"/personal-api-keys/{key['id']}").json()["user"] == "admin"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"label": "x" * 201}, "label"),
        ({"label": {"a": 1}}, "label"),
        ({"description": "line\x1b[31m"}, "description"),
        ({"expiry": "never"}, "expiry"),
        ({"expiresOn": 1.5}, "expiresOn"),
    ],
)
def test_bad_bodies(instance: Instance, body: dict, field: str) -> None:
    count = len(instance.admin.get("/personal-api-keys/").json())
    assert_bad(instance.admin.post("/personal-api-keys/", json=body), field)
    assert len(instance.admin.get("/personal-api-keys/").json()) == count


def test_bad_ids(instance: Instance) -> None:
    assert_bad(instance.admin.get("/personal-api-keys/..%0A"), "API key id")
    assert_error(instance.admin.get("/personal-api-keys/ffffffffffffffff"), 404)
    assert_error(instance.client(None).get("/personal-api-keys/"), 401)
