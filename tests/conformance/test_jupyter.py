"""The official client against labkeeper's Jupyter notebooks, sessions and legacy routes.

The DSS documentation's listing of every notebook of every project runs unchanged, with
`dataiku.api_client()` answering the official client, and prints the truth.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from dataikuapi.dss.jupyternotebook import DSSJupyterNotebook, DSSJupyterNotebookListItem, DSSNotebookSession
from dataikuapi.dss.notebook import DSSNotebook
from dataikuapi.utils import DataikuException

from tests.conftest import ADMIN_KEY, LiveServer
from tests.helpers import alive, wait_for
from tests.jupyter.helpers import notebook
from tests.jupyter.test_kernel_client import DOC_EXAMPLE

# An idle kernel runs for ever: gone before this guard means stopped. Only a kernel left
# running gets near it.
HANG_GUARD = 30.0


def start_session(dss, project_key: str, name: str) -> dict:  # type: ignore[no-untyped-def]
    """labkeeper addition (the official client has no call for it)."""
    return dss._perform_json("POST", f"/projects/{project_key}/jupyter-notebooks/{name}/sessions")


def test_notebooks_with_the_official_client(dss, live: LiveServer) -> None:  # type: ignore[no-untyped-def]
    project = dss.create_project("CONF", "Conformance", "admin")
    handle = project.create_jupyter_notebook("analysis", notebook("print('a')", "2 + 2"))
    assert isinstance(handle, DSSJupyterNotebook)
    objects = project.list_jupyter_notebooks()
    assert [nb.notebook_name for nb in objects] == ["analysis"]
    items = project.list_jupyter_notebooks(as_type="listitems")
    assert isinstance(items[0], DSSJupyterNotebookListItem)
    assert (items[0].name, items[0].language, items[0].kernel_spec["name"], items[0].tags) == (
        "analysis",
        "python",
        "python3",
        [],
    )
    assert items[0].to_notebook().notebook_name == "analysis"
    assert project.list_jupyter_notebooks(active=True) == []

    content = handle.get_content()
    assert content.get_raw()["nbformat"] == 4
    assert content.get_metadata()["creator"] == "admin"
    assert [c["source"] for c in content.get_cells()] == ["print('a')", "2 + 2"]
    content.get_cells()[0]["source"] = "print('b')"
    content.get_cells()[0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "b\n"}]
    content.save()
    assert project.get_jupyter_notebook("analysis").get_content().get_cells()[0]["source"] == "print('b')"
    handle.clear_outputs()
    assert handle.get_content().get_cells()[0]["outputs"] == []
    with pytest.raises(DataikuException, match="nbformat"):
        project.create_jupyter_notebook("broken", {"nbformat": 3, "cells": []})

    with pytest.raises(Exception, match="isn't running"):
        handle.unload()
    first = start_session(dss, "CONF", "analysis")
    sessions = handle.get_sessions(as_objects=True)
    assert isinstance(sessions[0], DSSNotebookSession)
    s = sessions[0]
    assert (s.project_key, s.notebook_name, s.session_creator, s.session_id) == (
        "CONF",
        "analysis",
        "admin",
        first["sessionId"],
    )
    assert s.kernel_pid == first["kernelPid"] and psutil.pid_exists(s.kernel_pid)
    assert s.kernel_execution_state == "idle" and s.kernel_connections == 0
    assert s.session_unix_owner and s.session_creator_display_name == "Administrator"
    assert s.kernel_last_activity_time >= s.session_start_time > 0
    assert [nb.notebook_name for nb in project.list_jupyter_notebooks(active=True)] == ["analysis"]
    s.unload()
    assert wait_for(lambda: not alive(first["kernelPid"]), timeout=HANG_GUARD)
    assert handle.get_sessions() == []

    # One session: unload() picks it. Two: it asks which.
    one = start_session(dss, "CONF", "analysis")
    handle.unload()
    assert wait_for(lambda: not alive(one["kernelPid"]), timeout=HANG_GUARD)
    a, b = start_session(dss, "CONF", "analysis"), start_session(dss, "CONF", "analysis")
    with pytest.raises(Exception, match="choose one"):
        handle.unload()
    handle.unload(a["sessionId"])

    # The legacy surface.
    running = dss.list_running_notebooks()
    assert len(running) == 1 and isinstance(running[0], DSSNotebook)
    legacy = running[0]
    assert (legacy.project_key, legacy.notebook_name) == ("CONF", "analysis")
    assert [x["sessionId"] for x in legacy.get_sessions()] == [b["sessionId"]]
    assert dss.list_running_notebooks(as_objects=False)[0]["activeSessions"][0]["kernelPid"] == b["kernelPid"]
    fresh = DSSNotebook(dss, "CONF", "analysis")
    assert fresh.get_state()["activeSessions"][0]["sessionId"] == b["sessionId"]
    fresh.unload()
    assert wait_for(lambda: not alive(b["kernelPid"]), timeout=HANG_GUARD)
    assert dss.list_running_notebooks() == []

    last = start_session(dss, "CONF", "analysis")
    project.get_jupyter_notebook("analysis").delete()
    assert wait_for(lambda: not alive(last["kernelPid"]), timeout=HANG_GUARD)
    assert project.list_jupyter_notebooks() == []
    assert dss.get_global_usage_summary().data["notebooks"]["nbJupyterNotebooks"] == 0


def test_the_documented_all_notebooks_example_runs_unchanged(dss, live: LiveServer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for key in ("ALPHA", "BETA", "GAMMA"):
        dss.create_project(key, key, "admin")
    alpha, beta = dss.get_project("ALPHA"), dss.get_project("BETA")
    alpha.create_jupyter_notebook("prep", notebook("1"))
    alpha.create_jupyter_notebook("train", notebook("2"))
    beta.create_jupyter_notebook("explore", notebook("3"))
    for _ in range(3):
        start_session(dss, "ALPHA", "train")
    start_session(dss, "BETA", "explore")

    # `dataiku.api_client()` hands the script the official client, as inside DSS.
    shim = tmp_path / "shim" / "dataiku"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(
        "import os, dataikuapi\n"
        "def api_client():\n"
        "    return dataikuapi.DSSClient(os.environ['DSS_URL'], os.environ['DSS_KEY'])\n"
    )
    script = tmp_path / "list_running_notebooks.py"
    script.write_text(DOC_EXAMPLE)
    env = {**os.environ, "PYTHONPATH": str(shim.parent), "DSS_URL": live.url, "DSS_KEY": ADMIN_KEY}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert ast.literal_eval(done.stdout) == {
        "ALPHA": [
            {"name": "prep", "status": "INACTIVE"},
            {"name": "train", "status": "ACTIVE - 3 session(s)"},
        ],
        "BETA": [{"name": "explore", "status": "ACTIVE - 1 session(s)"}],
    }
