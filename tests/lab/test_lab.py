"""JupyterLab's REST and websocket API over labkeeper's notebooks and sessions (issue 13,
points 1 and 2): one truth, two doors. Real server, real kernels."""

from __future__ import annotations

import psutil

from tests.helpers import wait_for
from tests.lab.helpers import KernelSocket, Lab, notebook

NB = "/projects/WORK/jupyter-notebooks"


def test_a_notebook_saved_in_lab_is_what_the_api_reads_and_the_reverse(lab: Lab, ann: str) -> None:
    client, api = lab.lab(ann), lab.api(ann)
    opened = client.get("/api/contents/WORK/first.ipynb").json()
    opened["content"]["cells"][0]["source"] = "print('edited in lab')"
    saved = client.put(
        "/api/contents/WORK/first.ipynb",
        json={"type": "notebook", "format": "json", "content": opened["content"]},
    )
    assert saved.status_code == 200, saved.text
    assert api.get(f"{NB}/first").json()["cells"][0]["source"] == "print('edited in lab')"
    assert api.put(f"{NB}/first", json=notebook("print('edited by api')")).status_code in (200, 204)
    assert (
        client.get("/api/contents/WORK/first.ipynb").json()["content"]["cells"][0]["source"]
        == "print('edited by api')"
    )
    listed = client.get("/api/contents/WORK").json()["content"]
    assert [(e["name"], e["type"], e["writable"]) for e in listed] == [("first.ipynb", "notebook", True)]


def test_create_rename_checkpoint_restore_and_delete_from_lab(lab: Lab, ann: str) -> None:
    client, api = lab.lab(ann), lab.api(ann)
    created = client.post("/api/contents/WORK", json={"type": "notebook"})
    assert created.status_code == 201, created.text
    assert created.json()["path"] == "WORK/Untitled.ipynb"
    assert "Untitled" in [n["name"] for n in api.get(f"{NB}/").json()]
    moved = client.patch("/api/contents/WORK/Untitled.ipynb", json={"path": "WORK/renamed.ipynb"})
    assert moved.status_code == 200, moved.text
    assert sorted(n["name"] for n in api.get(f"{NB}/").json()) == ["first", "renamed"]
    checkpoint = client.post("/api/contents/WORK/first.ipynb/checkpoints")
    assert checkpoint.status_code == 201, checkpoint.text
    assert [c["id"] for c in client.get("/api/contents/WORK/first.ipynb/checkpoints").json()] == [
        "checkpoint"
    ]
    assert api.put(f"{NB}/first", json=notebook("print('later')")).status_code in (200, 204)
    restored = client.post("/api/contents/WORK/first.ipynb/checkpoints/checkpoint")
    assert restored.status_code == 204, restored.text
    assert api.get(f"{NB}/first").json()["cells"][0]["source"] == "print('hello')"
    assert client.delete("/api/contents/WORK/renamed.ipynb").status_code == 204
    assert [n["name"] for n in api.get(f"{NB}/").json()] == ["first"]
    actions = [
        e["action"] for e in lab.admin.get("/admin/audit", params={"limit": 50}).json() if e["user"] == "ann"
    ]
    assert {
        "lab save notebook",
        "lab rename notebook",
        "lab restore checkpoint",
        "lab delete notebook",
    } <= set(actions)


def test_a_kernel_started_in_lab_is_a_labkeeper_session(lab: Lab, ann: str) -> None:
    session = lab.start_kernel(ann, "WORK/first.ipynb")
    kernel_id = session["kernel"]["id"]
    listed = lab.api(ann).get(f"{NB}/first/sessions").json()
    assert [s["kernelId"] for s in listed] == [kernel_id]
    pid = listed[0]["kernelPid"]
    assert psutil.pid_exists(pid)
    running = lab.admin.get("/admin/notebooks/").json()
    assert [s["kernelPid"] for nb in running for s in nb["activeSessions"]] == [pid]
    with KernelSocket(lab, kernel_id, ann) as ws:
        out, reply = ws.execute("import os\nprint(os.getpid(), os.getuid())")
        assert reply["status"] == "ok"
        assert out.split()[0] == str(pid)
        assert int(out.split()[1]) == psutil.Process(pid).uids().real != 0
        out, reply = ws.execute("import dataiku\nprint(dataiku.api_client().list_project_keys())")
        assert (out, reply["status"]) == ("['WORK']\n", "ok")
    audit = [
        e["action"] for e in lab.admin.get("/admin/audit", params={"limit": 20}).json() if e["user"] == "ann"
    ]
    assert "lab start session" in audit
    # the API unloads it; Lab sees it gone
    assert lab.api(ann).delete(f"{NB}/first/sessions/{listed[0]['sessionId']}").status_code in (200, 204)
    assert wait_for(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    )
    assert lab.lab(ann).get("/api/kernels").json() == []
    assert lab.lab(ann).get("/api/sessions").json() == []
    assert lab.lab(ann).get(f"/api/kernels/{kernel_id}").status_code == 404


def test_a_session_started_through_the_api_is_attached_from_lab(lab: Lab, ann: str) -> None:
    started = lab.api(ann).post(f"{NB}/first/sessions")
    assert started.status_code == 200, started.text
    kernel_id = started.json()["kernelId"]
    assert [k["id"] for k in lab.lab(ann).get("/api/kernels").json()] == [kernel_id]
    body = {"path": "WORK/first.ipynb", "type": "notebook", "name": "", "kernel": {"id": kernel_id}}
    attached = lab.lab(ann).post("/api/sessions", json=body)
    assert attached.status_code == 201, attached.text
    assert attached.json()["kernel"]["id"] == kernel_id
    assert len(lab.api(ann).get(f"{NB}/first/sessions").json()) == 1
    with KernelSocket(lab, kernel_id, ann) as ws:
        assert ws.execute("x = 21\nprint(x * 2)")[0] == "42\n"
    # shutting it down from Lab unloads the labkeeper session
    assert lab.lab(ann).delete(f"/api/kernels/{kernel_id}").status_code == 204
    assert lab.api(ann).get(f"{NB}/first/sessions").json() == []


def test_interrupt_restart_completion_and_inspection(lab: Lab, ann: str) -> None:
    kernel_id = lab.start_kernel(ann, "WORK/first.ipynb")["kernel"]["id"]
    pid = lab.api(ann).get(f"{NB}/first/sessions").json()[0]["kernelPid"]
    with KernelSocket(lab, kernel_id, ann) as ws:
        ws.execute("value_for_lab = 1")
        done = ws.request("complete_request", {"code": "value_for_l", "cursor_pos": 11})
        reply = next(m for m in done if m["msg_type"] == "complete_reply")["content"]
        assert "value_for_lab" in reply["matches"]
        done = ws.request("inspect_request", {"code": "len", "cursor_pos": 3, "detail_level": 0})
        reply = next(m for m in done if m["msg_type"] == "inspect_reply")["content"]
        assert reply["found"] and "len" in reply["data"]["text/plain"]
        sent = ws.ws
        import json as _json

        from tests.lab.helpers import message

        code = "import time\nprint('started', flush=True)\ntime.sleep(60)"
        running = message("execute_request", {"code": code, "silent": False})
        sent.send(_json.dumps(running))
        while True:  # an interrupt before the cell runs would interrupt nothing: wait for its output
            msg = _json.loads(sent.recv(timeout=30))
            if (
                msg["parent_header"].get("msg_id") == running["header"]["msg_id"]
                and msg["msg_type"] == "stream"
            ):
                assert msg["content"]["text"] == "started\n"
                break
        assert lab.lab(ann).post(f"/api/kernels/{kernel_id}/interrupt").status_code == 204
        while True:
            msg = _json.loads(sent.recv(timeout=30))
            if (
                msg["parent_header"].get("msg_id") == running["header"]["msg_id"]
                and msg["msg_type"] == "execute_reply"
            ):
                assert msg["content"]["status"] == "error" and msg["content"]["ename"] == "KeyboardInterrupt"
                break
    restarted = lab.lab(ann).post(f"/api/kernels/{kernel_id}/restart")
    assert restarted.status_code == 200, restarted.text
    new_pid = lab.api(ann).get(f"{NB}/first/sessions").json()[0]["kernelPid"]
    assert new_pid != pid and psutil.pid_exists(new_pid)
    with KernelSocket(lab, kernel_id, ann) as ws:
        out, _ = ws.execute("import os\nprint('value_for_lab' in globals(), os.getpid())")
        assert out == f"False {new_pid}\n"
