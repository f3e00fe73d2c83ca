"""Code envs from the console: the list with state and usages, the spec editor, builds and
deletion, each through codeenvs/service.py as the API's routes call it. Builds are
submitted as futures and not waited for: the env's page follows the build log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.datastructures import FormData

from labkeeper.auth.principal import Principal
from labkeeper.codeenvs import interpreters, service
from labkeeper.db import Store
from labkeeper.errors import LabkeeperError
from labkeeper.futures.runner import TaskRunner

LANG = "PYTHON"
MAX_LOG_CHARS = 200_000


def listing(store: Store, principal: Principal) -> dict[str, Any]:
    envs, _settled = service.list_envs(store, principal)
    usages, _stamp = service.list_all_usages(store, principal)
    counts: dict[tuple[str, str], int] = {}
    for usage in usages:
        key = (usage.get("envLang", LANG), usage.get("envName", ""))
        counts[key] = counts.get(key, 0) + 1
    for env in envs:
        env["usageCount"] = counts.get((env["envLang"], env["envName"]), 0)
    return {
        "envs": envs,
        "interpreters": sorted(interpreters.available()),
        "may_create": principal.has("mayCreateCodeEnvs"),
    }


def detail(store: Store, principal: Principal, data_dir: Path, lang: str, name: str) -> dict[str, Any]:
    definition, _settled = service.get_definition(store, principal, lang, name)
    usages, _stamp = service.list_usages(store, principal, lang, name)
    log_name, log_text = "", ""
    try:
        logs = service.env_logs(store, principal, data_dir, lang, name)
    except LabkeeperError:
        logs = []  # the viewer may use the env but not read its build logs
    if logs:
        newest = max(logs, key=lambda item: (item.get("lastModified") or 0, item["name"]))
        log_name = newest["name"]
        log_text = service.env_log(store, principal, data_dir, lang, name, log_name)[-MAX_LOG_CHARS:]
    return {"env": definition, "usages": usages, "log_name": log_name, "log_text": log_text}


def create(
    store: Store, runner: TaskRunner, principal: Principal, data_dir: Path, form: FormData
) -> tuple[str, str]:
    name = form.get("name", "")
    params: dict[str, Any] = {
        "deploymentMode": "DESIGN_MANAGED",
        "specPackageList": form.get("spec", ""),
        "installJupyterSupport": form.get("jupyter") == "on",
    }
    if form.get("interpreter"):
        params["pythonInterpreter"] = form.get("interpreter")
    token, mode = service.create_env(store, principal, data_dir=data_dir, lang=LANG, name=name, params=params)
    task_id = service.submit(
        runner, store, principal, data_dir=data_dir, lang=LANG, name=name, token=token, mode=mode
    )
    return name, task_id


def save_spec_and_update(
    store: Store, runner: TaskRunner, principal: Principal, data_dir: Path, lang: str, name: str, spec: str
) -> str:
    service.save_settings(store, principal, lang, name, {"specPackageList": spec})
    token, mode = service.start_update(store, principal, lang, name, force=False)
    return service.submit(
        runner, store, principal, data_dir=data_dir, lang=lang, name=name, token=token, mode=mode
    )


def delete(
    store: Store, runner: TaskRunner, principal: Principal, data_dir: Path, lang: str, name: str
) -> str:
    """Refused (409, with the usages named) while the env is used, as DELETE without force."""
    token = service.start_delete(store, principal, lang, name, force=False)
    return service.submit(
        runner, store, principal, data_dir=data_dir, lang=lang, name=name, token=token, mode="delete"
    )
