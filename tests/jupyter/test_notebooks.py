"""Notebook files: create, read, save, delete, clear outputs, validation, names, permissions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Instance
from tests.jupyter.helpers import notebook
from tests.projects.helpers import assert_error, create, grant

NB = "/projects/NBP/jupyter-notebooks"


@pytest.fixture
def project(instance: Instance) -> str:
    create(instance, "NBP")
    return "NBP"


def test_create_read_save_list_and_file_on_disk(instance: Instance, project: str) -> None:
    admin = instance.admin
    answer = admin.post(f"{NB}/first analysis", json=notebook("print(1)", kernel="python3"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == "first analysis"
    path = instance.config.data_dir / "projects" / "NBP" / "jupyter" / "first analysis.ipynb"
    on_disk = json.loads(path.read_text())
    assert on_disk["nbformat"] == 4 and on_disk["cells"][0]["source"] == "print(1)"

    content = admin.get(f"{NB}/first analysis").json()
    assert content["metadata"]["creator"] == "admin"
    assert isinstance(content["metadata"]["createdOn"], int)
    assert content["metadata"]["kernelspec"]["name"] == "python3"

    content["cells"][0]["source"] = "print(2)"
    saved = admin.put(f"{NB}/first analysis", json=content)
    assert saved.status_code == 200, saved.text
    again = admin.get(f"{NB}/first analysis").json()
    assert again["cells"][0]["source"] == "print(2)"
    assert again["metadata"]["createdOn"] == content["metadata"]["createdOn"]
    assert again["metadata"]["modifiedBy"] == "admin"

    items = admin.get(f"{NB}/").json()
    assert items == [
        {
            "projectKey": "NBP",
            "name": "first analysis",
            "language": "python",
            "kernelSpec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "tags": [],
        }
    ]
    assert admin.get(f"{NB}/", params={"active": "True"}).json() == []


def test_invalid_content_is_refused_with_the_reason(instance: Instance, project: str) -> None:
    admin = instance.admin
    assert_error(admin.post(f"{NB}/v3", json={**notebook(), "nbformat": 3}), 400, "nbformat must be 4")
    no_cells = notebook()
    del no_cells["cells"]
    assert_error(admin.post(f"{NB}/nocells", json=no_cells), 400, "cells")
    bad_cell = notebook("x")
    bad_cell["cells"][0]["cell_type"] = "weird"
    assert_error(admin.post(f"{NB}/badcell", json=bad_cell), 400, "cells/0")
    missing_outputs = notebook("x")
    del missing_outputs["cells"][0]["outputs"]
    assert_error(admin.post(f"{NB}/noout", json=missing_outputs), 400, "outputs")
    assert_error(admin.post(f"{NB}/arr", json=[1, 2]), 400, "JSON object")
    malformed = admin.post(f"{NB}/bad", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_error(malformed, 400)
    assert admin.get(f"{NB}/").json() == []
    # Saving invalid content over a valid notebook leaves the valid one in place.
    assert admin.post(f"{NB}/ok", json=notebook("1")).status_code == 200
    assert_error(admin.put(f"{NB}/ok", json={"nbformat": 4}), 400)
    assert admin.get(f"{NB}/ok").json()["cells"][0]["source"] == "1"


def test_the_name_rule_guards_the_path() -> None:
    from labkeeper.errors import BadRequest
    from labkeeper.notebooks.jupyter.files import notebook_path

    for name in ("..", "../x", "a/b", "/abs", ""):
        with pytest.raises(BadRequest):
            notebook_path(Path("/data"), "P", name)
    assert notebook_path(Path("/data"), "P", "ok name") == Path("/data/projects/P/jupyter/ok name.ipynb")


@pytest.mark.parametrize("name", ["a..b", " lead", "trail ", ".hidden", "x" * 101, "a%09b"])
def test_names_that_could_escape_the_folder_are_refused(instance: Instance, project: str, name: str) -> None:
    assert_error(instance.admin.post(f"{NB}/{name}", json=notebook()), 400, "notebook name")
    assert not list((instance.config.data_dir / "projects").rglob("*.ipynb"))


def test_slashes_never_reach_the_disk(instance: Instance, project: str) -> None:
    answer = instance.admin.post(f"{NB}/..%2F..%2Fescape", json=notebook())
    assert answer.status_code in (400, 404)
    assert not list(instance.config.data_dir.rglob("*escape*"))


def test_create_twice_conflicts_save_missing_is_404(instance: Instance, project: str) -> None:
    admin = instance.admin
    assert admin.post(f"{NB}/dup", json=notebook()).status_code == 200
    assert_error(admin.post(f"{NB}/dup", json=notebook()), 409, "already exists")
    assert_error(admin.put(f"{NB}/missing", json=notebook()), 404, "missing")
    assert_error(admin.get(f"{NB}/missing"), 404, "missing")
    assert_error(admin.delete(f"{NB}/missing"), 404, "missing")
    assert_error(instance.admin.get("/projects/NOPE/jupyter-notebooks/"), 404, "NOPE")


def test_clear_outputs_and_delete(instance: Instance, project: str) -> None:
    admin = instance.admin
    content = notebook("print('x')", "1+1")
    content["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x\n"}]
    content["cells"][0]["execution_count"] = 1
    assert admin.post(f"{NB}/without", json=content).status_code == 200
    cleared = admin.delete(f"{NB}/without/outputs")
    assert cleared.status_code == 200 and cleared.json()["clearedCells"] == 1
    cells = admin.get(f"{NB}/without").json()["cells"]
    assert cells[0]["outputs"] == [] and cells[0]["execution_count"] is None
    deleted = admin.delete(f"{NB}/without")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert admin.get(f"{NB}/").json() == []


def test_read_needs_read_and_changes_need_write(instance: Instance, project: str) -> None:
    reader = instance.client(instance.make_user("rita", ["readers"]))
    writer = instance.client(instance.make_user("walt", ["writers"]))
    stranger = instance.client(instance.make_user("sam", ["others"]))
    grant(instance, project, "readers", readProjectContent=True)
    grant(instance, project, "writers", writeProjectContent=True)
    assert instance.admin.post(f"{NB}/shared", json=notebook("1")).status_code == 200

    assert reader.get(f"{NB}/").status_code == 200
    assert reader.get(f"{NB}/shared").status_code == 200
    assert reader.get(f"{NB}/shared/sessions").json() == []
    assert_error(reader.post(f"{NB}/mine", json=notebook()), 403, "WRITE")
    assert_error(reader.put(f"{NB}/shared", json=notebook()), 403, "WRITE")
    assert_error(reader.delete(f"{NB}/shared"), 403, "WRITE")
    assert_error(reader.delete(f"{NB}/shared/outputs"), 403, "WRITE")
    assert_error(reader.post(f"{NB}/shared/sessions"), 403, "WRITE")
    assert_error(stranger.get(f"{NB}/"), 403, "READ")
    assert_error(stranger.get(f"{NB}/shared"), 403, "READ")

    assert writer.post(f"{NB}/walts", json=notebook("2")).status_code == 200
    assert writer.get(f"{NB}/walts").json()["metadata"]["creator"] == "walt"


def test_usage_summary_counts_notebooks(instance: Instance, project: str) -> None:
    create(instance, "OTHER")
    for name in ("a", "b"):
        assert instance.admin.post(f"{NB}/{name}", json=notebook()).status_code == 200
    assert instance.admin.post("/projects/OTHER/jupyter-notebooks/c", json=notebook()).status_code == 200
    summary = instance.admin.get(
        "/admin/monitoring/global-usage-summary", params={"withPerProject": "true"}
    ).json()
    assert summary["notebooks"]["nbJupyterNotebooks"] == 3
    per_project = {p["projectKey"]: p["notebooks"]["nbJupyterNotebooks"] for p in summary["projectSummaries"]}
    assert per_project == {"NBP": 2, "OTHER": 1}


def test_legacy_state_of_an_idle_notebook(instance: Instance, project: str) -> None:
    assert instance.admin.post(f"{NB}/legacy", json=notebook()).status_code == 200
    state = instance.admin.get("/projects/NBP/notebooks/", params={"notebookName": "legacy"}).json()
    assert state["name"] == "legacy" and state["projectKey"] == "NBP" and state["activeSessions"] == []
    assert_error(instance.admin.get("/projects/NBP/notebooks/"), 400, "notebookName")
    assert_error(instance.admin.get("/projects/NBP/notebooks/", params={"notebookName": "nope"}), 404)
    assert instance.admin.get("/admin/notebooks/").json() == []
    user = instance.client(instance.make_user("plain", ["plain"]))
    assert_error(user.get("/admin/notebooks/"), 403, "administrator")


def test_kernelspecs_list_the_builtin_kernel(instance: Instance) -> None:
    specs = instance.admin.get("/jupyter/kernelspecs/").json()
    assert specs["python3"]["language"] == "python"
    assert specs["python3"]["metadata"]["labkeeper"]["builtin"] is True
