"""The global usage summary: counts by type, per project, pluggable notebook counters, and
a constant number of queries whatever the number of projects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event, func, select

from labkeeper.projects.models import Project, ProjectObject
from labkeeper.usage import service as usage
from tests.conftest import Instance
from tests.projects.helpers import assert_error, create

SUMMARY = "/admin/monitoring/global-usage-summary"


def add(instance: Instance, key: str, kind: str, body: dict) -> None:
    answer = instance.admin.post(f"/projects/{key}/{kind}/", json=body)
    assert answer.status_code == 200, answer.text


def scenario(name: str, *, active: bool, triggers: list[dict]) -> dict:
    return {"name": name, "type": "step_based", "active": active, "triggers": triggers}


@pytest.fixture
def populated(instance: Instance) -> Instance:
    for key in ("U1", "U2", "U3"):
        create(instance, key)
    add(instance, "U1", "datasets", {"name": "a", "type": "Filesystem"})
    add(instance, "U1", "datasets", {"name": "b", "type": "Filesystem"})
    add(instance, "U1", "datasets", {"name": "c", "type": "PostgreSQL"})
    add(instance, "U2", "datasets", {"name": "a", "type": "Filesystem"})
    add(
        instance,
        "U1",
        "recipes",
        {"recipePrototype": {"type": "python", "name": "r1"}, "creationSettings": {}},
    )
    add(
        instance,
        "U2",
        "recipes",
        {"recipePrototype": {"type": "python", "name": "r1"}, "creationSettings": {}},
    )
    add(
        instance,
        "U2",
        "recipes",
        {"recipePrototype": {"type": "grouping", "name": "g"}, "creationSettings": {}},
    )
    add(
        instance,
        "U1",
        "scenarios",
        scenario("on", active=True, triggers=[{"type": "temporal", "active": True}]),
    )
    add(instance, "U1", "scenarios", scenario("no triggers", active=True, triggers=[]))
    add(instance, "U2", "scenarios", scenario("inactive", active=False, triggers=[{"type": "temporal"}]))
    add(
        instance,
        "U2",
        "scenarios",
        scenario("off trigger", active=True, triggers=[{"type": "t", "active": False}]),
    )
    add(instance, "U2", "scenarios", scenario("on too", active=True, triggers=[{"type": "t"}]))
    return instance


def test_totals(populated: Instance) -> None:
    summary = populated.admin.get(SUMMARY).json()
    assert summary["projects"] == 3
    assert summary["datasets"] == {"all": 4, "Filesystem": 3, "PostgreSQL": 1}
    assert summary["recipes"] == {"all": 3, "python": 2, "grouping": 1}
    assert summary["scenarios"] == {"all": 5, "activeWithTriggers": 2}
    assert summary["notebooks"] == {"nbJupyterNotebooks": 0, "nbSqlNotebooks": 0}
    assert "projectSummaries" not in summary


def test_per_project_breakdown(populated: Instance) -> None:
    summary = populated.admin.get(SUMMARY, params={"withPerProject": "True"}).json()
    per = {p["projectKey"]: p for p in summary["projectSummaries"]}
    assert list(per) == ["U1", "U2", "U3"]
    assert per["U1"]["datasets"] == {"all": 3, "Filesystem": 2, "PostgreSQL": 1}
    assert per["U1"]["scenarios"] == {"all": 2, "activeWithTriggers": 1}
    assert per["U2"]["recipes"] == {"all": 2, "python": 1, "grouping": 1}
    assert per["U2"]["scenarios"] == {"all": 3, "activeWithTriggers": 1}
    assert per["U3"]["datasets"] == {"all": 0} and per["U3"]["notebooks"]["nbSqlNotebooks"] == 0
    assert summary["datasets"]["all"] == sum(p["datasets"]["all"] for p in per.values())


def test_counts_follow_updates_and_deletes(populated: Instance) -> None:
    doc = populated.admin.get("/projects/U1/scenarios/NO_TRIGGERS").json()
    doc["triggers"] = [{"type": "temporal", "active": True}]
    assert populated.admin.put("/projects/U1/scenarios/NO_TRIGGERS", json=doc).status_code == 200
    assert populated.admin.get(SUMMARY).json()["scenarios"]["activeWithTriggers"] == 3
    assert populated.admin.delete("/projects/U2").status_code == 200
    summary = populated.admin.get(SUMMARY).json()
    assert summary["projects"] == 2 and summary["recipes"] == {"all": 1, "python": 1}
    assert summary["scenarios"] == {"all": 2, "activeWithTriggers": 2}


@pytest.fixture
def project_counter() -> Iterator[None]:
    """A notebook counter of our own, reading real rows: one 'notebook' per dataset."""

    def count(session) -> dict[str, int]:  # type: ignore[no-untyped-def]
        rows = session.execute(
            select(ProjectObject.project_key, func.count())
            .where(ProjectObject.kind == "DATASET")
            .group_by(ProjectObject.project_key)
        ).all()
        return {key: n for key, n in rows}

    saved = dict(usage._notebook_counters)
    usage.register_notebook_counter("nbSqlNotebooks", count)
    yield
    usage._notebook_counters.clear()
    usage._notebook_counters.update(saved)


def test_registered_notebook_counters_are_used(populated: Instance, project_counter: None) -> None:
    summary = populated.admin.get(SUMMARY, params={"withPerProject": "true"}).json()
    assert summary["notebooks"] == {"nbJupyterNotebooks": 0, "nbSqlNotebooks": 4}
    per = {p["projectKey"]: p["notebooks"]["nbSqlNotebooks"] for p in summary["projectSummaries"]}
    assert per == {"U1": 3, "U2": 1, "U3": 0}


def test_unknown_notebook_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="nbJupyterNotebooks"):
        usage.register_notebook_counter("nbSomething", lambda s: {})


def test_constant_number_of_queries(instance: Instance) -> None:
    def queries_for_summary() -> int:
        statements: list[str] = []

        def record(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
            statements.append(statement)

        event.listen(instance.store.engine, "before_cursor_execute", record)
        try:
            usage.global_usage_summary(instance.store, with_per_project=True)
        finally:
            event.remove(instance.store.engine, "before_cursor_execute", record)
        return len([s for s in statements if s.lstrip().upper().startswith("SELECT")])

    create(instance, "Q0")
    few = queries_for_summary()
    for n in range(1, 25):
        create(instance, f"Q{n}")
        add(instance, f"Q{n}", "datasets", {"name": "d", "type": "Inline"})
    with instance.store.read() as s:
        assert s.scalar(select(func.count()).select_from(Project)) == 25
    # the project keys, the objects by type, and one per registered notebook counter
    assert queries_for_summary() == few <= 2 + len(usage._notebook_counters)


def test_admin_only_and_bad_parameter(instance: Instance) -> None:
    user = instance.client(instance.make_user("someone", ["people"]))
    assert_error(user.get(SUMMARY), 403, "administrator")
    assert_error(instance.admin.get(SUMMARY, params={"withPerProject": "perhaps"}), 400, "withPerProject")
