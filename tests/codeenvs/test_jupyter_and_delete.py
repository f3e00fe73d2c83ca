"""Jupyter support (ipykernel installed, a kernelspec a real kernel starts from), usages
gathered from projects and pluggable providers, and deletion."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

from tests.codeenvs.helpers import configure, create, definition, env_python, save, update
from tests.conftest import Instance


@pytest.fixture
def envs(instance: Instance, wheelhouse: Path) -> Instance:
    configure(instance, wheelhouse)
    return instance


def run_in_kernel(kernels: Path, kernel_name: str, code: str) -> str:
    manager = KernelManager(
        kernel_name=kernel_name, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    out: list[str] = []
    try:
        client.wait_for_ready(timeout=60)

        def collect(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])

        reply = client.execute_interactive(code, output_hook=collect, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return "".join(out).strip()


def test_jupyter_support_registers_a_kernel_that_runs_in_the_env_and_delete_removes_it(
    envs: Instance,
) -> None:
    data = envs.config.data_dir
    create(envs.admin, "nb", specPackageList="tabulate")
    answer = envs.admin.post("/admin/code-envs/python/nb/jupyter", params={"active": "True"})
    assert answer.json()["messages"]["error"] is False, answer.text
    env = definition(envs.admin, "nb")
    assert env["desc"]["installJupyterSupport"] is True
    assert env["jupyterKernel"] == {"name": "py-dku-venv-nb", "active": True}
    installed = env["actualPackageList"]
    assert "ipykernel==" in installed and "httpx==" in installed and "tabulate==" in installed

    spec_file = data / "jupyter" / "kernels" / "py-dku-venv-nb" / "kernel.json"
    python = env_python(envs, "nb")
    assert json.loads(spec_file.read_text()) == {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (env nb)",
        "language": "python",
        "metadata": {"labkeeper": {"codeEnv": "nb"}},
    }
    code = "import sys, tabulate; print(sys.prefix, tabulate.__name__)"
    assert (
        run_in_kernel(data / "jupyter" / "kernels", "py-dku-venv-nb", code)
        == f"{python.parent.parent} tabulate"
    )

    # An update keeps Jupyter support: the Jupyter packages belong to the env's spec now.
    assert update(envs.admin, "nb").json()["messages"]["error"] is False
    assert spec_file.exists() and "ipykernel==" in definition(envs.admin, "nb")["actualPackageList"]

    # Deactivating removes the kernelspec (and the next update the packages, see test_builds).
    answer = envs.admin.post("/admin/code-envs/python/nb/jupyter", params={"active": "false"})
    assert answer.json()["messages"]["error"] is False
    assert not spec_file.exists() and definition(envs.admin, "nb")["jupyterKernel"]["active"] is False
    assert definition(envs.admin, "nb")["desc"]["installJupyterSupport"] is False

    # Delete removes the env, its kernelspec and its logs.
    envs.admin.post("/admin/code-envs/python/nb/jupyter", params={"active": "true"})
    assert spec_file.exists()
    report = envs.admin.delete("/admin/code-envs/python/nb").json()
    assert report["messages"]["error"] is False
    assert not spec_file.parent.exists() and not python.parent.parent.exists()
    assert not (data / "code-envs" / "logs" / "python" / "nb").exists()
    assert envs.admin.get("/admin/code-envs/python/nb").status_code == 404
    assert list((data / "code-envs" / "python").iterdir()) == []  # no leftovers of the deletion


def test_jupyter_support_of_a_non_managed_env_needs_ipykernel_already_there(
    envs: Instance, tmp_path: Path
) -> None:
    outside = envs.config.data_dir.parent / "outside"  # reachable: builds check it unprivileged
    create(envs.admin, "donor", specPackageList="lkdemo-a")
    shutil.copytree(envs.config.data_dir / "code-envs" / "python" / "donor", outside, symlinks=True)
    create(envs.admin, "ext", deploymentMode="DESIGN_NON_MANAGED", path=str(outside))
    report = envs.admin.post("/admin/code-envs/python/ext/jupyter", params={"active": "true"}).json()
    assert report["messages"]["error"] is True
    assert "ipykernel" in report["messages"]["messages"][0]["message"]
    assert not (envs.config.data_dir / "jupyter" / "kernels" / "py-dku-venv-ext").exists()


def make_project(instance: Instance, key: str, env_name: str) -> None:
    answer = instance.admin.post("/projects/", json={"projectKey": key, "name": key, "owner": "admin"})
    assert answer.status_code == 200, answer.text
    settings = instance.admin.get(f"/projects/{key}/settings").json()
    settings["settings"].setdefault("codeEnvs", {})["python"] = {"mode": "EXPLICIT_ENV", "envName": env_name}
    answer = instance.admin.put(f"/projects/{key}/settings", json=settings)
    assert answer.status_code in (200, 204), answer.text


def test_an_env_still_used_is_not_deleted_unless_forced(envs: Instance) -> None:
    create(envs.admin, "shared")
    create(envs.admin, "spare")
    make_project(envs, "CHURN", "shared")
    used = envs.admin.get("/admin/code-envs/python/shared/usages").json()
    assert [(u["envUsage"], u["projectKey"], u["objectId"]) for u in used] == [("PROJECT", "CHURN", "CHURN")]
    everything = envs.admin.get("/admin/code-envs/usages").json()
    assert {(u["envName"], u["projectKey"]) for u in everything} == {("shared", "CHURN")}
    answer = envs.admin.delete("/admin/code-envs/python/shared")
    assert answer.status_code == 409 and "CHURN" in answer.json()["detailedMessage"]
    assert definition(envs.admin, "shared")["state"] == "READY"

    # A notebook whose kernel runs in an env is a usage, registered by the notebooks domain.
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "py-dku-venv-spare", "display_name": "spare", "language": "python"}
        },
        "cells": [],
    }
    assert envs.admin.post("/projects/CHURN/jupyter-notebooks/explore", json=nb).status_code == 200
    answer = envs.admin.delete("/admin/code-envs/python/spare")
    assert answer.status_code == 409 and "notebook CHURN/explore" in answer.json()["detailedMessage"]
    assert len(envs.admin.get("/admin/code-envs/usages").json()) == 2

    report = envs.admin.delete("/admin/code-envs/python/shared", params={"force": "true"}).json()
    assert report["messages"]["error"] is False
    assert envs.admin.get("/admin/code-envs/python/shared").status_code == 404


def test_wait_false_answers_a_future_whose_result_is_the_report(envs: Instance) -> None:
    from tests.codeenvs.helpers import wait_state

    future = create(envs.admin, "later", wait=False, specPackageList="lkdemo-c")
    assert future["jobId"] and future["hasResult"] is False and "messages" not in future
    wait_state(envs.admin, future["jobId"], lambda s: not s["alive"])
    result = envs.admin.get(f"/futures/{future['jobId']}").json()["result"]
    assert result["messages"]["success"] is True and result["envName"] == "later"
    save(envs.admin, "later", specPackageList="lkdemo-a")
    job = update(envs.admin, "later", wait=False).json()["jobId"]
    wait_state(envs.admin, job, lambda s: not s["alive"])
    assert definition(envs.admin, "later")["actualPackageList"] == "lkdemo-a==1.0"
