"""What code env requests may hold, and who may do what: every refusal says what to fix."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from uv import find_uv_bin

from labkeeper.codeenvs import interpreters
from tests.codeenvs.helpers import configure, create, definition, save, update
from tests.conftest import Instance


@pytest.fixture
def envs(instance: Instance, wheelhouse: Path) -> Instance:
    configure(instance, wheelhouse)
    return instance


def error(answer) -> str:  # type: ignore[no-untyped-def]
    body = answer.json()
    return f"{body['message']} {body['detailedMessage']}"


@pytest.mark.parametrize(
    "line",
    ["--index-url http://evil.example/simple", "-r /etc/passwd", "-e .", "--find-links=/tmp", "  -c x.txt"],
)
def test_a_spec_line_is_a_requirement_never_an_option(envs: Instance, line: str) -> None:
    answer = envs.admin.post(
        "/admin/code-envs/PYTHON/opts",
        json={"deploymentMode": "DESIGN_MANAGED", "specPackageList": f"lkdemo-a\n{line}"},
    )
    assert (
        answer.status_code == 400 and "line 2" in error(answer) and "allowPipOptionsInSpec" in error(answer)
    )
    assert envs.admin.get("/admin/code-envs/python/opts").status_code == 404  # nothing was written
    create(envs.admin, "opts")
    settings = definition(envs.admin, "opts")
    settings["specPackageList"] = line
    answer = envs.admin.put("/admin/code-envs/python/opts", json=settings)
    assert answer.status_code == 400
    assert definition(envs.admin, "opts")["specPackageList"] == ""


def test_pip_options_are_honoured_once_an_admin_allows_them(envs: Instance, wheelhouse: Path) -> None:
    configure(envs, wheelhouse, allowPipOptionsInSpec=True)
    create(envs.admin, "opts")
    save(envs.admin, "opts", specPackageList=f"--find-links {wheelhouse}\nlkdemo-c")
    report = update(envs.admin, "opts").json()
    assert report["messages"]["error"] is False, report
    assert definition(envs.admin, "opts")["actualPackageList"] == "lkdemo-c==0.5"


def test_an_absent_interpreter_is_a_400_listing_those_present(
    envs: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    present = interpreters.available()
    answer = envs.admin.post(
        "/admin/code-envs/PYTHON/old",
        json={"deploymentMode": "DESIGN_MANAGED", "pythonInterpreter": "PYTHON27"},
    )
    assert answer.status_code == 400
    assert all(code in error(answer) for code in present)
    # An interpreter labkeeper knows of, but which this machine lacks.
    monkeypatch.setattr(interpreters, "_cache", {k: v for k, v in present.items() if k != "PYTHON39"})
    answer = envs.admin.post(
        "/admin/code-envs/PYTHON/old",
        json={"deploymentMode": "DESIGN_MANAGED", "pythonInterpreter": "PYTHON39"},
    )
    assert answer.status_code == 400 and "PYTHON39 is not installed" in error(answer)
    assert "PYTHON311" in error(answer) and "PYTHON39," not in error(answer)


def test_every_interpreter_present_maps_to_a_real_binary_of_its_version() -> None:
    for code, found in interpreters.available().items():
        assert "/shims/" not in found.path and Path(found.path).resolve() == Path(found.path)
        minor = code.removeprefix("PYTHON3")
        assert found.version.startswith(f"3.{minor}.")


def test_r_conda_unknown_modes_bad_names_and_bad_bodies_are_refused(envs: Instance) -> None:
    answer = envs.admin.post("/admin/code-envs/R/renv", json={"deploymentMode": "DESIGN_MANAGED"})
    assert answer.status_code == 400 and "R is not installed" in error(answer)
    answer = envs.admin.post(
        "/admin/code-envs/PYTHON/c", json={"deploymentMode": "DESIGN_MANAGED", "conda": True}
    )
    assert answer.status_code == 400 and "onda" in error(answer)
    answer = envs.admin.post("/admin/code-envs/PYTHON/c", json={"deploymentMode": "AUTOMATION_SINGLE"})
    assert answer.status_code == 400 and "DESIGN_MANAGED" in error(answer)
    answer = envs.admin.post("/admin/code-envs/COBOL/c", json={"deploymentMode": "DESIGN_MANAGED"})
    assert answer.status_code == 400 and "PYTHON or R" in error(answer)
    answer = envs.admin.post("/admin/code-envs/PYTHON/a..b", json={"deploymentMode": "DESIGN_MANAGED"})
    assert answer.status_code == 400 and "code env name" in error(answer)
    answer = envs.admin.post("/admin/code-envs/PYTHON/.hidden", json={"deploymentMode": "DESIGN_MANAGED"})
    assert answer.status_code == 400 and "code env name" in error(answer)
    answer = envs.admin.post("/admin/code-envs/PYTHON/c", content=b"[1, 2]")
    assert answer.status_code == 400
    answer = envs.admin.post(
        "/admin/code-envs/PYTHON/c", json={"deploymentMode": "DESIGN_MANAGED", "installCorePackages": "yes"}
    )
    assert answer.status_code == 400 and "installCorePackages" in error(answer)
    create(envs.admin, "c")
    assert create(envs.admin, "c", expect=409)["errorType"] == "ConflictException"
    settings = definition(envs.admin, "c")
    for bad in (
        {"desc": {**settings["desc"], "pythonInterpreter": "PYTHON312"}},
        {"desc": {**settings["desc"], "conda": True}},
        {"permissions": [{"group": "g", "use": "yes"}]},
        {"permissions": "everyone"},
        {"usableByAll": "true"},
        {"specPackageList": 12},
        {"desc": {**settings["desc"], "owner": "nobody-such"}},
    ):
        answer = envs.admin.put("/admin/code-envs/python/c", json={**settings, **bad})
        assert answer.status_code == 400, (bad, answer.text)
    assert definition(envs.admin, "c")["desc"] == settings["desc"]
    assert envs.admin.get("/admin/code-envs/python/nope").status_code == 404


def test_a_non_managed_env_is_registered_after_its_interpreter_is_checked(
    envs: Instance, tmp_path: Path
) -> None:
    outside = envs.config.data_dir.parent / "outside-env"  # reachable: builds check it unprivileged
    subprocess.run(
        [
            find_uv_bin(),
            "venv",
            "--no-config",
            "-q",
            "--python",
            interpreters.available()["PYTHON311"].path,  # one every account may run
            str(outside),
        ],
        check=True,
    )
    report = create(envs.admin, "external", deploymentMode="DESIGN_NON_MANAGED", path=str(outside))
    assert report["messages"]["error"] is False, report
    env = definition(envs.admin, "external")
    assert (
        env["state"] == "READY" and env["path"] == str(outside) and env["pythonVersion"].startswith("3.11.")
    )
    assert env["deploymentMode"] == "DESIGN_NON_MANAGED"

    broken = envs.config.data_dir.parent / "broken-env"
    (broken / "bin").mkdir(parents=True)
    (broken / "bin" / "python").write_text("#!/bin/sh\necho 'not python' >&2\nexit 3\n")
    (broken / "bin" / "python").chmod(0o755)
    report = create(envs.admin, "broken", deploymentMode="DESIGN_NON_MANAGED", path=str(broken))
    assert report["messages"]["error"] is True
    assert "not a working Python" in report["messages"]["messages"][0]["message"]
    assert definition(envs.admin, "broken")["state"] == "BROKEN"

    for path in (str(tmp_path / "missing"), "relative/path", str(tmp_path)):
        answer = envs.admin.post(
            "/admin/code-envs/PYTHON/x", json={"deploymentMode": "DESIGN_NON_MANAGED", "path": path}
        )
        assert answer.status_code == 400, path
    create(envs.admin, "inner")
    inside = envs.config.data_dir / "code-envs" / "python" / "inner"
    answer = envs.admin.post(
        "/admin/code-envs/PYTHON/x", json={"deploymentMode": "DESIGN_NON_MANAGED", "path": str(inside)}
    )
    assert answer.status_code == 400 and "inside labkeeper" in error(answer)

    # Deleting a non-managed env forgets it, and never touches its folder.
    assert envs.admin.delete("/admin/code-envs/python/external").json()["messages"]["error"] is False
    assert (outside / "bin" / "python").exists()


def test_rights_to_create_update_use_and_delete(envs: Instance, tmp_path: Path) -> None:
    creator = envs.client(
        envs.make_user("carla", ["builders"], group_permissions={"mayCreateCodeEnvs": True})
    )
    other = envs.client(envs.make_user("otto", ["analysts"]))
    updater = envs.client(envs.make_user("ulla", ["maintainers"]))
    manager = envs.client(
        envs.make_user("mona", ["envadmins"], group_permissions={"mayManageCodeEnvs": True})
    )

    assert (
        other.post("/admin/code-envs/PYTHON/x", json={"deploymentMode": "DESIGN_MANAGED"}).status_code == 403
    )
    answer = creator.post(
        "/admin/code-envs/PYTHON/x", json={"deploymentMode": "DESIGN_NON_MANAGED", "path": str(tmp_path)}
    )
    assert answer.status_code == 403  # registering a path needs an admin
    create(creator, "carlas", specPackageList="lkdemo-c")
    assert definition(creator, "carlas")["desc"]["owner"] == "carla"

    # Usable by all by default: others see it, but may not change it.
    assert definition(other, "carlas")["state"] == "READY"
    assert (
        other.put("/admin/code-envs/python/carlas", json={"specPackageList": "lkdemo-a"}).status_code == 403
    )
    assert update(other, "carlas").status_code == 403
    assert other.post("/admin/code-envs/python/carlas/jupyter", params={"active": "true"}).status_code == 403
    assert other.delete("/admin/code-envs/python/carlas").status_code == 403
    assert other.get("/admin/code-envs/python/carlas/logs").status_code == 403

    # Restricted to groups: use for analysts, update for maintainers.
    save(
        creator,
        "carlas",
        usableByAll=False,
        permissions=[{"group": "analysts", "use": True}, {"group": "maintainers", "update": True}],
    )
    assert definition(other, "carlas")["usableByAll"] is False
    assert [e["envName"] for e in other.get("/admin/code-envs/").json()] == ["carlas"]
    assert update(other, "carlas").status_code == 403
    assert update(updater, "carlas").json()["messages"]["error"] is False
    # ...but an updater may not widen who uses it.
    settings = definition(updater, "carlas")
    assert (
        updater.put("/admin/code-envs/python/carlas", json={**settings, "usableByAll": True}).status_code
        == 403
    )
    save(creator, "carlas", permissions=[])
    assert other.get("/admin/code-envs/python/carlas").status_code == 403
    assert other.get("/admin/code-envs/").json() == []
    assert other.get("/admin/code-envs/usages").status_code == 403

    # A manager may do anything, including deleting someone else's env.
    assert manager.delete("/admin/code-envs/python/carlas").json()["messages"]["error"] is False
    assert envs.admin.get("/admin/code-envs/").json() == []


def test_jupyter_support_needs_a_kernel_name_jupyter_accepts(envs: Instance) -> None:
    create(envs.admin, "with space")
    answer = envs.admin.post("/admin/code-envs/python/with space/jupyter", params={"active": "true"})
    assert answer.status_code == 400 and "kernel names" in error(answer)
    settings = definition(envs.admin, "with space")
    settings["desc"]["installJupyterSupport"] = True
    assert envs.admin.put("/admin/code-envs/python/with space", json=settings).status_code == 400
    answer = envs.admin.post(
        "/admin/code-envs/PYTHON/other space",
        json={"deploymentMode": "DESIGN_MANAGED", "installJupyterSupport": True},
    )
    assert answer.status_code == 400 and "kernel names" in error(answer)
