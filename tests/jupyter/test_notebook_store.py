"""Notebooks kept in the store (`--notebook-storage store`, the PostgreSQL default): the same
API as files, nothing written to the data dir, validation and names as strict, kept answers
refreshed by writes, a deleted project's notebooks gone, and the files of a data dir moved in
at the first start."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from labkeeper.config import Config
from labkeeper.notebooks.jupyter.models import StoredNotebook
from labkeeper.server.app import create_app
from tests.conftest import Instance
from tests.jupyter.helpers import notebook, run_cells
from tests.projects.helpers import assert_error, create, grant

NB = "/projects/NBS/jupyter-notebooks"


@pytest.fixture
def stored(config: Config) -> Iterator[Instance]:
    app = create_app(dataclasses.replace(config, notebook_storage="store"))
    with TestClient(app) as main:
        instance = Instance(app, app.state.config, main.portal)
        create(instance, "NBS")
        yield instance


def test_notebooks_live_in_the_store_not_the_data_dir(stored: Instance) -> None:
    admin = stored.admin
    assert admin.post(f"{NB}/first", json=notebook("print(1)")).status_code == 200
    assert_error(admin.post(f"{NB}/first", json=notebook("print(1)")), 409, "already exists")
    content = admin.get(f"{NB}/first").json()
    assert content["cells"][0]["source"] == "print(1)" and content["metadata"]["creator"] == "admin"
    content["cells"][0]["source"] = "print(2)"
    assert admin.put(f"{NB}/first", json=content).status_code == 200
    # A kept answer of the listing or the document is refreshed by the write.
    assert admin.get(f"{NB}/first").json()["cells"][0]["source"] == "print(2)"
    assert [item["name"] for item in admin.get(f"{NB}/").json()] == ["first"]
    assert admin.post(f"{NB}/second", json=notebook()).status_code == 200
    assert [item["name"] for item in admin.get(f"{NB}/").json()] == ["first", "second"]
    assert not list(stored.config.data_dir.rglob("*.ipynb"))
    with stored.store.read() as s:
        assert {r.name for r in s.query(StoredNotebook)} == {"first", "second"}

    state = run_cells(admin, "NBS", "first")
    assert state["hasResult"] is True, state
    outputs = admin.get(f"{NB}/first").json()["cells"][0]["outputs"]
    assert outputs[0]["text"] == "2\n"
    assert admin.delete(f"{NB}/first/outputs").status_code == 200
    assert admin.get(f"{NB}/first").json()["cells"][0]["outputs"] == []
    assert admin.delete(f"{NB}/first").status_code == 200
    assert_error(admin.get(f"{NB}/first"), 404)
    assert_error(admin.put(f"{NB}/first", json=notebook()), 404)
    assert admin.delete("/projects/NBS").status_code == 200
    with stored.store.read() as s:
        assert s.query(StoredNotebook).count() == 0


def test_hostile_names_content_and_callers_are_refused(stored: Instance) -> None:
    admin = stored.admin
    for name in (".hidden", "a%00b", "x" * 300, "a%2Fb"):
        answer = admin.post(f"{NB}/{name}", json=notebook())
        assert 400 <= answer.status_code < 500, (name, answer.status_code)
    assert_error(admin.post(f"{NB}/v3", json={**notebook(), "nbformat": 3}), 400, "nbformat must be 4")
    assert_error(admin.post(f"{NB}/cells", json={**notebook(), "cells": [1]}), 400, "cells/0")
    reader = stored.client(stored.make_user("reader", ["readers"]))
    grant(stored, "NBS", "readers", readProjectContent=True)
    assert admin.post(f"{NB}/mine", json=notebook("1")).status_code == 200
    assert reader.get(f"{NB}/mine").status_code == 200
    assert_error(reader.put(f"{NB}/mine", json=notebook("2")), 403)
    assert_error(reader.delete(f"{NB}/mine"), 403)
    stranger = stored.client(stored.make_user("stranger", []))
    assert stranger.get(f"{NB}/mine").status_code in (403, 404)
    assert admin.get(f"{NB}/mine").json()["cells"][0]["source"] == "1"
    with stored.store.read() as s:
        assert {r.name for r in s.query(StoredNotebook)} == {"mine"}


def test_notebook_files_are_moved_into_the_store_at_first_start(config: Config) -> None:
    app = create_app(config)  # files, as before
    with TestClient(app) as main:
        instance = Instance(app, app.state.config, main.portal)
        create(instance, "NBS")
        assert instance.admin.post(f"{NB}/old", json=notebook("old = 1")).status_code == 200
    folder = config.data_dir / "projects" / "NBS" / "jupyter"
    (folder / "broken.ipynb").write_text("{not json")
    app = create_app(dataclasses.replace(config, notebook_storage="store"))
    with TestClient(app) as main:
        instance = Instance(app, app.state.config, main.portal)
        assert instance.admin.get(f"{NB}/old").json()["cells"][0]["source"] == "old = 1"
        assert [item["name"] for item in instance.admin.get(f"{NB}/").json()] == ["old"]
    assert not (folder / "old.ipynb").exists()
    assert json.loads((folder / "old.ipynb.moved").read_text())["cells"][0]["source"] == "old = 1"
    assert (folder / "broken.ipynb").exists(), "a file that is no notebook stays where it was"


def test_archives_carry_the_notebooks_of_the_store(stored: Instance) -> None:
    admin = stored.admin
    assert admin.post(f"{NB}/analysis", json=notebook("print('a')", "2 + 2")).status_code == 200
    exported = admin.post("/projects/NBS/export")
    assert exported.status_code == 200, exported.text
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        inside = json.loads(archive.read("jupyter/analysis.ipynb"))
    assert inside["cells"][1]["source"] == "2 + 2"

    uploaded = admin.post("/projects/import/upload", files={"file": ("nbs.zip", exported.content)})
    assert uploaded.status_code == 200, uploaded.text
    done = admin.post(f"/projects/import/{uploaded.json()['id']}/process", json={"targetProjectKey": "NBS2"})
    assert done.status_code == 200 and done.json()["success"] is True, done.text
    copied = admin.post(
        "/projects/NBS/duplicate/", json={"targetProjectKey": "NBS3", "targetProjectName": "3"}
    )
    assert copied.status_code == 200, copied.text
    for key in ("NBS2", "NBS3"):
        content = admin.get(f"/projects/{key}/jupyter-notebooks/analysis").json()
        assert [c["source"] for c in content["cells"]] == ["print('a')", "2 + 2"], key
    assert not list(stored.config.data_dir.rglob("*.ipynb"))
