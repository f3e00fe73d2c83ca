"""A user who may create code envs (or update someone's) tries to make a build fetch code
from somewhere else than the admin's package index: every spelling of a direct reference is
refused with a 400 naming the line, at save and again at build time."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkeeper.codeenvs.models import CodeEnv
from tests.codeenvs.conftest import wheelhouse  # noqa: F401 - the fixture
from tests.codeenvs.helpers import configure, create, definition, update
from tests.conftest import Instance

DIRECT_REFERENCES = [
    "lkdemo-a @ file:///tmp/evil",
    "lkdemo-a@file:///tmp/evil",
    "lkdemo-a @ https://evil.example/lkdemo_a-1.0-py3-none-any.whl",
    "lkdemo-a @ https://user:hunter22@evil.example/x.whl",
    "lkdemo-a @ git+https://evil.example/repo.git@main",
    "lkdemo-a @ ./local-folder",
    "lkdemo-a[extra] @ file:///tmp/evil ; python_version >= '3'",
    "./pkg",
    "../pkg",
    ".",
    "/abs/pkg",
    "~/pkg",
    "https://evil.example/lkdemo_a-1.0-py3-none-any.whl",
    "http://evil.example/lkdemo-a-1.0.tar.gz",
    "file:///tmp/evil",
    "file:/tmp/evil",
    "git+https://evil.example/repo.git",
    "git+ssh://git@evil.example/repo.git#egg=lkdemo-a",
    "hg+https://evil.example/repo",
    "svn+https://evil.example/repo",
    "bzr+https://evil.example/repo",
    "lkdemo_a-1.0-py3-none-any.whl",
    "evil.tar.gz",
]
EDITABLE = ["-e ./pkg", "-e git+https://evil.example/repo.git#egg=x", "--editable=/tmp/evil", "-e/tmp/evil"]


@pytest.fixture
def envs(instance: Instance, wheelhouse: Path) -> Instance:  # noqa: F811
    configure(instance, wheelhouse)
    return instance


def hostile(instance: Instance) -> object:
    key = instance.make_user("mallory", ["builders"], group_permissions={"mayCreateCodeEnvs": True})
    return instance.client(key)


def assert_refused(answer: object, line: str) -> None:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["errorType"] == "BadRequestException"
    assert "line 1" in body["message"], body
    assert set(body) >= {"errorType", "message", "detailedMessage"}


@pytest.mark.parametrize("line", DIRECT_REFERENCES)
def test_creating_an_env_with_a_direct_reference_is_refused(envs: Instance, line: str) -> None:
    mallory = hostile(envs)
    answer = mallory.post(
        "/admin/code-envs/PYTHON/evil",
        params={"wait": "false"},
        json={"deploymentMode": "DESIGN_MANAGED", "specPackageList": line},
    )
    assert_refused(answer, line)
    assert "hunter22" not in answer.text  # credentials in a refused line are masked too
    assert envs.admin.get("/admin/code-envs/python/evil").status_code == 404


@pytest.mark.parametrize("line", EDITABLE)
def test_editable_installs_stay_refused_when_pip_options_are_allowed(
    envs: Instance,
    wheelhouse: Path,  # noqa: F811
    line: str,
) -> None:
    configure(envs, wheelhouse, allowPipOptionsInSpec=True)
    answer = hostile(envs).post(
        "/admin/code-envs/PYTHON/evil",
        params={"wait": "false"},
        json={"deploymentMode": "DESIGN_MANAGED", "specPackageList": line},
    )
    assert_refused(answer, line)
    assert "allowDirectReferences" in answer.json()["message"]


@pytest.mark.parametrize(
    "line",
    ["lkdemo-a @ file:///tmp/evil", "git+https://evil.example/r.git", "./pkg", "x.whl"],
)
def test_saving_a_direct_reference_into_an_env_one_may_update_is_refused(envs: Instance, line: str) -> None:
    create(envs.admin, "shared", specPackageList="lkdemo-a")
    key = envs.make_user("mallory", ["editors"])
    envs.admin.put(
        "/admin/code-envs/python/shared",
        json={**definition(envs.admin, "shared"), "permissions": [{"group": "editors", "update": True}]},
    )
    mallory = envs.client(key)
    settings = definition(mallory, "shared")
    settings["specPackageList"] = f"{line}\nlkdemo-c"
    answer = mallory.put("/admin/code-envs/python/shared", json=settings)
    assert_refused(answer, line)
    assert definition(envs.admin, "shared")["specPackageList"] == "lkdemo-a"


def test_a_direct_reference_stored_earlier_is_refused_when_the_build_starts(envs: Instance) -> None:
    create(envs.admin, "old", specPackageList="lkdemo-a")
    with envs.store.begin() as s:  # as if saved before the rule existed
        s.get(CodeEnv, ("PYTHON", "old")).spec_package_list = "lkdemo-c @ file:///tmp/evil"
    answer = update(envs.admin, "old")
    assert answer.status_code == 400, answer.text
    assert "direct reference" in answer.json()["message"]


def test_only_the_admin_setting_allows_direct_references(envs: Instance, wheelhouse: Path) -> None:  # noqa: F811
    wheel = wheelhouse / "lkdemo_c-0.5-py3-none-any.whl"
    line = f"lkdemo-c @ {wheel.as_uri()}"
    mallory = hostile(envs)
    refused = mallory.post(
        "/admin/code-envs/PYTHON/direct", json={"specPackageList": line, "deploymentMode": "DESIGN_MANAGED"}
    )
    assert_refused(refused, line)

    bad = envs.admin.get("/admin/general-settings").json()
    bad["codeEnvs"]["allowDirectReferences"] = "yes"
    answer = envs.admin.put("/admin/general-settings", json=bad)
    assert answer.status_code == 400 and "allowDirectReferences" in answer.json()["message"]

    configure(envs, wheelhouse, allowDirectReferences=True)
    # ... and requirements with markers and extras stay plain requirements
    spec = f"{line}\nlkdemo-a ; python_version >= '3'\nlkdemo-b[anything]>=1.0,<3  # a comment"
    report = create(mallory, "direct", specPackageList=spec)
    assert report["messages"]["error"] is False, report
    packages = definition(mallory, "direct")["actualPackageList"]
    assert "lkdemo-c==0.5" in packages and "lkdemo-b==2.0" in packages
