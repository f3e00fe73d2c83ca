"""Routes whose answers depend on the clock only in some states (server/answers.py,
KEPT_WHEN_SETTLED): a settled answer is kept and never outlives a write made elsewhere; an
answer the clock still changes is computed every time; rights hold for each caller."""

from __future__ import annotations

import time

import pytest

from labkeeper.codeenvs.models import DESIGN_NON_MANAGED, READY, CodeEnv
from labkeeper.db import now_ms
from labkeeper.futures.models import DONE, RUNNING, Task
from labkeeper.server import answers
from tests.conftest import Instance
from tests.helpers import assert_error


def kept_paths(instance: Instance) -> set[str]:
    return {key[0].removeprefix("/dip/publicapi") for key in instance.app.state.answers._entries}


def add_task(instance: Instance, task_id: str, *, owner: str = "admin", state: str = DONE) -> None:
    started = now_ms() - 5_000
    with instance.store.begin() as s:  # as another worker writes it: not through this app
        s.add(
            Task(
                id=task_id,
                kind="test.kind",
                owner=owner,
                state=state,
                display_name="a test task",
                started_on=started,
                ended_on=0 if state == RUNNING else started + 1_000,
                result={"value": 1} if state == DONE else None,
            )
        )


def set_task(instance: Instance, task_id: str, **values: object) -> None:
    with instance.store.begin() as s:
        task = s.get(Task, task_id)
        for name, value in values.items():
            setattr(task, name, value)


def test_an_ended_task_is_kept_until_it_changes_elsewhere(instance: Instance) -> None:
    add_task(instance, "t-done")
    assert instance.admin.get("/futures/t-done").json()["result"] == 1
    assert "/futures/t-done" in kept_paths(instance)
    set_task(instance, "t-done", result={"value": 2})
    assert instance.admin.get("/futures/t-done").json()["result"] == 2
    with instance.store.begin() as s:
        s.delete(s.get(Task, "t-done"))  # purged by another worker's retention
    assert_error(instance.admin.get("/futures/t-done"), 404)


def test_a_running_task_is_read_every_time(instance: Instance) -> None:
    add_task(instance, "t-run", state=RUNNING)
    first = instance.admin.get("/futures/t-run", params={"peek": "true"}).json()
    listed = instance.admin.get("/futures/").json()
    time.sleep(0.02)
    again = instance.admin.get("/futures/t-run", params={"peek": "true"}).json()
    assert again["runningTime"] > first["runningTime"]
    assert instance.admin.get("/futures/").json()[0]["runningTime"] > listed[0]["runningTime"]
    assert not {"/futures/t-run", "/futures/"} & kept_paths(instance)
    set_task(instance, "t-run", state=DONE, ended_on=now_ms(), result={"value": 3})
    assert instance.admin.get("/futures/").json() == []  # ended elsewhere: seen at once
    assert instance.admin.get("/futures/t-run").json()["result"] == 3


def test_kept_futures_stay_their_owners(instance: Instance) -> None:
    add_task(instance, "t-admin", state=DONE)
    add_task(instance, "t-admin-run", state=RUNNING)
    assert instance.admin.get("/futures/t-admin").status_code == 200
    assert instance.admin.get("/futures/", params={"allUsers": "true"}).status_code == 200
    mallory = instance.client(instance.make_user("mallory", ["team"]))
    assert_error(mallory.get("/futures/t-admin"), 403)
    assert mallory.get("/futures/").json() == []
    assert_error(mallory.get("/futures/", params={"allUsers": "true"}), 403)
    add_task(instance, "t-mallory", owner="mallory", state=RUNNING)
    assert [f["jobId"] for f in mallory.get("/futures/").json()] == ["t-mallory"]


def add_env(instance: Instance, name: str, **values: object) -> None:
    row = {
        "lang": "PYTHON",
        "name": name,
        "deployment_mode": DESIGN_NON_MANAGED,
        "owner": "admin",
        "state": READY,
        "path": "/nowhere",
        "created_on": now_ms(),
        "updated_on": now_ms(),
        **values,
    }
    with instance.store.begin() as s:
        s.add(CodeEnv(**row))


def set_env(instance: Instance, name: str, **values: object) -> None:
    with instance.store.begin() as s:
        env = s.get(CodeEnv, ("PYTHON", name))
        for field, value in values.items():
            setattr(env, field, value)


def test_code_envs_are_kept_until_they_change_elsewhere(instance: Instance) -> None:
    add_env(instance, "kept-env")
    assert [e["envName"] for e in instance.admin.get("/admin/code-envs/").json()] == ["kept-env"]
    assert instance.admin.get("/admin/code-envs/PYTHON/kept-env").json()["state"] == READY
    assert {"/admin/code-envs/", "/admin/code-envs/PYTHON/kept-env"} <= kept_paths(instance)
    set_env(instance, "kept-env", python_version="3.11.9")
    assert instance.admin.get("/admin/code-envs/").json()[0]["pythonVersion"] == "3.11.9"
    assert instance.admin.get("/admin/code-envs/PYTHON/kept-env").json()["pythonVersion"] == "3.11.9"
    add_env(instance, "second-env")
    assert len(instance.admin.get("/admin/code-envs/").json()) == 2


def test_an_unattached_build_claim_expires_with_the_clock(instance: Instance) -> None:
    claimed = now_ms() - 60_000 + 300  # expires in 0.3 s, with no write
    add_env(instance, "claimed", state="BUILDING", build_token="tok", build_claimed_on=claimed)
    assert instance.admin.get("/admin/code-envs/").json()[0]["state"] == "BUILDING"
    assert instance.admin.get("/admin/code-envs/PYTHON/claimed").json()["state"] == "BUILDING"
    time.sleep(0.4)
    assert instance.admin.get("/admin/code-envs/").json()[0]["state"] == "BROKEN"
    assert instance.admin.get("/admin/code-envs/PYTHON/claimed").json()["state"] == "BROKEN"


def test_kept_code_envs_stay_with_those_who_may_use_them(instance: Instance) -> None:
    add_env(instance, "private", usable_by_all=False)
    add_env(instance, "shared", usable_by_all=False, permissions=[{"group": "team", "use": True}])
    assert len(instance.admin.get("/admin/code-envs/").json()) == 2
    assert instance.admin.get("/admin/code-envs/PYTHON/private").status_code == 200
    mallory = instance.client(instance.make_user("mallory", ["team"]))
    assert [e["envName"] for e in mallory.get("/admin/code-envs/").json()] == ["shared"]
    assert_error(mallory.get("/admin/code-envs/PYTHON/private"), 403)
    set_env(instance, "shared", permissions=[])  # withdrawn elsewhere: seen on the next read
    assert mallory.get("/admin/code-envs/").json() == []
    assert_error(mallory.get("/admin/code-envs/PYTHON/shared"), 403)


def notebook(text: str = "", kernel: str = "python3") -> dict:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": kernel, "display_name": kernel, "language": "python"}},
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": text, "id": "c1"}],
    }


DEFAULT_RECENT_NS = answers.RECENT_NS
SHORT_RECENT_NS = 100_000_000  # this machine's file systems keep nanoseconds


@pytest.fixture(autouse=True)
def nanosecond_file_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths changed within RECENT_NS are never kept (2 s, for file systems that keep whole
    seconds); here a tick's worth is enough, and keeps the tests short."""
    monkeypatch.setattr(answers, "RECENT_NS", SHORT_RECENT_NS)


def age() -> None:
    """Files written within RECENT_NS are never kept: wait it out."""
    time.sleep(SHORT_RECENT_NS / 1e9 + 0.05)


def test_notebook_answers_follow_files_written_by_anyone(instance: Instance) -> None:
    import json

    from tests.projects.helpers import create

    create(instance, "FILES")
    admin = instance.admin
    assert admin.post("/projects/FILES/jupyter-notebooks/one", json=notebook("first")).status_code == 200
    folder = instance.config.data_dir / "projects" / "FILES" / "jupyter"
    age()
    assert [n["name"] for n in admin.get("/projects/FILES/jupyter-notebooks/").json()] == ["one"]
    assert admin.get("/projects/FILES/jupyter-notebooks/one").json()["cells"][0]["source"] == "first"
    assert admin.get("/projects/FILES/jupyter-notebooks/one/sessions").json() == []
    assert {
        "/projects/FILES/jupyter-notebooks/",
        "/projects/FILES/jupyter-notebooks/one",
        "/projects/FILES/jupyter-notebooks/one/sessions",
    } <= kept_paths(instance)
    # A user edits the file in place (no rename: the folder does not change), as a kernel could.
    with open(folder / "one.ipynb", "w") as out:
        json.dump(notebook("edited", kernel="other"), out)
    assert admin.get("/projects/FILES/jupyter-notebooks/one").json()["cells"][0]["source"] == "edited"
    assert admin.get("/projects/FILES/jupyter-notebooks/").json()[0]["kernelSpec"]["name"] == "other"
    (folder / "two.ipynb").write_text(json.dumps(notebook("second")))
    assert [n["name"] for n in admin.get("/projects/FILES/jupyter-notebooks/").json()] == ["one", "two"]
    (folder / "one.ipynb").unlink()
    assert [n["name"] for n in admin.get("/projects/FILES/jupyter-notebooks/").json()] == ["two"]
    assert_error(admin.get("/projects/FILES/jupyter-notebooks/one"), 404)
    assert_error(admin.get("/projects/FILES/jupyter-notebooks/one/sessions"), 404)


def test_kept_notebooks_stay_with_project_readers(instance: Instance) -> None:
    from tests.projects.helpers import create

    create(instance, "SECRET")
    admin = instance.admin
    assert admin.post("/projects/SECRET/jupyter-notebooks/nb", json=notebook()).status_code == 200
    age()
    for path in ("/", "/nb", "/nb/sessions"):
        assert admin.get("/projects/SECRET/jupyter-notebooks" + path).status_code == 200
    mallory = instance.client(instance.make_user("mallory", ["team"]))
    for path in ("/", "/nb", "/nb/sessions"):
        assert_error(mallory.get("/projects/SECRET/jupyter-notebooks" + path), 403)


def test_kernelspecs_follow_their_files(instance: Instance) -> None:
    import json

    first = instance.admin.get("/jupyter/kernelspecs/").json()
    assert "python3" in first
    folder = instance.config.data_dir / "jupyter" / "kernels" / "by-hand"
    folder.mkdir(parents=True)
    spec = {"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "language": "python"}
    (folder / "kernel.json").write_text(json.dumps({**spec, "display_name": "By hand"}))
    age()
    assert instance.admin.get("/jupyter/kernelspecs/").json()["by-hand"]["display_name"] == "By hand"
    assert "/jupyter/kernelspecs/" in kept_paths(instance)
    (folder / "kernel.json").write_text(json.dumps({**spec, "display_name": "Renamed"}))
    assert instance.admin.get("/jupyter/kernelspecs/").json()["by-hand"]["display_name"] == "Renamed"


def test_build_logs_follow_their_files(instance: Instance) -> None:
    add_env(instance, "logged")
    folder = instance.config.data_dir / "code-envs" / "logs" / "python" / "logged"
    folder.mkdir(parents=True)
    log = folder / "20260101-000000.000-create-0123abcd.log"
    log.write_text("one\n")
    age()
    base = "/admin/code-envs/PYTHON/logged/logs"
    assert instance.admin.get(base).json()[0]["size"] == 4
    assert instance.admin.get(f"{base}/{log.name}").text == "one\n"
    assert {base, f"{base}/{log.name}"} <= kept_paths(instance)
    with open(log, "a") as out:  # a build writing on
        out.write("two\n")
    assert instance.admin.get(base).json()[0]["size"] == 8
    assert instance.admin.get(f"{base}/{log.name}").text == "one\ntwo\n"
    mallory = instance.client(instance.make_user("mallory", ["team"]))
    assert_error(mallory.get(base), 403)
    assert_error(mallory.get(f"{base}/{log.name}"), 403)


def test_an_ended_sql_run_is_kept_until_it_changes_elsewhere(instance: Instance) -> None:
    from labkeeper.notebooks.sql.models import SqlQueryRun
    from tests.projects.helpers import create

    create(instance, "SQLK")
    cells = [{"id": "q1", "type": "QUERY", "name": "q1", "code": "SELECT 1"}]
    nb = instance.admin.post(
        "/projects/SQLK/sql-notebooks/", json={"connection": "local-sqlite", "cells": cells}
    )
    nb_id = nb.json()["id"]
    run = instance.admin.post(
        f"/projects/SQLK/sql-notebooks/{nb_id}/cells/q1/actions/run", params={"wait": "true"}
    )
    assert run.status_code == 200
    run_id = instance.admin.get(f"/projects/SQLK/sql-notebooks/{nb_id}/history").json()["q1"][0]["id"]
    path = f"/projects/SQLK/sql-notebooks/{nb_id}/runs/{run_id}"
    assert instance.admin.get(path).json()["state"] == "DONE"
    assert path in kept_paths(instance)
    with instance.store.begin() as s:
        s.get(SqlQueryRun, run_id).error = "changed elsewhere"
    assert instance.admin.get(path).json()["error"] == "changed elsewhere"
    mallory = instance.client(instance.make_user("mallory", ["team"]))
    assert_error(mallory.get(path), 403)


def test_the_legacy_notebook_state_follows_its_file(instance: Instance) -> None:
    import json

    from tests.projects.helpers import create

    create(instance, "LEGACY")
    assert instance.admin.post("/projects/LEGACY/jupyter-notebooks/nb", json=notebook()).status_code == 200
    age()
    path = "/projects/LEGACY/notebooks/"
    assert instance.admin.get(path, params={"notebookName": "nb"}).json()["activeSessions"] == []
    assert path in kept_paths(instance)
    folder = instance.config.data_dir / "projects" / "LEGACY" / "jupyter"
    (folder / "nb.ipynb").write_text(json.dumps(notebook(kernel="other")))
    assert instance.admin.get(path, params={"notebookName": "nb"}).json()["kernelSpec"]["name"] == "other"
    mallory = instance.client(instance.make_user("mallory", ["team"]))
    assert_error(mallory.get(path, params={"notebookName": "nb"}), 403)


def test_usage_summary_and_env_usages_follow_notebook_files(instance: Instance) -> None:
    import json

    from tests.projects.helpers import create

    create(instance, "USE")
    add_env(instance, "used", jupyter_kernel=True)
    admin = instance.admin
    assert admin.post("/projects/USE/jupyter-notebooks/nb", json=notebook()).status_code == 200
    age()
    summary = "/admin/monitoring/global-usage-summary"
    assert admin.get(summary).json()["notebooks"]["nbJupyterNotebooks"] == 1
    assert admin.get("/admin/code-envs/usages").json() == []
    assert admin.get("/admin/code-envs/PYTHON/used/usages").json() == []
    assert {summary, "/admin/code-envs/usages", "/admin/code-envs/PYTHON/used/usages"} <= kept_paths(instance)
    folder = instance.config.data_dir / "projects" / "USE" / "jupyter"
    (folder / "nb.ipynb").write_text(json.dumps(notebook(kernel="py-dku-venv-used")))  # in place
    assert [u["objectId"] for u in admin.get("/admin/code-envs/usages").json()] == ["nb"]
    assert [u["objectId"] for u in admin.get("/admin/code-envs/PYTHON/used/usages").json()] == ["nb"]
    (folder / "by-hand.ipynb").write_text(json.dumps(notebook()))
    assert admin.get(summary).json()["notebooks"]["nbJupyterNotebooks"] == 2
    # A project with no folder yet: its folders and a notebook appear by hand.
    create(instance, "FRESH")
    assert admin.get(summary).json()["notebooks"]["nbJupyterNotebooks"] == 2
    age()
    assert admin.get(summary).json()["notebooks"]["nbJupyterNotebooks"] == 2  # kept
    fresh = instance.config.data_dir / "projects" / "FRESH" / "jupyter"
    fresh.mkdir(parents=True)
    age()
    assert admin.get(summary).json()["notebooks"]["nbJupyterNotebooks"] == 2
    (fresh / "new.ipynb").write_text(json.dumps(notebook(kernel="py-dku-venv-used")))
    assert admin.get(summary).json()["notebooks"]["nbJupyterNotebooks"] == 3
    assert len(admin.get("/admin/code-envs/usages").json()) == 2
    mallory = instance.client(instance.make_user("mallory", ["team"]))
    assert_error(mallory.get(summary), 403)
    assert_error(mallory.get("/admin/code-envs/usages"), 403)


def test_running_notebooks_are_kept_only_while_no_session_is_recorded(instance: Instance) -> None:
    from labkeeper.notebooks.jupyter.models import JupyterSession
    from tests.projects.helpers import create

    create(instance, "RUN")
    assert instance.admin.post("/projects/RUN/jupyter-notebooks/nb", json=notebook()).status_code == 200
    assert instance.admin.get("/admin/notebooks/").json() == []
    assert "/admin/notebooks/" in kept_paths(instance)
    with instance.store.begin() as s:  # recorded by another worker, its kernel on its way
        s.add(
            JupyterSession(
                id="s1",
                kernel_id="k1",
                project_key="RUN",
                notebook_name="nb",
                kernel_name="python3",
                creator="admin",
                unix_owner="nobody",
                unix_uid=65534,
                state="STARTING",
                worker_id="elsewhere",
                started_on=now_ms(),
            )
        )
    listed = instance.admin.get("/admin/notebooks/").json()
    assert [n["activeSessions"][0]["sessionId"] for n in listed] == ["s1"]
    assert_error(instance.client(instance.make_user("mallory", ["team"])).get("/admin/notebooks/"), 403)


def test_a_path_changed_within_recent_ns_is_never_kept(
    instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.projects.helpers import create

    monkeypatch.setattr(answers, "RECENT_NS", DEFAULT_RECENT_NS)
    assert DEFAULT_RECENT_NS >= 2_000_000_000  # whole-second file systems
    create(instance, "RECENT")
    assert instance.admin.post("/projects/RECENT/jupyter-notebooks/nb", json=notebook()).status_code == 200
    assert instance.admin.get("/projects/RECENT/jupyter-notebooks/nb").status_code == 200
    time.sleep(0.2)
    assert instance.admin.get("/projects/RECENT/jupyter-notebooks/nb").status_code == 200
    assert "/projects/RECENT/jupyter-notebooks/nb" not in kept_paths(instance)


def test_every_route_kept_when_settled_exists_and_is_a_get(instance: Instance) -> None:
    gets = {
        e.route.path.removeprefix("/dip/publicapi")
        for e in instance.app.request_path.table.entries
        if "GET" in e.methods
    }
    assert set(answers.KEPT_WHEN_SETTLED) <= gets, set(answers.KEPT_WHEN_SETTLED) - gets
    assert not set(answers.KEPT_WHEN_SETTLED) & set(answers.NOT_KEPT)


def test_auth_info_is_kept_only_without_secrets(instance: Instance) -> None:
    client = instance.client(instance.make_user("sam", ["g1"]))
    user = instance.admin.get("/admin/users/sam").json()
    user["secrets"] = [{"name": "token", "value": "kept-nowhere-123", "secret": True}]
    assert instance.admin.put("/admin/users/sam", json=user).status_code == 200

    assert "secrets" not in client.get("/auth/info").json()
    assert client.get("/auth/info").json()["authIdentifier"] == "sam"  # served again, kept
    assert "/auth/info" in kept_paths(instance)
    for _ in range(2):
        shown = client.get("/auth/info", params={"withSecrets": "true"}).json()
        assert [s["value"] for s in shown["secrets"]] == ["kept-nowhere-123"]
    bodies = b"".join(entry[1] for entry in instance.app.state.answers._entries.values())
    assert b"kept-nowhere-123" not in bodies


def test_instance_info_is_kept_and_the_same_on_every_read(instance: Instance) -> None:
    first = instance.admin.get("/instance-info").json()
    assert instance.admin.get("/instance-info").json() == first
    assert "/instance-info" in kept_paths(instance)
    assert_error(instance.client("lk_not-a-key").get("/instance-info"), 401)
