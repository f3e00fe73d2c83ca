"""Project export, import and duplicate through the official client, and the hostile
archives a project member could upload."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import dataikuapi
import orjson
import pytest
from dataikuapi.utils import DataikuException

from tests.conftest import ADMIN_KEY, LiveServer
from tests.jupyter.helpers import notebook

CONNECTION = "local-sqlite"


def _fill(project) -> None:  # type: ignore[no-untyped-def]
    project.create_dataset("src", "Filesystem", params={"connection": "fs", "path": "/a"})
    project.create_dataset("out", "Filesystem", params={"connection": "fs", "path": "/b"})
    recipe = (
        project.new_recipe("python", "compute_out")
        .with_script("print(1)")
        .with_input("src")
        .with_output("out")
    )
    settings = recipe.create().get_settings()
    settings.set_code_env(code_env="py311")
    settings.save()
    project.create_scenario("Nightly build", "step_based")
    project.create_jupyter_notebook("analysis", notebook("print('a')", "2 + 2"))
    project.create_sql_notebook(
        {"connection": CONNECTION, "cells": [{"id": "c1", "type": "QUERY", "code": "select 1"}]}
    )
    variables = project.get_variables()
    variables["standard"]["region"] = "eu"
    project.set_variables(variables)
    metadata = project.get_metadata()
    metadata["tags"] = ["gold"]
    project.set_metadata(metadata)


def _snapshot(project) -> dict:  # type: ignore[no-untyped-def]
    """What must be equal between a project and its copy (keys, dates and authors aside)."""
    recipes = {
        r.name: r.get_settings().get_recipe_raw_definition() for r in project.list_recipes(as_type="objects")
    }
    for definition in recipes.values():
        definition.pop("projectKey", None)
        definition.pop("creationTag", None)
        definition.pop("versionTag", None)
    return {
        "datasets": sorted(d["name"] for d in project.list_datasets()),
        "recipes": {name: d.get("params") for name, d in recipes.items()},
        "scenarios": sorted(s["id"] for s in project.list_scenarios()),
        "notebooks": {
            n.notebook_name: n.get_content().get_raw()["cells"]
            for n in project.list_jupyter_notebooks(as_type="objects")
        },
        "sql": [
            {k: v for k, v in n.to_notebook().get_content().get_raw().items() if k in ("cells", "connection")}
            for n in project.list_sql_notebooks()
        ],
        "variables": project.get_variables(),
        "tags": project.get_metadata()["tags"],
    }


def test_export_import_duplicate_round_trip(dss: dataikuapi.DSSClient, tmp_path: Path) -> None:
    source = dss.create_project("ORIG", "Original", owner="admin")
    _fill(source)
    archive = tmp_path / "orig.zip"
    source.export_to_file(str(archive))
    with zipfile.ZipFile(archive) as z:
        assert "jupyter/analysis.ipynb" in z.namelist()
        assert b"hunter" not in z.read("labkeeper-project.json")

    with open(archive, "rb") as f:
        handle = dss.prepare_project_import(f)
    result = handle.execute({"targetProjectKey": "COPY1"})
    assert result["success"] is True and result["projectKey"] == "COPY1"
    assert _snapshot(dss.get_project("COPY1")) == _snapshot(source)

    reply = source.duplicate("COPY2", "Second copy")
    assert reply["duplicatedProjectKey"] == "COPY2"
    assert _snapshot(dss.get_project("COPY2")) == _snapshot(source)
    assert dss.get_project("COPY2").get_summary()["name"] == "Second copy"

    stream = source.get_export_stream()
    with open(tmp_path / "again.zip", "wb") as out:
        out.write(stream.read())
    with open(tmp_path / "again.zip", "rb") as f:
        remapped = dss.prepare_project_import(f).execute(
            {
                "targetProjectKey": "COPY3",
                "remapping": {
                    "connections": [{"source": CONNECTION, "target": "other-sqlite"}],
                    "codeEnvs": [{"source": "py311", "target": "py312"}],
                },
            }
        )
    assert remapped["success"]
    copy3 = dss.get_project("COPY3")
    assert copy3.list_sql_notebooks()[0].connection == "other-sqlite"
    assert copy3.get_recipe("compute_out").get_settings().get_code_env_settings()["envName"] == "py312"

    with open(archive, "rb") as f:
        again = dss.prepare_project_import(f)
    with pytest.raises(DataikuException, match="ORIG already exists"):
        again.execute()


def _zip(entries: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _manifest(key: str = "EVIL") -> bytes:
    return orjson.dumps(
        {"format": 1, "project": {"projectKey": key, "name": "Evil"}, "objects": [], "sqlNotebooks": []}
    )


HOSTILE = {
    "climbs": lambda: _zip({"labkeeper-project.json": _manifest(), "jupyter/../../../escape.ipynb": b"{}"}),
    "absolute": lambda: _zip({"labkeeper-project.json": _manifest(), "/tmp/escape.ipynb": b"{}"}),
    "symlink": lambda: _zip({"labkeeper-project.json": _manifest()}, symlink="jupyter/link.ipynb"),
    "bomb": lambda: _zip(
        {"labkeeper-project.json": _manifest(), "jupyter/big.ipynb": b"0" * (60 * 1024 * 1024)}
    ),
    "not a zip": lambda: b"PK\x03\x04 this is not really a zip" * 10,
    "foreign file": lambda: _zip({"labkeeper-project.json": _manifest(), "run/evil.sh": b"rm -rf /"}),
    "no manifest": lambda: _zip({"jupyter/a.ipynb": b"{}"}),
    "bad notebook": lambda: _zip(
        {"labkeeper-project.json": _manifest(), "jupyter/a.ipynb": b'{"nbformat": 3}'}
    ),
    "bad project key": lambda: _zip({"labkeeper-project.json": _manifest("../X")}),
    "deep json": lambda: _zip({"labkeeper-project.json": b"[" * 100_000 + b"]" * 100_000}),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_refused_leaving_nothing(
    dss: dataikuapi.DSSClient, live: LiveServer, case: str
) -> None:
    data_dir = live.config.data_dir
    before = sorted(str(p) for p in data_dir.rglob("*") if "logs" not in p.parts)
    with pytest.raises(DataikuException) as caught:
        dss.prepare_project_import(io.BytesIO(HOSTILE[case]())).execute({"targetProjectKey": "EVILCOPY"})
    assert "BadRequest" in str(caught.value) or "Invalid" in str(caught.value), str(caught.value)
    assert not os.path.exists("/tmp/escape.ipynb")
    assert "EVIL" not in [p["projectKey"] for p in dss.list_projects()]
    assert "EVILCOPY" not in [p["projectKey"] for p in dss.list_projects()]
    after = sorted(str(p) for p in data_dir.rglob("*") if "logs" not in p.parts)
    # The instance's own (empty) folders for projects and uploads may appear; nothing in them.
    new = [
        p
        for p in after
        if p not in before and p not in (str(data_dir / "imports"), str(data_dir / "projects"))
    ]
    assert new == [], new


def test_archives_respect_rights(dss: dataikuapi.DSSClient, live: LiveServer, tmp_path: Path) -> None:
    dss.create_project("PRIVATE", "Private", owner="admin")
    dss.create_user("mallory", "pw", groups=[])
    mallory = dataikuapi.DSSClient(live.url, dss.create_personal_api_key_for_user("mallory").key)
    with pytest.raises(DataikuException, match="(?i)permission|NotFound"):
        mallory.get_project("PRIVATE").export_to_file(str(tmp_path / "x.zip"))
    with pytest.raises(DataikuException, match="(?i)permission|NotFound"):
        mallory.get_project("PRIVATE").duplicate("STOLEN", "Stolen")
    archive = tmp_path / "p.zip"
    dss.get_project("PRIVATE").export_to_file(str(archive))
    with open(archive, "rb") as f:
        handle = dss.prepare_project_import(f)
    with pytest.raises(DataikuException, match="mayCreateProjects|NotFound"):
        mallory._perform_json(
            "POST", f"/projects/import/{handle.import_id}/process", body={"targetProjectKey": "M"}
        )
    with pytest.raises(DataikuException, match="NotFound"):
        dss._perform_json("POST", "/projects/import/..%2F..%2Fetc/process", body={})


def test_hostile_uploads_are_refused_leaving_nothing(dss: dataikuapi.DSSClient, live: LiveServer) -> None:
    import httpx

    imports = live.config.data_dir / "imports"
    good = _zip({"labkeeper-project.json": _manifest()})
    url = f"{live.url}/dip/publicapi/projects/import/upload"
    auth = (ADMIN_KEY, "")
    cases = [
        httpx.post(url, auth=auth, files=[("file", ("a.zip", good)), ("other", ("b.zip", good))]),
        httpx.post(url, auth=auth, files=[("notfile", ("a.zip", good))]),
        httpx.post(url, auth=auth, content=good, headers={"Content-Type": "application/zip"}),
        httpx.post(
            url,
            auth=auth,
            content=b"--x\r\nbroken",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        ),
    ]
    for answer in cases:
        assert answer.status_code == 400, answer.text
        assert set(answer.json()) >= {"errorType", "message", "detailedMessage"}
    assert [p.name for p in imports.iterdir()] == []
    nobody = httpx.post(url, files=[("file", ("a.zip", good))])
    assert nobody.status_code == 401
