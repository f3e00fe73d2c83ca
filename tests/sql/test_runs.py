"""Running cells for real, on SQLite and on PostgreSQL: results, kept rows, variables,
failures with the database's message, and the history of each cell."""

from __future__ import annotations

import pytest

from labkeeper.connections.service import DEFAULT_CONNECTION
from tests.conftest import Instance
from tests.helpers import wait_for
from tests.sql.helpers import (
    history,
    make_notebook,
    make_pg_connection,
    make_project,
    pg_execute,
    query_cell,
    run,
    run_ok,
    unique,
)

LITE = DEFAULT_CONNECTION
# The database named as `database` (the spelling the issue uses) rather than DSS's `db`.
PG_PARAMS_WITH_DATABASE = {"host": "127.0.0.1", "port": "5432", "database": "test", "user": "postgres"}


@pytest.fixture
def project(instance: Instance) -> str:
    return make_project(instance, "RUNS")


@pytest.fixture
def pg_table():  # type: ignore[no-untyped-def]
    table = unique("lk_sqlnb")
    yield table
    pg_execute(f"DROP TABLE IF EXISTS {table}")


def test_sqlite_cells_create_insert_and_select(instance: Instance, project: str) -> None:
    table = unique("items")
    cells = [
        query_cell("create", f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, label TEXT, price REAL)"),
        query_cell("fill", f"INSERT INTO {table} (label, price) VALUES ('a', 1.5), ('b', 2.25), ('c', NULL)"),
        query_cell("read", ["SELECT id, label, price", f"FROM {table}", "ORDER BY id"]),
    ]
    notebook = make_notebook(instance, project, LITE, cells)
    created = run_ok(instance, project, notebook, "create")
    assert created["state"] == "DONE" and created["hasResultSet"] is False
    assert run_ok(instance, project, notebook, "fill")["rowCount"] == 3
    result = run_ok(instance, project, notebook, "read")
    assert result["columns"] == [
        {"name": "id", "type": "INTEGER"},
        {"name": "label", "type": "TEXT"},
        {"name": "price", "type": "REAL"},
    ]
    assert result["rows"] == [[1, "a", 1.5], [2, "b", 2.25], [3, "c", None]]
    assert result["rowCount"] == 3 and result["truncated"] is False
    assert result["sql"] == f"SELECT id, label, price\nFROM {table}\nORDER BY id"
    # The file lives in the instance's sql folder.
    assert (instance.config.data_dir / "sql" / "local.db").exists()


def test_only_the_first_rows_are_kept_but_all_are_counted(instance: Instance, project: str) -> None:
    settings = instance.admin.get("/admin/general-settings").json()
    settings["sqlNotebooks"]["maxRowsKept"] = 7
    assert instance.admin.put("/admin/general-settings", json=settings).status_code == 204
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 25000) SELECT x FROM c"
    notebook = make_notebook(instance, project, LITE, [query_cell("many", sql)])
    result = run_ok(instance, project, notebook, "many")
    assert result["rows"] == [[i] for i in range(1, 8)]
    assert result["rowCount"] == 25000 and result["truncated"] is True and result["rowsKept"] == 7
    kept = instance.admin.get(f"/projects/{project}/sql-notebooks/{notebook}/runs/{result['id']}").json()
    assert kept["rows"] == result["rows"] and kept["rowCount"] == 25000


def test_postgresql_cells_run_on_the_server(instance: Instance, project: str, pg_table: str) -> None:
    make_pg_connection(instance)
    cells = [
        query_cell(
            "create", f"CREATE TABLE {pg_table} (id serial PRIMARY KEY, label text, amount numeric(8,2))"
        ),
        query_cell(
            "fill",
            f"INSERT INTO {pg_table} (label, amount) "
            "SELECT 'n' || g, g * 1.25 FROM generate_series(1, 3000) g",
        ),
        query_cell("read", f"SELECT id, label, amount, now()::date AS day FROM {pg_table} ORDER BY id"),
        query_cell(
            "both",
            f"UPDATE {pg_table} SET label = 'x' WHERE id = 1; SELECT label FROM {pg_table} WHERE id = 1",
        ),
    ]
    notebook = make_notebook(instance, project, "pg", cells)
    assert run_ok(instance, project, notebook, "create")["state"] == "DONE"
    assert run_ok(instance, project, notebook, "fill")["rowCount"] == 3000
    assert pg_execute(f"SELECT count(*) FROM {pg_table}") == [(3000,)]  # committed, seen from outside
    result = run_ok(instance, project, notebook, "read")
    assert [c["name"] for c in result["columns"]] == ["id", "label", "amount", "day"]
    assert [c["type"] for c in result["columns"]] == ["int4", "text", "numeric(8,2)", "date"]
    assert result["rowCount"] == 3000 and len(result["rows"]) == 1000 and result["truncated"] is True
    assert result["rows"][0][:3] == [1, "n1", "1.25"]
    both = run_ok(instance, project, notebook, "both")
    assert both["rows"] == [["x"]]


def test_variables_are_expanded_instance_then_project(instance: Instance, project: str) -> None:
    assert (
        instance.admin.put(
            "/admin/variables/", json={"who": "instance", "n": 3, "only_instance": "i"}
        ).status_code
        == 204
    )
    variables = {"standard": {"who": "project", "n": 5}, "local": {}}
    assert instance.admin.put(f"/projects/{project}/variables/", json=variables).status_code == 204
    cell = query_cell("v", "SELECT '${who}' AS who, ${n} * 2 AS twice, '${only_instance}' AS i")
    notebook = make_notebook(instance, project, LITE, [cell])
    result = run_ok(instance, project, notebook, "v")
    assert result["rows"] == [["project", 10, "i"]]
    assert result["sql"] == cell["code"]
    assert result["expandedSql"] == "SELECT 'project' AS who, 5 * 2 AS twice, 'i' AS i"
    runs = history(instance, project, notebook)["v"]
    assert runs[0]["expandedSql"] == result["expandedSql"] and runs[0]["sql"] == cell["code"]


def test_an_undefined_variable_is_400_before_anything_runs(instance: Instance, project: str) -> None:
    notebook = make_notebook(instance, project, LITE, [query_cell("v", "SELECT '${nowhere}'")])
    answer = run(instance, project, notebook, "v")
    assert answer.status_code == 400 and "${nowhere}" in answer.json()["message"]
    assert history(instance, project, notebook) == {"v": []}


@pytest.mark.parametrize("connection", [LITE, "pg"])
def test_a_failing_query_is_recorded_with_the_database_message(
    instance: Instance, project: str, connection: str
) -> None:
    if connection == "pg":
        make_pg_connection(instance)
    notebook = make_notebook(
        instance, project, connection, [query_cell("bad", "SELECT * FROM no_such_table_lk")]
    )
    answer = run(instance, project, notebook, "bad")
    assert answer.status_code == 500 and "no_such_table_lk" in answer.json()["detailedMessage"]
    [failed] = history(instance, project, notebook)["bad"]
    assert failed["state"] == "FAILED" and "no_such_table_lk" in failed["error"]
    assert failed["runBy"] == "admin" and failed["durationMs"] >= 0


def test_a_run_without_wait_is_a_future(instance: Instance, project: str) -> None:
    notebook = make_notebook(instance, project, LITE, [query_cell("q", "SELECT 42")])
    answer = run(instance, project, notebook, "q", wait=False)
    assert answer.status_code == 200
    job = answer.json()["jobId"]
    state = wait_for(
        lambda: (s := instance.admin.get(f"/futures/{job}").json()).get("hasResult") and s, timeout=10.0
    )
    assert state["result"]["rows"] == [[42]] and state["result"]["state"] == "DONE"


def test_cells_that_cannot_run(instance: Instance, project: str) -> None:
    cells = [{"id": "md", "type": "MARKDOWN", "code": "# title"}, query_cell("empty", "  ")]
    notebook = make_notebook(instance, project, LITE, cells)
    assert run(instance, project, notebook, "md").status_code == 400
    assert run(instance, project, notebook, "empty").status_code == 400
    assert run(instance, project, notebook, "missing").status_code == 404


def test_a_deleted_connection_fails_the_run(instance: Instance, project: str) -> None:
    make_pg_connection(instance, "short-lived")
    notebook = make_notebook(instance, project, "short-lived", [query_cell("q", "SELECT 1")])
    assert instance.admin.delete("/admin/connections/short-lived").status_code == 204
    assert run(instance, project, notebook, "q").status_code == 400


def test_history_per_cell_delete_runs_and_clear(instance: Instance, project: str) -> None:
    notebook = make_notebook(
        instance, project, LITE, [query_cell("a", "SELECT 1"), query_cell("b", "SELECT 2")]
    )
    a_runs = [run_ok(instance, project, notebook, "a")["id"] for _ in range(4)]
    b_runs = [run_ok(instance, project, notebook, "b")["id"] for _ in range(3)]
    seen = history(instance, project, notebook)
    assert [r["id"] for r in seen["a"]] == list(reversed(a_runs))  # most recent first
    assert {r["state"] for r in seen["a"] + seen["b"]} == {"DONE"}
    assert {"id", "runOn", "runBy", "state", "sql", "expandedSql", "durationMs", "rowCount"} <= set(
        seen["a"][0]
    )

    # PUT keeps exactly the runs listed.
    seen["a"] = [r for r in seen["a"] if r["id"] != a_runs[0]]
    path = f"/projects/{project}/sql-notebooks/{notebook}/history"
    assert instance.admin.put(path, json=seen).status_code == 204
    assert [r["id"] for r in history(instance, project, notebook)["a"]] == list(reversed(a_runs[1:]))

    assert instance.admin.post(f"{path}/clear", json={"cellId": "a", "numRunsToRetain": 1}).status_code == 204
    after = history(instance, project, notebook)
    assert [r["id"] for r in after["a"]] == [a_runs[-1]] and len(after["b"]) == 3

    assert (
        instance.admin.post(f"{path}/clear", json={"cellId": None, "numRunsToRetain": 2}).status_code == 204
    )
    after = history(instance, project, notebook)
    assert [r["id"] for r in after["b"]] == list(reversed(b_runs))[:2] and len(after["a"]) == 1
    assert instance.admin.post(f"{path}/clear", json={}).status_code == 204
    assert history(instance, project, notebook) == {"a": [], "b": []}


@pytest.mark.parametrize(
    "body",
    [
        {"cellId": "a", "numRunsToRetain": -1},
        {"cellId": "a", "numRunsToRetain": "2"},
        {"cellId": "a/b", "numRunsToRetain": 0},
        [],
    ],
)
def test_bad_clear_requests_are_400(instance: Instance, project: str, body: object) -> None:
    notebook = make_notebook(instance, project, LITE, [query_cell("a", "SELECT 1")])
    answer = instance.admin.post(f"/projects/{project}/sql-notebooks/{notebook}/history/clear", json=body)
    assert answer.status_code == 400


def test_bad_history_saves_are_400(instance: Instance, project: str) -> None:
    notebook = make_notebook(instance, project, LITE, [query_cell("a", "SELECT 1")])
    run_ok(instance, project, notebook, "a")
    path = f"/projects/{project}/sql-notebooks/{notebook}/history"
    for body in ([], {"a": {"id": "x"}}, {"a": [{"state": "DONE"}]}, {"a": ["id"]}):
        assert instance.admin.put(path, json=body).status_code == 400
    assert len(history(instance, project, notebook)["a"]) == 1
    assert instance.admin.post(f"{path}/clear", json={"cellId": "zz"}).status_code == 404


def test_session_state_does_not_follow_a_pooled_connection(instance: Instance, project: str) -> None:
    make_pg_connection(instance, params={**PG_PARAMS_WITH_DATABASE})
    cells = [
        query_cell("set", "SET application_name = 'leaked'; CREATE TEMP TABLE lk_tmp AS SELECT 1 AS x"),
        query_cell("show", "SELECT current_setting('application_name') AS app, to_regclass('lk_tmp') AS tmp"),
    ]
    notebook = make_notebook(instance, project, "pg", cells)
    run_ok(instance, project, notebook, "set")
    for _ in range(3):  # the pool hands back the same backend: it must look new
        run = run_ok(instance, project, notebook, "show")
        # (each run names its backend after itself, so that a restart can find its query)
        assert run["rows"] == [[f"labkeeper-sqlrun-{run['id']}", None]]


def test_a_connection_recreated_under_the_same_name_opens_its_new_database(
    instance: Instance, project: str
) -> None:
    body = {"name": "swap", "type": "SQLite", "params": {"path": "first.db"}}
    assert instance.admin.post("/admin/connections/", json=body).status_code == 200
    cells = [
        query_cell("list", "SELECT name FROM sqlite_master WHERE type = 'table'"),
        query_cell("mark", "CREATE TABLE marker (x)"),
    ]
    notebook = make_notebook(instance, project, "swap", cells)
    run_ok(instance, project, notebook, "mark")
    assert run_ok(instance, project, notebook, "list")["rows"] == [["marker"]]
    assert instance.admin.delete("/admin/connections/swap").status_code == 204
    body["params"]["path"] = "second.db"
    assert instance.admin.post("/admin/connections/", json=body).status_code == 200
    assert run_ok(instance, project, notebook, "list")["rows"] == []
