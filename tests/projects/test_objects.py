"""Datasets, recipes and scenarios stored in projects, and the code-env usages they make."""

from __future__ import annotations

import pytest

from labkeeper.projects.service import code_env_usages, project_env_usages_all
from tests.conftest import Instance
from tests.projects.helpers import assert_error, create, grant


@pytest.fixture
def project(instance: Instance) -> str:
    create(instance, "OBJ")
    return "/projects/OBJ"


def dataset(name: str, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "projectKey": "OBJ",
        "type": "Filesystem",
        "params": {"connection": "fs", "path": "/x"},
        "formatType": "csv",
        "formatParams": {"separator": ","},
        **extra,
    }


def code_recipe(name: str | None, rtype: str = "python", script: str = "print(1)") -> dict[str, object]:
    proto = {
        "type": rtype,
        "name": name,
        "inputs": {"main": {"items": [{"ref": "src"}]}},
        "outputs": {"main": {"items": [{"ref": "out", "appendMode": False}]}},
        "projectKey": "OBJ",
    }
    return {"recipePrototype": proto, "creationSettings": {"script": script}}


def test_dataset_lifecycle(instance: Instance, project: str) -> None:
    created = instance.admin.post(f"{project}/datasets/", json=dataset("src", tags=["raw"]))
    assert created.status_code == 200, created.text
    assert instance.admin.post(f"{project}/datasets/", json=dataset("other")).status_code == 200
    listed = instance.admin.get(f"{project}/datasets/", params={"foreign": "False"}).json()
    assert [d["name"] for d in listed] == ["other", "src"]
    assert listed[1]["params"]["connection"] == "fs" and listed[1]["projectKey"] == "OBJ"
    tagged = instance.admin.get(f"{project}/datasets/", params=[("tags", "raw"), ("tags", "nope")]).json()
    assert [d["name"] for d in tagged] == ["src"]
    doc = instance.admin.get(f"{project}/datasets/src").json()
    assert doc["schema"] == {"columns": [], "userModified": False} and doc["versionTag"]["versionNumber"] == 1
    doc["params"]["path"] = "/y"
    doc["somethingNew"] = {"kept": True}
    saved = instance.admin.put(f"{project}/datasets/src", json=doc)
    assert saved.status_code == 200 and saved.json()["versionTag"]["versionNumber"] == 2
    again = instance.admin.get(f"{project}/datasets/src").json()
    assert again["params"]["path"] == "/y" and again["somethingNew"] == {"kept": True}
    schema = {"columns": [{"name": "a", "type": "string"}], "userModified": True}
    assert instance.admin.put(f"{project}/datasets/src/schema", json=schema).status_code == 200
    assert instance.admin.get(f"{project}/datasets/src/schema").json() == schema
    meta = instance.admin.get(f"{project}/datasets/src/metadata").json()
    assert meta["tags"] == ["raw"]
    meta["tags"] = ["curated"]
    assert instance.admin.put(f"{project}/datasets/src/metadata", json=meta).json()["tags"] == ["curated"]
    assert instance.admin.delete(f"{project}/datasets/src", params={"dropData": "True"}).status_code == 204
    assert_error(instance.admin.get(f"{project}/datasets/src"), 404, "src")
    assert_error(instance.admin.post(f"{project}/datasets/", json=dataset("other")), 409, "other")


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (dataset("../up"), "dataset name"),
        (dataset("a/b"), "dataset name"),
        (dataset("x" * 101), "dataset name"),
        (dataset(None), "dataset name"),
        (dataset("ok", type=None), "type"),
        (dataset("ok", type="a b"), "type"),
        (dataset("ok", params=[1]), "params"),
        (dataset("ok", formatType=3), "formatType"),
        (dataset("ok", schema={"columns": "a"}), "columns"),
        (dataset("ok", tags="t"), "tags"),
        (dataset("ok", managed="yes"), "managed"),
        (dataset("ok", projectKey="ELSEWHERE"), "projectKey"),
    ],
)
def test_bad_datasets_are_refused(instance: Instance, project: str, body: dict, named: str) -> None:
    assert_error(instance.admin.post(f"{project}/datasets/", json=body), 400, named)
    assert instance.admin.get(f"{project}/datasets/").json() == []


def test_dataset_put_cannot_rename_or_break(instance: Instance, project: str) -> None:
    instance.admin.post(f"{project}/datasets/", json=dataset("d"))
    before = instance.admin.get(f"{project}/datasets/d").json()
    assert_error(instance.admin.put(f"{project}/datasets/d", json=dict(before, name="e")), 400, "renaming")
    assert_error(instance.admin.put(f"{project}/datasets/d", json=dict(before, params="x")), 400, "params")
    assert_error(
        instance.admin.put(f"{project}/datasets/d/schema", json={"columns": [{"name": 1}]}), 400, "name"
    )
    assert instance.admin.get(f"{project}/datasets/d").json() == before
    assert_error(instance.admin.put(f"{project}/datasets/nope", json=before), 404, "nope")
    assert_error(instance.admin.get(f"{project}/datasets/a..b"), 400, "dataset name")


def test_object_levels(instance: Instance, project: str) -> None:
    reader = instance.client(instance.make_user("reader", ["readers"]))
    writer = instance.client(instance.make_user("writer", ["writers"]))
    stranger = instance.client(instance.make_user("stranger", ["strangers"]))
    grant(instance, "OBJ", "readers", readProjectContent=True)
    grant(instance, "OBJ", "writers", writeProjectContent=True)
    assert_error(stranger.get(f"{project}/datasets/"), 403, "READ")
    assert_error(reader.post(f"{project}/datasets/", json=dataset("d")), 403, "WRITE")
    assert writer.post(f"{project}/datasets/", json=dataset("d")).status_code == 200
    assert [d["name"] for d in reader.get(f"{project}/datasets/").json()] == ["d"]
    assert_error(reader.delete(f"{project}/datasets/d"), 403, "WRITE")
    assert_error(reader.post(f"{project}/recipes/", json=code_recipe("r")), 403, "WRITE")
    assert_error(reader.post(f"{project}/scenarios/", json={"name": "s", "type": "step_based"}), 403, "WRITE")
    assert writer.post(f"{project}/scenarios/", json={"name": "s", "type": "step_based"}).status_code == 200
    assert_error(reader.delete(f"{project}/scenarios/S"), 403, "WRITE")
    assert_error(stranger.get(f"{project}/scenarios/S"), 403, "READ")
    assert_error(instance.admin.get("/projects/NOPE/recipes/"), 404, "NOPE")


def test_code_recipe_lifecycle_and_env_usages(instance: Instance, project: str) -> None:
    created = instance.admin.post(f"{project}/recipes/", json=code_recipe("compute_out"))
    assert created.status_code == 200 and created.json()["name"] == "compute_out"
    generated = instance.admin.post(f"{project}/recipes/", json=code_recipe(None, rtype="r", script="x <- 1"))
    assert generated.json()["name"] == "compute_out_2"
    visual = {
        "recipePrototype": {"type": "grouping", "name": "group_it", "inputs": {}, "outputs": {}},
        "creationSettings": {"groupKey": "a"},
    }
    assert instance.admin.post(f"{project}/recipes/", json=visual).status_code == 200
    items = {i["name"]: i for i in instance.admin.get(f"{project}/recipes/").json()}
    assert items["compute_out"]["type"] == "python"
    assert items["compute_out"]["params"]["envSelection"] == {"envMode": "INHERIT"}
    assert "envSelection" not in items["group_it"]["params"]
    doc = instance.admin.get(f"{project}/recipes/compute_out").json()
    assert doc["payload"] == "print(1)" and doc["recipe"]["inputs"]["main"]["items"] == [{"ref": "src"}]
    assert instance.admin.get(f"{project}/recipes/group_it").json()["payload"] == "{}"

    assert code_env_usages(instance.store, env_lang="PYTHON", env_name="py311") == []
    doc["recipe"]["params"]["envSelection"] = {"envMode": "EXPLICIT_ENV", "envName": "py311"}
    doc["payload"] = "print(2)"
    saved = instance.admin.put(f"{project}/recipes/compute_out", json=doc)
    assert saved.status_code == 200 and saved.json()["payload"] == "print(2)"
    settings = instance.admin.get(f"{project}/settings").json()
    settings["settings"]["codeEnvs"]["python"].update(mode="EXPLICIT_ENV", envName="py311")
    settings["settings"]["codeEnvs"]["r"].update(mode="EXPLICIT_ENV", envName="r4")
    assert instance.admin.put(f"{project}/settings", json=settings).status_code == 204
    usages = code_env_usages(instance.store, env_lang="python", env_name="py311")
    assert usages == [
        {
            "envUsage": "PROJECT",
            "envLang": "PYTHON",
            "envName": "py311",
            "projectKey": "OBJ",
            "objectType": "PROJECT",
            "objectId": "OBJ",
        },
        {
            "envUsage": "RECIPE",
            "envLang": "PYTHON",
            "envName": "py311",
            "projectKey": "OBJ",
            "objectType": "RECIPE",
            "objectId": "compute_out",
        },
    ]
    assert code_env_usages(instance.store, env_lang="R", env_name="py311") == []
    everything = {
        (u["envLang"], u["envName"], u["objectType"], u["objectId"])
        for u in project_env_usages_all(instance.store)
    }
    assert everything == {
        ("PYTHON", "py311", "PROJECT", "OBJ"),
        ("R", "r4", "PROJECT", "OBJ"),
        ("PYTHON", "py311", "RECIPE", "compute_out"),
    }
    doc["recipe"]["params"]["envSelection"] = {"envMode": "USE_BUILTIN_MODE"}
    assert instance.admin.put(f"{project}/recipes/compute_out", json=doc).status_code == 200
    assert [
        u["objectType"] for u in code_env_usages(instance.store, env_lang="PYTHON", env_name="py311")
    ] == ["PROJECT"]
    assert instance.admin.delete(f"{project}/recipes/compute_out").status_code == 204
    assert_error(instance.admin.get(f"{project}/recipes/compute_out"), 404, "compute_out")


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda b: b["recipePrototype"].update(type=""), "type"),
        (lambda b: b["recipePrototype"].update(name="bad/name"), "recipe name"),
        (lambda b: b["recipePrototype"].update(inputs=[]), "inputs"),
        (lambda b: b["recipePrototype"].update(outputs={"main": {"items": [{"ref": 3}]}}), "ref"),
        (lambda b: b["recipePrototype"].update(params={"envSelection": {"envMode": "SOMETIMES"}}), "envMode"),
        (
            lambda b: b["recipePrototype"].update(params={"envSelection": {"envMode": "EXPLICIT_ENV"}}),
            "envName",
        ),
        (lambda b: b.update(creationSettings={"script": 12}), "payload"),
        (lambda b: b.update(recipePrototype="python"), "recipePrototype"),
    ],
)
def test_bad_recipes_are_refused(instance: Instance, project: str, mutate, named: str) -> None:  # type: ignore[no-untyped-def]
    body = code_recipe("r1")
    mutate(body)
    assert_error(instance.admin.post(f"{project}/recipes/", json=body), 400, named)
    assert instance.admin.get(f"{project}/recipes/").json() == []


def test_recipe_put_validation(instance: Instance, project: str) -> None:
    instance.admin.post(f"{project}/recipes/", json=code_recipe("r1"))
    before = instance.admin.get(f"{project}/recipes/r1").json()
    assert_error(instance.admin.put(f"{project}/recipes/r1", json={"payload": "x"}), 400, "recipe")
    assert_error(instance.admin.put(f"{project}/recipes/r1", json=dict(before, payload=5)), 400, "payload")
    renamed = {"recipe": dict(before["recipe"], name="r2"), "payload": "x"}
    assert_error(instance.admin.put(f"{project}/recipes/r1", json=renamed), 400, "renaming")
    assert instance.admin.get(f"{project}/recipes/r1").json() == before
    assert_error(instance.admin.post(f"{project}/recipes/", json=code_recipe("r1")), 409, "r1")


def test_scenarios(instance: Instance, project: str) -> None:
    first = instance.admin.post(
        f"{project}/scenarios/", json={"name": "Nightly build", "type": "step_based", "params": {}}
    )
    assert first.status_code == 200, first.text
    assert first.json()["id"] == "NIGHTLY_BUILD" and first.json()["active"] is False
    second = instance.admin.post(
        f"{project}/scenarios/", json={"name": "nightly-build", "type": "custom_python"}
    )
    assert second.json()["id"] == "NIGHTLY_BUILD_2"
    listed = instance.admin.get(f"{project}/scenarios/").json()
    assert [(s["id"], s["running"]) for s in listed] == [("NIGHTLY_BUILD", False), ("NIGHTLY_BUILD_2", False)]
    doc = instance.admin.get(f"{project}/scenarios/NIGHTLY_BUILD").json()
    assert doc["params"]["steps"] == [] and doc["triggers"] == [] and doc["reporters"] == []
    doc["active"] = True
    doc["triggers"].append({"type": "temporal", "active": True, "params": {"frequency": "Minutely"}})
    saved = instance.admin.put(f"{project}/scenarios/NIGHTLY_BUILD", json=doc)
    assert saved.status_code == 200 and saved.json()["active"] is True
    light = instance.admin.get(f"{project}/scenarios/NIGHTLY_BUILD/light").json()
    assert light["active"] is True and light["running"] is False and light["nextRun"] == 0
    script = {"script": "print('hi')"}
    assert instance.admin.put(f"{project}/scenarios/NIGHTLY_BUILD_2/payload", json=script).status_code == 200
    assert (
        instance.admin.get(f"{project}/scenarios/NIGHTLY_BUILD_2/payload").json()["script"] == "print('hi')"
    )
    assert_error(
        instance.admin.put(f"{project}/scenarios/NIGHTLY_BUILD/payload", json=script), 400, "custom_python"
    )
    deleted = instance.admin.delete(f"{project}/scenarios/NIGHTLY_BUILD_2")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert_error(instance.admin.get(f"{project}/scenarios/NIGHTLY_BUILD_2"), 404, "NIGHTLY_BUILD_2")


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"name": "s", "type": "flowchart"}, "type"),
        ({"name": "", "type": "step_based"}, "name"),
        ({"name": "s", "type": "step_based", "active": "yes"}, "active"),
        ({"name": "s", "type": "step_based", "triggers": {}}, "triggers"),
        ({"name": "s", "type": "step_based", "triggers": [{"active": 1}]}, "active"),
        ({"name": "s", "type": "step_based", "params": {"steps": {}}}, "steps"),
        ({"name": "s", "type": "step_based", "runAsUser": "ghost"}, "ghost"),
        ({"id": "../x", "name": "s", "type": "step_based"}, "scenario id"),
    ],
)
def test_bad_scenarios_are_refused(instance: Instance, project: str, body: dict, named: str) -> None:
    assert_error(instance.admin.post(f"{project}/scenarios/", json=body), 400, named)
    assert instance.admin.get(f"{project}/scenarios/").json() == []


def test_only_admins_make_scenarios_run_as_others(instance: Instance, project: str) -> None:
    writer = instance.client(instance.make_user("writer", ["writers"]))
    grant(instance, "OBJ", "writers", writeProjectContent=True)
    body = {"name": "s", "type": "step_based", "runAsUser": "admin"}
    assert_error(writer.post(f"{project}/scenarios/", json=body), 403, "administrator")
    assert writer.post(f"{project}/scenarios/", json=dict(body, runAsUser="writer")).status_code == 200
    assert instance.admin.post(f"{project}/scenarios/", json=dict(body, name="t")).status_code == 200
