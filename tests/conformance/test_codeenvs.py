"""The official client against labkeeper's code envs: the DSS documentation's two examples
run unchanged (the package index pointed at a local wheelhouse), then the rest of the API."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from dataikuapi.dss.admin import DSSCodeEnv, DSSDesignCodeEnvSettings
from dataikuapi.dss.future import DSSFuture
from dataikuapi.utils import DataikuException

from labkeeper.codeenvs import interpreters
from labkeeper.codeenvs.sandbox import blocked_for_builds
from tests.codeenvs.conftest import index_settings
from tests.codeenvs.conftest import wheelhouse as wheelhouse  # noqa: F401 - session fixture


@pytest.fixture
def client(dss, wheelhouse: Path):  # type: ignore[no-untyped-def]  # noqa: F811
    """The official client, on an instance whose builds install from the local wheelhouse."""
    settings = dss.get_general_settings()
    settings.get_raw()["codeEnvs"].update(index_settings(wheelhouse))
    settings.save()
    return dss


def env_python(live, name: str) -> Path:  # type: ignore[no-untyped-def]
    return live.config.data_dir / "code-envs" / "python" / name / "bin" / "python"


def run(python: Path, code: str) -> str:
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_documented_example_code_env_with_default_python_without_jupyter_support(client, live) -> None:  # type: ignore[no-untyped-def]
    # Create the code env
    code_env = client.create_code_env("PYTHON", "my_code_env_name", "DESIGN_MANAGED")

    # Setup packages to install
    definition = code_env.get_settings()
    definition.settings["desc"]["installCorePackages"] = True

    # We want to install 2 packages (tabulate and nameparser)
    definition.settings["specPackageList"] = "tabulate\nnameparser"

    # Save the new settings
    definition.save()

    # Actually perform the installation
    code_env.update_packages()

    python = env_python(live, "my_code_env_name")
    assert run(python, "import tabulate, nameparser, lkcore; print('ok')") == "ok"
    raw = code_env.get_definition()
    assert raw["state"] == "READY" and raw["path"] == str(python.parent.parent)
    packages = raw["actualPackageList"].splitlines()
    assert any(p.startswith("tabulate==") for p in packages) and any(
        p.startswith("nameparser==") for p in packages
    )
    assert "lkcore==1.0" in packages  # installCorePackages: the core set of the general settings


def _specific_python() -> str:
    """The documented example's PYTHON310, unless builds cannot run it here (as root, builds
    run unprivileged, and a Python under /root is closed to them): then PYTHON311."""
    found = interpreters.available().get("PYTHON310")
    return "PYTHON310" if found and blocked_for_builds(found.path) is None else "PYTHON311"


SPECIFIC_PYTHON = _specific_python()


def test_documented_example_code_env_with_specific_python_version_with_jupyter_support(client, live) -> None:  # type: ignore[no-untyped-def]
    # Create the code env
    code_env = client.create_code_env(
        "PYTHON", "my_code_env_name", "DESIGN_MANAGED", {"pythonInterpreter": SPECIFIC_PYTHON}
    )

    # Setup packages to install
    definition = code_env.get_settings()
    definition.settings["desc"]["installCorePackages"] = True
    definition.settings["desc"]["installJupyterSupport"] = True

    # We want to install 2 packages (tabulate and nameparser)
    definition.settings["specPackageList"] = "tabulate\nnameparser"

    # Save the new settings
    definition.save()

    # Actually perform the installation
    code_env.update_packages()
    code_env.set_jupyter_support(True)

    python = env_python(live, "my_code_env_name")
    code = "import sys, tabulate, nameparser, ipykernel; print(sys.version_info[:2])"
    assert run(python, code) == f"(3, {SPECIFIC_PYTHON.removeprefix('PYTHON3')})"
    kernel = live.config.data_dir / "jupyter" / "kernels" / "py-dku-venv-my_code_env_name" / "kernel.json"
    assert kernel.is_file() and str(python) in kernel.read_text()


def test_the_rest_of_the_code_env_api(client, live) -> None:  # type: ignore[no-untyped-def]
    code_env = client.create_code_env("PYTHON", "rest", "DESIGN_MANAGED", {"installCorePackages": True})
    assert isinstance(code_env, DSSCodeEnv)
    [listed] = client.list_code_envs(as_objects=True)
    assert (listed.env_lang, listed.env_name) == ("PYTHON", "rest")
    assert client.list_code_envs()[0]["envName"] == "rest"

    settings = code_env.get_settings()
    assert isinstance(settings, DSSDesignCodeEnvSettings)
    settings.set_required_packages("lkdemo-b", "tabulate")
    settings.save()
    assert code_env.get_settings().get_required_packages(as_list=True) == ["lkdemo-b", "tabulate"]
    report = code_env.update_packages()
    assert report["messages"]["error"] is False and report["messages"]["messages"]
    assert report["anyMessage"] is True and report["success"] is True

    # wait=False: a future whose result is the report
    future = code_env.update_packages(force_rebuild_env=True, wait=False)
    assert isinstance(future, DSSFuture) and future.job_id
    assert future.wait_for_result()["messages"]["success"] is True
    future = client.create_code_env("PYTHON", "later", "DESIGN_MANAGED", wait=False)
    assert future.wait_for_result()["envName"] == "later"

    logs = code_env.list_logs()
    assert len(logs) == 3 and all("name" in log for log in logs)
    assert "uv pip install" in code_env.get_log(logs[0]["name"])
    assert code_env.list_usages() == []
    assert client.list_code_env_usages() == []

    # A failed build: the client raises with the server's messages.
    settings = code_env.get_settings()
    settings.set_required_packages("no-such-package-at-all")
    settings.save()
    with pytest.raises(Exception, match="no-such-package-at-all"):
        code_env.update_packages()
    assert code_env.get_definition()["state"] == "BROKEN"
    with pytest.raises(DataikuException, match="already exists"):
        client.create_code_env("PYTHON", "rest", "DESIGN_MANAGED")
    with pytest.raises(DataikuException, match="option, not a requirement"):
        code_env.set_definition({**code_env.get_definition(), "specPackageList": "-r /etc/passwd"})

    # Used by a project: refused, listing the usage; the definition is still there.
    project = client.create_project("CHURN", "Churn", "admin")
    project_settings = project.get_settings()
    project_settings.get_raw()["settings"]["codeEnvs"]["python"] = {"mode": "EXPLICIT_ENV", "envName": "rest"}
    project_settings.save()
    assert [u["projectKey"] for u in code_env.list_usages()] == ["CHURN"]
    with pytest.raises(DataikuException, match="CHURN"):
        code_env.delete()
    project_settings.get_raw()["settings"]["codeEnvs"]["python"] = {"mode": "INHERIT"}
    project_settings.save()
    assert code_env.delete()["messages"]["error"] is False
    with pytest.raises(DataikuException):
        code_env.get_definition()
    assert [e["envName"] for e in client.list_code_envs()] == ["later"]
