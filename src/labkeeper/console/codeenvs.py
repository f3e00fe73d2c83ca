"""Code envs from the console: the list with state and usages, the spec editor, builds and
deletion, each through codeenvs/service.py as the API's routes call it. Builds are
submitted as futures and not waited for: the env's page follows the build log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.datastructures import FormData

from labkeeper.auth.principal import Principal
from labkeeper.codeenvs import interpreters, service, usages
from labkeeper.db import Store
from labkeeper.errors import LabkeeperError
from labkeeper.futures.runner import TaskRunner

LANG = "PYTHON"
_USAGE_COUNTS = "console-code-env-usage-counts"
MAX_LOG_CHARS = 200_000


def listing(store: Store, principal: Principal) -> dict[str, Any]:
    envs, _settled = service.list_envs(store, principal)
    counts = _usage_counts(store, principal)
    for env in envs:
        env["usageCount"] = None if counts is None else counts.get((env["envLang"], env["envName"]), 0)
    return {
        "envs": envs,
        "interpreters": sorted(interpreters.available()),
        "may_create": principal.has("mayCreateCodeEnvs"),
    }


def _usage_counts(store: Store, principal: Principal) -> dict[tuple[str, str], int] | None:
    """Usages per env, for those who may list every env's usages (else None: each env's page
    lists its own). Reading every notebook costs ~100 ms on 1,000 notebooks, so the counts
    are kept while neither the store's change stamps nor the files read have moved."""
    if not principal.has("mayManageCodeEnvs"):
        return None
    key = (tuple(sorted(store.stamps().items())), (usages.files_stamp(store) or (None, ()))[1])
    kept = store.cache.get(_USAGE_COUNTS)
    if kept is not None and kept[0] == key:
        return kept[1]
    found, _stamp = service.list_all_usages(store, principal)
    counts: dict[tuple[str, str], int] = {}
    for usage in found:
        env_key = (usage.get("envLang", LANG), usage.get("envName", ""))
        counts[env_key] = counts.get(env_key, 0) + 1
    if key[1] is not None:  # None: a file changed too recently to tell a later change from it
        store.cache[_USAGE_COUNTS] = (key, counts)
    return counts


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
