"""Routes whose answers depend on the clock only in some states (server/answers.py,
KEPT_WHEN_SETTLED): a settled answer is kept and never outlives a write made elsewhere; an
answer the clock still changes is computed every time; rights hold for each caller."""

from __future__ import annotations

import time

from labkeeper.codeenvs.models import DESIGN_NON_MANAGED, READY, CodeEnv
from labkeeper.db import now_ms
from labkeeper.futures.models import DONE, RUNNING, Task
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
