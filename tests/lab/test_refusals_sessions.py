"""More of issue 13's point 4, on Jupyter's sessions and contents API: what a hostile writer
of project TEAM (with every code right) tries against project PRIV, which it may not read,
and against other users' kernels. Real server, real kernels."""

from __future__ import annotations

import pytest

from tests.helpers import assert_error
from tests.lab.helpers import UNSAFE_CODE, Lab

PRIV_NOTEBOOK = "PRIV/secret.ipynb"


@pytest.fixture
def eve(lab: Lab, team: dict[str, str]) -> str:
    """A writer of TEAM who may run code, and may not read PRIV."""
    return lab.user("eve", "team", UNSAFE_CODE)


def _sessions(lab: Lab, project: str, name: str) -> list[dict]:
    return lab.admin.get(f"/projects/{project}/jupyter-notebooks/{name}/sessions").json()


@pytest.mark.parametrize(
    "path",
    [
        PRIV_NOTEBOOK,
        "../PRIV/secret.ipynb",
        "TEAM/../PRIV/secret.ipynb",
        "/PRIV/secret.ipynb",
        "//PRIV/secret.ipynb",
        "/etc/passwd",
        "TEAM/shared.ipynb/../../PRIV/secret.ipynb",
        "TEAM",
        "",
        "TEAM/" + "a" * 5000 + ".ipynb",
    ],
)
def test_no_kernel_starts_for_a_notebook_outside_ones_projects(
    lab: Lab, team: dict[str, str], eve: str, path: str
) -> None:
    body = {"path": path, "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    answer = lab.lab(eve).post("/api/sessions", json=body)
    assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text)
    assert set(answer.json()) >= {"errorType", "message", "detailedMessage"}
    assert _sessions(lab, "PRIV", "secret") == [] and _sessions(lab, "TEAM", "shared") == []
    assert lab.lab(eve).get("/api/kernels").json() == []


def test_a_session_stays_with_its_project_and_a_refused_kernel_change_keeps_its_status(
    lab: Lab, team: dict[str, str], eve: str
) -> None:
    client = lab.lab(eve)
    body = {"path": "TEAM/shared.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    session = client.post("/api/sessions", json=body).json()
    kernel_id, url = session["kernel"]["id"], f"/api/sessions/{session['id']}"
    for path in (PRIV_NOTEBOOK, "TEAM", "", "../PRIV/secret.ipynb"):
        moved = client.patch(url, json={"path": path})
        assert 400 <= moved.status_code < 500, (path, moved.status_code, moved.text)
    assert client.get(url).json()["path"] == "TEAM/shared.ipynb"
    # a new kernel for the session, past maxSessionsPerUser: Jupyter's 501 becomes labkeeper's 429
    doc = lab.admin.get("/admin/general-settings").json()
    doc["notebooks"]["maxSessionsPerUser"] = 1
    assert lab.admin.put("/admin/general-settings", json=doc).status_code == 204
    assert_error(client.patch(url, json={"kernel": {"name": "python3"}}), 429, "maxSessionsPerUser")
    assert [s["kernelId"] for s in _sessions(lab, "TEAM", "shared")] == [kernel_id]
    assert client.get(url).json()["kernel"]["id"] == kernel_id
    assert _sessions(lab, "PRIV", "secret") == []


def test_a_notebook_of_a_project_without_read_is_never_copied(
    lab: Lab, team: dict[str, str], eve: str
) -> None:
    client = lab.lab(eve)
    copied = client.post("/api/contents/TEAM", json={"copy_from": PRIV_NOTEBOOK})
    assert_error(copied, 403, "READ")
    for source in ("../PRIV/secret.ipynb", "/etc/passwd", "TEAM/../PRIV/secret.ipynb"):
        answer = client.post("/api/contents/TEAM", json={"copy_from": source})
        assert 400 <= answer.status_code < 500, (source, answer.status_code, answer.text)
    names = [n["name"] for n in lab.admin.get("/projects/TEAM/jupyter-notebooks/").json()]
    assert names == ["shared"]
    # alice, who may read PRIV, may copy from it into TEAM (which she writes)
    assert (
        lab.lab(team["alice"]).post("/api/contents/TEAM", json={"copy_from": PRIV_NOTEBOOK}).status_code
        == 201
    )
    # and a notebook is never copied into a project one may not write
    assert_error(client.post("/api/contents/PRIV", json={"copy_from": "TEAM/shared.ipynb"}), 403)


def test_oversized_and_malformed_bodies_are_refused_cleanly(lab: Lab, team: dict[str, str], eve: str) -> None:
    client = lab.lab(eve)
    not_objects = [b"{", b"[]", b" " * 100 + b"[1]", b"7", b'"text"', b"\xff\xfe"]
    endpoints = [
        ("POST", "/api/sessions"),
        ("POST", "/api/kernels"),
        ("POST", "/api/contents/TEAM"),
        ("PUT", "/api/contents/TEAM/other.ipynb"),
        ("PATCH", "/api/contents/TEAM/shared.ipynb"),
        ("POST", "/api/terminals"),
    ]
    session = '{"path": "TEAM/shared.ipynb", "type": "notebook", %s}'
    wrong_fields = [
        ("POST", "/api/sessions", b'{"path": 7, "type": "notebook"}'),
        ("POST", "/api/sessions", b'{"type": "notebook"}'),
        ("POST", "/api/sessions", (session % '"kernel": "python3"').encode()),
        ("POST", "/api/sessions", (session % '"kernel": {"name": ["python3"]}').encode()),
        ("POST", "/api/sessions", (session % '"notebook": "path"').encode()),
        ("POST", "/api/kernels", b'{"name": 7}'),
        ("POST", "/api/kernels", b'{"name": "python3", "path": 7}'),
        ("PATCH", "/api/contents/TEAM/shared.ipynb", b'{"path": 7}'),
        ("PATCH", "/api/contents/TEAM/shared.ipynb", b'{"path": ["TEAM/x.ipynb"]}'),
        ("POST", "/api/contents/TEAM", b'{"copy_from": 7}'),
        ("POST", "/api/contents/TEAM", b'{"copy_from": {"path": "PRIV/secret.ipynb"}}'),
        ("PUT", "/api/contents/TEAM/other.ipynb", b'{"type": "notebook", "content": [], "format": 7}'),
    ]
    cases = [(m, u, b) for b in not_objects for m, u in endpoints] + wrong_fields
    for method, url, body in cases:
        answer = client.request(method, url, content=body, headers={"Content-Type": "application/json"})
        assert 400 <= answer.status_code < 500, (method, url, body, answer.status_code, answer.text)
        assert set(answer.json()) >= {"errorType", "message", "detailedMessage"}
    huge = {"type": "notebook", "content": {"cells": [], "pad": "x" * (lab.live.config.max_body_bytes + 1)}}
    answer = client.put("/api/contents/TEAM/huge.ipynb", json=huge)
    assert answer.status_code == 413, answer.status_code
    names = [n["name"] for n in lab.admin.get("/projects/TEAM/jupyter-notebooks/").json()]
    assert names == ["shared"]
    assert lab.lab(eve).get("/api/kernels").json() == []
