"""SQL notebook content over HTTP: create, read, save, list, delete; what is refused and
who may do what; the usage summary's count."""

from __future__ import annotations

import pytest

from labkeeper.connections.service import DEFAULT_CONNECTION
from tests.conftest import Instance
from tests.sql.helpers import grant, make_notebook, make_pg_connection, make_project, query_cell

LITE = DEFAULT_CONNECTION


@pytest.fixture
def project(instance: Instance) -> str:
    return make_project(instance, "SQLNB")


def test_create_get_save_list_delete(instance: Instance, project: str) -> None:
    cells = [query_cell("q1", "SELECT 1"), {"id": "m1", "type": "MARKDOWN", "name": "notes", "code": "# Hi"}]
    created = instance.admin.post(
        f"/projects/{project}/sql-notebooks/",
        json={"connection": LITE, "cells": cells, "name": "First", "tags": ["t"], "custom": {"kept": True}},
    )
    assert created.status_code == 200, created.text
    notebook = created.json()
    assert notebook["id"] and notebook["projectKey"] == project and notebook["language"] == "SQL"
    content = instance.admin.get(f"/projects/{project}/sql-notebooks/{notebook['id']}").json()
    assert content["connection"] == LITE and content["cells"] == cells and content["custom"] == {"kept": True}
    assert content["name"] == "First" and content["tags"] == ["t"]

    content["cells"].append(query_cell("q2", ["SELECT 2", "UNION ALL SELECT 3"]))
    saved = instance.admin.put(f"/projects/{project}/sql-notebooks/{notebook['id']}", json=content)
    assert saved.status_code == 200, saved.text
    again = instance.admin.get(f"/projects/{project}/sql-notebooks/{notebook['id']}").json()
    assert [c["id"] for c in again["cells"]] == ["q1", "m1", "q2"]
    assert again["cells"][2]["code"] == ["SELECT 2", "UNION ALL SELECT 3"]
    assert again["versionTag"]["versionNumber"] == 2

    listed = instance.admin.get(f"/projects/{project}/sql-notebooks/").json()
    assert listed == [
        {
            "projectKey": project,
            "id": notebook["id"],
            "name": "First",
            "language": "SQL",
            "connection": LITE,
            "tags": ["t"],
            "createdOn": listed[0]["createdOn"],
            "lastModifiedOn": listed[0]["lastModifiedOn"],
        }
    ]
    deleted = instance.admin.delete(f"/projects/{project}/sql-notebooks/{notebook['id']}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert instance.admin.get(f"/projects/{project}/sql-notebooks/{notebook['id']}").status_code == 404
    assert instance.admin.get(f"/projects/{project}/sql-notebooks/").json() == []


def test_ids_in_the_body_are_ignored_on_create(instance: Instance, project: str) -> None:
    first = make_notebook(instance, project, LITE, [query_cell("a", "SELECT 1")])
    copy = instance.admin.get(f"/projects/{project}/sql-notebooks/{first}").json()
    second = instance.admin.post(f"/projects/{project}/sql-notebooks/", json=copy).json()["id"]
    assert second != first
    assert len(instance.admin.get(f"/projects/{project}/sql-notebooks/").json()) == 2


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "json object"),
        ({"cells": []}, "connection"),
        ({"connection": "a/b", "cells": []}, "connection name"),
        ({"connection": "..", "cells": []}, "connection name"),
        ({"connection": LITE, "cells": {"id": "x"}}, "list"),
        ({"connection": LITE, "cells": ["SELECT 1"]}, "json object"),
        ({"connection": LITE, "cells": [{"type": "QUERY", "code": "SELECT 1"}]}, "id"),
        ({"connection": LITE, "cells": [{"id": "", "code": "SELECT 1"}]}, "id"),
        ({"connection": LITE, "cells": [{"id": "a/b", "code": "SELECT 1"}]}, "cell id"),
        ({"connection": LITE, "cells": [{"id": "c", "type": "PYTHON", "code": "1"}]}, "unknown type"),
        ({"connection": LITE, "cells": [{"id": "c", "code": 42}]}, "code"),
        ({"connection": LITE, "cells": [{"id": "c", "code": ["a", 1]}]}, "code"),
        ({"connection": LITE, "cells": [{"id": "c", "name": 3}]}, "name"),
        ({"connection": LITE, "cells": [query_cell("c", "1"), query_cell("c", "2")]}, "unique"),
        ({"connection": LITE, "cells": [], "language": "HIVE"}, "language"),
        ({"connection": LITE, "cells": [], "tags": "x"}, "tags"),
        ({"connection": "no-such-connection", "cells": []}, "does not exist"),
    ],
)
def test_bad_content_is_400_and_writes_nothing(
    instance: Instance, project: str, body: object, words: str
) -> None:
    answer = instance.admin.post(f"/projects/{project}/sql-notebooks/", json=body)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["message"].lower()
    assert instance.admin.get(f"/projects/{project}/sql-notebooks/").json() == []


def test_bad_content_on_save_is_400_and_keeps_the_notebook(instance: Instance, project: str) -> None:
    notebook = make_notebook(instance, project, LITE, [query_cell("a", "SELECT 1")])
    path = f"/projects/{project}/sql-notebooks/{notebook}"
    before = instance.admin.get(path).json()
    for body in (
        {"connection": LITE, "cells": [{"code": "x"}]},
        {"connection": LITE, "cells": [{"id": "z", "type": "X"}]},
    ):
        assert instance.admin.put(path, json=body).status_code == 400
    raw = instance.admin.put(path, content=b'{"connection": ', headers={"Content-Type": "application/json"})
    assert raw.status_code == 400 and "malformed json" in raw.json()["message"].lower()
    assert instance.admin.get(path).json() == before


def test_unknown_project_or_notebook_is_404(instance: Instance, project: str) -> None:
    assert instance.admin.get("/projects/NOPE/sql-notebooks/").status_code == 404
    assert instance.admin.get(f"/projects/{project}/sql-notebooks/nope").status_code == 404
    assert instance.admin.get(f"/projects/{project}/sql-notebooks/nope/history").status_code == 404
    assert instance.admin.delete(f"/projects/{project}/sql-notebooks/nope").status_code == 404


def test_project_permissions_decide_who_reads_writes_and_runs(instance: Instance, project: str) -> None:
    reader = instance.client(instance.make_user("rita", ["readers"]))
    writer = instance.client(instance.make_user("will", ["writers"]))
    outsider = instance.client(instance.make_user("otto", ["nobody"]))
    grant(instance, project, "readers", readProjectContent=True)
    grant(instance, project, "writers", writeProjectContent=True)
    notebook = make_notebook(instance, project, LITE, [query_cell("a", "SELECT 1")])
    path = f"/projects/{project}/sql-notebooks/{notebook}"

    assert outsider.get(f"/projects/{project}/sql-notebooks/").status_code == 403
    assert outsider.get(path).status_code == 403
    assert reader.get(f"/projects/{project}/sql-notebooks/").status_code == 200
    content = reader.get(path).json()
    assert reader.get(f"{path}/history").status_code == 200
    assert reader.put(path, json=content).status_code == 403
    assert reader.post(f"{path}/cells/a/actions/run", params={"wait": "true"}).status_code == 403
    assert reader.post(f"{path}/history/clear", json={}).status_code == 403
    assert reader.delete(path).status_code == 403
    assert reader.post(f"/projects/{project}/sql-notebooks/", json={"connection": LITE}).status_code == 403

    assert writer.put(path, json=content).status_code == 200
    ran = writer.post(f"{path}/cells/a/actions/run", params={"wait": "true"})
    assert ran.status_code == 200 and ran.json()["result"]["runBy"] == "will"
    created = writer.post(f"/projects/{project}/sql-notebooks/", json={"connection": LITE, "cells": []})
    assert created.status_code == 200
    assert writer.delete(f"/projects/{project}/sql-notebooks/{created.json()['id']}").status_code == 200


def test_a_connection_not_usable_by_the_caller_is_403(instance: Instance, project: str) -> None:
    make_pg_connection(instance, "pg-restricted", usableBy="ALLOWED", allowedGroups=["dba"])
    writer = instance.client(instance.make_user("will", ["writers"]))
    dba = instance.client(instance.make_user("dana", ["writers", "dba"]))
    grant(instance, project, "writers", writeProjectContent=True)
    body = {"connection": "pg-restricted", "cells": [query_cell("a", "SELECT 1")]}
    refused = writer.post(f"/projects/{project}/sql-notebooks/", json=body)
    assert refused.status_code == 403 and "pg-restricted" in refused.json()["message"]
    notebook = dba.post(f"/projects/{project}/sql-notebooks/", json=body).json()["id"]
    path = f"/projects/{project}/sql-notebooks/{notebook}"
    assert writer.post(f"{path}/cells/a/actions/run", params={"wait": "true"}).status_code == 403
    assert dba.post(f"{path}/cells/a/actions/run", params={"wait": "true"}).status_code == 200
    # Editing the cells of a notebook whose connection stays the same needs no use of it;
    # moving a notebook onto a connection does.
    content = writer.get(path).json()
    content["cells"][0]["code"] = "SELECT 2"
    assert writer.put(path, json=content).status_code == 200
    mine = writer.post(f"/projects/{project}/sql-notebooks/", json={"connection": LITE, "cells": []}).json()[
        "id"
    ]
    moved = writer.get(f"/projects/{project}/sql-notebooks/{mine}").json()
    moved["connection"] = "pg-restricted"
    assert writer.put(f"/projects/{project}/sql-notebooks/{mine}", json=moved).status_code == 403


def test_sql_notebooks_count_in_the_usage_summary(instance: Instance) -> None:
    make_project(instance, "ONE")
    make_project(instance, "TWO")
    for _ in range(2):
        make_notebook(instance, "ONE", LITE, [])
    make_notebook(instance, "TWO", LITE, [])
    summary = instance.admin.get(
        "/admin/monitoring/global-usage-summary", params={"withPerProject": "true"}
    ).json()
    assert summary["notebooks"]["nbSqlNotebooks"] == 3
    per_project = {p["projectKey"]: p["notebooks"]["nbSqlNotebooks"] for p in summary["projectSummaries"]}
    assert per_project == {"ONE": 2, "TWO": 1}


def test_deleting_the_project_deletes_its_notebooks_and_history(instance: Instance, project: str) -> None:
    notebook = make_notebook(instance, project, LITE, [query_cell("a", "SELECT 1")])
    assert (
        instance.admin.post(
            f"/projects/{project}/sql-notebooks/{notebook}/cells/a/actions/run", params={"wait": "true"}
        ).status_code
        == 200
    )
    assert instance.admin.delete(f"/projects/{project}").status_code < 300
    from labkeeper.notebooks.sql.models import SqlNotebook, SqlQueryRun

    with instance.store.read() as s:
        assert s.query(SqlNotebook).count() == 0 and s.query(SqlQueryRun).count() == 0
    summary = instance.admin.get("/admin/monitoring/global-usage-summary").json()
    assert summary["notebooks"]["nbSqlNotebooks"] == 0
