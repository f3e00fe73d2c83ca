"""Kept answers of reads (server/answers.py) never outlive a write: one made by another
process straight in the store is seen by the very next read, a revoked key fails at once."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text, update

from labkeeper.nodes import service
from labkeeper.projects.models import ProjectObject
from labkeeper.server.answers import NOT_KEPT
from tests.conftest import Instance
from tests.helpers import assert_error
from tests.projects.helpers import create


def write(instance: Instance, sql: str, **params: object) -> None:
    """A write as another worker (or psql) makes it: not through this app."""
    with instance.store.engine.begin() as conn:
        conn.execute(text(sql), params)


def test_a_write_elsewhere_is_seen_by_the_next_read(instance: Instance) -> None:
    admin = instance.admin
    create(instance, "KEPT")
    assert admin.post("/projects/KEPT/datasets/", json={"name": "d", "type": "Inline"}).status_code == 200
    first = admin.get("/projects/KEPT/datasets/d").json()
    assert admin.get("/projects/KEPT/datasets/d").json() == first  # kept
    assert len(instance.app.state.answers) > 0
    with instance.store.begin() as s:  # as another worker: not through this app
        s.execute(
            update(ProjectObject)
            .where(ProjectObject.name == "d")
            .values(definition={**first, "description": "changed elsewhere"})
        )
    assert admin.get("/projects/KEPT/datasets/d").json()["description"] == "changed elsewhere"

    before = admin.get("/current-user").json()
    write(instance, "UPDATE users SET display_name = 'Someone Else' WHERE login = 'admin'")
    assert admin.get("/current-user").json()["displayName"] == "Someone Else" != before["displayName"]


def test_a_revoked_key_fails_on_a_kept_route_at_once(instance: Instance) -> None:
    secret = instance.make_user("kim", ["readers"])
    client = instance.client(secret)
    assert client.get("/current-user").status_code == 200
    assert client.get("/current-user").status_code == 200  # served from the kept answer
    write(instance, "DELETE FROM api_keys WHERE user_login = 'kim'")
    assert_error(client.get("/current-user"), 401)


def test_answers_are_kept_per_caller(instance: Instance) -> None:
    one = instance.client(instance.make_user("one", ["g1"]))
    two = instance.client(instance.make_user("two", ["g2"]))
    assert one.get("/current-user").json()["login"] == "one"
    assert two.get("/current-user").json()["login"] == "two"
    assert one.get("/current-user").json()["login"] == "one"
    proxied = instance.admin.get("/current-user", headers={"X-DKU-ProxyUser": "two"})
    assert proxied.json()["login"] == "two"
    assert instance.admin.get("/current-user").json()["login"] == "admin"


def test_every_route_not_kept_exists_and_is_a_get(instance: Instance) -> None:
    gets = {
        e.route.path.removeprefix("/dip/publicapi")
        for e in instance.app.request_path.table.entries
        if "GET" in e.methods
    }
    assert set(NOT_KEPT) <= gets, set(NOT_KEPT) - gets


def test_activity_reads_are_kept_under_their_own_stamp(instance: Instance) -> None:
    """An activity write (made by reads) is seen by the next activity read, and leaves every
    other kept answer kept."""
    instance.make_user("ana", ["g1"])
    admin = instance.admin
    listed = admin.get("/admin/users-activity").json()
    assert admin.get("/admin/users-activity").json() == listed  # kept
    assert admin.get("/admin/users/ana/activity").json()["lastSuccessfulLogin"] is None
    variables = admin.get("/admin/variables/").json()
    assert admin.get("/admin/variables/").json() == variables
    answers = instance.app.state.answers
    kept_variables = [key for key in answers._entries if key[0].endswith("/admin/variables/")]
    assert kept_variables
    stamps_before = answers._entries[kept_variables[0]][0]

    write(instance, "INSERT INTO user_activity (login, last_successful_login) VALUES ('ana', 1234)")
    ana = next(doc for doc in admin.get("/admin/users-activity").json() if doc["login"] == "ana")
    assert ana["lastSuccessfulLogin"] == 1234
    assert admin.get("/admin/users/ana/activity").json()["lastSuccessfulLogin"] == 1234
    write(instance, "UPDATE user_activity SET last_failed_login = 99 WHERE login = 'ana'")
    assert admin.get("/admin/users/ana/activity").json()["lastFailedLogin"] == 99

    assert admin.get("/admin/variables/").json() == variables
    assert answers._entries[kept_variables[0]][0] == stamps_before  # still the same kept answer
    assert "activity" not in stamps_before


def test_kept_log_reads_see_every_change_to_the_log_files(instance: Instance) -> None:
    folder = instance.config.data_dir / "logs"
    folder.mkdir(exist_ok=True)
    (folder / "labkeeper.log").write_text("first line\n")
    time.sleep(2.1)  # a file changed in the last 2 s is never kept (server/answers.py)
    admin = instance.admin
    first = admin.get("/admin/logs/labkeeper.log").json()
    assert "first line" in first
    assert admin.get("/admin/logs/labkeeper.log").json() == first
    assert any(key[0].endswith("/admin/logs/labkeeper.log") for key in instance.app.state.answers._entries)
    assert "other.log" not in admin.get("/admin/logs/").json()

    with (folder / "labkeeper.log").open("a") as log:
        log.write("second line\n")
    assert "second line" in admin.get("/admin/logs/labkeeper.log").json()
    (folder / "other.log").write_text("x\n")
    assert "other.log" in admin.get("/admin/logs/").json()


def test_the_node_listing_is_kept_between_heartbeats_and_never_past_them(instance: Instance) -> None:
    """Kept under the nodes stamp: a drain or a heartbeat written by any node is seen by the
    next listing; a node whose heartbeat grows too old is listed down without any write; and
    a heartbeat leaves every other kept answer kept."""
    admin = instance.admin
    listed = admin.get("/admin/nodes").json()
    assert listed and all(node["state"] == "UP" for node in listed)
    answers = instance.app.state.answers
    kept_nodes = [key for key in answers._entries if key[0].endswith("/admin/nodes")]
    assert kept_nodes and "nodes" in answers._entries[kept_nodes[0]][0]
    variables = admin.get("/admin/variables/").json()
    kept_variables = [key for key in answers._entries if key[0].endswith("/admin/variables/")]
    assert "nodes" not in answers._entries[kept_variables[0]][0]

    name = listed[0]["name"]
    write(instance, "UPDATE nodes SET draining = :yes WHERE name = :name", yes=True, name=name)
    assert admin.get("/admin/nodes").json()[0]["state"] == "DRAINING"
    write(instance, "UPDATE nodes SET draining = :no WHERE name = :name", no=False, name=name)
    assert admin.get("/admin/nodes").json()[0]["state"] == "UP"
    stamps = answers._entries[kept_variables[0]][0]
    assert admin.get("/admin/variables/").json() == variables
    assert answers._entries[kept_variables[0]][0] == stamps  # the same kept answer

    # A heartbeat 14.9 s old: listed up now, down 100 ms later, with no write in between.
    old = int(time.time() * 1000) - service.ALIVE_WITHIN_MS + 100
    for _ in range(20):  # the node's own heartbeat may land meanwhile: then again
        write(instance, "UPDATE nodes SET heartbeat_on = :old WHERE name = :name", old=old, name=name)
        if admin.get("/admin/nodes").json()[0]["state"] == "UP":
            time.sleep(0.15)
            if admin.get("/admin/nodes").json()[0]["state"] == "DOWN":
                break
        old = int(time.time() * 1000) - service.ALIVE_WITHIN_MS + 100
    else:
        raise AssertionError("a node whose heartbeat grew too old was never listed down")


def test_a_route_on_the_full_plan_serves_its_kept_answer_too(
    instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deprecated key-by-secret read takes a dependency of its own (it refuses session
    keys), so its key check is the whole plan's: its kept answer is looked up after it."""
    from labkeeper.auth import key_service

    created = instance.admin.post("/admin/global-api-keys/", json={"label": "kept"}).json()
    calls = []
    read = key_service.get_global_key_by_secret
    monkeypatch.setattr(
        key_service, "get_global_key_by_secret", lambda *a, **k: calls.append(1) or read(*a, **k)
    )
    first = instance.admin.get(f"/admin/globalAPIKeys/{created['key']}")
    assert first.status_code == 200
    assert instance.admin.get(f"/admin/globalAPIKeys/{created['key']}").json() == first.json()
    assert len(calls) == 1  # the second answer was the kept one
