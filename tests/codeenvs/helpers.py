"""Helpers of the code env tests: configure the package index, start builds, watch them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.codeenvs.conftest import index_settings
from tests.conftest import Instance


def configure(instance: Instance, wheelhouse: Path, **code_envs: object) -> None:
    settings = instance.admin.get("/admin/general-settings").json()
    settings["codeEnvs"].update(index_settings(wheelhouse, **code_envs))
    answer = instance.admin.put("/admin/general-settings", json=settings)
    assert answer.status_code in (200, 204), answer.text


def create(client: Any, name: str, *, wait: bool = True, expect: int = 200, **params: Any) -> dict[str, Any]:
    params.setdefault("deploymentMode", "DESIGN_MANAGED")
    answer = client.post(f"/admin/code-envs/PYTHON/{name}", params={"wait": str(wait)}, json=params)
    assert answer.status_code == expect, answer.text
    return answer.json()


def definition(client: Any, name: str) -> dict[str, Any]:
    answer = client.get(f"/admin/code-envs/python/{name}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def save(client: Any, name: str, **changes: Any) -> dict[str, Any]:
    settings = definition(client, name)
    for key, value in changes.items():
        if key == "desc":
            settings["desc"].update(value)
        else:
            settings[key] = value
    answer = client.put(f"/admin/code-envs/python/{name}", json=settings)
    assert answer.status_code == 200, answer.text
    return answer.json()


def update(client: Any, name: str, *, force: bool = False, wait: bool = True) -> Any:
    return client.post(
        f"/admin/code-envs/python/{name}/packages", params={"forceRebuildEnv": str(force), "wait": str(wait)}
    )


def wait_state(client: Any, job_id: str, predicate, timeout: float = 60.0) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(f"/futures/{job_id}", params={"peek": "true"}).json()
        if predicate(state) or time.monotonic() > deadline:
            return state
        time.sleep(0.02)


def env_python(instance: Instance, name: str) -> Path:
    return instance.config.data_dir / "code-envs" / "python" / name / "bin" / "python"


def wait_for_markers(data_dir: Path, count: int = 1, timeout: float = 60.0) -> list[Path]:
    """The markers of running sleepy builds: each writes one into its build's HOME."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(Path(data_dir).glob("run/builds/*/building-*"))
        if len(found) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"expected {count} sleepy builds to start within {timeout} s")
