"""The admin commands for notebooks, sessions, keys, users, settings, variables, the audit
log and project archives, each against a live instance."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labkeeper.cli.main import main
from labkeeper.client import DSSClient
from tests.conftest import ADMIN_KEY


@pytest.fixture
def admin_env(live, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LABKEEPER_URL", live.url)
    monkeypatch.setenv("LABKEEPER_API_KEY", ADMIN_KEY)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))
    return live


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_users_and_keys(admin_env, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sys, "stdin", io.StringIO("first-password\n"))
    code, out, _ = run(capsys, "users", "create", "erin", "--display-name", "Erin", "--password-stdin")
    assert code == 0 and "created user erin" in out
    code, out, _ = run(capsys, "users", "list", "--json")
    assert {u["login"] for u in json.loads(out)} == {"admin", "erin"}
    code, out, _ = run(capsys, "users", "list")
    assert out.split()[:5] == ["LOGIN", "NAME", "GROUPS", "ENABLED", "PROFILE"] and "erin" in out

    code, out, _ = run(capsys, "keys", "create", "--user", "erin", "--label", "erin's", "--json")
    created = json.loads(out)
    assert code == 0 and created["user"] == "erin"
    with DSSClient(admin_env.url, created["key"]) as erin:
        assert erin.get_own_user().get_settings().get_raw()["login"] == "erin"
    code, out, _ = run(capsys, "keys", "list", "--all-users", "--json")
    listed = {k["id"]: k for k in json.loads(out)}
    assert created["id"] in listed and "key" not in listed[created["id"]]  # no secret in a listing
    code, out, _ = run(capsys, "keys", "create", "--global", "--label", "robot")
    assert code == 0 and "shown this once" in out
    robot_id = out.split()[2].rstrip(";")
    code, out, _ = run(capsys, "keys", "list", "--global")
    assert "robot" in out and robot_id in out
    assert run(capsys, "keys", "revoke", "--global", robot_id)[0] == 0
    assert robot_id not in run(capsys, "keys", "list", "--global", "--json")[1]

    monkeypatch.setattr(sys, "stdin", io.StringIO("second-password\n"))
    assert run(capsys, "users", "set-password", "erin", "--password-stdin")[0] == 0
    assert run(capsys, "users", "disable", "erin")[0] == 0
    with DSSClient(admin_env.url, created["key"]) as erin:
        with pytest.raises(Exception, match="disabled"):
            erin.list_projects()
    code, _, err = run(capsys, "users", "disable", "nobody")
    assert code == 1 and "nobody" in err
    assert run(capsys, "keys", "create", "--admin")[0] == 2  # --admin without --global: usage


def test_settings_variables_and_audit(admin_env, capsys, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "settings", "get", "notebooks.maxSessionsPerUser")
    assert code == 0 and json.loads(out) == 5
    assert run(capsys, "settings", "set", "notebooks.maxSessionsPerUser", "7")[0] == 0
    assert json.loads(run(capsys, "settings", "get", "notebooks.maxSessionsPerUser")[1]) == 7
    code, _, err = run(capsys, "settings", "set", "notebooks.maxSessionsPerUser", '"many"')
    assert code == 1 and "maxSessionsPerUser" in err
    assert json.loads(run(capsys, "settings", "get", "notebooks.maxSessionsPerUser")[1]) == 7

    editor = tmp_path / "editor.py"
    editor.write_text(
        "import json, sys\np = sys.argv[1]\nd = json.load(open(p))\n"
        "d['notebooks']['maxSessionsPerUser'] = 3\njson.dump(d, open(p, 'w'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    code, out, err = run(capsys, "settings", "edit")
    assert code == 0 and "saved" in out, err
    assert json.loads(run(capsys, "settings", "get", "notebooks.maxSessionsPerUser")[1]) == 3

    assert run(capsys, "variables", "set", "region", '"eu"')[0] == 0
    assert json.loads(run(capsys, "variables", "get")[1])["region"] == "eu"
    with DSSClient(admin_env.url, ADMIN_KEY) as client:
        client.create_project("VARS", "Vars", owner="admin")
    assert run(capsys, "variables", "set", "limit", "10", "--project", "VARS", "--local")[0] == 0
    assert json.loads(run(capsys, "variables", "get", "--project", "VARS")[1])["local"] == {"limit": 10}

    code, out, _ = run(capsys, "audit", "tail", "-n", "50", "--json")
    actions = [json.loads(line)["action"] for line in out.splitlines()]
    assert code == 0 and len(actions) >= 5
    code, out, _ = run(capsys, "audit", "tail", "-n", "3")
    assert out.split()[:4] == ["TIME", "(UTC)", "USER", "ACTION"]


def test_audit_follow_prints_new_events(admin_env) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "LABKEEPER_URL": admin_env.url, "LABKEEPER_API_KEY": ADMIN_KEY}
    with DSSClient(admin_env.url, ADMIN_KEY) as client:
        client.log_custom_audit("before")
        follower = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labkeeper.cli.main",
                "audit",
                "tail",
                "-n",
                "1",
                "--follow",
                "--interval",
                "0.2",
            ]
            + ["--json"],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        try:
            first = json.loads(follower.stdout.readline())  # type: ignore[union-attr]
            assert first["target"] == "before"  # the newest event: the request that logged it
            client.log_custom_audit("followed", {"n": 1})
            for line in follower.stdout:  # type: ignore[union-attr]
                if json.loads(line)["action"] == "custom:followed":
                    break
            else:
                pytest.fail("the follower stopped before printing the new event")
        finally:
            follower.terminate()
            follower.wait(timeout=10)


def test_projects_export_import_and_notebooks(admin_env, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with DSSClient(admin_env.url, ADMIN_KEY) as client:
        client.create_project("ARCH", "Archived", owner="admin")
    code, out, _ = run(capsys, "projects", "list", "--json")
    assert [p["projectKey"] for p in json.loads(out)] == ["ARCH"]
    archive = tmp_path / "arch.zip"
    code, out, err = run(capsys, "projects", "export", "ARCH", str(archive))
    assert code == 0 and archive.stat().st_size > 0, err
    code, out, err = run(capsys, "projects", "import", str(archive), "--key", "ARCH2")
    assert code == 0 and "ARCH2" in out, err
    assert "ARCH2" in run(capsys, "projects", "list")[1]
    code, _, err = run(capsys, "projects", "import", str(archive))
    assert code == 1 and "already exists" in err
    code, _, err = run(capsys, "projects", "import", str(archive), "--remap-connection", "nope")
    assert code == 2 and "SOURCE=TARGET" in err

    code, out, _ = run(capsys, "notebooks", "list", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = run(capsys, "sessions", "list")
    assert code == 0 and "SESSION" in out
    code, _, err = run(capsys, "notebooks", "unload", "ARCH", "missing")
    assert code == 1 and "missing" in err


def test_completion_and_usage(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "completion", "bash")
    assert code == 0 and "_LABKEEPER_COMPLETE" in out
    monkeypatch.delenv("LABKEEPER_URL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent")
    code, _, err = run(capsys, "users", "list")
    assert code == 2 and "LABKEEPER_URL" in err
    assert run(capsys, "no-such-command")[0] == 2
    done = subprocess.run(
        [sys.executable, "-m", "labkeeper.cli.main"],
        env={
            **os.environ,
            "_LABKEEPER_COMPLETE": "bash_complete",
            "COMP_WORDS": "labkeeper us",
            "COMP_CWORD": "1",
        },
        capture_output=True,
        text=True,
    )
    assert "users" in done.stdout
