"""Projects and the usage summary with labkeeper's client against a live server,
cross-checked with the official client (which also creates the project objects)."""

from __future__ import annotations

import pytest

from labkeeper.client import (
    BadRequestError,
    ConflictError,
    DSSClient,
    DSSFuture,
    DSSGlobalUsageSummary,
    DSSProject,
    DSSProjectSettings,
    ForbiddenError,
    NotFoundError,
)
from tests.conftest import LiveServer


def test_project_round_trip(lk: DSSClient, dss) -> None:  # type: ignore[no-untyped-def]
    project = lk.create_project("SALES", "Sales", "admin", description="quarterly numbers")
    assert isinstance(project, DSSProject) and project.project_key == "SALES"
    assert "SALES" in lk.list_project_keys()
    assert any(p["projectKey"] == "SALES" for p in lk.list_projects())
    summary = project.get_summary()
    assert summary["projectKey"] == "SALES"
    assert summary == dss.get_project("SALES").get_summary()

    metadata = project.get_metadata()
    metadata["tags"] = ["finance", "q3"]
    project.set_metadata(metadata)
    assert project.get_metadata()["tags"] == ["finance", "q3"]

    settings = project.get_settings()
    assert isinstance(settings, DSSProjectSettings)
    settings.set_python_code_env("py-sales")
    settings.save()
    python = lk.get_project("SALES").get_settings().get_raw()["settings"]["codeEnvs"]["python"]
    assert (python["mode"], python["envName"]) == ("EXPLICIT_ENV", "py-sales")
    settings = project.get_settings()
    settings.set_python_code_env(None)
    settings.save()
    assert project.get_settings().get_raw()["settings"]["codeEnvs"]["python"]["mode"] == "USE_BUILTIN_MODE"
    assert project.get_settings().get_raw() == dss.get_project("SALES").get_settings().get_raw()

    lk.create_group("sales_readers")
    permissions = project.get_permissions()
    permissions["permissions"].append({"group": "sales_readers", "readProjectContent": True})
    project.set_permissions(permissions)
    groups = [p["group"] for p in project.get_permissions()["permissions"]]
    assert "sales_readers" in groups

    variables = project.get_variables()
    assert set(variables) >= {"standard", "local"}
    variables["standard"]["threshold"] = 10
    variables["local"]["scratch"] = "/tmp/x"
    project.set_variables(variables)
    project.update_variables({"region": "eu"})
    again = project.get_variables()
    assert again["standard"] == {"threshold": 10, "region": "eu"}
    assert again["local"] == {"scratch": "/tmp/x"}

    lk.get_global_variables().save()
    instance = lk.get_global_variables()
    instance["region"] = "us"
    instance["owner_team"] = "ops"
    instance.save()
    resolved = lk.get_resolved_variables("SALES", typed=True)
    assert resolved["region"] == "eu" and resolved["owner_team"] == "ops" and resolved["threshold"] == 10
    # (the official get_resolved_variables needs the in-DSS `dataiku` package: ask its transport)
    assert resolved == dss._perform_json(
        "GET", "/projects/SALES/variables-resolved", params={"typed": "true"}
    )
    assert lk.get_resolved_variables("SALES")["threshold"] == "10"  # untyped: values as text

    with pytest.raises(ConflictError):
        lk.create_project("SALES", "Again", "admin")


def test_project_objects_are_listed(lk: DSSClient, dss) -> None:  # type: ignore[no-untyped-def]
    lk.create_project("FLOW", "Flow", "admin")
    theirs = dss.get_project("FLOW")
    theirs.create_dataset(
        "orders", "Filesystem", params={"connection": "filesystem_managed", "path": "orders"}
    )
    theirs.create_dataset("totals", "Filesystem", params={"connection": "filesystem_managed", "path": "t"})
    theirs.new_recipe("python", "compute_totals").with_script("pass").with_input("orders").with_output(
        "totals"
    ).create()
    theirs.create_scenario("nightly", "step_based")
    project = lk.get_project("FLOW")
    assert sorted(d["name"] for d in project.list_datasets()) == ["orders", "totals"]
    assert [s["name"] for s in project.list_scenarios()] == ["nightly"]
    [recipe] = project.list_recipes()
    assert (recipe["name"], recipe["type"]) == ("compute_totals", "python")
    assert recipe["params"]["envSelection"] == {"envMode": "INHERIT"}
    assert project.list_recipes() == [r._data for r in theirs.list_recipes()]


def test_get_project_is_lazy_and_a_missing_project_fails_on_use(lk: DSSClient) -> None:
    ghost = lk.get_project("NO_SUCH_PROJECT")
    with pytest.raises(NotFoundError) as caught:
        ghost.get_summary()
    assert caught.value.status_code == 404
    with pytest.raises(BadRequestError):
        lk.create_project("bad key/with slash", "Bad", "admin")


def test_project_delete(lk: DSSClient) -> None:
    project = lk.create_project("DOOMED", "Doomed", "admin")
    future = project.delete()
    assert isinstance(future, DSSFuture)
    result = future.wait_for_result()
    assert result["projectKey"] == "DOOMED"
    assert result["success"] is True
    assert "DOOMED" not in lk.list_project_keys()
    with pytest.raises(NotFoundError):
        project.get_summary()
    with pytest.raises(TypeError, match="bogus"):
        lk.get_project("ANY").delete(bogus=True)


def test_non_admin_sees_only_permitted_projects(lk: DSSClient, live: LiveServer) -> None:
    lk.create_project("PRIVATE", "Private", "admin")
    lk.create_user("jules", "pw-jules-123")
    key = lk.create_personal_api_key_for_user("jules", as_type="dict")
    with DSSClient(live.url, key["key"]) as jules:
        assert "PRIVATE" not in jules.list_project_keys()
        with pytest.raises((ForbiddenError, NotFoundError)):
            jules.get_project("PRIVATE").get_settings()


def test_usage_summary(lk: DSSClient, dss) -> None:  # type: ignore[no-untyped-def]
    empty = lk.get_global_usage_summary()
    assert isinstance(empty, DSSGlobalUsageSummary)
    assert empty.projects_count == 0 and empty.total_datasets_count == 0
    lk.create_project("U1", "U1", "admin")
    lk.create_project("U2", "U2", "admin")
    theirs = dss.get_project("U1")
    for name in ("a", "b"):
        theirs.create_dataset(name, "Filesystem", params={"connection": "filesystem_managed", "path": name})
    theirs.create_scenario("s", "step_based")
    usage = lk.get_global_usage_summary()
    assert usage.projects_count == 2
    assert usage.total_datasets_count == 2
    assert usage.total_scenarios_count == 1
    assert usage.total_recipes_count == 0
    assert usage.total_jupyter_notebooks_count == 0
    assert usage.total_sql_notebooks_count == 0
    assert usage.total_active_with_trigger_scenarios_count == 0
    assert usage.raw == dss.get_global_usage_summary().data
    per_project = lk.get_global_usage_summary(with_per_project=True).raw
    assert per_project != usage.raw  # the breakdown is added
