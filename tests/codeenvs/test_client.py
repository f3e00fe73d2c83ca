"""labkeeper's own client for code envs, against a live instance building real envs."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkeeper.client import (
    CodeEnvOperationError,
    ConflictError,
    DSSClient,
    DSSCodeEnv,
    DSSDesignCodeEnvSettings,
    DSSFuture,
    NotFoundError,
)
from labkeeper.config import Config
from tests.codeenvs.conftest import index_settings
from tests.codeenvs.helpers import wait_for_markers
from tests.conftest import ADMIN_KEY


@pytest.fixture
def lk(live, wheelhouse: Path):  # type: ignore[no-untyped-def]
    with DSSClient(live.url, ADMIN_KEY) as client:
        settings = client.get_general_settings()
        settings.get_raw()["codeEnvs"].update(index_settings(wheelhouse))
        settings.save()
        yield client


def test_code_env_handles_settings_builds_and_logs(lk: DSSClient) -> None:
    env = lk.create_code_env("PYTHON", "mine", "DESIGN_MANAGED", {"specPackageList": "lkdemo-a"})
    assert isinstance(env, DSSCodeEnv) and env.get_definition()["state"] == "READY"
    settings = env.get_settings()
    assert isinstance(settings, DSSDesignCodeEnvSettings) and settings.env_name == "mine"
    settings.set_required_packages("lkdemo-b")
    settings.settings["desc"]["installCorePackages"] = True
    settings.save()
    report = env.update_packages()
    assert report["messages"]["success"] is True
    assert env.get_definition()["actualPackageList"].splitlines() == [
        "lkcore==1.0",
        "lkdemo-a==1.0",
        "lkdemo-b==2.0",
    ]
    [listed] = lk.list_code_envs(as_objects=True)
    assert (listed.env_lang, listed.env_name) == ("PYTHON", "mine")
    logs = env.list_logs()
    assert [log["mode"] for log in logs] == ["update", "create"]
    assert "lkdemo-b" in env.get_log(logs[0]["name"])
    assert env.list_usages() == [] and lk.list_code_env_usages() == []

    settings.set_required_packages("nothing-like-this-exists")
    settings.save()
    with pytest.raises(CodeEnvOperationError, match="nothing-like-this-exists") as raised:
        env.update_packages()
    assert raised.value.report["messages"]["error"] is True
    future = env.update_packages(wait=False)
    assert isinstance(future, DSSFuture)
    with pytest.raises(Exception, match="nothing-like-this-exists"):
        future.wait_for_result(timeout=60)

    assert env.delete()["messages"]["success"] is True
    with pytest.raises(NotFoundError):
        env.get_definition()


def test_a_running_build_is_a_future_the_client_can_abort(lk: DSSClient, config: Config) -> None:
    future = lk.create_code_env(
        "PYTHON", "slow", "DESIGN_MANAGED", {"specPackageList": "lksleepy"}, wait=False
    )
    wait_for_markers(config.data_dir)
    with pytest.raises(ConflictError, match=future.job_id):
        lk.get_code_env("PYTHON", "slow").update_packages()
    assert [f["jobId"] for f in lk.list_futures()] == [future.job_id]
    future.abort()
    with pytest.raises(Exception, match="aborted"):
        future.wait_for_result(timeout=10)
    assert lk.get_code_env("PYTHON", "slow").get_definition()["state"] == "BROKEN"
