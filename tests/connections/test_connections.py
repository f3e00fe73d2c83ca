"""The connection registry over HTTP: CRUD, validation, who may use what, and passwords
that are stored encrypted and never shown or logged."""

from __future__ import annotations

import logging
import stat

import pytest

from labkeeper.audit.models import AuditEvent
from labkeeper.connections.documents import MASK
from labkeeper.connections.models import Connection
from labkeeper.connections.service import DEFAULT_CONNECTION, spec_for_use
from tests.conftest import Instance

PASSWORD = "s3cret-Zebra-9431"


def pg_body(name: str, **extra: object) -> dict:
    return {
        "name": name,
        "type": "PostgreSQL",
        "params": {"host": "127.0.0.1", "port": 5432, "db": "test", "user": "postgres", "password": PASSWORD},
        **extra,
    }


def test_a_fresh_instance_has_a_sqlite_connection_keyed_by_name(instance: Instance) -> None:
    listed = instance.admin.get("/admin/connections/").json()
    assert isinstance(listed, dict)
    assert listed[DEFAULT_CONNECTION]["type"] == "SQLite"
    assert listed[DEFAULT_CONNECTION]["usableBy"] == "ALL"
    assert {"name", "type", "params", "usableBy", "allowedGroups"} <= set(listed[DEFAULT_CONNECTION])


def test_create_get_update_delete(instance: Instance) -> None:
    created = instance.admin.post("/admin/connections/", json=pg_body("pg-main", description="main"))
    assert created.status_code == 200, created.text
    got = instance.admin.get("/admin/connections/pg-main").json()
    assert got["type"] == "PostgreSQL" and got["description"] == "main"
    assert got["params"]["host"] == "127.0.0.1" and got["params"]["db"] == "test"
    assert got["versionTag"]["versionNumber"] == 1
    got["usableBy"] = "ALLOWED"
    got["allowedGroups"] = ["analysts"]
    got["params"]["port"] = "5432"
    updated = instance.admin.put("/admin/connections/pg-main", json=got)
    assert updated.status_code == 200, updated.text
    again = instance.admin.get("/admin/connections/pg-main").json()
    assert again["usableBy"] == "ALLOWED" and again["allowedGroups"] == ["analysts"]
    assert again["params"]["port"] == 5432 and again["versionTag"]["versionNumber"] == 2
    assert instance.admin.post("/admin/connections/", json=pg_body("pg-main")).status_code == 409
    assert instance.admin.delete("/admin/connections/pg-main").status_code == 204
    assert instance.admin.get("/admin/connections/pg-main").status_code == 404
    assert instance.admin.delete("/admin/connections/pg-main").status_code == 404


def test_password_is_encrypted_masked_and_kept_when_the_mask_comes_back(instance: Instance) -> None:
    data_dir = instance.config.data_dir
    assert instance.admin.post("/admin/connections/", json=pg_body("pg-secret")).status_code == 200
    shown = instance.admin.get("/admin/connections/pg-secret")
    assert PASSWORD not in shown.text and shown.json()["params"]["password"] == MASK
    assert PASSWORD not in instance.admin.get("/admin/connections/").text
    with instance.store.read() as s:
        row = s.get(Connection, "pg-secret")
        assert PASSWORD not in row.secret and "password" not in row.params and row.secret
    key_file = data_dir / "secrets" / "connections.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    if instance.store.is_sqlite:
        assert PASSWORD.encode() not in (data_dir / "labkeeper.db").read_bytes()
    assert spec_for_use(instance.store, data_dir, "pg-secret").password == PASSWORD

    document = shown.json()  # a round trip with the mask keeps the password
    document["description"] = "edited"
    assert instance.admin.put("/admin/connections/pg-secret", json=document).status_code == 200
    assert spec_for_use(instance.store, data_dir, "pg-secret").password == PASSWORD

    document["params"]["password"] = "another-one"
    assert instance.admin.put("/admin/connections/pg-secret", json=document).status_code == 200
    assert spec_for_use(instance.store, data_dir, "pg-secret").password == "another-one"

    del document["params"]["password"]
    assert instance.admin.put("/admin/connections/pg-secret", json=document).status_code == 200
    assert spec_for_use(instance.store, data_dir, "pg-secret").password == ""
    assert "password" not in instance.admin.get("/admin/connections/pg-secret").json()["params"]


def test_passwords_never_reach_the_logs_or_the_audit_trail(
    instance: Instance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad = pg_body("pg-logged")
    bad["params"]["port"] = 1  # nothing listens there: the failure is logged nowhere with the secret
    assert instance.admin.post("/admin/connections/", json=bad).status_code == 200
    tested = instance.admin.get("/connections/pg-logged/test").json()
    assert tested["connectionOK"] is False and PASSWORD not in str(tested)
    assert PASSWORD not in caplog.text
    with instance.store.read() as s:
        events = [str(e.details) + e.target + e.action for e in s.query(AuditEvent)]
    assert events and not any(PASSWORD in e for e in events)


@pytest.mark.parametrize("name", ["a/b", "..", "../x", "x..y", "", " lead", "a\\b", "x" * 101])
def test_bad_connection_names_are_400(instance: Instance, name: str) -> None:
    answer = instance.admin.post(
        "/admin/connections/", json={"name": name, "type": "SQLite", "params": {"path": "a.db"}}
    )
    assert answer.status_code == 400, answer.text
    assert "connection name" in answer.json()["message"]


@pytest.mark.parametrize("path", ["../escape.db", "/etc/passwd", "a/../../b.db", "..", "", "dir/", "a\x00b"])
def test_sqlite_paths_outside_the_sql_folder_are_400(instance: Instance, path: str) -> None:
    answer = instance.admin.post(
        "/admin/connections/", json={"name": "lite", "type": "SQLite", "params": {"path": path}}
    )
    assert answer.status_code == 400, answer.text
    assert instance.admin.get("/admin/connections/lite").status_code == 404


def test_a_symlink_out_of_the_sql_folder_is_refused(instance: Instance, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sql_dir = instance.config.data_dir / "sql"
    sql_dir.mkdir(parents=True, exist_ok=True)
    (sql_dir / "out").symlink_to(tmp_path)
    answer = instance.admin.post(
        "/admin/connections/", json={"name": "lite", "type": "SQLite", "params": {"path": "out/x.db"}}
    )
    assert answer.status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"name": "c", "type": "MySQL", "params": {}},
        {"name": "c", "params": {"path": "a.db"}},
        {"name": "c", "type": "SQLite", "params": "a.db"},
        {"name": "c", "type": "SQLite", "params": {"path": "a.db"}, "usableBy": "SOME"},
        {"name": "c", "type": "SQLite", "params": {"path": "a.db"}, "allowedGroups": "g"},
        {"name": "c", "type": "SQLite", "params": {"path": "a.db"}, "allowWrite": "yes"},
        {
            "name": "c",
            "type": "SQLite",
            "params": {"path": "a.db"},
            "detailsReadability": {"readableBy": "X"},
        },
        {"name": "c", "type": "PostgreSQL", "params": {"db": "test"}},
        {"name": "c", "type": "PostgreSQL", "params": {"host": "h"}},
        {"name": "c", "type": "PostgreSQL", "params": {"host": "h", "db": "d", "port": 70000}},
        {"name": "c", "type": "PostgreSQL", "params": {"host": "h", "db": "d", "password": 5}},
        {
            "name": "c",
            "type": "PostgreSQL",
            "params": {"host": "h", "db": "d", "properties": [{"value": "x"}]},
        },
        {
            "name": "c",
            "type": "PostgreSQL",
            "params": {"host": "h", "db": "d", "properties": [{"name": "a b"}]},
        },
        {
            "name": "c",
            "type": "PostgreSQL",
            "params": {"host": "h", "db": "d", "properties": {"password": "x"}},
        },
        {"name": "c", "type": "PostgreSQL", "params": {"host": "h", "db": "d", "password": MASK}},
        [],
    ],
)
def test_invalid_documents_are_400_and_write_nothing(instance: Instance, body: object) -> None:
    answer = instance.admin.post("/admin/connections/", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errorType"] == "BadRequestException"
    assert set(instance.admin.get("/admin/connections/").json()) == {DEFAULT_CONNECTION}


def test_malformed_json_and_renames_are_400(instance: Instance) -> None:
    answer = instance.admin.post(
        "/admin/connections/", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    document = instance.admin.get(f"/admin/connections/{DEFAULT_CONNECTION}").json()
    document["name"] = "renamed"
    assert instance.admin.put(f"/admin/connections/{DEFAULT_CONNECTION}", json=document).status_code == 400


def test_only_admins_manage_connections_and_users_see_what_they_may_use(instance: Instance) -> None:
    alice = instance.client(instance.make_user("alice", ["analysts"]))
    bob = instance.client(instance.make_user("bob", ["others"]))
    assert alice.get("/admin/connections/").status_code == 403
    assert alice.post("/admin/connections/", json=pg_body("mine")).status_code == 403
    assert (
        instance.admin.post(
            "/admin/connections/", json=pg_body("restricted", usableBy="ALLOWED", allowedGroups=["analysts"])
        ).status_code
        == 200
    )
    assert alice.get("/connections/get-names", params={"type": "all"}).json() == [
        DEFAULT_CONNECTION,
        "restricted",
    ]
    assert alice.get("/connections/get-names", params={"type": "PostgreSQL"}).json() == ["restricted"]
    assert bob.get("/connections/get-names", params={"type": "all"}).json() == [DEFAULT_CONNECTION]
    info = alice.get("/connections/restricted/info").json()
    assert info["type"] == "PostgreSQL" and info["params"]["password"] == MASK
    assert "resolvedBasicCredential" not in info
    assert bob.get("/connections/restricted/info").status_code == 403
    assert bob.get("/connections/restricted/test").status_code == 403


def test_connection_test_opens_the_database(instance: Instance) -> None:
    assert instance.admin.get(f"/connections/{DEFAULT_CONNECTION}/test").json()["connectionOK"] is True
    assert instance.admin.post("/admin/connections/", json=pg_body("pg-ok")).status_code == 200
    assert instance.admin.get("/connections/pg-ok/test").json()["connectionOK"] is True


def test_the_default_connection_stays_deleted_after_a_restart(config) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from labkeeper.server.app import create_app

    with TestClient(create_app(config)):
        pass
    with TestClient(create_app(config)) as http:
        admin = Instance(http.app, config, http.portal).admin
        assert admin.delete(f"/admin/connections/{DEFAULT_CONNECTION}").status_code == 204
    with TestClient(create_app(config)) as http:
        assert (
            DEFAULT_CONNECTION
            not in Instance(http.app, config, http.portal).admin.get("/admin/connections/").json()
        )
