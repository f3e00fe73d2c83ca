"""X-DKU-ProxyUser, played through the official client against a real server: an admin key
acting as a user gets exactly that user's rights, on every route, fast lane included."""

from __future__ import annotations

import dataikuapi
import pytest
import requests
from dataikuapi.utils import DataikuException

from tests.conftest import ADMIN_KEY, LiveServer

API = "/dip/publicapi"


@pytest.fixture
def bob(dss: dataikuapi.DSSClient) -> dataikuapi.DSSClient:
    """User bob, in a group that may create projects; the admin's client acting as bob."""
    group = dss.create_group("analysts")
    definition = group.get_definition()
    definition["mayCreateProjects"] = True
    group.set_definition(definition)
    dss.create_user("bob", "bob-password-1", groups=["analysts"])
    return dss.get_user("bob").get_client_as()


def _get(live: LiveServer, path: str, key: str, **headers: str) -> requests.Response:
    return requests.get(live.url + API + path, auth=(key, ""), headers=headers, timeout=30)


def test_get_client_as_is_the_user(dss: dataikuapi.DSSClient, bob: dataikuapi.DSSClient) -> None:
    me = bob.get_own_user().get_settings().get_raw()
    assert me["login"] == "bob" and me["groups"] == ["analysts"]
    with pytest.raises(DataikuException):
        bob.list_users()  # admin only: bob is no admin
    with pytest.raises(DataikuException):
        bob.get_general_settings()  # a fast-lane route, admin only
    with pytest.raises(DataikuException):
        bob.create_user("mallory", "pw-mallory-1")
    assert [u["login"] for u in dss.list_users()] == ["admin", "bob"]


def test_what_a_proxied_call_creates_is_the_users(
    dss: dataikuapi.DSSClient, bob: dataikuapi.DSSClient, live: LiveServer
) -> None:
    created = bob.create_personal_api_key(label="bob's own")
    assert created["user"] == "bob"
    everyone = {k["id"]: k for k in dss.list_all_personal_api_keys(as_type="listitems")}
    assert everyone[created["id"]]["user"] == "bob"
    assert created["id"] not in [k["id"] for k in dss.list_personal_api_keys()]  # not the admin's
    # The new key is bob's: it authenticates as bob, with bob's rights.
    assert _get(live, "/current-user", created["key"]).json()["login"] == "bob"
    assert _get(live, "/admin/users/", created["key"]).status_code == 403

    bob.create_project("BOBS", "Bob's project", owner="bob")
    assert dss.get_project("BOBS").get_permissions()["owner"] == "bob"
    with pytest.raises(DataikuException):  # bob may not give a project to someone else
        bob.create_project("FORADMIN", "Not bob's", owner="admin")


def test_the_cached_project_list_is_the_users(dss: dataikuapi.DSSClient, bob: dataikuapi.DSSClient) -> None:
    dss.create_project("SECRET", "Admin only", owner="admin")
    assert [p["projectKey"] for p in dss.list_projects()] == ["SECRET"]  # the admin view, cached
    assert bob.list_projects() == []
    bob.create_project("MINE", "Bob's", owner="bob")
    assert [p["projectKey"] for p in bob.list_projects()] == ["MINE"]
    with pytest.raises(DataikuException):
        bob.get_project("SECRET").get_summary()


def test_only_an_admin_key_may_proxy(
    dss: dataikuapi.DSSClient, bob: dataikuapi.DSSClient, live: LiveServer
) -> None:
    bob_key = bob.create_personal_api_key(label="k")["key"]
    refused = _get(live, "/current-user", bob_key, **{"X-DKU-ProxyUser": "admin"})
    assert refused.status_code == 403, refused.text
    assert set(refused.json()) >= {"errorType", "message", "detailedMessage"}
    assert "X-DKU-ProxyUser" in refused.json()["message"]
    as_admin = dataikuapi.DSSClient(live.url, bob_key, extra_headers={"X-DKU-ProxyUser": "admin"})
    with pytest.raises(DataikuException):
        as_admin.list_users()
    with pytest.raises(DataikuException):
        as_admin.list_projects()  # the fast lane refuses it too


def test_unknown_or_disabled_proxy_user(
    dss: dataikuapi.DSSClient, bob: dataikuapi.DSSClient, live: LiveServer
) -> None:
    unknown = _get(live, "/current-user", ADMIN_KEY, **{"X-DKU-ProxyUser": "nobody"})
    assert unknown.status_code == 400 and "nobody" in unknown.json()["message"]
    assert bob.get_own_user().get_settings().get_raw()["login"] == "bob"
    settings = dss.get_user("bob").get_settings()
    settings.get_raw()["enabled"] = False
    settings.save()
    disabled = _get(live, "/current-user", ADMIN_KEY, **{"X-DKU-ProxyUser": "bob"})
    assert disabled.status_code == 403 and "disabled" in disabled.json()["message"]
    assert _get(live, "/projects/", ADMIN_KEY, **{"X-DKU-ProxyUser": "bob"}).status_code == 403


def test_audited_as_admin_as_user(
    dss: dataikuapi.DSSClient, bob: dataikuapi.DSSClient, live: LiveServer
) -> None:
    bob.create_project("AUDITED", "Audited", owner="bob")
    events = _get(live, "/admin/audit", ADMIN_KEY).json()
    created = [e for e in events if e["action"] == "POST /projects/"]
    assert len(created) == 1
    assert created[0]["user"] == "admin as bob"
    assert created[0]["details"] == {"authenticatedAs": "admin", "actingAs": "bob"}
