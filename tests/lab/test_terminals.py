"""Lab's terminals (issue 13, point 3): off unless an admin turns them on; then each runs as
its creator's resolved UNIX account under the rules of kernels, and is its creator's alone.
Real server, real shells, as a hostile project member."""

from __future__ import annotations

import os
import pwd
import re

import psutil
import pytest
from websockets.exceptions import InvalidStatus

from tests.helpers import assert_error, wait_for
from tests.jupyter.helpers import set_settings
from tests.lab.helpers import UNSAFE_CODE, Lab, TerminalSocket

KERNEL_ACCOUNT = "labkeeper-kernel"


@pytest.fixture
def keys(lab: Lab) -> dict[str, str]:
    """alice and bob may run code (impersonation off: as the shared kernel account); mallory
    may not."""
    return {
        "alice": lab.user("alice", "coders", UNSAFE_CODE),
        "bob": lab.user("bob", "coders"),
        "mallory": lab.user("mallory", "others"),
    }


def _terminals_on(lab: Lab, on: bool) -> None:
    set_settings(lab.admin, "notebooks", terminalsEnabled=on)


def _open(lab: Lab, key: str, **body: object) -> str:
    answer = lab.lab(key).post("/api/terminals", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["name"]


def _is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _uid(output: str) -> int:
    found = re.search(r"UID=(\d+)", output)
    assert found, output
    return int(found.group(1))


def test_terminals_are_off_until_an_admin_turns_them_on(lab: Lab, keys: dict[str, str]) -> None:
    assert lab.admin.get("/admin/general-settings").json()["notebooks"]["terminalsEnabled"] is False
    alice = lab.lab(keys["alice"])
    assert_error(alice.post("/api/terminals", json={}), 404, "terminalsEnabled")
    assert_error(alice.get("/api/terminals"), 404, "terminalsEnabled")
    assert_error(alice.get("/api/terminals/1"), 404)
    with pytest.raises(InvalidStatus) as refused:
        TerminalSocket(lab, "1", keys["alice"])
    assert refused.value.response.status_code == 404
    bad = lab.admin.get("/admin/general-settings").json()
    bad["notebooks"]["terminalsEnabled"] = "yes"
    assert_error(lab.admin.put("/admin/general-settings", json=bad), 400, "terminalsEnabled")

    _terminals_on(lab, True)
    name = _open(lab, keys["alice"])
    assert re.fullmatch(r"[0-9a-f]{16}", name), name  # never Jupyter's guessable "1"
    with TerminalSocket(lab, name, keys["alice"]) as term:
        assert "42" in term.run("echo $((6 * 7))")
    # turned off again: the open terminal is out of reach
    _terminals_on(lab, False)
    assert_error(alice.get(f"/api/terminals/{name}"), 404, "terminalsEnabled")
    with pytest.raises(InvalidStatus) as refused:
        TerminalSocket(lab, name, keys["alice"])
    assert refused.value.response.status_code == 404


def test_a_terminal_runs_as_the_kernel_account_with_an_environment_of_its_own(
    lab: Lab, keys: dict[str, str]
) -> None:
    _terminals_on(lab, True)
    name = _open(lab, keys["alice"], shell_command=["/bin/sh", "-c", "id > /tmp/lk-owned"], cwd="/")
    with TerminalSocket(lab, name, keys["alice"]) as term:
        out = term.run(
            'echo "UID=$(id -u)"; echo "DIR=$(pwd)"; env | grep -c -E "^(LABKEEPER|PG)|KEY=|URL=" || true'
        )
        out = out.replace("\r", "")
        assert _uid(out) == pwd.getpwnam(KERNEL_ACCOUNT).pw_uid != 0
        assert f"DIR={lab.live.config.data_dir}/run/homes/{KERNEL_ACCOUNT}\n" in out
        assert re.search(r"^0$", out, re.M), out  # no variable of the server reached it
    assert not os.path.exists("/tmp/lk-owned")  # the caller chose no command
    audit = [e for e in lab.admin.get("/admin/audit", params={"limit": 20}).json() if e["user"] == "alice"]
    assert any(e["action"] == "lab open terminal" and e["target"] == f"terminal {name}" for e in audit)
    assert lab.lab(keys["alice"]).delete(f"/api/terminals/{name}").status_code == 204
    assert lab.lab(keys["alice"]).get("/api/terminals").json() == []


def test_another_users_terminal_is_invisible_and_unreachable(lab: Lab, keys: dict[str, str]) -> None:
    _terminals_on(lab, True)
    name = _open(lab, keys["alice"])
    with TerminalSocket(lab, name, keys["alice"]) as term:
        term.run("export ALICE_SECRET=s3cr3t")
        bob = lab.lab(keys["bob"])  # same groups, same code rights as alice
        assert bob.get("/api/terminals").json() == []
        assert_error(bob.get(f"/api/terminals/{name}"), 404)
        assert_error(bob.delete(f"/api/terminals/{name}"), 404)
        with pytest.raises(InvalidStatus) as refused:
            TerminalSocket(lab, name, keys["bob"])
        assert refused.value.response.status_code == 404
        # asking for alice's name opens a new terminal of bob's own, under another name
        own = _open(lab, keys["bob"], name=name)
        assert own != name
        assert [t["name"] for t in bob.get("/api/terminals").json()] == [own]
        # a websocket never creates a terminal by naming one
        with pytest.raises(InvalidStatus) as refused:
            TerminalSocket(lab, "deadbeefdeadbeef", keys["bob"])
        assert refused.value.response.status_code == 404
        assert sorted(t["name"] for t in lab.lab(keys["alice"]).get("/api/terminals").json()) == [name]
        # cross-origin and signed-out websockets are refused, even for the owner's terminal
        for origin in ("http://evil.example", "null"):
            with pytest.raises(InvalidStatus) as refused:
                TerminalSocket(lab, name, keys["alice"], origin=origin)
            assert refused.value.response.status_code == 403
        for key in (None, "not-a-key"):
            with pytest.raises(InvalidStatus) as refused:
                TerminalSocket(lab, name, key)
            assert refused.value.response.status_code == 403
        assert "s3cr3t" in term.run('echo "$ALICE_SECRET"')  # alice's shell, untouched


def test_without_the_code_rights_no_terminal(lab: Lab, keys: dict[str, str]) -> None:
    _terminals_on(lab, True)
    assert_error(lab.lab(keys["mallory"]).post("/api/terminals", json={}), 403, "mayRunNotebooks")
    carol = lab.user("carol", "runners", {"mayRunNotebooks": True})  # may run, not unsafe code
    assert_error(lab.lab(carol).post("/api/terminals", json={}), 403, "mayWriteUnsafeCode")
    assert lab.lab(None).post("/api/terminals", json={}).status_code == 403
    assert lab.lab(keys["alice"]).get("/api/terminals").json() == []
    audit = [e for e in lab.admin.get("/admin/audit", params={"limit": 20}).json() if e["user"] == "mallory"]
    assert any(e["action"] == "lab open terminal" and e["outcome"].startswith("error") for e in audit)


def test_losing_the_code_rights_closes_the_door_to_ones_own_terminal(lab: Lab, keys: dict[str, str]) -> None:
    _terminals_on(lab, True)
    name = _open(lab, keys["alice"])
    group = lab.admin.get("/admin/groups/coders").json()
    group.update(mayRunNotebooks=False)
    assert lab.admin.put("/admin/groups/coders", json=group).status_code in (200, 204)
    assert_error(lab.lab(keys["alice"]).get(f"/api/terminals/{name}"), 403, "mayRunNotebooks")
    with pytest.raises(InvalidStatus) as refused:
        TerminalSocket(lab, name, keys["alice"])
    assert refused.value.response.status_code == 403


def test_a_disabled_users_terminals_are_closed(lab: Lab, keys: dict[str, str]) -> None:
    _terminals_on(lab, True)
    name = _open(lab, keys["alice"])
    with TerminalSocket(lab, name, keys["alice"]) as term:
        found = re.search(r"PID=(\d+)", term.run('echo "PID=$$"'))
    assert found, "the shell printed no pid"
    pid = int(found.group(1))
    assert psutil.pid_exists(pid)
    assert lab.admin.put("/admin/users/alice", json={"enabled": False}).status_code == 200
    assert wait_for(lambda: _is_gone(pid)), "the disabled user's shell still runs"
    work = [
        e
        for e in lab.admin.get("/admin/audit", params={"limit": 20}).json()
        if e["action"] == "user-work-stopped"
    ]
    assert work and f"terminal {name}" in work[0]["details"]["stopped"]["terminals"]
