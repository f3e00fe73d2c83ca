"""Users, groups and API keys through the official dataikuapi client against a live labkeeper."""

from __future__ import annotations

import datetime as dt
import warnings

import dataikuapi
import pytest
from dataikuapi.dss.admin import (
    DSSGlobalApiKey,
    DSSGlobalApiKeyDefinition,
    DSSGlobalApiKeyListItem,
    DSSPersonalApiKey,
    DSSPersonalApiKeyListItem,
    DSSUser,
)
from dataikuapi.utils import DataikuException

from tests.conftest import LiveServer


def _fails(call, *words: str) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(DataikuException) as caught:
        call()
    message = str(caught.value)
    for word in words:
        assert word.lower() in message.lower(), message
    return message


def test_users(dss: dataikuapi.DSSClient) -> None:
    dss.create_group("analysts", description="Analysts")
    user = dss.create_user(
        "alice", "alice-password", display_name="Alice", groups=["analysts"], email="alice@example.org"
    )
    assert isinstance(user, DSSUser) and user.login == "alice"
    listed = {u["login"]: u for u in dss.list_users()}
    assert listed["alice"]["displayName"] == "Alice" and listed["alice"]["groups"] == ["analysts"]
    assert "password" not in listed["alice"]
    assert {u.login for u in dss.list_users(as_objects=True)} == {"admin", "alice"}
    assert "userProperties" in {u["login"]: u for u in dss.list_users(include_settings=True)}["alice"]

    settings = dss.get_user("alice").get_settings()
    raw = settings.get_raw()
    assert raw["email"] == "alice@example.org" and raw["userProfile"] == "DATA_SCIENTIST"
    assert settings.enabled is True
    assert isinstance(settings.creation_date, dt.datetime)
    settings.enabled = False
    settings.user_properties["team"] = "blue"
    settings.admin_properties["cost-center"] = "42"
    settings.add_secret("token", "t0k3n")
    settings.set_basic_connection_credential("warehouse", "alice_db", "db-pass")
    settings.get_raw()["displayName"] = "Alice A."
    settings.save()

    again = dss.get_user("alice").get_settings()
    assert again.enabled is False and again.user_properties == {"team": "blue"}
    assert again.admin_properties == {"cost-center": "42"}
    assert again.get_raw()["displayName"] == "Alice A."
    assert [s["name"] for s in again.get_raw()["secrets"]] == ["token"]
    assert again.get_raw()["credentials"]["warehouse"]["user"] == "alice_db"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        definition = user.get_definition()
        definition["groups"] = []
        user.set_definition(definition)
    assert dss.get_user("alice").get_settings().get_raw()["groups"] == []

    _fails(lambda: dss.create_user("alice", "x"), "alice")
    _fails(lambda: dss.create_user("bob", "x", groups=["nobody-here"]), "nobody-here")
    _fails(lambda: dss.create_user("../bob", "x"), "login")
    _fails(lambda: dss.get_user("admin").delete(), "allowSelfDeletion")

    user.delete()
    _fails(lambda: dss.get_user("alice").get_settings(), "NotFound", "alice")
    assert [u["login"] for u in dss.list_users()] == ["admin"]


def test_groups(dss: dataikuapi.DSSClient) -> None:
    group = dss.create_group("builders", description="Env builders", source_type="LOCAL")
    assert group.name == "builders"
    assert {g["name"] for g in dss.list_groups()} == {"administrators", "builders"}
    definition = group.get_definition()
    assert definition["description"] == "Env builders" and definition["admin"] is False
    assert definition["mayCreateCodeEnvs"] is False
    definition["mayCreateCodeEnvs"] = True
    definition["mayManageCodeEnvs"] = True
    group.set_definition(definition)
    again = dss.get_group("builders").get_definition()
    assert again["mayCreateCodeEnvs"] is True and again["mayManageCodeEnvs"] is True
    _fails(lambda: dss.create_group("builders"), "builders")
    definition["admin"] = "sometimes"
    _fails(lambda: group.set_definition(definition), "admin")
    group.delete()
    _fails(lambda: dss.get_group("builders").get_definition(), "builders")


def test_own_user(dss: dataikuapi.DSSClient, live: LiveServer) -> None:
    own = dss.get_own_user().get_settings()
    assert own.get_raw()["login"] == "admin" and "administrators" in own.get_raw()["groups"]
    own.user_properties["editor"] = "vim"
    own.save()
    assert dss.get_own_user().get_settings().user_properties == {"editor": "vim"}

    dss.create_group("team")
    dss.create_user("carl", "pw", groups=["team"])
    carl_key = dss.create_personal_api_key_for_user("carl", label="carl's")
    carl = dataikuapi.DSSClient(live.url, carl_key.key)
    mine = carl.get_own_user().get_settings()
    assert mine.get_raw()["login"] == "carl" and "adminProperties" not in mine.get_raw()
    mine.get_raw()["groups"] = ["administrators"]
    mine.get_raw()["displayName"] = "Carl C."
    mine.save()
    seen = dss.get_user("carl").get_settings().get_raw()
    assert seen["groups"] == ["team"] and seen["displayName"] == "Carl C."
    _fails(carl.list_users, "administrator")
    _fails(carl.list_groups, "administrator")
    _fails(carl.list_global_api_keys, "administrator")
    _fails(lambda: carl.create_global_api_key(admin=True), "administrator")
    _fails(carl.list_all_personal_api_keys, "administrator")


def test_global_api_keys(dss: dataikuapi.DSSClient, live: LiveServer) -> None:
    key = dss.create_global_api_key(label="automation", description="nightly jobs", admin=True)
    assert isinstance(key, DSSGlobalApiKey) and key.key.startswith("lk_") and key.id_
    secret = key.key

    second = dataikuapi.DSSClient(live.url, secret)
    assert {u["login"] for u in second.list_users()} == {"admin"}

    items = dss.list_global_api_keys()
    assert len(items) == 1 and isinstance(items[0], DSSGlobalApiKeyListItem)
    item = items[0]
    assert item.id == key.id_ and item.label == "automation" and item.description == "nightly jobs"
    assert item.key != secret and item.key.endswith("*" * 12)
    assert isinstance(item.created_on, dt.datetime) and item.created_by == "admin"
    assert item.groups == [] and item.user_for_impersonation is None
    assert item.to_global_api_key().id_ == key.id_
    assert [k.id_ for k in dss.list_global_api_keys(as_type="objects")] == [key.id_]

    deprecated = dss.get_global_api_key(secret)
    assert deprecated.id_ == key.id_
    handle = dss.get_global_api_key_by_id(key.id_)
    assert handle.key != secret

    definition = handle.get_definition()
    assert isinstance(definition, DSSGlobalApiKeyDefinition)
    assert definition.id == key.id_ and definition.label == "automation"
    assert definition.expires_on is None and definition.lifetime is None
    assert isinstance(definition.created_on, dt.datetime)
    definition.label = "automation v2"
    definition.description = "hourly jobs"
    definition.lifetime = 30
    definition.save()
    again = handle.get_definition()
    assert again.label == "automation v2" and again.description == "hourly jobs" and again.lifetime == 30
    assert again.expires_on == definition.created_on + dt.timedelta(days=30)
    again["globalPermissions"]["admin"] = False
    handle.set_definition(again)
    _fails(second.list_users, "administrator")

    dss.create_group("readers")
    dss.create_user("robot", "pw")
    grouped = dss.create_global_api_key_with_groups(label="grouped", groups=["readers"])
    grouped_def = grouped.get_definition()
    assert grouped_def.groups == ["readers"]
    grouped_def.user_for_impersonation = "robot"
    grouped_def.save()
    assert grouped.get_definition().user_for_impersonation == "robot"
    _fails(lambda: dss.create_global_api_key_with_groups(groups=["no-such-group"]), "no-such-group")

    key.delete()
    _fails(second.list_users, "Unauthorized")
    _fails(lambda: dss.get_global_api_key(secret), "secret")
    assert [k.id for k in dss.list_global_api_keys()] == [grouped.id_]
    assert secret not in str(dss._perform_json("GET", "/admin/audit"))


def test_personal_api_keys(dss: dataikuapi.DSSClient, live: LiveServer) -> None:
    created = dss.create_personal_api_key(label="laptop", description="my laptop")
    assert isinstance(created, dict) and created["user"] == "admin" and created["key"].startswith("lk_")
    as_object = dss.create_personal_api_key(label="desktop", as_type="object")
    assert isinstance(as_object, DSSPersonalApiKey) and as_object.key.startswith("lk_")

    laptop = dataikuapi.DSSClient(live.url, created["key"])
    assert laptop.get_own_user().get_settings().get_raw()["login"] == "admin"

    items = dss.list_personal_api_keys()
    assert all(isinstance(i, DSSPersonalApiKeyListItem) for i in items)
    by_id = {i.id: i for i in items}
    assert by_id[created["id"]].label == "laptop" and by_id[created["id"]].user == "admin"
    assert by_id[created["id"]].description == "my laptop" and by_id[created["id"]].created_by == "admin"
    assert isinstance(by_id[created["id"]].created_on, dt.datetime)
    assert all(i.key.endswith("*" * 12) for i in items)
    assert created["key"] not in str(list(items))
    assert {k.id_ for k in dss.list_personal_api_keys(as_type="objects")} == set(by_id)
    assert by_id[created["id"]].to_personal_api_key().id_ == created["id"]

    handle = dss.get_personal_api_key(created["id"])
    definition = handle.get_definition()
    assert definition["user"] == "admin" and definition["key"] != created["key"]
    definition["label"] = "old laptop"
    handle.set_definition(definition)
    assert dss.get_personal_api_key(created["id"]).get_definition()["label"] == "old laptop"

    dss.create_user("dana", "pw")
    for_dana = dss.create_personal_api_key_for_user("dana", label="issued", description="by admin")
    assert isinstance(for_dana, DSSPersonalApiKey)
    as_dict = dss.create_personal_api_key_for_user("dana", label="second", as_type="dict")
    assert as_dict["user"] == "dana"
    dana = dataikuapi.DSSClient(live.url, for_dana.key)
    assert {i.label for i in dana.list_personal_api_keys()} == {"issued", "second"}
    dana_own = dana.create_personal_api_key(label="self-made")
    assert dana_own["user"] == "dana"
    everyone = dss.list_all_personal_api_keys()
    assert {i.user for i in everyone} == {"admin", "dana"}
    assert len(dss.list_all_personal_api_keys(as_type="objects")) == len(everyone)
    _fails(lambda: dana.get_personal_api_key(created["id"]).get_definition(), "NotFound")
    _fails(lambda: dss.create_personal_api_key_for_user("nobody", label="x"), "nobody")

    handle.delete()
    _fails(lambda: laptop.get_own_user().get_settings(), "Unauthorized")
    dss.get_user("dana").delete()
    _fails(dana.list_personal_api_keys, "Unauthorized")
    assert {i.user for i in dss.list_all_personal_api_keys()} == {"admin"}
