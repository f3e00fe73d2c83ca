"""The admin commands against a live instance: code envs and futures, credentials from the
environment or the config file, progress while waiting."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labkeeper.cli._remote import ProgressBar
from labkeeper.cli.main import main
from labkeeper.client import DSSClient
from tests.codeenvs.conftest import index_settings
from tests.codeenvs.conftest import wheelhouse as wheelhouse  # noqa: F401 - session fixture
from tests.codeenvs.helpers import wait_for_markers
from tests.conftest import ADMIN_KEY


@pytest.fixture
def cli(live, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]  # noqa: F811
    """An instance building from the wheelhouse, and the environment the commands read."""
    with DSSClient(live.url, ADMIN_KEY) as client:
        settings = client.get_general_settings()
        settings.get_raw()["codeEnvs"].update(index_settings(wheelhouse))
        settings.save()
    monkeypatch.setenv("LABKEEPER_URL", live.url)
    monkeypatch.setenv("LABKEEPER_API_KEY", ADMIN_KEY)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))
    return live


def test_code_env_commands(cli, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert main(["code-envs", "create", "cli-env", "-p", "lkdemo-b", "--core-packages"]) == 0
    out, err = capsys.readouterr()
    assert "SUCCESS: Created python code env 'cli-env'" in out
    assert "create cli-env: " in err  # progress: one line per step seen, off a terminal

    assert main(["code-envs", "list"]) == 0
    out, _ = capsys.readouterr()
    header, row = out.splitlines()
    assert header.split() == ["NAME", "LANG", "MODE", "PYTHON", "STATE", "OWNER", "JUPYTER"]
    assert row.split()[0] == "cli-env" and "READY" in row.split()

    assert main(["code-envs", "update", "cli-env", "-p", "lkdemo-c", "--no-core-packages"]) == 0
    with DSSClient(cli.url, ADMIN_KEY) as client:
        assert (
            client.get_code_env("PYTHON", "cli-env").get_definition()["actualPackageList"] == "lkdemo-c==0.5"
        )
    capsys.readouterr()

    assert main(["code-envs", "update", "cli-env", "--package=--index-url=http://elsewhere"]) == 1
    _, err = capsys.readouterr()
    assert "option, not a requirement" in err

    assert main(["code-envs", "create", "old", "--python", "PYTHON27"]) == 1
    _, err = capsys.readouterr()
    assert "PYTHON27" in err and "PYTHON311" in err

    assert main(["code-envs", "create", "bad", "-p", "no-such-package-here"]) == 1
    out, err = capsys.readouterr()
    assert "no-such-package-here" in err + out

    assert main(["code-envs", "delete", "cli-env"]) == 0
    assert main(["code-envs", "delete", "bad"]) == 0
    capsys.readouterr()
    assert main(["code-envs", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_futures_commands(cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert main(["code-envs", "create", "slow", "-p", "lksleepy", "--no-wait"]) == 0
    job = capsys.readouterr().out.strip()
    wait_for_markers(cli.config.data_dir)

    assert main(["futures", "list"]) == 0
    out, _ = capsys.readouterr()
    assert job in out and "Create code env slow" in out and "Installing packages" in out

    assert main(["futures", "status", job, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["alive"] is True

    assert main(["futures", "abort", job]) == 0
    assert capsys.readouterr().out.strip() == f"aborted {job}"
    assert main(["futures", "status", job]) == 1
    out, err = capsys.readouterr()
    assert "ABORTED" in out and "aborted" in err

    assert main(["code-envs", "update", "slow", "-p", "lkdemo-a", "--no-wait"]) == 0
    job = capsys.readouterr().out.strip()
    assert main(["futures", "status", job, "--wait"]) == 0
    out, _ = capsys.readouterr()
    assert "DONE" in out
    assert main(["futures", "status", "nosuchjob"]) == 1
    assert "No future" in capsys.readouterr().err


def test_missing_credentials_say_how_to_provide_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LABKEEPER_URL", raising=False)
    monkeypatch.delenv("LABKEEPER_API_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert main(["futures", "list"]) == 2
    err = capsys.readouterr().err
    assert "LABKEEPER_URL" in err and str(tmp_path / "labkeeper" / "client.json") in err


def test_the_labkeeper_command_reads_the_config_file(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "xdg" / "labkeeper" / "client.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"url": cli.url, "apiKey": ADMIN_KEY}))
    config.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABKEEPER_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    command = [str(Path(sys.executable).parent / "labkeeper"), "futures", "list", "--all-users", "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [] and "warning" not in done.stderr
    config.chmod(0o644)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "readable by others" in done.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_redraws_in_place_on_a_terminal() -> None:
    screen = _Terminal()
    bar = ProgressBar("create x", stream=screen)
    shown = []
    for cur in (1, 2, 4):
        bar.update(
            {
                "alive": True,
                "progress": {"states": [{"name": "Installing packages", "cur": cur, "target": 4}]},
            }
        )
        shown.append(len(screen.getvalue()))
    bar.update(
        {"alive": True, "progress": {"states": [{"name": "Waiting for a build slot", "unknown": True}]}}
    )
    bar.close()
    drawn = screen.getvalue()
    assert shown[0] < shown[1] < shown[2]  # drawn at each update, not only at the end
    assert "Installing packages (1/4)" in drawn and "Installing packages (4/4)" in drawn
    assert "Waiting for a build slot" in drawn and "create x" in drawn
    assert "\x1b[" in drawn  # cursor control: redrawn in place, not one line per update
    assert drawn.replace("\x1b[?25h", "").endswith("\n")  # the last frame stays, the cursor comes back


def test_off_a_terminal_each_step_is_one_line() -> None:
    log = io.StringIO()
    bar = ProgressBar("create x", stream=log)
    for name in ("Waiting for a build slot", "Installing packages", "Installing packages"):
        bar.update({"alive": True, "progress": {"states": [{"name": name, "cur": 1, "target": 2}]}})
    bar.close()
    assert log.getvalue().splitlines() == [
        "create x: Waiting for a build slot (1/2)",
        "create x: Installing packages (1/2)",
    ]
