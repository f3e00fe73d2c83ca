"""The official dataikuapi client against a live labkeeper: SQL notebooks, their content
and the history of their cells (runs started with labkeeper's own client)."""

from __future__ import annotations

import dataikuapi
import pytest
from dataikuapi.dss.sqlnotebook import (
    DSSNotebookContent,
    DSSNotebookHistory,
    DSSNotebookQueryRunListItem,
    DSSSQLNotebook,
    DSSSQLNotebookListItem,
)
from dataikuapi.utils import DataikuException

from labkeeper.client import DSSClient as LabkeeperClient
from labkeeper.connections.service import DEFAULT_CONNECTION
from tests.conftest import ADMIN_KEY, Instance
from tests.sql.helpers import PG_PARAMS, pg_execute, unique

CELLS = [
    {"id": "count", "type": "QUERY", "name": "Count", "code": "SELECT ${n} * 2 AS twice"},
    {"id": "notes", "type": "MARKDOWN", "name": "Notes", "code": "Some *notes*"},
]


@pytest.fixture
def project(dss):  # type: ignore[no-untyped-def]
    handle = dss.create_project("SQLCONF", "SQL conformance", "admin")
    handle.set_variables({"standard": {"n": 21}, "local": {}})
    return handle


@pytest.fixture
def ours(live):  # type: ignore[no-untyped-def]
    with LabkeeperClient(live.url, ADMIN_KEY) as client:
        yield client


def test_create_list_get_content_save_delete(dss, project) -> None:  # type: ignore[no-untyped-def]
    notebook = project.create_sql_notebook({"connection": DEFAULT_CONNECTION, "cells": CELLS, "name": "Conf"})
    assert isinstance(notebook, DSSSQLNotebook) and notebook.notebook_id

    [item] = project.list_sql_notebooks()
    assert isinstance(item, DSSSQLNotebookListItem)
    assert item.id == notebook.notebook_id and item.language == "SQL"
    assert item.connection == DEFAULT_CONNECTION and item.tags == [] and item["projectKey"] == "SQLCONF"
    assert item.to_notebook().get_content().get_raw()["name"] == "Conf"
    [handle] = project.list_sql_notebooks(as_type="objects")
    assert isinstance(handle, DSSSQLNotebook) and handle.notebook_id == notebook.notebook_id

    content = project.get_sql_notebook(notebook.notebook_id).get_content()
    assert isinstance(content, DSSNotebookContent)
    assert content.connection == DEFAULT_CONNECTION and content.cells == CELLS
    assert content.get_raw()["id"] == notebook.notebook_id
    content.cells = content.cells + [{"id": "extra", "type": "QUERY", "name": "Extra", "code": "SELECT 3"}]
    content.save()
    assert [c["id"] for c in notebook.get_content().cells] == ["count", "notes", "extra"]

    with pytest.raises(DataikuException, match="BadRequest"):
        project.create_sql_notebook(
            {"connection": DEFAULT_CONNECTION, "cells": [{"type": "QUERY", "code": "x"}]}
        )
    with pytest.raises(DataikuException, match="BadRequest"):
        project.create_sql_notebook(
            {"connection": DEFAULT_CONNECTION, "cells": [{"id": "x", "type": "SPARK"}]}
        )
    with pytest.raises(DataikuException, match="BadRequest"):
        project.create_sql_notebook({"connection": "../etc", "cells": []})
    broken = notebook.get_content()
    broken.cells = [{"name": "no id"}]
    with pytest.raises(DataikuException, match="BadRequest"):
        broken.save()

    notebook.delete()
    assert project.list_sql_notebooks() == []
    with pytest.raises(DataikuException, match="NotFound"):
        notebook.get_content()


def test_history_query_runs_delete_and_clear(dss, project, ours) -> None:  # type: ignore[no-untyped-def]
    notebook = project.create_sql_notebook({"connection": DEFAULT_CONNECTION, "cells": CELLS})
    cell = ours.get_project("SQLCONF").get_sql_notebook(notebook.notebook_id)
    results = [cell.run_cell("count") for _ in range(4)]
    assert results[0]["rows"] == [[42]] and results[0]["expandedSql"] == "SELECT 21 * 2 AS twice"

    history = notebook.get_history()
    assert isinstance(history, DSSNotebookHistory)
    runs = history.get_query_runs("count")
    assert len(runs) == 4 and all(isinstance(r, DSSNotebookQueryRunListItem) for r in runs)
    raw = runs[0].get_raw()
    assert raw["state"] == "DONE" and raw["runBy"] == "admin" and raw["runOn"] > 0
    assert raw["sql"] == "SELECT ${n} * 2 AS twice" and raw["expandedSql"] == "SELECT 21 * 2 AS twice"
    assert history.get_query_runs("count", as_type="listitems")
    with pytest.raises(ValueError):
        history.get_query_runs("count", as_type="objects")

    doomed = runs[1].get_raw()["id"]
    runs[1].delete()
    history.save()
    kept = [r.get_raw()["id"] for r in notebook.get_history().get_query_runs("count")]
    assert len(kept) == 3 and doomed not in kept

    notebook.clear_history("count", 1)
    assert [r.get_raw()["id"] for r in notebook.get_history().get_query_runs("count")] == kept[:1]
    notebook.clear_history()
    assert notebook.get_history().get_query_runs("count") == []


def test_failed_run_in_history_and_delete_failed_runs(dss, project, ours) -> None:  # type: ignore[no-untyped-def]
    cells = [{"id": "bad", "type": "QUERY", "name": "Bad", "code": "SELECT * FROM missing_table_conf"}]
    notebook = project.create_sql_notebook({"connection": DEFAULT_CONNECTION, "cells": cells + CELLS[:1]})
    ours_notebook = ours.get_project("SQLCONF").get_sql_notebook(notebook.notebook_id)
    with pytest.raises(Exception, match="missing_table_conf"):
        ours_notebook.run_cell("bad")
    ours_notebook.run_cell("count")
    history = notebook.get_history()
    [failed] = history.get_query_runs("bad")
    assert failed.get_raw()["state"] == "FAILED" and "missing_table_conf" in failed.get_raw()["error"]
    # The documented clean-up: delete the failed runs, then save.
    for cell_id in ("bad", "count"):
        for query_run in history.get_query_runs(cell_id):
            if query_run.get_raw()["state"] == "FAILED":
                query_run.delete()
    history.save()
    after = notebook.get_history()
    assert after.get_query_runs("bad") == [] and len(after.get_query_runs("count")) == 1


def test_postgresql_notebook_and_an_aborted_run(dss, live, project, ours) -> None:  # type: ignore[no-untyped-def]
    table = unique("lk_conf")
    dss.create_connection("pg", "PostgreSQL", params=dict(PG_PARAMS))
    try:
        cells = [
            {
                "id": "make",
                "type": "QUERY",
                "name": "make",
                "code": f"CREATE TABLE {table} AS SELECT 1 AS one",
            },
            {"id": "read", "type": "QUERY", "name": "read", "code": f"SELECT one FROM {table}"},
            {"id": "slow", "type": "QUERY", "name": "slow", "code": "SELECT pg_sleep(30)"},
        ]
        notebook = project.create_sql_notebook({"connection": "pg", "cells": cells})
        handle = ours.get_project("SQLCONF").get_sql_notebook(notebook.notebook_id)
        handle.run_cell("make")
        assert handle.run_cell("read")["rows"] == [[1]]
        started = handle.run_cell("slow", wait=False)  # labkeeper's future ...
        assert started.job_id and started.peek_state()["alive"] is True
        assert handle.run_cell("read", wait=False).wait_for_result()["rows"] == [[1]]
        future = dss.get_future(started.job_id)  # ... is the official client's too
        future.abort()
        with pytest.raises(DataikuException, match="aborted"):
            future.wait_for_result()
        states = {r.get_raw()["state"] for r in notebook.get_history().get_query_runs("slow")}
        assert states == {"ABORTED"}
    finally:
        pg_execute(f"DROP TABLE IF EXISTS {table}")


def test_a_user_needs_the_project_and_the_connection(dss, live, project) -> None:  # type: ignore[no-untyped-def]
    dss.create_connection(
        "restricted", "SQLite", params={"path": "restricted.db"}, usable_by="ALLOWED", allowed_groups=["dba"]
    )
    secret = Instance.make_user(live, "walter", ["writers"])
    project.set_permissions(
        {"owner": "admin", "permissions": [{"group": "writers", "writeProjectContent": True}]}
    )
    user_project = dataikuapi.DSSClient(live.url, secret).get_project("SQLCONF")
    with pytest.raises(DataikuException, match="Unauthorized"):
        user_project.create_sql_notebook({"connection": "restricted", "cells": []})
    mine = user_project.create_sql_notebook({"connection": DEFAULT_CONNECTION, "cells": CELLS})
    assert [n.id for n in user_project.list_sql_notebooks()] == [mine.notebook_id]
    outsider = dataikuapi.DSSClient(live.url, Instance.make_user(live, "olga", ["others"]))
    with pytest.raises(DataikuException, match="Unauthorized"):
        outsider.get_project("SQLCONF").list_sql_notebooks()
