"""Users, groups and API keys with labkeeper's client against a live server: the same
scenarios the conformance tests run with the official client."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from labkeeper.client import (
    ConflictError,
    DSSClient,
    DSSGlobalApiKey,
    DSSGlobalApiKeyListItem,
    DSSPersonalApiKey,
    DSSPersonalApiKeyListItem,
    DSSUser,
    NotFoundError,
    UnauthorizedError,
)
from tests.conftest import LiveServer


def _near_now(moment: datetime | None) -> bool:
    assert moment is not None and moment.tzinfo is not None
    return abs(moment - datetime.now().astimezone()) < timedelta(minutes=5)


def test_users_round_trip(lk: DSSClient, dss) -> None:  # type: ignore[no-untyped-def]
    lk.create_group("team_a", description="first team")
    user = lk.create_user("gina", "pw-gina-123", display_name="Gina", groups=["team_a"], email="g@x.org")
    assert isinstance(user, DSSUser)
    listed = {u["login"]: u for u in lk.list_users()}
    assert listed["gina"]["displayName"] == "Gina"
    assert "gina" in [u.login for u in lk.list_users(as_objects=True)]

    settings = user.get_settings()
    raw = settings.get_raw()
    assert (raw["login"], raw["email"], raw["groups"]) == ("gina", "g@x.org", ["team_a"])
    assert settings.enabled is True
    settings.enabled = False
    raw["displayName"] = "Gina B."
    settings.save()
    again = lk.get_user("gina").get_settings()
    assert again.enabled is False and again.get_raw()["displayName"] == "Gina B."
    assert dss.get_user("gina").get_settings().get_raw() == again.get_raw()
    if again.creation_date is not None:
        assert _near_now(again.creation_date)

    with pytest.raises(ConflictError):
        lk.create_user("gina", "pw-other-123")
    user.delete()
    assert "gina" not in [u["login"] for u in lk.list_users()]
    with pytest.raises(NotFoundError):
        user.get_settings()


def test_own_user(lk: DSSClient, live: LiveServer) -> None:
    lk.create_user("hugo", "pw-hugo-123")
    key = lk.create_personal_api_key_for_user("hugo", "hugo's key", as_type="dict")
    with DSSClient(live.url, key["key"]) as hugo:
        own = hugo.get_own_user().get_settings()
        assert own.get_raw()["login"] == "hugo"
        own.user_properties["colour"] = "green"
        own.save()
        assert hugo.get_own_user().get_settings().user_properties == {"colour": "green"}


def test_groups_round_trip(lk: DSSClient, dss) -> None:  # type: ignore[no-untyped-def]
    group = lk.create_group("team_b", description="second", source_type="LOCAL")
    assert "team_b" in [g["name"] for g in lk.list_groups()]
    definition = group.get_definition()
    assert definition["name"] == "team_b" and definition["description"] == "second"
    definition["description"] = "renamed"
    group.set_definition(definition)
    assert lk.get_group("team_b").get_definition()["description"] == "renamed"
    assert dss.get_group("team_b").get_definition() == lk.get_group("team_b").get_definition()
    group.delete()
    with pytest.raises(NotFoundError):
        group.get_definition()


def test_global_api_keys_round_trip(lk: DSSClient, live: LiveServer, dss) -> None:  # type: ignore[no-untyped-def]
    key = lk.create_global_api_key("ops", "for the ops robot", admin=True)
    assert isinstance(key, DSSGlobalApiKey) and key.key and key.id_
    with DSSClient(live.url, key.key) as robot:
        robot.get_general_settings()  # an admin key works at once

    items = lk.list_global_api_keys()
    item = next(i for i in items if i.id == key.id_)
    assert isinstance(item, DSSGlobalApiKeyListItem)
    assert (item.label, item.description) == ("ops", "for the ops robot")
    assert item.key != key.key  # only creation shows the secret
    assert _near_now(item.created_on)
    assert item.to_global_api_key().id_ == key.id_
    assert key.id_ in [k.id_ for k in lk.list_global_api_keys(as_type="objects")]
    assert {i["id"] for i in dss.list_global_api_keys()} == {i.id for i in items}

    definition = lk.get_global_api_key_by_id(key.id_).get_definition()
    assert definition.label == "ops" and definition.expires_on is None
    definition.label = "ops-renamed"
    definition.description = "changed"
    definition.save()
    assert key.get_definition().label == "ops-renamed"
    raw = key.get_definition()
    raw["description"] = "via set_definition"
    key.set_definition(raw)
    assert key.get_definition().description == "via set_definition"

    with pytest.warns(DeprecationWarning):
        assert lk.get_global_api_key(key.key).id_ == key.id_

    lk.create_group("team_c")
    grouped = lk.create_global_api_key_with_groups("grouped", groups=["team_c"])
    assert grouped.get_definition().groups == ["team_c"]

    key.delete()
    with pytest.raises(NotFoundError):
        key.get_definition()
    with DSSClient(live.url, key.key) as revoked:
        with pytest.raises(UnauthorizedError):
            revoked.get_general_settings()


def test_personal_api_keys_round_trip(lk: DSSClient, live: LiveServer) -> None:
    lk.create_user("iris", "pw-iris-123")
    first = lk.create_personal_api_key_for_user("iris", "bootstrap")
    assert isinstance(first, DSSPersonalApiKey) and first.key
    with DSSClient(live.url, first.key) as iris:
        made = iris.create_personal_api_key("laptop", "my laptop")
        assert isinstance(made, dict) and made["user"] == "iris" and made["key"]
        handle = iris.create_personal_api_key("ci", as_type="object")
        assert isinstance(handle, DSSPersonalApiKey)

        mine = iris.list_personal_api_keys()
        assert all(isinstance(i, DSSPersonalApiKeyListItem) for i in mine)
        assert {i.label for i in mine} == {"bootstrap", "laptop", "ci"}
        laptop = next(i for i in mine if i.label == "laptop")
        assert (laptop.user, laptop.description) == ("iris", "my laptop")
        assert _near_now(laptop.created_on)
        assert laptop.key != made["key"]

        lazy = iris.get_personal_api_key(made["id"])
        definition = lazy.get_definition()
        assert definition["user"] == "iris"
        definition["label"] = "old laptop"
        lazy.set_definition(definition)
        assert lazy.get_definition()["label"] == "old laptop"
        lazy.delete()
        assert made["id"] not in [k.id_ for k in iris.list_personal_api_keys(as_type="objects")]
        with pytest.raises(UnauthorizedError):
            with DSSClient(live.url, made["key"]) as gone:
                gone.list_personal_api_keys()

    everyone = lk.list_all_personal_api_keys()
    assert {"bootstrap", "ci"} <= {i.label for i in everyone if i.user == "iris"}
    assert all(isinstance(k, DSSPersonalApiKey) for k in lk.list_all_personal_api_keys(as_type="objects"))


def test_created_on_is_the_creation_time(lk: DSSClient) -> None:
    before = time.time()
    key = lk.create_global_api_key("timed")
    item = next(i for i in lk.list_global_api_keys() if i.id == key.id_)
    assert item.created_on is not None
    assert before - 2 <= item.created_on.timestamp() <= time.time() + 2
