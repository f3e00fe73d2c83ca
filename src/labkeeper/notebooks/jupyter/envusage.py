"""Notebooks as code env usages: a notebook whose kernelspec selects an env uses that env.

Registered with `codeenvs.usages` when the Jupyter component starts, so deleting an env a
notebook still names is refused (409) unless forced, and `/admin/code-envs/usages` lists
them. The env is found the way a session start finds it (`KernelSpecs.env_of_dir`, whatever
case the notebook spells the kernel name in); a notebook naming the kernel of an env whose
kernelspec is gone (Jupyter support turned off) still counts, matched by the name rule.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from labkeeper.db import Store
from labkeeper.errors import BadRequest
from labkeeper.notebooks.jupyter import files
from labkeeper.notebooks.jupyter.kernels import CODEENV_KERNEL_PREFIX, KernelSpecs
from labkeeper.projects.models import Project
from labkeeper.server.answers import combined_stamp


def _env_of(specs: KernelSpecs, kernel: str, cache: dict[str, str | None]) -> str | None:
    if kernel not in cache:
        try:
            cache[kernel] = specs.code_env_of(kernel)
        except BadRequest:
            lowered = kernel.lower()
            cache[kernel] = (
                lowered[len(CODEENV_KERNEL_PREFIX) :] if lowered.startswith(CODEENV_KERNEL_PREFIX) else None
            )
    return cache[kernel]


def notebook_files_stamp(store: Store) -> tuple[Any, Any]:
    """The file stamp of every notebook `notebook_env_usages` reads (server/answers.py)."""
    from labkeeper.notebooks.jupyter.sessions import MANAGERS

    manager = MANAGERS.get(id(store))
    if manager is None:  # no notebook is read
        return (lambda: ()), ()
    with store.read() as s:
        project_keys = list(s.scalars(select(Project.key).order_by(Project.key)))
    # The kernelspecs too: they say which env a notebook's kernel runs in.
    specs = manager.specs.specs_stamp()
    return combined_stamp([specs, manager.notebooks.contents_stamp(project_keys)])


def notebook_env_usages(store: Store, *, env_lang: str | None, env_name: str | None) -> list[dict[str, Any]]:
    """The `codeenvs.usages` provider of the notebooks domain."""
    from labkeeper.notebooks.jupyter.sessions import MANAGERS

    manager = MANAGERS.get(id(store))
    if manager is None or (env_lang is not None and env_lang.upper() != "PYTHON"):
        return []
    with store.read() as s:
        project_keys = list(s.scalars(select(Project.key).order_by(Project.key)))
    cache: dict[str, str | None] = {}
    found = []
    for key in project_keys:
        for name in manager.notebooks.names(key):
            try:
                content = manager.notebooks.read(key, name)
                kernel = files.kernel_spec_of(content)["name"]
            except Exception:  # noqa: BLE001 - removed meanwhile or not JSON: not a notebook
                continue
            env = _env_of(manager.specs, str(kernel), cache)
            if env is None:
                continue
            if env_name is not None and env != env_name and env != env_name.lower():
                continue
            found.append(
                {
                    "envUsage": "NOTEBOOK",
                    "envLang": "PYTHON",
                    "envName": env_name or env,
                    "projectKey": key,
                    "objectType": "JUPYTER_NOTEBOOK",
                    "objectId": name,
                }
            )
    return found
