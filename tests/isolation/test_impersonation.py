"""Kernels run as the UNIX user the impersonation rules name, and cannot read the instance.

Real accounts (`useradd`), real kernels, real permission checks by the kernel of the OS.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path

import httpx
import psutil

from tests.conftest import ADMIN_KEY, Instance, LiveServer
from tests.helpers import wait_for
from tests.isolation.conftest import RUNTIME_KERNEL, SAFE_CODE, register_runtime_env
from tests.jupyter.helpers import notebook
from tests.projects.helpers import assert_error

PROBE = """
import os, pathlib
data = pathlib.Path({data_dir!r})
notebook_file = data / "projects" / "ISO" / "jupyter" / "probe.ipynb"
for target in [data / "labkeeper.db", data / "initial-admin-key", notebook_file, data / "jupyter" / "kernels",
               {other!r}]:
    try:
        open(target).read() if not os.path.isdir(target) else os.listdir(target)
        print("READ", target)
    except PermissionError:
        print("DENIED", target)
    except FileNotFoundError:
        print("MISSING", target)
try:
    os.listdir(data)
    print("LISTED data dir")
except PermissionError:
    print("DENIED listing")
print("uid", os.getuid(), "gids", sorted(os.getgroups()), "cwd", os.getcwd(), "home", os.environ["HOME"])
open("mine.txt", "w").write("secret of " + os.environ["USER"])
"""


def api(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url + "/dip/publicapi", auth=(key, ""), timeout=60)


def enable(admin, *rules: dict) -> None:  # type: ignore[no-untyped-def]
    doc = admin.get("/admin/general-settings").json()
    doc["impersonation"].update({"enabled": True, "userRules": list(rules)})
    answer = admin.put("/admin/general-settings", json=doc)
    assert answer.status_code == 204, answer.text


def mapping(login: str, unix: str) -> dict:
    return {"scope": "GLOBAL", "type": "SINGLE_MAPPING", "dssUser": login, "targetUnix": unix}


def run(client: httpx.Client, name: str) -> dict:
    job = client.post(f"/projects/ISO/jupyter-notebooks/{name}/actions/run", json={}).json()
    assert "jobId" in job, job
    return wait_for(
        lambda: (
            (s := client.get(f"/futures/{job['jobId']}", params={"peek": "true"}).json())
            and not s["alive"]
            and s
        ),
        timeout=60,
    )


def text(client: httpx.Client, name: str) -> list[str]:
    cells = client.get(f"/projects/ISO/jupyter-notebooks/{name}").json()["cells"]
    return ["".join(o.get("text", "") for o in c["outputs"]) for c in cells]


def test_kernels_run_as_the_mapped_users_and_cannot_read_the_instance(live: LiveServer, unix_user) -> None:  # type: ignore[no-untyped-def]
    anne_unix, ben_unix = unix_user(), unix_user()
    admin = api(live.url, ADMIN_KEY)
    register_runtime_env(live.store)
    assert admin.post("/admin/groups/", json={"name": "coders", **SAFE_CODE}).status_code == 200
    for login in ("anne", "ben"):
        assert (
            admin.post(
                "/admin/users/", json={"login": login, "password": "pw-123456789", "groups": ["coders"]}
            ).status_code
            == 200
        )
    anne = api(live.url, admin.post("/admin/personal-api-keys/", json={"user": "anne"}).json()["key"])
    ben = api(live.url, admin.post("/admin/personal-api-keys/", json={"user": "ben"}).json()["key"])
    assert admin.post("/projects/", json={"projectKey": "ISO", "name": "ISO"}).status_code == 200
    perms = admin.get("/projects/ISO/permissions").json()
    perms["permissions"] += [{"user": u, "writeProjectContent": True} for u in ("anne", "ben")]
    assert admin.put("/projects/ISO/permissions", json=perms).status_code == 204
    enable(admin, mapping("anne", anne_unix), mapping("ben", ben_unix))

    data_dir = live.config.data_dir
    anne_file = data_dir / "run" / "projects" / "ISO" / anne_unix / "mine.txt"
    probe = notebook(PROBE.format(data_dir=str(data_dir), other=str(anne_file)), kernel=RUNTIME_KERNEL)
    who = notebook(
        "import dataiku\nc = dataiku.api_client()\nprint(c._perform_json('GET', '/current-user')['login'])\n"
        "print(dataiku.default_project_key())",
        kernel=RUNTIME_KERNEL,
    )
    assert anne.post("/projects/ISO/jupyter-notebooks/probe", json=probe).status_code == 200
    assert anne.post("/projects/ISO/jupyter-notebooks/who", json=who).status_code == 200

    session = anne.post("/projects/ISO/jupyter-notebooks/probe/sessions").json()
    assert session["sessionUnixOwner"] == anne_unix, session
    entry = pwd.getpwnam(anne_unix)
    proc = psutil.Process(session["kernelPid"])
    assert proc.uids().real == proc.uids().effective == entry.pw_uid
    assert proc.gids().real == entry.pw_gid
    assert grp.getgrnam(f"lk_tg_{anne_unix[5:]}").gr_gid in set(os.getgrouplist(anne_unix, entry.pw_gid))
    work = Path(proc.cwd())
    assert work == data_dir / "run" / "projects" / "ISO" / anne_unix
    assert work.stat().st_uid == entry.pw_uid and stat.S_IMODE(work.stat().st_mode) == 0o700

    state = run(anne, "probe")  # uses anne's running session
    assert state["hasResult"], (state.get("error"), text(anne, "probe"))
    lines = text(anne, "probe")[0].splitlines()
    # On PostgreSQL there is no database file; on SQLite it exists and is refused.
    db_state = "DENIED" if (data_dir / "labkeeper.db").exists() else "MISSING"
    assert live.config.database_url or db_state == "DENIED"
    expected = [db_state, "DENIED", "DENIED", "DENIED", "MISSING", "DENIED"]
    assert [line.split()[0] for line in lines[:6]] == expected, lines
    uid_line = lines[6].split()
    assert uid_line[1] == str(entry.pw_uid) and uid_line[uid_line.index("cwd") + 1] == str(work)
    assert anne_file.read_text() == f"secret of {anne_unix}"

    # Ben's kernel runs as ben's account and cannot read what anne's kernel wrote.
    assert ben.post("/projects/ISO/jupyter-notebooks/benprobe", json=probe).status_code == 200
    assert run(ben, "benprobe")["hasResult"]
    ben_lines = text(ben, "benprobe")[0].splitlines()
    assert ben_lines[4] == f"DENIED {anne_file}", ben_lines
    assert ben_lines[6].split()[1] == str(pwd.getpwnam(ben_unix).pw_uid)

    # The in-kernel client acts as anne, from a code env that has httpx but no orjson.
    assert run(anne, "who")["hasResult"]
    assert text(anne, "who") == ["anne\nISO\n"]

    # The private part of the data dir is closed to every other account.
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o711
    for name in ("labkeeper.db", "initial-admin-key", "projects", "jupyter"):
        path = data_dir / name
        if path.exists():
            assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, name
    running = admin.get("/admin/notebooks/").json()
    owners = {s["sessionUnixOwner"] for n in running for s in n["activeSessions"]}
    assert owners == {anne_unix, ben_unix}


def test_an_unmatched_user_gets_403_and_no_kernel_starts(instance: Instance, unix_user) -> None:  # type: ignore[no-untyped-def]
    mapped = unix_user()
    admin = instance.admin
    register_runtime_env(instance.store)
    carl = instance.client(instance.make_user("carl", ["carls"], group_permissions=SAFE_CODE))
    assert admin.post("/projects/", json={"projectKey": "ISO", "name": "ISO"}).status_code == 200
    perms = admin.get("/projects/ISO/permissions").json()
    perms["permissions"].append({"group": "carls", "writeProjectContent": True})
    assert admin.put("/projects/ISO/permissions", json=perms).status_code == 204
    enable(admin, mapping("someone-else", mapped))
    assert (
        admin.post("/projects/ISO/jupyter-notebooks/n", json=notebook("1", kernel=RUNTIME_KERNEL)).status_code
        == 200
    )
    kernels_before = {
        p.pid for p in psutil.process_iter(["cmdline"]) if "ipykernel_launcher" in (p.info["cmdline"] or [])
    }

    body = assert_error(
        carl.post("/projects/ISO/jupyter-notebooks/n/sessions"), 403, "not matched onto a system user"
    )
    assert body["errorType"] == "NotMatchedOntoSystemUserException"
    kernels_after = {
        p.pid for p in psutil.process_iter(["cmdline"]) if "ipykernel_launcher" in (p.info["cmdline"] or [])
    }
    assert kernels_after <= kernels_before
    assert admin.get("/projects/ISO/jupyter-notebooks/n/sessions").json() == []
    from sqlalchemy import select

    from labkeeper.auth.models import ApiKey

    with instance.store.read() as s:
        assert list(s.scalars(select(ApiKey).where(ApiKey.kind == "SESSION"))) == []


def test_root_system_accounts_and_unknown_accounts_are_never_targets(instance: Instance) -> None:
    admin = instance.admin
    assert admin.post("/projects/", json={"projectKey": "ISO", "name": "ISO"}).status_code == 200
    content = notebook("1", kernel=RUNTIME_KERNEL)
    assert admin.post("/projects/ISO/jupyter-notebooks/n", json=content).status_code == 200
    for target, status, words in [
        ("daemon", 403, "minTargetUid"),
        ("lk_no_such_account", 400, "does not exist"),
    ]:
        enable(admin, mapping("admin", target))
        assert_error(admin.post("/projects/ISO/jupyter-notebooks/n/sessions"), status, words)
    # A rule onto root is refused when saved; a regexp that produces root is refused at start.
    doc = admin.get("/admin/general-settings").json()
    doc["impersonation"]["userRules"] = [mapping("admin", "root")]
    assert_error(admin.put("/admin/general-settings", json=doc), 400, "root")
    enable(admin, {"scope": "GLOBAL", "type": "REGEXP_RULE", "ruleFrom": "admin(.*)", "targetUnix": "root$1"})
    assert_error(admin.post("/projects/ISO/jupyter-notebooks/n/sessions"), 403, "root")
    assert admin.get("/projects/ISO/jupyter-notebooks/n/sessions").json() == []


def test_target_identity_refuses_root_and_low_uids() -> None:
    import pytest

    from labkeeper.errors import BadRequest, Forbidden
    from labkeeper.isolation.identity import target_identity

    with pytest.raises(Forbidden, match="root"):
        target_identity("root", min_uid=1000, login="x")
    with pytest.raises(Forbidden, match="minimum target uid 1000"):
        target_identity("daemon", min_uid=1000, login="x")
    with pytest.raises(BadRequest, match="does not exist"):
        target_identity("lk_no_such_account", min_uid=1000, login="x")


def test_impersonation_needs_a_root_server(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Unit check beside the real tests above: a non-root server refuses rather than run the
    kernel as itself."""
    import pytest

    from labkeeper.errors import Conflict
    from labkeeper.isolation import identity

    monkeypatch.setattr(identity.os, "geteuid", lambda: 1000)
    with pytest.raises(Conflict, match="not root"):
        identity.kernel_identity({"enabled": True, "userRules": []}, login="x", groups=[], project_key="P")
    assert (
        identity.kernel_identity({"enabled": False}, login="x", groups=[], project_key="P").impersonated
        is False
    )
