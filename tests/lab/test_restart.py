"""A kernel restart from Lab (jupyter_server's REST API) keeps its labkeeper session: again
and again, the session stays listed by the labkeeper API throughout (listed without pause
while it restarts) and is recorded with its new, true PID, which the official client shows;
the kernel's log follows it across launches. Real server, real kernels."""

from __future__ import annotations

import threading
from pathlib import Path

import dataikuapi
import psutil

from tests.conftest import LiveServer
from tests.helpers import assert_error, wait_for
from tests.lab.helpers import KernelSocket, Lab

NB = "/projects/WORK/jupyter-notebooks/first"


class Watch:
    """Lists the notebook's sessions without pause, in a thread, until stopped: every answer
    that is not exactly the one session is kept."""

    def __init__(self, lab: Lab, key: str, session_id: str) -> None:
        self.client, self.session_id = lab.api(key), session_id
        self.misses: list[object] = []
        self.answers = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.is_set():
            answer = self.client.get(f"{NB}/sessions")
            listed = answer.json() if answer.status_code == 200 else answer.text
            if not isinstance(listed, list) or [s["sessionId"] for s in listed] != [self.session_id]:
                self.misses.append(listed)
            self.answers += 1

    def __enter__(self) -> Watch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(timeout=30)


def _is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _write_to_log(lab: Lab, kernel_id: str, key: str, marker: str) -> None:
    with KernelSocket(lab, kernel_id, key) as ws:
        out, reply = ws.execute(f"import os\nos.write(2, b'{marker}\\n')\nprint(os.getpid())")
        assert reply["status"] == "ok"


def test_restarts_from_lab_and_the_api_keep_the_session_with_its_true_pid(
    lab: Lab, ann: str, live: LiveServer
) -> None:
    kernel_id = lab.start_kernel(ann, "WORK/first.ipynb")["kernel"]["id"]
    api = lab.api(ann)
    [session] = api.get(f"{NB}/sessions").json()
    session_id, pid = session["sessionId"], session["kernelPid"]
    log = Path(live.config.data_dir) / "jupyter" / "kernel-logs" / f"{kernel_id}.log"
    _write_to_log(lab, kernel_id, ann, "before-any-restart")
    notebook = dataikuapi.DSSClient(lab.url, ann).get_project("WORK").get_jupyter_notebook("first")
    pids = [pid]
    for round_ in range(4):
        with Watch(lab, ann, session_id) as watch:
            answer = lab.lab(ann).post(f"/api/kernels/{kernel_id}/restart")
            assert answer.status_code == 200, answer.text
            assert answer.json()["id"] == kernel_id
            wait_for(lambda: watch.answers >= 3)
        assert watch.misses == [], f"round {round_}: the session left the listing {watch.misses[:3]}"
        [after] = api.get(f"{NB}/sessions").json()
        new_pid = after["kernelPid"]
        assert (after["sessionId"], after["kernelId"]) == (session_id, kernel_id)
        assert new_pid not in pids and psutil.pid_exists(new_pid)
        assert "ipykernel_launcher" in " ".join(psutil.Process(new_pid).cmdline())
        assert wait_for(lambda: _is_gone(pids[-1]), timeout=10), "the old kernel process outlived its restart"
        assert [(s.session_id, s.kernel_pid) for s in notebook.get_sessions(as_objects=True)] == [
            (session_id, new_pid)
        ]
        with KernelSocket(lab, kernel_id, ann) as ws:
            assert ws.execute("import os\nprint(os.getpid())")[0] == f"{new_pid}\n"
        pids.append(new_pid)
    _write_to_log(lab, kernel_id, ann, "after-four-restarts")
    written = log.read_text()
    assert "before-any-restart" in written and "after-four-restarts" in written
    unloaded = [
        e
        for e in lab.admin.get("/admin/audit", params={"limit": 100}).json()
        if e["action"] == "jupyter-kernel-unloaded"
    ]
    assert unloaded == []
    restarts = [
        e
        for e in lab.admin.get("/admin/audit", params={"limit": 100}).json()
        if e["action"] == "lab restart kernel" and e["outcome"] == "success"
    ]
    assert len(restarts) == 4
    notebook.unload(session_id)
    assert wait_for(lambda: _is_gone(pids[-1]))
    assert api.get(f"{NB}/sessions").json() == []


def test_only_the_sessions_creator_restarts_it(lab: Lab, ann: str) -> None:
    """A co-writer of the project with the same code rights, and ann herself once her code
    rights are withdrawn: refused, and the kernel keeps its process."""
    bob = lab.user("bob", "analysts")  # same group: WRITE and the same code rights as ann
    kernel_id = lab.start_kernel(ann, "WORK/first.ipynb")["kernel"]["id"]
    [session] = lab.api(ann).get(f"{NB}/sessions").json()
    assert_error(lab.lab(bob).post(f"/api/kernels/{kernel_id}/restart"), 404)
    group = lab.admin.get("/admin/groups/analysts").json()  # ann's code rights are withdrawn
    group.update(mayRunNotebooks=False, mayWriteUnsafeCode=False)
    assert lab.admin.put("/admin/groups/analysts", json=group).status_code in (200, 204)
    assert_error(lab.lab(ann).post(f"/api/kernels/{kernel_id}/restart"), 403, "mayRunNotebooks")
    [still] = lab.api(ann).get(f"{NB}/sessions").json()
    assert still["kernelPid"] == session["kernelPid"] and psutil.pid_exists(session["kernelPid"])
