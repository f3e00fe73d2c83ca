"""With impersonation on, what Lab starts runs as the user's resolved UNIX account: a kernel
prints that account's uid, a terminal's shell is that account, and neither reaches another
user's files. Real UNIX accounts (useradd), real kernels, real shells; labkeeper runs as root."""

from __future__ import annotations

import os
import pwd
import re

import psutil
import pytest

from tests.conftest import LiveServer
from tests.isolation import conftest as isolation
from tests.jupyter.helpers import set_settings
from tests.lab.helpers import KernelSocket, Lab, TerminalSocket

# A world-traversable data dir (kernels run as other accounts) and real UNIX accounts.
config, unix_user = isolation.config, isolation.unix_user
NB = "/projects/ISO/jupyter-notebooks"


def _mapping(login: str, unix: str) -> dict[str, str]:
    return {"scope": "GLOBAL", "type": "SINGLE_MAPPING", "dssUser": login, "targetUnix": unix}


@pytest.fixture
def lab(live: LiveServer) -> Lab:
    if os.geteuid() != 0:
        pytest.fail("these tests create UNIX accounts and impersonate them: run them as root")
    return Lab(live)


@pytest.fixture
def accounts(lab: Lab, unix_user) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    """anne and ben, each mapped onto a UNIX account of their own: login -> (key, account)."""
    isolation.register_runtime_env(lab.live.store)
    found = {}
    for login in ("anne", "ben"):
        found[login] = (lab.user(login, "coders", isolation.SAFE_CODE), unix_user())
    lab.project("ISO", writers=("coders",))
    doc = lab.admin.get("/admin/general-settings").json()
    doc["impersonation"].update(
        {"enabled": True, "userRules": [_mapping(login, unix) for login, (_, unix) in found.items()]}
    )
    assert lab.admin.put("/admin/general-settings", json=doc).status_code == 204
    return found


def test_a_lab_kernel_prints_the_resolved_users_uid(lab: Lab, accounts: dict[str, tuple[str, str]]) -> None:
    (anne, anne_unix), (ben, ben_unix) = accounts["anne"], accounts["ben"]
    lab.put_notebook(anne, "ISO", "mine", "1", kernel=isolation.RUNTIME_KERNEL)
    kernel_id = lab.start_kernel(anne, "ISO/mine.ipynb", kernel=isolation.RUNTIME_KERNEL)["kernel"]["id"]
    [session] = lab.api(anne).get(f"{NB}/mine/sessions").json()
    assert session["sessionUnixOwner"] == anne_unix
    entry = pwd.getpwnam(anne_unix)
    with KernelSocket(lab, kernel_id, anne) as ws:
        out, reply = ws.execute(
            "import os\nprint(os.getuid(), os.geteuid(), os.getpid())\nopen('anne.txt', 'w').write('hers')\n"
            "print(os.path.abspath('anne.txt'))"
        )
    assert reply["status"] == "ok", reply
    uid, euid, pid, path = out.split()
    assert int(uid) == int(euid) == entry.pw_uid != 0
    assert int(pid) == session["kernelPid"] and psutil.Process(int(pid)).uids().real == entry.pw_uid
    # ben's Lab kernel runs as ben's account and cannot read what anne's wrote
    lab.put_notebook(ben, "ISO", "his", "1", kernel=isolation.RUNTIME_KERNEL)
    ben_kernel = lab.start_kernel(ben, "ISO/his.ipynb", kernel=isolation.RUNTIME_KERNEL)["kernel"]["id"]
    with KernelSocket(lab, ben_kernel, ben) as ws:
        out, _ = ws.execute(
            f"import os\nprint(os.getuid())\ntry:\n    open({path!r}).read()\n    print('READ')\n"
            "except PermissionError:\n    print('DENIED')"
        )
    assert out.split() == [str(pwd.getpwnam(ben_unix).pw_uid), "DENIED"]


def test_a_terminal_runs_as_the_resolved_user(lab: Lab, accounts: dict[str, tuple[str, str]]) -> None:
    (anne, anne_unix), (ben, ben_unix) = accounts["anne"], accounts["ben"]
    set_settings(lab.admin, "notebooks", terminalsEnabled=True)
    entry = pwd.getpwnam(anne_unix)
    name = lab.lab(anne).post("/api/terminals", json={}).json()["name"]
    with TerminalSocket(lab, name, anne) as term:
        out = term.run('echo "UID=$(id -u) GID=$(id -g) USER=$USER"; touch mine.txt; chmod 600 mine.txt; pwd')
    out = out.replace("\r", "")
    found = re.search(r"UID=(\d+) GID=(\d+) USER=(\S+)", out)
    assert found and found.groups() == (str(entry.pw_uid), str(entry.pw_gid), anne_unix), out
    home = lab.live.config.data_dir / "run" / "homes" / anne_unix
    assert (home / "mine.txt").stat().st_uid == entry.pw_uid
    ben_name = lab.lab(ben).post("/api/terminals", json={}).json()["name"]
    with TerminalSocket(lab, ben_name, ben) as term:
        # the words are split in the command, so only what the shell prints can spell them
        out = term.run(f"echo UID=$(id -u); cat {home}/mine.txt && echo READ''-IT || echo REFUSED''-IT")
    out = out.replace("\r", "")
    assert f"UID={pwd.getpwnam(ben_unix).pw_uid}" in out
    assert "REFUSED-IT" in out and "READ-IT" not in out
