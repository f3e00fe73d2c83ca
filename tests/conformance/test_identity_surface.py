"""Who am I, users' secrets and activity, tags, project status, instance info and logs,
through the official client against a live labkeeper."""

from __future__ import annotations

import datetime as dt

import dataikuapi
import orjson
import pytest
from dataikuapi.utils import DataikuException

from labkeeper.auth import activity
from labkeeper.auth.models import User
from labkeeper.auth.user_secrets import MASK
from tests.conftest import ADMIN_KEY, LiveServer


def _fails(call, *words: str) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(DataikuException) as caught:
        call()
    message = str(caught.value)
    for word in words:
        assert word.lower() in message.lower(), message
    return message


def _user_with_key(dss: dataikuapi.DSSClient, live: LiveServer, login: str) -> dataikuapi.DSSClient:
    dss.create_user(login, "pw-" + login, display_name=login.title(), groups=[])
    key = dss.create_personal_api_key_for_user(login, label=login)
    return dataikuapi.DSSClient(live.url, key.key)


def test_auth_info_says_who_the_key_is(dss: dataikuapi.DSSClient, live: LiveServer) -> None:
    info = dss.get_auth_info()
    assert info["authIdentifier"] == "admin" and "administrators" in info["groups"]
    assert info["globalPermissions"]["admin"] is True
    key = dss.create_global_api_key(label="robot", admin=False)
    robot = dataikuapi.DSSClient(live.url, key.key)
    robot_info = robot.get_auth_info()
    assert robot_info["authIdentifier"] == key.id_ and robot_info["globalPermissions"]["admin"] is False
    _fails(lambda: robot.get_auth_info(with_secrets=True), "own keys")


def test_secrets_are_encrypted_masked_and_given_only_to_their_owner(
    dss: dataikuapi.DSSClient, live: LiveServer
) -> None:
    alice = _user_with_key(dss, live, "alice")
    settings = dss.get_user("alice").get_settings()
    settings.add_secret("warehouse-token", "s3cr3t-value-1")
    settings.set_basic_connection_credential("warehouse", "alice_db", "db-pass-2")
    settings.save()

    for raw in (
        dss.get_user("alice").get_settings().get_raw(),
        {u["login"]: u for u in dss.list_users(include_settings=True)}["alice"],
        alice.get_own_user().get_settings().get_raw(),
    ):
        assert [s["value"] for s in raw["secrets"]] == [MASK]
        assert raw["credentials"]["warehouse"] == {"type": "BASIC", "user": "alice_db", "password": MASK}
        assert "s3cr3t" not in orjson.dumps(raw).decode() and "db-pass" not in orjson.dumps(raw).decode()
    with live.store.read() as s:
        stored = orjson.dumps(s.get(User, "alice").extra).decode()
    assert "s3cr3t-value-1" not in stored and "db-pass-2" not in stored

    mine = alice.get_auth_info(with_secrets=True)
    assert mine["authIdentifier"] == "alice"
    assert [(s["name"], s["value"]) for s in mine["secrets"]] == [("warehouse-token", "s3cr3t-value-1")]
    assert "secrets" not in alice.get_auth_info()

    # Saving the masked document back keeps the stored values; the owner may change theirs.
    again = dss.get_user("alice").get_settings()
    again.user_properties["team"] = "blue"
    again.save()
    assert alice.get_auth_info(with_secrets=True)["secrets"][0]["value"] == "s3cr3t-value-1"
    own = alice.get_own_user().get_settings()
    own.add_secret("second", "two")
    own.save()
    values = {s["name"]: s["value"] for s in alice.get_auth_info(with_secrets=True)["secrets"]}
    assert values == {"warehouse-token": "s3cr3t-value-1", "second": "two"}

    # An admin never reads them, not even acting as the user.
    _fails(lambda: dss.get_user("alice").get_client_as().get_auth_info(with_secrets=True), "own keys")
    assert "secrets" in dss.get_auth_info(with_secrets=True)  # the admin user's own (none)


def test_user_info_and_activity(dss: dataikuapi.DSSClient, live: LiveServer) -> None:
    bob = _user_with_key(dss, live, "bob")
    dss.create_user("carol", "pw", groups=[])
    user = dss.get_user("bob")
    before = user.get_activity()
    assert before.last_successful_login is None and before.get_raw()["lastApiCall"] is None
    bob.list_projects()
    info = dss.get_user("bob").get_info()
    assert info.login == "bob" and info.display_name == "Bob" and info.enabled is True
    assert bob.get_user("carol").get_info().login == "carol"  # any user may read this
    _fails(lambda: bob.get_user("nobody").get_info(), "nobody")

    activity.record_login(live.store, "bob", success=True)
    activity.record_login(live.store, "bob", success=False)
    seen = dss.get_user("bob").get_activity()
    assert isinstance(seen.last_successful_login, dt.datetime)
    assert isinstance(seen.last_failed_login, dt.datetime)
    assert seen.get_raw()["lastApiCall"] > 0
    logins = {a.login: a for a in dss.list_users_activity()}
    assert set(logins) == {"admin", "bob", "carol"}
    assert logins["carol"].last_successful_login is None
    carol = dss.get_user("carol").get_settings()
    carol.enabled = False
    carol.save()
    assert {a.login for a in dss.list_users_activity(enabled_users_only=True)} == {"admin", "bob"}
    _fails(bob.list_users_activity, "administrator")
    _fails(lambda: bob.get_user("bob").get_activity(), "administrator")
    _fails(lambda: dss.get_user("nobody").get_activity(), "nobody")


def test_tags_and_project_status_round_trip(dss: dataikuapi.DSSClient) -> None:
    project = dss.create_project("TAGGED", "Tagged", owner="admin")
    tags = project.get_tags()
    assert tags == {"tags": {}}
    tags["tags"] = {t: {} for t in ("gold", "finance")}
    tags["tags"]["gold"]["color"] = "#ffcc00"
    project.set_tags(tags)
    assert project.get_tags() == {"tags": {"gold": {"color": "#ffcc00"}, "finance": {}}}
    metadata = project.get_metadata()
    metadata["tags"] = ["gold"]
    project.set_metadata(metadata)
    assert project.get_tags()["tags"]["gold"] == {"color": "#ffcc00"}

    settings = project.get_settings()
    settings.get_raw()["projectStatus"] = "Draft"
    settings.save()
    assert project.get_summary()["projectStatus"] == "Draft"
    assert {p["projectKey"]: p for p in dss.list_projects()}["TAGGED"]["projectStatus"] == "Draft"
    assert project.get_summary()["tags"] == ["gold"]
    _fails(lambda: project.set_tags({"tags": ["not", "an", "object"]}), "tags")
    _fails(lambda: project.set_tags({"tags": {"x": {"color": {"deep": 1}}}}), "color")


def test_instance_info_logs_and_unsupported_calls(dss: dataikuapi.DSSClient, live: LiveServer) -> None:
    info = dss.get_instance_info()
    assert info.node_type == "DESIGN" and info.node_id and info.node_name
    assert dss.get_instance_info().node_id == info.node_id
    import logging

    logging.getLogger("labkeeper.test").warning(
        "connecting to postgresql://bob:hunter2@db/x with password=hunter3 and key %s", ADMIN_KEY
    )
    assert "labkeeper.log" in dss.list_logs()
    text = dss.get_log("labkeeper.log")
    assert "connecting to postgresql://bob:" in text
    assert "hunter2" not in text and "hunter3" not in text and ADMIN_KEY not in text
    _fails(lambda: dss.get_log("../labkeeper.db"), "NotFound")
    _fails(lambda: dss.get_log("nope.log"), "nope.log")
    _fails(lambda: dss.create_code_env_from_python_preset("INSTALL_SOME"), "not supported by labkeeper")
    user = _user_with_key(dss, live, "dave")
    _fails(user.list_logs, "administrator")
    _fails(lambda: user._perform_json("DELETE", "/no/such/thing"), "not supported by labkeeper")


def test_the_dss_custom_project_example(dss: dataikuapi.DSSClient) -> None:
    """The steps of the DSS guide's create-new-custom-project example, in its order: who am
    I, a project owned by me, its tags, a checklist in its metadata, status Draft."""
    me = dss.get_auth_info()["authIdentifier"]
    project = dss.create_project(
        project_key="MYPROJECT", name="A custom Project", owner=me, description="Cool"
    )
    tags = project.get_tags()
    tags["tags"] = {k: {} for k in ["work-in-progress", "priority-high"]}
    project.set_tags(tags)
    metadata = project.get_metadata()
    item = {"createdBy": me, "createdOn": 1, "done": False, "stateChangedOn": 0, "text": "Train"}
    metadata["checklists"]["checklists"].append({"title": "To-do list", "createdOn": 0, "items": [item]})
    project.set_metadata(metadata)
    settings = project.get_settings()
    settings.settings["projectStatus"] = "Draft"
    settings.save()

    summary = project.get_summary()
    assert summary["projectStatus"] == "Draft" and summary["owner"] == "admin"
    assert set(project.get_tags()["tags"]) == {"work-in-progress", "priority-high"}
    assert project.get_metadata()["checklists"]["checklists"][0]["items"][0]["text"] == "Train"
