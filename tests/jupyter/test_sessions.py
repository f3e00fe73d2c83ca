"""Sessions are real kernels: true fields, fast unload, quota, idle reaper, cleanup paths."""

from __future__ import annotations

import os
import pwd
import time

import psutil
import pytest

from tests.conftest import Instance
from tests.helpers import alive, wait_for
from tests.jupyter.helpers import kernel_env, notebook, run_cells, set_settings
from tests.projects.helpers import assert_error, create, grant

NB = "/projects/SES/jupyter-notebooks"
HANG_GUARD = 30.0  # seconds: only a kernel left running gets near it
# Impersonation is off: kernels run code as a shared account ("unsafe" code in DSS terms).
CODE = {"mayRunNotebooks": True, "mayWriteUnsafeCode": True}


@pytest.fixture
def project(instance: Instance) -> str:
    create(instance, "SES")
    assert instance.admin.post(f"{NB}/main", json=notebook("x = 41", "x + 1")).status_code == 200
    return "SES"


def start(client, name: str = "main") -> dict:  # type: ignore[no-untyped-def]
    answer = client.post(f"{NB}/{name}/sessions")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_session_is_a_real_kernel_with_true_fields(instance: Instance, project: str) -> None:
    before = int(time.time() * 1000)
    session = start(instance.admin)
    proc = psutil.Process(session["kernelPid"])
    assert "ipykernel_launcher" in " ".join(proc.cmdline())
    # As root, with impersonation off, kernels run as the unprivileged labkeeper-kernel account.
    expected = "labkeeper-kernel" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    assert proc.username() == expected == session["sessionUnixOwner"]
    assert session["sessionCreator"] == "admin" and session["sessionCreatorDisplayName"] == "Administrator"
    assert session["projectKey"] == "SES" and session["notebookName"] == "main"
    assert session["kernelExecutionState"] == "idle" and session["kernelConnections"] == 0
    assert before <= session["sessionStartTime"] <= session["kernelLastActivityTime"] <= time.time() * 1000
    assert abs(session["kernelMemoryRss"] - proc.memory_info().rss) < 0.3 * proc.memory_info().rss
    assert 0 < session["kernelCpuTime"] < 60
    assert session["kernelName"] == "python3"
    env = kernel_env(session["kernelPid"])
    assert env["LABKEEPER_PROJECT_KEY"] == "SES" and env["LABKEEPER_SESSION_ID"] == session["sessionId"]
    assert "LABKEEPER_BOOTSTRAP_ADMIN_KEY" not in env and "LABKEEPER_DATABASE_URL" not in env

    listed = instance.admin.get(f"{NB}/main/sessions").json()
    assert [s["sessionId"] for s in listed] == [session["sessionId"]]
    assert listed[0]["kernelPid"] == session["kernelPid"]
    active = instance.admin.get(f"{NB}/", params={"active": "true"}).json()
    assert [item["name"] for item in active] == ["main"]


def test_execution_state_and_activity_come_from_the_kernel(instance: Instance, project: str) -> None:
    admin = instance.admin
    content = notebook("import time\ntime.sleep(1.5)", "6 * 7")
    assert admin.put(f"{NB}/main", json=content).status_code == 200
    session = start(admin)
    first_activity = session["kernelLastActivityTime"]
    answer = admin.post(f"{NB}/main/actions/run", json={"sessionId": session["sessionId"]})
    job = answer.json()["jobId"]
    busy = wait_for(
        lambda: [s for s in admin.get(f"{NB}/main/sessions").json() if s["kernelExecutionState"] == "busy"],
        timeout=10,
    )
    assert busy and busy[0]["kernelConnections"] == 1
    wait_for(lambda: not admin.get(f"/futures/{job}", params={"peek": "true"}).json()["alive"], timeout=30)
    after = wait_for(
        lambda: [
            s
            for s in admin.get(f"{NB}/main/sessions").json()
            if s["kernelExecutionState"] == "idle" and s["kernelConnections"] == 0
        ]
    )
    assert after and after[0]["kernelLastActivityTime"] >= first_activity + 1500
    assert after[0]["kernelCpuTime"] >= session["kernelCpuTime"]


def test_unload_stops_kernel_and_children_and_revokes_the_key(instance: Instance, project: str) -> None:
    admin = instance.admin
    content = notebook("import subprocess\nchild = subprocess.Popen(['sleep', '300'])\nprint(child.pid)")
    assert admin.put(f"{NB}/main", json=content).status_code == 200
    session = start(admin)
    secret = kernel_env(session["kernelPid"])["LABKEEPER_API_KEY"]
    as_session = instance.client(secret)
    assert as_session.get("/current-user").json()["login"] == "admin"
    state = run_cells(admin, "SES", "main", session["sessionId"])
    assert state["hasResult"], state
    output = admin.get(f"{NB}/main").json()["cells"][0]["outputs"][0]["text"]
    child = int(output.strip())
    assert alive(child)

    answer = admin.delete(f"{NB}/main/sessions/{session['sessionId']}")
    assert answer.status_code == 200 and answer.json()["unloaded"] is True
    # The child sleeps five minutes, the kernel idles for ever: both gone before the hang
    # guard means the unload stopped them.
    assert wait_for(lambda: not alive(session["kernelPid"]) and not alive(child), timeout=HANG_GUARD)
    assert admin.get(f"{NB}/main/sessions").json() == []
    assert as_session.get("/current-user").status_code == 401
    assert_error(admin.delete(f"{NB}/main/sessions/{session['sessionId']}"), 404)


def test_sessions_per_user_are_limited(instance: Instance, project: str) -> None:
    set_settings(instance.admin, "notebooks", maxSessionsPerUser=1)
    start(instance.admin)
    body = assert_error(instance.admin.post(f"{NB}/main/sessions"), 429, "maxSessionsPerUser", "1")
    assert body["errorType"] == "TooManyRequestsException"
    other = instance.client(instance.make_user("olga", ["writers"], group_permissions=CODE))
    grant(instance, "SES", "writers", writeProjectContent=True)
    session = start(other)
    assert session["sessionCreator"] == "olga"
    assert len(instance.admin.get(f"{NB}/main/sessions").json()) == 2


def test_idle_kernels_are_unloaded_and_audited(instance: Instance, project: str) -> None:
    set_settings(instance.admin, "notebooks", idleKernelTimeoutSeconds=1)
    session = start(instance.admin)
    assert wait_for(lambda: instance.admin.get(f"{NB}/main/sessions").json() == [], timeout=10)
    assert wait_for(lambda: not alive(session["kernelPid"]), timeout=HANG_GUARD)
    unloads = wait_for(
        lambda: [
            e for e in instance.admin.get("/admin/audit").json() if e["action"] == "jupyter-kernel-unloaded"
        ]
    )
    assert len(unloads) == 1, unloads
    details = unloads[0]["details"]
    assert details["kernelId"] == session["kernelId"] and details["sessionId"] == session["sessionId"]
    assert "idle" in details["reason"] and details["idleSeconds"] >= 1
    assert unloads[0]["target"] == "SES/main"


def test_deleting_a_notebook_or_its_project_stops_its_kernels(instance: Instance, project: str) -> None:
    admin = instance.admin
    first = start(admin)
    deleted = admin.delete(f"{NB}/main")
    assert deleted.json()["stoppedSessions"] == [first["sessionId"]]
    assert wait_for(lambda: not alive(first["kernelPid"]), timeout=HANG_GUARD)

    assert admin.post(f"{NB}/again", json=notebook("1")).status_code == 200
    second = start(admin, "again")
    work_dir = instance.config.data_dir / "run" / "projects" / "SES"
    assert work_dir.is_dir()
    assert admin.delete("/projects/SES").status_code == 200
    assert wait_for(lambda: not alive(second["kernelPid"]), timeout=HANG_GUARD)
    assert not work_dir.exists()
    assert admin.get("/admin/notebooks/").json() == []


def test_legacy_routes_and_the_running_notebooks_list(instance: Instance, project: str) -> None:
    admin = instance.admin
    session = start(admin)
    running = admin.get("/admin/notebooks/").json()
    assert [(n["projectKey"], n["name"]) for n in running] == [("SES", "main")]
    assert [s["sessionId"] for s in running[0]["activeSessions"]] == [session["sessionId"]]
    state = admin.get("/projects/SES/notebooks/", params={"notebookName": "main"}).json()
    assert state["activeSessions"][0]["kernelPid"] == session["kernelPid"]
    assert_error(admin.delete("/projects/SES/notebooks/", params={"notebookName": "main"}), 400, "sessionId")
    params = {"notebookName": "main", "sessionId": session["sessionId"]}
    gone = admin.delete("/projects/SES/notebooks/", params=params)
    assert gone.status_code == 200
    assert wait_for(lambda: not alive(session["kernelPid"]), timeout=HANG_GUARD)
    assert admin.get("/admin/notebooks/").json() == []


def test_who_may_start_run_and_stop(instance: Instance, project: str) -> None:
    alice = instance.client(instance.make_user("alice", ["writers"], group_permissions=CODE))
    bob = instance.client(instance.make_user("bob", ["writers"], group_permissions=CODE))
    grant(instance, "SES", "writers", writeProjectContent=True)
    session = start(alice)
    assert_error(bob.delete(f"{NB}/main/sessions/{session['sessionId']}"), 403, "ADMIN")
    assert_error(bob.post(f"{NB}/main/actions/run", json={"sessionId": session["sessionId"]}), 403, "alice")
    assert_error(alice.delete(f"{NB}/other/sessions/{session['sessionId']}"), 404)
    assert instance.admin.delete(f"{NB}/main/sessions/{session['sessionId']}").status_code == 200

    bad = notebook("1", kernel="no-such-kernel")
    assert instance.admin.post(f"{NB}/odd", json=bad).status_code == 200
    assert_error(instance.admin.post(f"{NB}/odd/sessions"), 400, "no-such-kernel", "python3")
    assert_error(instance.admin.post(f"{NB}/nothere/sessions"), 404)
