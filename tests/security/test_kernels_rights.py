"""A project writer may start a kernel only with the rights to run code, and only in code
envs they may use (issue 9, point 3). Real server, real kernels, real UNIX accounts."""

from __future__ import annotations

import pwd

import psutil
import pytest

from tests.conftest import Instance
from tests.helpers import assert_error
from tests.isolation import conftest as isolation
from tests.security.kernels_helpers import (
    NB,
    RUNTIME_KERNEL,
    SAFE_CODE,
    UNSAFE_CODE,
    member,
    outputs_text,
    project,
    put_notebook,
    register_runtime_env,
    run_and_wait,
    set_group_permissions,
)

KERNEL_ACCOUNT = "labkeeper-kernel"
# A world-traversable data dir (kernels run as other accounts) and real UNIX accounts.
config, unix_user = isolation.config, isolation.unix_user


@pytest.mark.parametrize(
    ("permissions", "missing"),
    [
        ({}, "mayRunNotebooks"),
        ({"mayWriteUnsafeCode": True}, "mayRunNotebooks"),
        ({"mayRunNotebooks": True}, "mayWriteUnsafeCode"),
        ({"mayRunNotebooks": True, "mayWriteSafeCode": True}, "mayWriteUnsafeCode"),
    ],
)
@pytest.mark.parametrize("how", ["session", "run"])
def test_a_writer_without_the_code_rights_starts_no_kernel(
    instance: Instance, permissions: dict, missing: str, how: str
) -> None:
    project(instance, "team")
    eve = member(instance, "eve", "team", permissions)
    put_notebook(eve, "owned", "open('/etc/shadow').read()")
    if how == "session":
        answer = eve.post(f"{NB}/owned/sessions")
    else:
        answer = eve.post(f"{NB}/owned/actions/run", json={})
    assert_error(answer, 403, missing)
    assert instance.admin.get(f"{NB}/owned/sessions").json() == []


def test_with_the_unsafe_code_right_the_kernel_runs_as_the_kernel_account_never_root(
    instance: Instance,
) -> None:
    project(instance, "team")
    ann = member(instance, "ann", "team", UNSAFE_CODE)
    put_notebook(ann, "who", "import os\nprint(os.getuid(), os.geteuid())")
    session = ann.post(f"{NB}/who/sessions")
    assert session.status_code == 200, session.text
    assert session.json()["sessionUnixOwner"] == KERNEL_ACCOUNT
    uid = pwd.getpwnam(KERNEL_ACCOUNT).pw_uid
    proc = psutil.Process(session.json()["kernelPid"])
    assert proc.uids().real == proc.uids().effective == proc.uids().saved == uid != 0
    state = run_and_wait(ann, "who")
    assert state["hasResult"], state
    assert outputs_text(ann, "who") == [f"{uid} {uid}\n"]


def test_under_impersonation_the_safe_code_right_is_needed(instance: Instance, unix_user) -> None:  # type: ignore[no-untyped-def]
    target = unix_user()
    register_runtime_env(instance.store)
    project(instance, "unsafe", "safe")
    ugo = member(instance, "ugo", "unsafe", UNSAFE_CODE)
    sam = member(instance, "sam", "safe", SAFE_CODE)
    doc = instance.admin.get("/admin/general-settings").json()
    doc["impersonation"].update(
        enabled=True,
        userRules=[{"scope": "GLOBAL", "type": "REGEXP_RULE", "ruleFrom": ".*", "targetUnix": target}],
    )
    assert instance.admin.put("/admin/general-settings", json=doc).status_code == 204
    put_notebook(instance.admin, "imp", "1", kernel=RUNTIME_KERNEL)
    assert_error(ugo.post(f"{NB}/imp/sessions"), 403, "mayWriteSafeCode", target)
    assert_error(ugo.post(f"{NB}/imp/actions/run", json={}), 403, "mayWriteSafeCode")
    started = sam.post(f"{NB}/imp/sessions")
    assert started.status_code == 200, started.text
    assert started.json()["sessionUnixOwner"] == target


def test_rights_withdrawn_after_the_start_stop_runs_in_the_running_session(instance: Instance) -> None:
    project(instance, "team")
    ann = member(instance, "ann", "team", UNSAFE_CODE)
    put_notebook(ann, "nb", "print('ran')")
    session = ann.post(f"{NB}/nb/sessions").json()
    set_group_permissions(instance, "team", mayWriteUnsafeCode=False)
    assert_error(
        ann.post(f"{NB}/nb/actions/run", json={"sessionId": session["sessionId"]}), 403, "mayWriteUnsafeCode"
    )
    assert_error(ann.post(f"{NB}/nb/actions/run", json={}), 403, "mayWriteUnsafeCode")
    set_group_permissions(instance, "team", mayWriteUnsafeCode=True, mayRunNotebooks=False)
    assert_error(ann.post(f"{NB}/nb/actions/run", json={}), 403, "mayRunNotebooks")
    assert outputs_text(instance.admin, "nb") == [""]


# ------------------------------------------------------------------- the env's `use` right


def grant_use(instance: Instance, how: str) -> None:
    """Give the members of `team` (or user ann) the use right on lkruntime in one of the ways."""
    if how == "usableByAll":
        register_runtime_env(instance.store, usable_by_all=True)
    elif how == "owner":
        register_runtime_env(instance.store, usable_by_all=False, owner="ann")
    elif how == "group":
        register_runtime_env(
            instance.store, usable_by_all=False, permissions=[{"group": "team", "use": True}]
        )
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("spelling", [RUNTIME_KERNEL, RUNTIME_KERNEL.upper(), "Py-Dku-Venv-LkRuntime"])
@pytest.mark.parametrize("how", ["usableByAll", "owner", "group"])
def test_a_kernel_of_an_env_needs_its_use_right(instance: Instance, spelling: str, how: str) -> None:
    project(instance, "team")
    ann = member(instance, "ann", "team", UNSAFE_CODE)
    # No right: the env is someone else's, not usable by all, and team has only 'update'
    # on another env's entry (no 'use').
    register_runtime_env(
        instance.store, usable_by_all=False, owner="admin", permissions=[{"group": "others", "use": True}]
    )
    put_notebook(ann, "envnb", "import sys\nprint(sys.prefix)", kernel=spelling)
    assert_error(ann.post(f"{NB}/envnb/sessions"), 403, "lkruntime")
    assert_error(ann.post(f"{NB}/envnb/actions/run", json={}), 403, "lkruntime")
    assert instance.admin.get(f"{NB}/envnb/sessions").json() == []
    grant_use(instance, how)
    started = ann.post(f"{NB}/envnb/sessions")
    assert started.status_code == 200, started.text
    assert started.json()["kernelName"] == spelling


def test_a_notebook_naming_an_unusable_env_is_refused_also_in_a_running_session(instance: Instance) -> None:
    project(instance, "team")
    ann = member(instance, "ann", "team", UNSAFE_CODE)
    register_runtime_env(instance.store, usable_by_all=False, permissions=[{"group": "team", "use": True}])
    put_notebook(ann, "envnb", "print(1)", kernel=RUNTIME_KERNEL)
    session = ann.post(f"{NB}/envnb/sessions").json()
    register_runtime_env(instance.store, usable_by_all=False, permissions=[])  # use withdrawn
    assert_error(
        ann.post(f"{NB}/envnb/actions/run", json={"sessionId": session["sessionId"]}), 403, "lkruntime"
    )


def test_kernelspecs_list_only_envs_the_caller_may_use(instance: Instance) -> None:
    project(instance, "team")
    ann = member(instance, "ann", "team", UNSAFE_CODE)
    register_runtime_env(instance.store, usable_by_all=False, permissions=[{"group": "others", "use": True}])
    assert set(ann.get("/jupyter/kernelspecs/").json()) == {"python3"}
    assert RUNTIME_KERNEL in instance.admin.get("/jupyter/kernelspecs/").json()
    register_runtime_env(instance.store, usable_by_all=False, permissions=[{"group": "team", "use": True}])
    assert set(ann.get("/jupyter/kernelspecs/").json()) == {"python3", RUNTIME_KERNEL}


@pytest.mark.parametrize("spelling", [RUNTIME_KERNEL, RUNTIME_KERNEL.upper()])
def test_notebooks_naming_an_env_are_usages_that_block_its_deletion(
    instance: Instance, spelling: str
) -> None:
    project(instance, "team")
    register_runtime_env(instance.store)
    put_notebook(instance.admin, "uses-env", "1", kernel=spelling)
    put_notebook(instance.admin, "builtin", "1")
    usages = instance.admin.get("/admin/code-envs/python/lkruntime/usages").json()
    assert [(u["envUsage"], u["projectKey"], u["objectId"]) for u in usages] == [
        ("NOTEBOOK", "SEC", "uses-env")
    ]
    everything = instance.admin.get("/admin/code-envs/usages").json()
    assert {(u["envName"], u["objectId"]) for u in everything} == {("lkruntime", "uses-env")}
    assert_error(instance.admin.delete("/admin/code-envs/python/lkruntime"), 409, "notebook SEC/uses-env")


def test_unload_user_stops_every_kernel_of_a_login_and_audits_it(instance: Instance) -> None:
    project(instance, "team")
    ann = member(instance, "ann", "team", UNSAFE_CODE)
    put_notebook(ann, "a", "1")
    put_notebook(ann, "b", "1")
    started = [ann.post(f"{NB}/{n}/sessions").json() for n in ("a", "b")]
    admin_session = instance.admin.post(f"{NB}/a/sessions").json()
    manager = instance.app.state.jupyter
    stopped = instance.portal.call(lambda: manager.unload_user("ann", reason="user ann was disabled"))
    assert sorted(stopped) == sorted(s["sessionId"] for s in started)
    for session in started:
        assert (
            not psutil.pid_exists(session["kernelPid"])
            or psutil.Process(session["kernelPid"]).status() == "zombie"
        )
    remaining = instance.admin.get(f"{NB}/a/sessions").json()
    assert [s["sessionId"] for s in remaining] == [admin_session["sessionId"]]
    audit = instance.admin.get("/admin/audit", params={"limit": 20}).json()
    reasons = [e for e in audit if e["action"] == "jupyter-kernel-unloaded"]
    assert len([e for e in reasons if "disabled" in str(e)]) == 2
