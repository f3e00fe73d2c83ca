"""The official dataikuapi client against a live labkeeper: projects and their objects."""

from __future__ import annotations

import sys
import types

import dataikuapi
import pytest
from dataikuapi.dss.future import DSSFuture
from dataikuapi.dss.recipe import CodeRecipeSettings
from dataikuapi.dss.scenario import PythonScriptBasedScenarioSettings, StepBasedScenarioSettings
from dataikuapi.utils import DataikuException

from tests.conftest import Instance


def user_client(live, login: str, groups: list[str], **permissions: bool) -> dataikuapi.DSSClient:  # type: ignore[no-untyped-def]
    secret = Instance.make_user(live, login, groups, group_permissions=permissions)
    return dataikuapi.DSSClient(live.url, secret)


@pytest.fixture
def project(dss):  # type: ignore[no-untyped-def]
    return dss.create_project(
        "CONF", "Conformance", "admin", description="Made by the official client", tags=["conformance"]
    )


def test_create_list_and_summary(dss, live) -> None:  # type: ignore[no-untyped-def]
    user_client(live, "member", ["members"])
    handle = dss.create_project(
        "FULL",
        "Full project",
        "admin",
        description="All the options",
        permissions=[{"group": "members", "readProjectContent": True}],
        project_folder_id="ROOT",
        tags=["a", "b"],
    )
    assert handle.project_key == "FULL"
    dss.create_project("SECOND", "Second", "admin")
    assert dss.list_project_keys() == ["FULL", "SECOND"]
    items = {p["projectKey"]: p for p in dss.list_projects(include_location=True)}
    assert items["FULL"]["name"] == "Full project" and items["FULL"]["tags"] == ["a", "b"]
    assert items["FULL"]["owner"] == "admin" and items["FULL"]["projectLocation"]["folderId"] == "ROOT"
    summary = handle.get_summary()
    assert summary["projectKey"] == "FULL" and summary["description"] == "All the options"
    assert handle.get_permissions()["permissions"] == [{"group": "members", "readProjectContent": True}]


def test_creation_errors(dss, live) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataikuException, match="project key"):
        dss.create_project("../X", "Bad", "admin")
    dss.create_project("TWICE", "Once", "admin")
    with pytest.raises(DataikuException, match="already exists"):
        dss.create_project("TWICE", "Again", "admin")
    plain = user_client(live, "plain", ["plainfolk"])
    with pytest.raises(DataikuException, match="mayCreateProjects"):
        plain.create_project("MINE", "Mine", "plain")
    maker = user_client(live, "maker", ["makers"], mayCreateProjects=True)
    maker.create_project("MINE", "Mine", "maker")
    assert maker.list_project_keys() == ["MINE"]
    assert plain.list_project_keys() == []
    assert dss.list_project_keys() == ["MINE", "TWICE"]


def test_metadata_settings_permissions(dss, live, project) -> None:  # type: ignore[no-untyped-def]
    metadata = project.get_metadata()
    assert metadata["label"] == "Conformance" and metadata["tags"] == ["conformance"]
    metadata["tags"] = ["tag1", "tag2"]
    metadata["shortDesc"] = "short"
    project.set_metadata(metadata)
    assert project.get_metadata()["tags"] == ["tag1", "tag2"]
    assert dss.list_projects()[0]["shortDesc"] == "short"

    settings = project.get_settings()
    settings.set_python_code_env("py311")
    settings.set_r_code_env(None)
    settings.save()
    raw = project.get_settings().get_raw()["settings"]["codeEnvs"]
    assert raw["python"]["mode"] == "EXPLICIT_ENV" and raw["python"]["envName"] == "py311"
    assert raw["r"]["mode"] == "USE_BUILTIN_MODE" and raw["r"]["useBuiltinEnv"] is True
    settings = project.get_settings()
    settings.get_raw()["settings"]["codeEnvs"]["python"]["mode"] = "NOT_A_MODE"
    with pytest.raises(DataikuException, match="mode"):
        settings.save()

    reader = user_client(live, "reader", ["readers"])
    permissions = project.get_permissions()
    permissions["permissions"].append(
        {"group": "readers", "readProjectContent": True, "readDashboards": True}
    )
    project.set_permissions(permissions)
    assert reader.list_project_keys() == ["CONF"]
    reader_view = reader.get_project("CONF")
    assert reader_view.get_summary()["projectKey"] == "CONF"
    with pytest.raises(DataikuException, match="WRITE"):
        reader_view.set_metadata(reader_view.get_metadata())
    with pytest.raises(DataikuException, match="ADMIN"):
        reader_view.set_permissions(reader_view.get_permissions())
    with pytest.raises(DataikuException, match="ADMIN"):
        reader_view.delete()
    permissions["permissions"].append({"group": "no-such-group", "admin": True})
    with pytest.raises(DataikuException, match="no-such-group"):
        project.set_permissions(permissions)


def test_variables(dss, project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    variables = project.get_variables()
    assert variables == {"standard": {}, "local": {}}
    variables["standard"]["a"] = 1
    variables["local"]["b"] = "two"
    project.set_variables(variables)
    project.update_variables({"c": [3]}, type="standard")
    assert project.get_variables() == {"standard": {"a": 1, "c": [3]}, "local": {"b": "two"}}
    instance_variables = dss.get_global_variables()
    instance_variables["a"] = "instance"
    instance_variables["only"] = "instance"
    instance_variables.save()
    # The official client imports the in-DSS `dataiku` package here, only to find a default
    # project key; an explicit key never uses it.
    monkeypatch.setitem(sys.modules, "dataiku", types.ModuleType("dataiku"))
    assert dss.get_resolved_variables("CONF", typed=True) == {
        "a": 1,
        "b": "two",
        "c": [3],
        "only": "instance",
    }
    untyped = dss.get_resolved_variables("CONF")
    assert untyped["a"] == "1" and untyped["c"] == "[3]"


def test_delete_answers_as_a_finished_future(dss, live, project) -> None:  # type: ignore[no-untyped-def]
    folder = live.config.data_dir / "projects" / "CONF"
    folder.mkdir(parents=True)
    (folder / "file.txt").write_text("x")
    future = project.delete(clear_managed_datasets=True)
    assert isinstance(future, DSSFuture)
    result = future.wait_for_result()
    assert result["success"] is True and result["projectKey"] == "CONF"
    assert not folder.exists()
    assert dss.list_project_keys() == []
    with pytest.raises(DataikuException, match="CONF"):
        project.get_summary()


def test_datasets(project) -> None:  # type: ignore[no-untyped-def]
    project.create_dataset(
        "src",
        "Filesystem",
        params={"connection": "filesystem_managed", "path": "/src"},
        formatType="csv",
        formatParams={"separator": ","},
    )
    project.create_upload_dataset("uploaded")
    project.create_sql_table_dataset("tbl", "PostgreSQL", "pg", "t", "public")
    items = project.list_datasets()
    assert [(i.name, i.type) for i in items] == [
        ("src", "Filesystem"),
        ("tbl", "PostgreSQL"),
        ("uploaded", "UploadedFiles"),
    ]
    assert items[0].connection == "filesystem_managed" and items[0].schema["columns"] == []
    dataset = project.get_dataset("src")
    assert dataset.exists() and not project.get_dataset("nothing").exists()
    settings = dataset.get_settings()
    assert type(settings).__name__ == "FSLikeDatasetSettings"
    settings.set_csv_format(separator=";")
    settings.add_raw_schema_column({"name": "id", "type": "int"})
    settings.tags = ["curated"]
    settings.save()
    again = dataset.get_settings()
    assert again.get_raw()["formatParams"]["separator"] == ";" and again.schema_columns == [
        {"name": "id", "type": "int"}
    ]
    assert [i.name for i in project.list_datasets(tags=["curated"])] == ["src"]
    assert dataset.get_schema()["columns"] == [{"name": "id", "type": "int"}]
    with pytest.raises(DataikuException, match="already exists"):
        project.create_dataset("src", "Filesystem")
    with pytest.raises(DataikuException, match="dataset name"):
        project.create_dataset("bad/name", "Filesystem")
    dataset.delete(drop_data=True)
    assert not dataset.exists()
    assert len(project.list_datasets(as_type="objects")) == 2


def test_recipes(project) -> None:  # type: ignore[no-untyped-def]
    project.create_dataset("src", "Filesystem", params={"connection": "fs", "path": "/a"})
    project.create_dataset("out", "Filesystem", params={"connection": "fs", "path": "/b"})
    recipe = (
        project.new_recipe("python", "compute_out")
        .with_script("print('hello')")
        .with_input("src")
        .with_output("out")
        .create()
    )
    assert recipe.name == "compute_out" and recipe.type == "python"
    grouping = project.new_recipe("grouping").with_input("src").with_existing_output("out")
    grouping.with_group_key("id")
    grouped = grouping.create()
    items = {i.name: i for i in project.list_recipes()}
    assert items["compute_out"].type == "python" and items[grouped.name].type == "grouping"
    assert items["compute_out"]._data["params"]["envSelection"] == {"envMode": "INHERIT"}
    settings = recipe.get_settings()
    assert isinstance(settings, CodeRecipeSettings)
    assert settings.get_code() == "print('hello')"
    assert settings.get_flat_input_refs() == ["src"] and settings.get_flat_output_refs() == ["out"]
    assert settings.get_code_env_settings() == {"envMode": "INHERIT"}
    settings.set_code_env(code_env="py311")
    settings.set_code("print('changed')")
    settings.save()
    again = recipe.get_settings()
    assert again.get_code() == "print('changed')"
    assert again.get_code_env_settings() == {"envMode": "EXPLICIT_ENV", "envName": "py311"}
    metadata = recipe.get_metadata()
    metadata["tags"] = ["etl"]
    recipe.set_metadata(metadata)
    assert project.list_recipes()[0].tags == ["etl"]
    again.get_recipe_params()["envSelection"] = {"envMode": "SOMETIMES"}
    with pytest.raises(DataikuException, match="envMode"):
        again.save()
    recipe.delete()
    assert [r.name for r in project.list_recipes(as_type="objects")] == [grouped.name]


def test_scenarios(project) -> None:  # type: ignore[no-untyped-def]
    scenario = project.create_scenario("Nightly build", "step_based")
    assert scenario.id == "NIGHTLY_BUILD"
    settings = scenario.get_settings()
    assert isinstance(settings, StepBasedScenarioSettings)
    assert settings.raw_steps == [] and settings.active is False and settings.effective_run_as == "admin"
    settings.add_periodic_trigger(every_minutes=10)
    settings.active = True
    settings.save()
    assert scenario.get_settings().raw_triggers[0]["params"]["repeatFrequency"] == 10
    status = scenario.get_status()
    assert status.running is False and status.next_run is None
    script = project.create_scenario("Script", "custom_python")
    script_settings = script.get_settings()
    assert isinstance(script_settings, PythonScriptBasedScenarioSettings)
    script_settings.code = "print('scenario')"
    script_settings.save()
    assert script.get_settings().code == "print('scenario')"
    listed = project.list_scenarios()
    assert [(i._data["id"], i.running) for i in listed] == [("NIGHTLY_BUILD", False), ("SCRIPT", False)]
    with pytest.raises(DataikuException, match="type"):
        project.create_scenario("Odd", "flowchart")
    script.delete()
    assert [s.id for s in project.list_scenarios(as_type="objects")] == ["NIGHTLY_BUILD"]
