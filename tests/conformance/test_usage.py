"""The official dataikuapi client reads the global usage summary of a live labkeeper."""

from __future__ import annotations

import dataikuapi
import pytest
from dataikuapi.utils import DataikuException

from tests.conftest import Instance


def test_every_accessor_of_the_usage_summary(dss) -> None:  # type: ignore[no-untyped-def]
    empty = dss.get_global_usage_summary()
    assert empty.projects_count == 0 and empty.total_datasets_count == 0
    first = dss.create_project("USE1", "First", "admin")
    second = dss.create_project("USE2", "Second", "admin")
    first.create_dataset("a", "Filesystem")
    first.create_dataset("b", "PostgreSQL")
    second.create_dataset("a", "Filesystem")
    first.new_recipe("python", "r").with_script("pass").with_input("a").with_output("b").create()
    scenario = second.create_scenario("Hourly", "step_based")
    settings = scenario.get_settings()
    settings.add_hourly_trigger()
    settings.active = True
    settings.save()
    second.create_scenario("Idle", "step_based")

    summary = dss.get_global_usage_summary()
    assert summary.projects_count == 2
    assert summary.total_datasets_count == 3
    assert summary.total_recipes_count == 1
    assert summary.total_scenarios_count == 2
    assert summary.total_active_with_trigger_scenarios_count == 1
    assert summary.total_jupyter_notebooks_count == 0
    assert summary.total_sql_notebooks_count == 0
    assert summary.raw["datasets"] == {"all": 3, "Filesystem": 2, "PostgreSQL": 1}
    assert "projectSummaries" not in summary.raw

    per_project = dss.get_global_usage_summary(with_per_project=True).raw["projectSummaries"]
    assert [
        (p["projectKey"], p["datasets"]["all"], p["scenarios"]["activeWithTriggers"]) for p in per_project
    ] == [
        ("USE1", 2, 0),
        ("USE2", 1, 1),
    ]


def test_usage_summary_needs_an_admin(live) -> None:  # type: ignore[no-untyped-def]
    secret = Instance.make_user(live, "someone", ["people"])
    with pytest.raises(DataikuException, match="administrator"):
        dataikuapi.DSSClient(live.url, secret).get_global_usage_summary()
