"""Everything the API refuses, /lab refuses (issue 13, point 4): over jupyter_server's own
REST and websocket API, on a real server with real kernels, as a hostile project member."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil
import pytest
from websockets.exceptions import InvalidStatus

from tests.helpers import assert_error
from tests.isolation.conftest import RUNTIME_KERNEL, register_runtime_env
from tests.lab.helpers import KernelSocket, Lab, notebook


def _notebook_file(lab: Lab, project: str, name: str) -> Path:
    return lab.live.config.data_dir / "projects" / project / "jupyter" / f"{name}.ipynb"


# -- contents ------------------------------------------------------------------------------------
def test_a_project_without_read_is_neither_listed_nor_opened(lab: Lab, team: dict[str, str]) -> None:
    mallory = lab.lab(team["mallory"])
    root = mallory.get("/api/contents")
    assert root.status_code == 200, root.text
    assert [entry["path"] for entry in root.json()["content"]] == ["TEAM"]
    assert_error(mallory.get("/api/contents/PRIV"), 403, "READ")
    assert_error(mallory.get("/api/contents/PRIV/secret.ipynb"), 403, "READ")
    assert_error(mallory.get("/api/contents/PRIV/secret.ipynb/checkpoints"), 403, "READ")
    assert_error(mallory.post("/api/contents/PRIV/secret.ipynb/checkpoints"), 403, "READ")
    saved = mallory.put(
        "/api/contents/PRIV/secret.ipynb", json={"type": "notebook", "content": notebook("x")}
    )
    assert_error(saved, 403, "WRITE")
    assert_error(mallory.delete("/api/contents/PRIV/secret.ipynb"), 403, "WRITE")
    assert mallory.post("/api/contents/PRIV", json={"type": "notebook"}).status_code in (403, 404)
    assert "print('secret')" in _notebook_file(lab, "PRIV", "secret").read_text()


def test_a_reader_opens_but_never_changes(lab: Lab, team: dict[str, str]) -> None:
    rita = lab.lab(team["rita"])
    before = _notebook_file(lab, "TEAM", "shared").read_bytes()
    opened = rita.get("/api/contents/TEAM/shared.ipynb")
    assert opened.status_code == 200, opened.text
    assert opened.json()["writable"] is False
    assert opened.json()["content"]["cells"][0]["source"] == "print('team')"
    changed = notebook("print('rita was here')")
    assert_error(
        rita.put("/api/contents/TEAM/shared.ipynb", json={"type": "notebook", "content": changed}), 403
    )
    assert_error(rita.patch("/api/contents/TEAM/shared.ipynb", json={"path": "TEAM/gone.ipynb"}), 403)
    assert_error(rita.delete("/api/contents/TEAM/shared.ipynb"), 403)
    assert_error(rita.post("/api/contents/TEAM/shared.ipynb/checkpoints/checkpoint"), 403)
    assert _notebook_file(lab, "TEAM", "shared").read_bytes() == before
    assert not _notebook_file(lab, "TEAM", "gone").exists()


@pytest.mark.parametrize(
    "path",
    [
        "TEAM/%2E%2E/PRIV/secret.ipynb",
        "TEAM/..%2FPRIV%2Fsecret.ipynb",
        "%2Fetc%2Fpasswd",
        "TEAM/%2Fetc%2Fpasswd",
        "TEAM/shared.ipynb/x.ipynb",
        "..%2F..%2F..%2Fetc",
        "TEAM/.hidden.ipynb",
        "TEAM/notes.txt",
        "TEAM/a%00b.ipynb",
    ],
)
def test_paths_outside_the_projects_name_nothing(lab: Lab, team: dict[str, str], path: str) -> None:
    mallory = lab.lab(team["mallory"])  # writes TEAM, may not read PRIV
    answer = mallory.get(f"/api/contents/{path}")
    assert answer.status_code in (400, 403, 404), (path, answer.status_code, answer.text)
    assert set(answer.json()) >= {"errorType", "message", "detailedMessage"}
    assert "root:" not in answer.text
    put = mallory.put(f"/api/contents/{path}", json={"type": "notebook", "content": notebook("x")})
    assert put.status_code in (400, 403, 404), (path, put.status_code, put.text)
    data_dir = lab.live.config.data_dir
    written = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*.ipynb"))
    assert written == ["projects/PRIV/jupyter/secret.ipynb", "projects/TEAM/jupyter/shared.ipynb"]


def test_a_symbolic_link_is_never_followed(lab: Lab, team: dict[str, str], tmp_path: Path) -> None:
    outside = tmp_path / "outside.ipynb"
    outside.write_text('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [], "stolen": "yes"}')
    folder = _notebook_file(lab, "TEAM", "shared").parent
    os.symlink(outside, folder / "link.ipynb")
    os.symlink(_notebook_file(lab, "PRIV", "secret"), folder / "priv.ipynb")
    alice, mallory = lab.lab(team["alice"]), lab.lab(team["mallory"])
    assert_error(alice.get("/api/contents/TEAM/link.ipynb"), 400, "symbolic link")
    assert_error(mallory.get("/api/contents/TEAM/priv.ipynb"), 400, "symbolic link")
    saved = alice.put("/api/contents/TEAM/link.ipynb", json={"type": "notebook", "content": notebook("x")})
    assert_error(saved, 400, "symbolic link")
    assert "stolen" in outside.read_text()
    # a linked project folder is refused as well
    os.symlink(folder, lab.live.config.data_dir / "projects" / "LINKED")
    lab.project("LINKED", writers=("team",))
    assert_error(alice.get("/api/contents/LINKED/shared.ipynb"), 400, "symbolic link")


def test_lab_creates_no_folders_files_or_projects(lab: Lab, team: dict[str, str]) -> None:
    alice = lab.lab(team["alice"])
    assert_error(alice.post("/api/contents", json={"type": "directory"}), 403)
    assert_error(alice.post("/api/contents/TEAM", json={"type": "file", "ext": ".py"}), 403)
    assert_error(alice.put("/api/contents/NEWPROJ", json={"type": "directory"}), 403)
    upload = {"type": "file", "format": "text", "content": "import os"}
    assert alice.put("/api/contents/TEAM/evil.py", json=upload).status_code in (400, 404)
    assert_error(
        alice.put("/api/contents/TEAM/bad.ipynb", json={"type": "notebook", "content": {"x": 1}}), 400
    )
    moved = alice.patch("/api/contents/TEAM/shared.ipynb", json={"path": "PRIV/shared.ipynb"})
    assert_error(moved, 400, "within its project")
    assert lab.admin.get("/projects/NEWPROJ").status_code == 404


# -- kernels -------------------------------------------------------------------------------------
def test_another_users_kernel_is_invisible_and_unreachable(lab: Lab, team: dict[str, str]) -> None:
    mallory_key = lab.user("mallory2", "team")  # a writer of TEAM with the same code rights as alice
    alice_session = lab.start_kernel(team["alice"], "TEAM/shared.ipynb")
    kernel_id = alice_session["kernel"]["id"]
    pid = lab.admin.get("/projects/TEAM/jupyter-notebooks/shared/sessions").json()[0]["kernelPid"]
    mallory = lab.lab(mallory_key)
    assert mallory.get("/api/kernels").json() == []
    assert mallory.get("/api/sessions").json() == []
    assert_error(mallory.get(f"/api/kernels/{kernel_id}"), 404)
    assert_error(mallory.post(f"/api/kernels/{kernel_id}/interrupt"), 404)
    assert_error(mallory.post(f"/api/kernels/{kernel_id}/restart"), 404)
    assert_error(mallory.delete(f"/api/kernels/{kernel_id}"), 404)
    assert_error(mallory.delete(f"/api/sessions/{alice_session['id']}"), 404)
    attach = {"path": "TEAM/shared.ipynb", "type": "notebook", "name": "", "kernel": {"id": kernel_id}}
    assert mallory.post("/api/sessions", json=attach).status_code in (403, 404)
    assert_error(mallory.get(f"/api/sessions/{alice_session['id']}"), 404)
    hijack = {"path": "TEAM/shared.ipynb", "kernel": {"id": kernel_id}}
    assert_error(mallory.patch(f"/api/sessions/{alice_session['id']}", json=hijack), 404)
    own = mallory.post("/api/sessions", json={**attach, "kernel": {"name": "python3"}})
    assert own.status_code == 201, own.text
    assert_error(mallory.patch(f"/api/sessions/{own.json()['id']}", json=hijack), 400)
    with pytest.raises(InvalidStatus) as refused:
        KernelSocket(lab, kernel_id, mallory_key)
    assert refused.value.response.status_code == 404
    body = json.loads(refused.value.response.body)  # the DSS error body, never a page
    assert body["errorType"] == "NotFoundException" and "does not exist" in body["message"]
    assert psutil.pid_exists(pid)
    # nothing mallory did removed or changed alice's Lab session (Jupyter keeps every user's
    # sessions in one table): her Lab still finds it, on her kernel
    kept = lab.lab(team["alice"]).get("/api/sessions").json()
    assert [(k["id"], k["path"], k["kernel"]["id"]) for k in kept] == [
        (alice_session["id"], alice_session["path"], kernel_id)
    ]
    assert [k["kernel"]["id"] for k in mallory.get("/api/sessions").json()] == [own.json()["kernel"]["id"]]
    with KernelSocket(lab, kernel_id, team["alice"]) as ws:  # still alice's, untouched
        assert ws.execute("print(6 * 7)")[0] == "42\n"


def test_without_the_code_rights_lab_starts_no_kernel(lab: Lab, team: dict[str, str]) -> None:
    body = {"path": "TEAM/shared.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    assert_error(lab.lab(team["mallory"]).post("/api/sessions", json=body), 403, "mayRunNotebooks")
    assert_error(lab.lab(team["rita"]).post("/api/sessions", json=body), 403, "WRITE")
    assert lab.admin.get("/projects/TEAM/jupyter-notebooks/shared/sessions").json() == []


def test_a_kernel_of_an_env_without_use_is_neither_listed_nor_started(lab: Lab, team: dict[str, str]) -> None:
    register_runtime_env(lab.live.store, usable_by_all=False)
    spec_dir = lab.live.config.data_dir / "jupyter" / "kernels" / RUNTIME_KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [lab.live.config.kernel_python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "env",
        "language": "python",
        "metadata": {"labkeeper": {"codeEnv": "lkruntime"}},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    alice = lab.lab(team["alice"])
    assert RUNTIME_KERNEL not in alice.get("/api/kernelspecs").json()["kernelspecs"]
    assert (
        RUNTIME_KERNEL
        in lab.lab(lab.live.config.bootstrap_admin_key).get("/api/kernelspecs").json()["kernelspecs"]
    )
    body = {"path": "TEAM/shared.ipynb", "type": "notebook", "name": "", "kernel": {"name": RUNTIME_KERNEL}}
    assert_error(alice.post("/api/sessions", json=body), 403, "lkruntime")
    assert lab.admin.get("/projects/TEAM/jupyter-notebooks/shared/sessions").json() == []


def test_max_sessions_per_user_holds_in_lab(lab: Lab, team: dict[str, str]) -> None:
    doc = lab.admin.get("/admin/general-settings").json()
    doc["notebooks"]["maxSessionsPerUser"] = 1
    assert lab.admin.put("/admin/general-settings", json=doc).status_code == 204
    lab.put_notebook(team["alice"], "TEAM", "other", "1")
    lab.start_kernel(team["alice"], "TEAM/shared.ipynb")
    body = {"path": "TEAM/other.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    assert_error(lab.lab(team["alice"]).post("/api/sessions", json=body), 429, "maxSessionsPerUser")


def test_losing_write_closes_the_door_to_ones_own_kernel(lab: Lab, team: dict[str, str]) -> None:
    kernel_id = lab.start_kernel(team["alice"], "TEAM/shared.ipynb")["kernel"]["id"]
    perms = lab.admin.get("/projects/TEAM/permissions").json()
    perms["permissions"] = [p for p in perms["permissions"] if p.get("group") != "team"]
    assert lab.admin.put("/projects/TEAM/permissions", json=perms).status_code == 204
    with pytest.raises(InvalidStatus) as refused:
        KernelSocket(lab, kernel_id, team["alice"])
    assert refused.value.response.status_code == 403


def test_cross_origin_websockets_are_refused(lab: Lab, team: dict[str, str]) -> None:
    kernel_id = lab.start_kernel(team["alice"], "TEAM/shared.ipynb")["kernel"]["id"]
    for origin in ("http://evil.example", "null", lab.url.replace("127.0.0.1", "localhost")):
        with pytest.raises(InvalidStatus) as refused:
            KernelSocket(lab, kernel_id, team["alice"], origin=origin)
        assert refused.value.response.status_code == 403, origin
    with KernelSocket(lab, kernel_id, team["alice"], origin=lab.url) as ws:  # the same origin works
        assert ws.execute("print('ok')")[0] == "ok\n"


def test_no_sign_in_no_lab(lab: Lab, team: dict[str, str]) -> None:
    kernel_id = lab.start_kernel(team["alice"], "TEAM/shared.ipynb")["kernel"]["id"]
    for key in (None, "not-a-key", "lk_" + "0" * 40):
        client = lab.lab(key)
        assert client.get("/api/contents").status_code == 403
        assert client.get("/api/kernels").status_code == 403
        with pytest.raises(InvalidStatus) as refused:
            KernelSocket(lab, kernel_id, key)
        assert refused.value.response.status_code == 403
    page = lab.lab(None).get("/lab", follow_redirects=False)
    assert page.status_code == 302 and "/login" in page.headers["location"]
