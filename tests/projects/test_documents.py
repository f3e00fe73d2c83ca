"""Project documents: metadata, settings, permissions, variables."""

from __future__ import annotations

import copy

import pytest

from labkeeper.projects.service import resolved_variables
from tests.conftest import Instance
from tests.projects.helpers import assert_error, create


@pytest.fixture
def project(instance: Instance) -> str:
    create(instance, "DOCS", description="desc", tags=["t"])
    return "/projects/DOCS"


def test_metadata_round_trip_keeps_unknown_keys_and_renames(instance: Instance, project: str) -> None:
    meta = instance.admin.get(f"{project}/metadata").json()
    assert meta["label"] == "Docs" and meta["tags"] == ["t"] and meta["checklists"] == {"checklists": []}
    meta.update(label="Renamed", shortDesc="short", tags=["a", "b"], somethingElse={"kept": [1]})
    meta["custom"] = {"kv": {"k": "v"}}
    assert instance.admin.put(f"{project}/metadata", json=meta).status_code == 204
    again = instance.admin.get(f"{project}/metadata").json()
    assert again["label"] == "Renamed" and again["somethingElse"] == {"kept": [1]}
    assert again["custom"] == {"kv": {"k": "v"}}
    item = instance.admin.get("/projects/").json()[0]
    assert item["name"] == "Renamed" and item["shortDesc"] == "short" and item["tags"] == ["a", "b"]


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("label", 5, "label"),
        ("label", "", "label"),
        ("tags", "x", "tags"),
        ("tags", ["ok", None], "tag"),
        ("description", {"a": 1}, "description"),
        ("shortDesc", "x" * 2000, "shortDesc"),
        ("checklists", [], "checklists"),
        ("custom", "x", "custom"),
    ],
)
def test_bad_metadata_is_refused_without_partial_write(
    instance: Instance, project: str, field: str, value: object, named: str
) -> None:
    before = instance.admin.get(f"{project}/metadata").json()
    body = {**before, "label": "Would change", field: value}
    assert_error(instance.admin.put(f"{project}/metadata", json=body), 400, named)
    assert instance.admin.get(f"{project}/metadata").json() == before
    assert_error(instance.admin.put(f"{project}/metadata", json=[1]), 400, "json object")


def test_settings_default_document_and_code_env_modes(instance: Instance, project: str) -> None:
    settings = instance.admin.get(f"{project}/settings").json()
    envs = settings["settings"]["codeEnvs"]
    assert envs["python"]["mode"] == "INHERIT" and envs["r"]["mode"] == "INHERIT"
    assert settings["exposedObjects"] == {"objects": []}
    envs["python"].update(mode="EXPLICIT_ENV", envName="py311", useBuiltinEnv=False)
    envs["r"]["mode"] = "USE_BUILTIN_MODE"
    settings["settings"]["unknownSection"] = {"kept": True}
    assert instance.admin.put(f"{project}/settings", json=settings).status_code == 204
    again = instance.admin.get(f"{project}/settings").json()
    assert again["settings"]["codeEnvs"]["python"] == {
        "mode": "EXPLICIT_ENV",
        "envName": "py311",
        "useBuiltinEnv": False,
    }
    assert again["settings"]["codeEnvs"]["r"]["mode"] == "USE_BUILTIN_MODE"
    assert again["settings"]["unknownSection"] == {"kept": True}


@pytest.mark.parametrize(
    ("python", "named"),
    [
        ({"mode": "SOMETIMES"}, "mode"),
        ({"mode": "EXPLICIT_ENV"}, "envName"),
        ({"mode": "EXPLICIT_ENV", "envName": "../escape"}, "envName"),
        ({"mode": "INHERIT", "useBuiltinEnv": "no"}, "useBuiltinEnv"),
        ("INHERIT", "codeEnvs.python"),
    ],
)
def test_bad_settings_are_refused(instance: Instance, project: str, python: object, named: str) -> None:
    settings = instance.admin.get(f"{project}/settings").json()
    before = copy.deepcopy(settings)
    settings["settings"]["codeEnvs"]["python"] = python
    assert_error(instance.admin.put(f"{project}/settings", json=settings), 400, named)
    assert instance.admin.get(f"{project}/settings").json() == before
    assert_error(instance.admin.put(f"{project}/settings", json={"settings": []}), 400, "settings")


def test_permissions_document(instance: Instance, project: str) -> None:
    instance.make_user("newowner", ["team"])
    perms = instance.admin.get(f"{project}/permissions").json()
    assert perms == {"owner": "admin", "permissions": []}
    perms["permissions"] = [
        {
            "group": "team",
            "readProjectContent": True,
            "writeProjectContent": False,
            "admin": False,
            "somethingNew": 1,
        }
    ]
    perms["owner"] = "newowner"
    assert instance.admin.put(f"{project}/permissions", json=perms).status_code == 204
    again = instance.admin.get(f"{project}/permissions").json()
    assert again["owner"] == "newowner" and again["permissions"][0]["somethingNew"] == 1
    assert instance.admin.get("/projects/").json()[0]["owner"] == "newowner"


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        ({"owner": "ghost", "permissions": []}, 400, "ghost"),
        ({"owner": "admin", "permissions": [{"group": "ghosts", "admin": True}]}, 400, "ghosts"),
        ({"owner": "admin", "permissions": [{"user": "ghost", "admin": True}]}, 400, "ghost"),
        ({"owner": "admin", "permissions": [{"group": "team", "admin": "true"}]}, 400, "admin"),
        ({"owner": "admin", "permissions": [{"readProjectContent": True}]}, 400, "group"),
        ({"owner": "admin", "permissions": "all"}, 400, "permissions"),
        ({"owner": 7, "permissions": []}, 400, "owner"),
    ],
)
def test_bad_permissions_are_refused(
    instance: Instance, project: str, body: dict, status: int, named: str
) -> None:
    instance.make_user("member", ["team"])
    assert_error(instance.admin.put(f"{project}/permissions", json=body), status, named)
    assert instance.admin.get(f"{project}/permissions").json() == {"owner": "admin", "permissions": []}


def test_variables_and_resolution_order(instance: Instance, project: str) -> None:
    assert instance.admin.get(f"{project}/variables/").json() == {"standard": {}, "local": {}}
    instance_vars = {"shared": "instance", "onlyInstance": 1, "overriddenByLocal": "instance"}
    assert instance.admin.put("/admin/variables/", json=instance_vars).status_code == 204
    body = {
        "standard": {"shared": "standard", "overriddenByLocal": "standard", "n": 3, "obj": {"a": [1]}},
        "local": {"overriddenByLocal": "local"},
    }
    assert instance.admin.put(f"{project}/variables/", json=body).status_code == 204
    assert instance.admin.get(f"{project}/variables/").json() == body
    typed = instance.admin.get(f"{project}/variables-resolved", params={"typed": "true"}).json()
    assert typed == {
        "shared": "standard",
        "onlyInstance": 1,
        "overriddenByLocal": "local",
        "n": 3,
        "obj": {"a": [1]},
    }
    untyped = instance.admin.get(f"{project}/variables-resolved", params={"typed": "false"}).json()
    assert untyped["n"] == "3" and untyped["onlyInstance"] == "1" and untyped["obj"] == '{"a":[1]}'
    assert resolved_variables(instance.store, "DOCS") == typed


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"standard": {}}, "local"),
        ({"local": {}}, "standard"),
        ({"standard": [], "local": {}}, "standard"),
        ([], "json object"),
    ],
)
def test_bad_variables_are_refused(instance: Instance, project: str, body: object, named: str) -> None:
    assert (
        instance.admin.put(f"{project}/variables/", json={"standard": {"a": 1}, "local": {}}).status_code
        == 204
    )
    assert_error(instance.admin.put(f"{project}/variables/", json=body), 400, named)
    assert instance.admin.get(f"{project}/variables/").json() == {"standard": {"a": 1}, "local": {}}


def test_resolved_variables_of_a_missing_project(instance: Instance) -> None:
    from labkeeper.errors import NotFound

    with pytest.raises(NotFound):
        resolved_variables(instance.store, "MISSING")
