"""Shared by the kernel security tests: a hostile project member against a real server.

The data dir is world-traversable (tests.isolation.conftest `config`), kernels are real
ipykernels of the shared runtime, UNIX accounts are real (`unix_user`).
"""

from __future__ import annotations

from typing import Any

from tests.conftest import Instance
from tests.helpers import wait_for
from tests.isolation.conftest import RUNTIME_KERNEL, SAFE_CODE, UNSAFE_CODE, register_runtime_env
from tests.jupyter.helpers import notebook

__all__ = [
    "RUNTIME_KERNEL",
    "SAFE_CODE",
    "UNSAFE_CODE",
    "register_runtime_env",
    "member",
    "project",
    "run_and_wait",
    "outputs_text",
]
KEY = "SEC"
NB = f"/projects/{KEY}/jupyter-notebooks"


def project(instance: Instance, *groups: str) -> None:
    """Project SEC, writable by `groups` (created here, without permissions)."""
    for group in groups:
        if instance.admin.get(f"/admin/groups/{group}").status_code == 404:
            assert instance.admin.post("/admin/groups/", json={"name": group}).status_code == 200
    assert instance.admin.post("/projects/", json={"projectKey": KEY, "name": KEY}).status_code == 200
    perms = instance.admin.get(f"/projects/{KEY}/permissions").json()
    perms["permissions"] += [{"group": g, "writeProjectContent": True} for g in groups]
    assert instance.admin.put(f"/projects/{KEY}/permissions", json=perms).status_code == 204


def member(instance: Instance, login: str, group: str, permissions: dict[str, bool] | None = None) -> Any:
    """A project writer (member of `group`, made by `project`) whose group holds `permissions`."""
    client = instance.client(instance.make_user(login, [group]))
    set_group_permissions(instance, group, **(permissions or {}))
    return client


def set_group_permissions(instance: Instance, group: str, **flags: bool) -> None:
    doc = instance.admin.get(f"/admin/groups/{group}").json()
    doc.update(flags)
    answer = instance.admin.put(f"/admin/groups/{group}", json=doc)
    assert answer.status_code in (200, 204), answer.text


def put_notebook(client: Any, name: str, *sources: str, kernel: str = "python3") -> None:
    answer = client.post(f"{NB}/{name}", json=notebook(*sources, kernel=kernel))
    assert answer.status_code == 200, answer.text


def run_and_wait(client: Any, name: str, timeout: float = 120.0) -> dict[str, Any]:
    answer = client.post(f"{NB}/{name}/actions/run", json={})
    assert answer.status_code == 200, answer.text
    job = answer.json()["jobId"]
    return wait_for(
        lambda: (s := client.get(f"/futures/{job}", params={"peek": "true"}).json()) and not s["alive"] and s,
        timeout=timeout,
    )


def outputs_text(client: Any, name: str) -> list[str]:
    cells = client.get(f"{NB}/{name}").json()["cells"]
    return ["".join(o.get("text", "") for o in c["outputs"]) for c in cells]
