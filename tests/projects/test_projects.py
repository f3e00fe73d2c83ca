"""Projects over HTTP: creation, listing, summary, deletion and permission levels."""

from __future__ import annotations

import pytest

from tests.conftest import Instance
from tests.projects.helpers import assert_error, create, grant, keys


def test_create_list_and_summary(instance: Instance) -> None:
    created = create(instance, "ALPHA", description="First one", tags=["x", "y"], owner="admin")
    assert created["projectKey"] == "ALPHA" and created["owner"] == "admin"
    items = instance.admin.get("/projects/").json()
    assert [i["projectKey"] for i in items] == ["ALPHA"]
    item = items[0]
    assert item["name"] == "Alpha" and item["owner"] == "admin" and item["tags"] == ["x", "y"]
    assert item["shortDesc"] == "" and "projectLocation" not in item
    located = instance.admin.get("/projects/", params={"includeLocation": "True"}).json()
    assert located[0]["projectLocation"] == {"folderId": "ROOT"}
    summary = instance.admin.get("/projects/ALPHA").json()
    assert summary["projectKey"] == "ALPHA" and summary["description"] == "First one"
    assert instance.admin.get("/projects/ALPHA/metadata").json()["description"] == "First one"


def test_create_in_a_folder_and_owner_defaults_to_caller(instance: Instance) -> None:
    answer = instance.admin.post(
        "/projects/", params={"projectFolderId": "f1"}, json={"projectKey": "INF", "name": "In folder"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["owner"] == "admin"
    assert instance.admin.get("/projects/INF").json()["projectLocation"] == {"folderId": "f1"}


@pytest.mark.parametrize(
    "key", ["../X", "a/b", "a\x01b", "x" * 101, "", "has space", "dash-key", "dot.key", 5, None, ["A"]]
)
def test_bad_project_keys_are_refused(instance: Instance, key: object) -> None:
    answer = instance.admin.post("/projects/", json={"projectKey": key, "name": "Bad"})
    # A value of the wrong type is named by the body's model, a string by the key rule.
    said = assert_error(answer, 400)["message"]
    assert "project key" in said.lower() or "body.projectKey" in said, said
    assert keys(instance.admin) == []


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("name", 5, "body.name"),
        ("name", "", "project name"),
        ("name", "bell\x07", "project name"),
        ("description", ["x"], "body.description"),
        ("tags", "notalist", "tags"),
        ("tags", [1], "tag"),
        ("permissions", {"group": "g"}, "permissions"),
        ("permissions", [{"group": "nosuchgroup", "readProjectContent": True}], "nosuchgroup"),
        ("permissions", [{"group": "administrators", "readProjectContent": "yes"}], "readProjectContent"),
        ("owner", "nosuchuser", "nosuchuser"),
        ("settings", [], "settings"),
        ("settings", {"codeEnvs": {"python": {"mode": "WHATEVER"}}}, "mode"),
    ],
)
def test_bad_creation_bodies_name_the_problem_and_write_nothing(
    instance: Instance, field: str, value: object, named: str
) -> None:
    answer = instance.admin.post("/projects/", json={"projectKey": "BAD", "name": "Bad", field: value})
    assert_error(answer, 400, named)
    assert keys(instance.admin) == []


def test_malformed_and_wrongly_typed_json_bodies(instance: Instance) -> None:
    raw = instance.admin.post("/projects/", content=b"{nope", headers={"Content-Type": "application/json"})
    assert_error(raw, 400, "malformed json")
    assert_error(instance.admin.post("/projects/", json=["A"]), 400, "json object")


def test_duplicate_key_is_a_conflict(instance: Instance) -> None:
    create(instance, "DUP")
    assert_error(instance.admin.post("/projects/", json={"projectKey": "DUP", "name": "Again"}), 409, "DUP")


def test_creating_needs_the_global_permission(instance: Instance) -> None:
    nobody = instance.client(instance.make_user("nobody", ["plain"]))
    assert_error(
        nobody.post("/projects/", json={"projectKey": "NOPE", "name": "n"}), 403, "mayCreateProjects"
    )
    maker = instance.client(
        instance.make_user("maker", ["makers"], group_permissions={"mayCreateProjects": True})
    )
    created = maker.post("/projects/", json={"projectKey": "MINE", "name": "Mine", "owner": "maker"})
    assert created.status_code == 200, created.text
    assert created.json()["owner"] == "maker"
    assert maker.post("/projects/", json={"projectKey": "DEF", "name": "d"}).json()["owner"] == "maker"
    forged = maker.post("/projects/", json={"projectKey": "FORGED", "name": "f", "owner": "admin"})
    assert_error(forged, 403, "administrator")
    assert keys(maker) == ["DEF", "MINE"]
    assert keys(nobody) == []


def test_list_shows_only_readable_projects(instance: Instance) -> None:
    reader = instance.client(instance.make_user("reader", ["readers"]))
    other = instance.client(instance.make_user("other", ["others"]))
    for key in ("P1", "P2", "P3"):
        create(instance, key)
    grant(instance, "P1", "readers", readProjectContent=True)
    grant(instance, "P3", "readers", writeProjectContent=True)
    grant(instance, "P2", "others", readDashboards=True)  # not a project-content grant
    assert keys(reader) == ["P1", "P3"]
    assert keys(other) == []
    assert keys(instance.admin) == ["P1", "P2", "P3"]
    grant(instance, "P2", "readers", admin=True)
    assert keys(reader) == ["P1", "P2", "P3"]
    perms = instance.admin.get("/projects/P1/permissions").json()
    perms["permissions"] = []
    assert instance.admin.put("/projects/P1/permissions", json=perms).status_code == 204
    assert keys(reader) == ["P2", "P3"]
    user_grant = instance.admin.get("/projects/P1/permissions").json()
    user_grant["permissions"] = [{"user": "other", "readProjectContent": True}]
    assert instance.admin.put("/projects/P1/permissions", json=user_grant).status_code == 204
    assert keys(other) == ["P1"]


def test_forbidden_answers_name_the_missing_level(instance: Instance) -> None:
    create(instance, "LEVELS")
    reader = instance.client(instance.make_user("reader", ["readers"]))
    writer = instance.client(instance.make_user("writer", ["writers"]))
    stranger = instance.client(instance.make_user("stranger", ["strangers"]))
    grant(instance, "LEVELS", "readers", readProjectContent=True)
    grant(instance, "LEVELS", "writers", writeProjectContent=True)
    assert_error(stranger.get("/projects/LEVELS"), 403, "READ")
    assert reader.get("/projects/LEVELS").status_code == 200
    meta = reader.get("/projects/LEVELS/metadata").json()
    assert_error(reader.put("/projects/LEVELS/metadata", json=meta), 403, "WRITE")
    assert writer.put("/projects/LEVELS/metadata", json=meta).status_code == 204
    perms = writer.get("/projects/LEVELS/permissions").json()
    assert_error(writer.put("/projects/LEVELS/permissions", json=perms), 403, "ADMIN")
    assert_error(writer.delete("/projects/LEVELS"), 403, "ADMIN")
    assert_error(reader.put("/projects/LEVELS/variables/", json={"standard": {}, "local": {}}), 403, "WRITE")
    assert_error(stranger.get("/projects/LEVELS/variables-resolved"), 403, "READ")
    assert keys(instance.admin) == ["LEVELS"]


def test_owner_has_every_level(instance: Instance) -> None:
    owner = instance.client(
        instance.make_user("owner", ["owners"], group_permissions={"mayCreateProjects": True})
    )
    create(instance, "OWNED", client=owner)
    perms = owner.get("/projects/OWNED/permissions").json()
    assert perms["owner"] == "owner"
    assert owner.put("/projects/OWNED/permissions", json=perms).status_code == 204
    assert owner.delete("/projects/OWNED").status_code == 200


def test_unknown_and_malformed_project_keys_in_paths(instance: Instance) -> None:
    assert_error(instance.admin.get("/projects/NOPE"), 404, "NOPE")
    assert_error(instance.admin.get("/projects/bad key/metadata"), 400, "project key")
    assert_error(instance.admin.delete("/projects/a.b"), 400, "project key")


def test_delete_removes_the_project_its_objects_and_its_folder(instance: Instance) -> None:
    create(instance, "GONE")
    create(instance, "KEPT")
    assert (
        instance.admin.post("/projects/GONE/datasets/", json={"name": "d", "type": "Inline"}).status_code
        == 200
    )
    folder = instance.config.data_dir / "projects" / "GONE"
    (folder / "notebooks").mkdir(parents=True)
    (folder / "notebooks" / "n.ipynb").write_text("{}")
    answer = instance.admin.delete("/projects/GONE", params={"clearManagedDatasets": "True", "wait": "True"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["hasResult"] is True and body["result"]["success"] is True
    assert body["result"]["dataFolderRemoved"] is True and "jobId" not in body
    assert not folder.exists()
    assert keys(instance.admin) == ["KEPT"]
    assert_error(instance.admin.get("/projects/GONE"), 404, "GONE")
    usage = instance.admin.get("/admin/monitoring/global-usage-summary").json()
    assert usage["datasets"]["all"] == 0 and usage["projects"] == 1
    assert_error(instance.admin.delete("/projects/KEPT", params={"wait": "maybe"}), 400, "wait")
    assert keys(instance.admin) == ["KEPT"]
    # The key can be reused at once.
    create(instance, "GONE")
    assert instance.admin.get("/projects/GONE/datasets/").json() == []


def test_deletion_hooks_run_before_the_folder_goes_and_failures_are_reported(instance: Instance) -> None:
    from labkeeper.projects import service

    create(instance, "HOOKED")
    folder = instance.config.data_dir / "projects" / "HOOKED"
    folder.mkdir(parents=True)
    seen: list[tuple[str, bool]] = []

    def watcher(key: str) -> None:
        seen.append((key, folder.exists()))

    def broken(key: str) -> None:
        raise RuntimeError("kernel would not stop")

    saved = list(service._DELETE_HOOKS)
    service.on_project_deleted(watcher)
    service.on_project_deleted(broken)
    try:
        body = instance.admin.delete("/projects/HOOKED").json()
    finally:
        service._DELETE_HOOKS[:] = saved
    assert seen == [("HOOKED", True)]
    assert not folder.exists() and body["result"]["dataFolderRemoved"] is True
    assert body["result"]["anyMessage"] is True
    assert "kernel would not stop" in body["result"]["messages"][0]["message"]
    assert keys(instance.admin) == []


def test_a_global_key_without_user_owns_what_it_creates(instance: Instance) -> None:
    from labkeeper.auth.keys import hash_secret, new_id, new_secret, shown_prefix
    from labkeeper.auth.models import ApiKey, Group
    from labkeeper.db import now_ms

    secret, key_id = new_secret(), new_id()
    with instance.store.begin() as s:
        s.add(Group(name="robots", permissions={"mayCreateProjects": True}))
        s.add(
            ApiKey(
                id=key_id,
                kind="GLOBAL",
                prefix=shown_prefix(secret),
                secret_hash=hash_secret(secret),
                groups=["robots"],
                created_on=now_ms(),
                created_by="tests",
            )
        )
    robot = instance.client(secret)
    created = robot.post("/projects/", json={"projectKey": "ROBOT", "name": "Made by a key"})
    assert created.status_code == 200, created.text
    assert created.json()["owner"] == f"apikey:{key_id}"
    assert keys(robot) == ["ROBOT"]
    assert_error(
        robot.post("/projects/", json={"projectKey": "R2", "name": "n", "owner": "admin"}), 403, "owner"
    )
