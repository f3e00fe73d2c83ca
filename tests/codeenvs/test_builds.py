"""Real builds from a local wheelhouse: create, update to match the spec, rebuild, logs,
failures, and a build environment the host's pip and uv configuration cannot reach."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.codeenvs.helpers import configure, create, definition, env_python, save, update, wait_state
from tests.conftest import Instance, reachable_tmp_dir


@pytest.fixture
def envs(instance: Instance, wheelhouse: Path) -> Instance:
    configure(instance, wheelhouse)
    return instance


def run_in_env(python: Path, code: str) -> str:
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_create_builds_a_real_env_with_its_spec_and_core_packages(envs: Instance) -> None:
    report = create(
        envs.admin, "analytics", specPackageList="lkdemo-b\n# a comment\n\n", installCorePackages=True
    )
    assert report["messages"]["error"] is False and report["messages"]["success"] is True
    assert report["success"] is True and report["anyMessage"] is True
    assert report["messages"]["messages"][0]["severity"] == "SUCCESS"

    env = definition(envs.admin, "analytics")
    assert env["state"] == "READY" and env["deploymentMode"] == "DESIGN_MANAGED"
    assert env["path"] == str(envs.config.data_dir / "code-envs" / "python" / "analytics")
    assert env["desc"]["pythonInterpreter"] == "PYTHON311" and env["desc"]["owner"] == "admin"
    assert env["actualPackageList"].splitlines() == ["lkcore==1.0", "lkdemo-a==1.0", "lkdemo-b==2.0"]
    assert env["pythonVersion"].startswith("3.11.")
    assert "versions" not in env  # the official client would take it for an automation env

    python = env_python(envs, "analytics")
    assert run_in_env(python, "import lkdemo_b, lkcore, sys; print(lkdemo_b.hello(), sys.prefix)") == (
        f"ba {python.parent.parent}"
    )
    # Built with --compile-bytecode: the host's PYTHONDONTWRITEBYTECODE would leave none.
    site = next(python.parent.parent.glob("lib/python3.11/site-packages"))
    assert list((site / "lkdemo_b" / "__pycache__").glob("*.pyc"))

    listed = envs.admin.get("/admin/code-envs/").json()
    assert [(e["envLang"], e["envName"], e["state"]) for e in listed] == [("PYTHON", "analytics", "READY")]


def test_update_makes_the_env_match_its_spec_and_a_forced_update_rebuilds(envs: Instance) -> None:
    create(envs.admin, "etl", specPackageList="lkdemo-b")
    save(envs.admin, "etl", specPackageList="lkdemo-c")
    report = update(envs.admin, "etl").json()
    assert report["messages"]["error"] is False, report
    assert definition(envs.admin, "etl")["actualPackageList"] == "lkdemo-c==0.5"  # b and a are gone
    python = env_python(envs, "etl")
    marker = python.parent.parent / "left-by-the-old-env"
    marker.write_text("x")
    report = update(envs.admin, "etl", force=True).json()
    assert report["messages"]["error"] is False, report
    assert not marker.exists(), "a forced update rebuilds the env from scratch"
    assert run_in_env(python, "import lkdemo_c; print(lkdemo_c.VALUE)") == "42"

    logs = envs.admin.get("/admin/code-envs/python/etl/logs").json()
    assert [log["mode"] for log in logs] == ["rebuild", "update", "create"]  # newest first
    text = envs.admin.get(f"/admin/code-envs/python/etl/logs/{logs[0]['name']}").text
    assert "uv venv" in text and "uv pip install" in text and "lkdemo-c==0.5" in text
    assert "is ready" in text.splitlines()[-1]
    assert envs.admin.get("/admin/code-envs/python/etl/logs/..%2F..%2Flabkeeper.db").status_code == 404


def test_an_empty_spec_empties_the_env(envs: Instance) -> None:
    create(envs.admin, "tmp", specPackageList="lkdemo-c")
    save(envs.admin, "tmp", specPackageList="")
    assert update(envs.admin, "tmp").json()["messages"]["error"] is False
    assert definition(envs.admin, "tmp")["actualPackageList"] == ""


def test_a_failed_build_reports_why_and_leaves_the_env_broken(envs: Instance) -> None:
    report = create(envs.admin, "bad", specPackageList="no-such-package-anywhere")
    assert report["messages"]["error"] is True and report["error"] is True
    message = report["messages"]["messages"][0]
    assert message["severity"] == "ERROR" and "no-such-package-anywhere" in message["message"]
    env = definition(envs.admin, "bad")
    assert env["state"] == "BROKEN" and "no-such-package-anywhere" in env["lastBuildError"]
    log = envs.admin.get(
        f"/admin/code-envs/python/bad/logs/{envs.admin.get('/admin/code-envs/python/bad/logs').json()[0]['name']}"
    )
    assert "no-such-package-anywhere" in log.text and "build failed" in log.text

    # wait=false: the future fails, and its non-peek state says why
    save(envs.admin, "bad", specPackageList="lkdemo-a\nstill-missing-package")
    job = update(envs.admin, "bad", wait=False).json()["jobId"]
    state = wait_state(envs.admin, job, lambda s: not s["alive"])
    assert "still-missing-package" in state["error"]
    answer = envs.admin.get(f"/futures/{job}")
    assert answer.status_code >= 400 and "still-missing-package" in answer.json()["detailedMessage"]

    # a later update repairs it
    save(envs.admin, "bad", specPackageList="lkdemo-a")
    assert update(envs.admin, "bad").json()["messages"]["error"] is False
    assert definition(envs.admin, "bad")["state"] == "READY"


def test_builds_ignore_the_hosts_pip_and_uv_configuration(
    envs: Instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Variables that would redirect or break an install if they reached uv.
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("lkdemo-a==9.9\n")
    monkeypatch.setenv("UV_CONSTRAINT", str(constraints))
    monkeypatch.setenv("UV_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("UV_NO_BINARY", "1")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_CONSTRAINT", str(constraints))
    config_dir = tmp_path / "xdg"
    (config_dir / "uv").mkdir(parents=True)
    (config_dir / "uv" / "uv.toml").write_text('constraint-dependencies = ["lkdemo-a==9.9"]\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_dir))
    report = create(envs.admin, "isolated", specPackageList="lkdemo-b")
    assert report["messages"]["error"] is False, report
    assert "lkdemo-a==1.0" in definition(envs.admin, "isolated")["actualPackageList"]


def test_settings_round_trip_keeps_unknown_fields_and_ignores_computed_ones(envs: Instance) -> None:
    create(envs.admin, "keep")
    settings = definition(envs.admin, "keep")
    settings["desc"]["customFlag"] = "kept"
    settings["myOwnField"] = {"a": 1}
    settings["path"] = "/somewhere/else"
    settings["actualPackageList"] = "forged==1.0"
    settings["specCondaEnvironment"] = "numpy\n"
    answer = envs.admin.put("/admin/code-envs/python/keep", json=settings)
    assert answer.status_code == 200, answer.text
    env = definition(envs.admin, "keep")
    assert env["desc"]["customFlag"] == "kept" and env["myOwnField"] == {"a": 1}
    assert env["path"].endswith("/code-envs/python/keep") and env["actualPackageList"] == ""
    assert env["specCondaEnvironment"] == "numpy\n"


def test_builds_get_a_uv_they_can_run_when_the_installed_one_is_out_of_their_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """labkeeper installed under a private folder (say /root): builds, which run as
    a build slot account (labkeeper-build-<n>), get a copy of uv in the data dir's run/ tree."""
    if os.geteuid() != 0:
        pytest.skip("builds switch accounts only when labkeeper runs as root")
    from uv import find_uv_bin

    from labkeeper.codeenvs import sandbox
    from labkeeper.isolation.accounts import build_slot_account

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    hidden_uv = private / "uv"
    shutil.copy2(find_uv_bin(), hidden_uv)
    monkeypatch.setattr(sandbox, "find_uv_bin", lambda: str(hidden_uv))
    data_dir = reachable_tmp_dir("lk-uv-") / "data"
    data_dir.mkdir(mode=0o711)
    try:
        uv = sandbox.runnable_uv(data_dir)
        assert uv == str(data_dir / "run" / "tools" / "uv")
        assert sandbox.blocked_for_builds(hidden_uv) is not None
        assert sandbox.blocked_for_builds(uv) is None
        account = build_slot_account(1)
        done = subprocess.run(
            [uv, "--version"], capture_output=True, text=True, user=account.uid, group=account.gid
        )
        assert done.returncode == 0 and done.stdout.startswith("uv "), done.stderr
        assert sandbox.runnable_uv(data_dir) == uv  # reused, not copied again
    finally:
        shutil.rmtree(data_dir.parent, ignore_errors=True)
