"""Code envs: their definition as the DSS API shows it, settings changes, and starting
builds and deletions (the rights are in `rights`, the builds themselves in `builds`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labkeeper.auth.models import User
from labkeeper.auth.principal import Principal
from labkeeper.codeenvs import interpreters, kernelspecs, records, storedlogs, usages
from labkeeper.codeenvs.models import BUILDING, DESIGN_MANAGED, DESIGN_NON_MANAGED, CodeEnv
from labkeeper.codeenvs.rights import can_manage, can_update, can_use, is_manager, require_right
from labkeeper.codeenvs.sandbox import blocked_for_builds
from labkeeper.codeenvs.spec import (
    EDITABLE_FIELDS,
    READ_ONLY_FIELDS,
    check_bool,
    check_desc_flags,
    check_permissions,
    requirement_lines,
)
from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest, Conflict, NotFound
from labkeeper.futures.models import Task
from labkeeper.futures.runner import Submission, TaskRunner
from labkeeper.names import check_name, check_text
from labkeeper.settings.service import get_general_settings

DEPLOYMENT_MODES = (DESIGN_MANAGED, DESIGN_NON_MANAGED)
CREATE_FIELDS = frozenset({"deploymentMode", "path", "specPackageList", "owner"})


def envs_root(data_dir: Path) -> Path:
    return Path(data_dir) / "code-envs"


def managed_path(data_dir: Path, name: str) -> Path:
    return envs_root(data_dir) / "python" / name


def check_lang(value: str) -> str:
    lang = value.upper()
    if lang not in ("PYTHON", "R"):
        raise BadRequest(f"Unknown code env language {value!r}: use PYTHON or R")
    return lang


def _refuse_r() -> None:
    if shutil.which("R") is None:
        raise BadRequest(
            "R code envs need R on the server, and R is not installed here (no 'R' on the "
            "server's PATH): install R first, or create a PYTHON env"
        )
    raise BadRequest("R code envs are not supported by labkeeper yet: create a PYTHON env")


# -- reading ---------------------------------------------------------------------------------
def definition(s: Session, env: CodeEnv) -> dict[str, Any]:
    live = records.build_is_live(s, env)
    desc = {**(env.desc or {}), "owner": env.owner, "deploymentMode": env.deployment_mode}
    desc.setdefault("installCorePackages", False)
    desc.setdefault("installJupyterSupport", False)
    return {
        **(env.extra or {}),
        "envLang": env.lang,
        "envName": env.name,
        "deploymentMode": env.deployment_mode,
        "desc": desc,
        "specPackageList": env.spec_package_list,
        "specCondaEnvironment": env.spec_conda_environment,
        "actualPackageList": env.actual_package_list,
        "actualCondaEnvironment": "",
        "permissions": env.permissions or [],
        "usableByAll": env.usable_by_all,
        "path": env.path,
        "state": records.effective_state(s, env),
        "pythonVersion": env.python_version,
        "jupyterKernel": {"name": kernelspecs.kernel_name(env.name), "active": env.jupyter_kernel},
        "lastBuildError": env.last_error,
        "buildFutureId": env.build_task_id if live else None,
        "creationTime": env.created_on,
        "lastUpdateTime": env.updated_on,
        "lastBuiltOn": env.last_built_on,
        # labkeeper: the nodes holding a build of the env (each builds it on first use)
        "nodes": records.node_holders(s, env.lang, env.name),
    }


def list_item(s: Session, env: CodeEnv) -> dict[str, Any]:
    return {
        "envLang": env.lang,
        "envName": env.name,
        "deploymentMode": env.deployment_mode,
        "owner": env.owner,
        "pythonInterpreter": (env.desc or {}).get("pythonInterpreter"),
        "pythonVersion": env.python_version,
        "state": records.effective_state(s, env),
        "path": env.path,
        "usableByAll": env.usable_by_all,
        "jupyterKernel": env.jupyter_kernel,
    }


def list_envs(store: Store, principal: Principal) -> tuple[list[dict[str, Any]], bool]:
    """The envs the caller may use, and whether the list is made of store rows only (no
    state that the clock alone changes: see `records.state_waits_on_clock`)."""
    with store.read() as s:
        envs = [
            e
            for e in s.scalars(select(CodeEnv).order_by(CodeEnv.lang, CodeEnv.name))
            if can_use(e, principal)
        ]
        items = [list_item(s, env) for env in envs]
    return items, not any(records.state_waits_on_clock(env) for env in envs)


def get_definition(store: Store, principal: Principal, lang: str, name: str) -> tuple[dict[str, Any], bool]:
    """The env's definition, and whether it is made of store rows only (as in `list_envs`)."""
    with store.read() as s:
        env = records.get_env(s, check_lang(lang), name)
        require_right(can_use(env, principal), principal, env, "see")
        return definition(s, env), not records.state_waits_on_clock(env)


def list_usages(store: Store, principal: Principal, lang: str, name: str) -> tuple[list[dict[str, Any]], Any]:
    """The env's usages, and the file stamp of the files read for them (server/answers.py)."""
    env = records.load_env(store, check_lang(lang), name)
    require_right(can_use(env, principal), principal, env, "see")
    stamp = usages.files_stamp(store)
    return usages.usages_of(store, env_lang=env.lang, env_name=env.name), stamp


def list_all_usages(store: Store, principal: Principal) -> tuple[list[dict[str, Any]], Any]:
    """Every env's usages, and the file stamp of the files read for them."""
    principal.require("mayManageCodeEnvs")
    stamp = usages.files_stamp(store)
    return usages.all_usages(store), stamp


def env_logs(
    store: Store, principal: Principal, data_dir: Path, lang: str, name: str
) -> list[dict[str, Any]]:
    env = records.load_env(store, check_lang(lang), name)
    require_right(can_update(env, principal), principal, env, "read the build logs of")
    return storedlogs.list_logs(store, data_dir, env.lang, env.name)


def env_log(store: Store, principal: Principal, data_dir: Path, lang: str, name: str, log_name: str) -> str:
    env = records.load_env(store, check_lang(lang), name)
    require_right(can_update(env, principal), principal, env, "read the build logs of")
    return storedlogs.read_log(store, data_dir, env.lang, env.name, log_name)


# -- changing ------------------------------------------------------------------------------------
def _spec_rules(store: Store) -> dict[str, bool]:
    """What a spec may hold under the general settings: `requirement_lines` keywords."""
    general = get_general_settings(store)["codeEnvs"]
    return {
        "allow_options": general.get("allowPipOptionsInSpec", False) is True,
        "allow_direct": general.get("allowDirectReferences", False) is True,
    }


def create_env(
    store: Store, principal: Principal, *, data_dir: Path, lang: str, name: str, params: dict[str, Any]
) -> tuple[str, str]:
    """Record a new env (holding its build lock); return (token, build mode)."""
    lang = check_lang(lang)
    name = check_name("code env name", name)
    principal.require("mayCreateCodeEnvs")
    if lang == "R":
        _refuse_r()
    mode = params.get("deploymentMode")
    if mode not in DEPLOYMENT_MODES:
        raise BadRequest(
            f"Unsupported deploymentMode {mode!r}: use DESIGN_MANAGED (labkeeper builds the env) "
            "or DESIGN_NON_MANAGED (register an existing env by its 'path')"
        )
    check_desc_flags(params)
    if params.get("installJupyterSupport"):
        kernelspecs.check_kernel_name(name)
    desc = {k: v for k, v in params.items() if k not in CREATE_FIELDS}
    desc.setdefault("installCorePackages", False)
    desc.setdefault("installJupyterSupport", False)
    spec = params.get("specPackageList", "")
    requirement_lines(spec, **_spec_rules(store))
    if mode == DESIGN_MANAGED:
        interpreter = interpreters.resolve(params.get("pythonInterpreter") or interpreters.default_code())
        _check_buildable(interpreter)
        desc["pythonInterpreter"] = interpreter.code
        path = str(managed_path(data_dir, name))
    else:
        principal.require_admin()
        path = _existing_env_path(params.get("path"), data_dir)
    token = records.new_token()
    now = now_ms()
    env = CodeEnv(
        lang=lang,
        name=name,
        deployment_mode=mode,
        owner=principal.name,
        state=BUILDING,
        path=path,
        desc=desc,
        extra={},
        spec_package_list=spec,
        permissions=[],
        usable_by_all=True,
        build_token=token,
        build_claimed_on=now,
        created_on=now,
        updated_on=now,
    )
    try:
        with store.begin() as s:
            if s.get(CodeEnv, (lang, name)) is not None:
                raise Conflict(f"A {lang} code env named {name!r} already exists")
            s.add(env)
    except IntegrityError:
        raise Conflict(f"A {lang} code env named {name!r} already exists") from None
    return token, "create" if mode == DESIGN_MANAGED else "register"


def _check_buildable(interpreter: interpreters.Interpreter) -> None:
    blocked = blocked_for_builds(interpreter.path)
    if blocked is not None:
        raise BadRequest(
            f"pythonInterpreter {interpreter.code} ({interpreter.path}) cannot be used: builds run as an "
            f"unprivileged account, and {blocked} is closed to other accounts",
            detail=f"Code env builds never run as root; {interpreter.path} sits under {blocked}, which other "
            "accounts cannot traverse. Choose another pythonInterpreter, or have an admin install that "
            "Python where every account may execute it (e.g. /usr/local or /opt)",
        )


def _existing_env_path(value: Any, data_dir: Path) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise BadRequest("A DESIGN_NON_MANAGED env needs 'path': the absolute path of an existing env")
    check_text("path", value, max_length=1024, allow_empty=False)
    path = Path(value)
    if ".." in path.parts or not path.is_dir():
        raise BadRequest(f"path {value!r} is not an existing folder (absolute, without '..')")
    if path == envs_root(data_dir) or envs_root(data_dir) in path.parents:
        raise BadRequest(
            f"path {value!r} is inside labkeeper's own code env folder: register an env made elsewhere"
        )
    if not (path / "bin" / "python").exists():
        raise BadRequest(f"path {value!r} holds no bin/python: point it at a virtualenv or a Python prefix")
    return str(path)


def save_settings(
    store: Store, principal: Principal, lang: str, name: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Apply the editable fields sent; read-only fields sent back are ignored, unknown
    fields are kept as sent (null removes one)."""
    rules = _spec_rules(store)
    with store.begin() as s:
        env = records.get_env(s, check_lang(lang), name)
        require_right(can_update(env, principal), principal, env, "update")
        if "desc" in body:
            _apply_desc(s, env, principal, body["desc"])
        if "specPackageList" in body:
            spec = body["specPackageList"] if body["specPackageList"] is not None else ""
            requirement_lines(spec, **rules)
            env.spec_package_list = spec
        if "specCondaEnvironment" in body:
            conda = body["specCondaEnvironment"] or ""
            env.spec_conda_environment = check_text("specCondaEnvironment", conda, max_length=256 * 1024)
        if "permissions" in body and check_permissions(body["permissions"]) != (env.permissions or []):
            require_right(can_manage(env, principal), principal, env, "change the permissions of")
            env.permissions = check_permissions(body["permissions"])
        if "usableByAll" in body and check_bool(body["usableByAll"], "usableByAll") != env.usable_by_all:
            require_right(can_manage(env, principal), principal, env, "change the permissions of")
            env.usable_by_all = body["usableByAll"]
        extra = dict(env.extra or {})
        for key, value in body.items():
            if key in READ_ONLY_FIELDS or key in EDITABLE_FIELDS:
                continue
            if value is None:
                extra.pop(key, None)
            else:
                extra[key] = value
        env.extra = extra
        env.updated_on = now_ms()
        s.flush()
        return definition(s, env)


def _apply_desc(s: Session, env: CodeEnv, principal: Principal, desc: Any) -> None:
    if not isinstance(desc, dict):
        raise BadRequest("desc must be an object")
    check_desc_flags(desc)
    if desc.get("installJupyterSupport"):
        kernelspecs.check_kernel_name(env.name)
    current = env.desc or {}
    wanted = desc.get("pythonInterpreter", current.get("pythonInterpreter"))
    if env.deployment_mode == DESIGN_MANAGED and wanted != current.get("pythonInterpreter"):
        raise BadRequest(
            f"desc.pythonInterpreter cannot change ({current.get('pythonInterpreter')} to {wanted}): "
            "an env keeps its interpreter; create a new env for another Python version"
        )
    owner = desc.get("owner", env.owner)
    if owner != env.owner:
        require_right(can_manage(env, principal), principal, env, "change the owner of")
        if not isinstance(owner, str) or s.get(User, owner) is None:
            raise BadRequest(f"desc.owner {owner!r} is not an existing user")
        env.owner = owner
    merged = {**current, **{k: v for k, v in desc.items() if k not in ("owner", "deploymentMode")}}
    env.desc = {k: v for k, v in merged.items() if v is not None}


def start_update(store: Store, principal: Principal, lang: str, name: str, *, force: bool) -> tuple[str, str]:
    env = records.load_env(store, check_lang(lang), name)
    require_right(can_update(env, principal), principal, env, "update")
    requirement_lines(env.spec_package_list or "", **_spec_rules(store))
    mode = "register" if env.deployment_mode != DESIGN_MANAGED else ("rebuild" if force else "update")
    return records.claim(store, env.lang, env.name), mode


def start_jupyter(
    store: Store, principal: Principal, lang: str, name: str, *, active: bool
) -> tuple[str, str]:
    env = records.load_env(store, check_lang(lang), name)
    require_right(can_update(env, principal), principal, env, "update")
    if active:
        kernelspecs.check_kernel_name(env.name)
    desc = {**(env.desc or {}), "installJupyterSupport": active}
    token = records.claim(store, env.lang, env.name, changes={"desc": desc})
    return token, "jupyter-on" if active else "jupyter-off"


def start_delete(store: Store, principal: Principal, lang: str, name: str, *, force: bool) -> str:
    env = records.load_env(store, check_lang(lang), name)
    require_right(is_manager(env, principal), principal, env, "delete")
    if not force:
        used = usages.usages_of(store, env_lang=env.lang, env_name=env.name)
        if used:
            where = ", ".join(f"{u['envUsage'].lower()} {u['projectKey']}/{u['objectId']}" for u in used[:20])
            more = f" and {len(used) - 20} more" if len(used) > 20 else ""
            raise Conflict(
                f"Code env {name!r} is still used ({len(used)} usages)",
                detail=f"Code env {name!r} is still used by {where}{more}; change those to another env, "
                "or delete with force=true",
            )
    return records.claim(store, env.lang, env.name)


# -- running ---------------------------------------------------------------------------------------
_DISPLAY = {
    "create": "Create",
    "register": "Register",
    "update": "Update packages of",
    "rebuild": "Rebuild",
    "jupyter-on": "Activate Jupyter support in",
    "jupyter-off": "Deactivate Jupyter support in",
    "delete": "Delete",
}


def submit(
    runner: TaskRunner,
    store: Store,
    principal: Principal,
    *,
    data_dir: Path,
    lang: str,
    name: str,
    token: str,
    mode: str,
    node: str = "",
) -> str:
    """Start the build (or deletion) holding `token`; the lock is released if it cannot start."""
    lang = check_lang(lang)
    submission = Submission(
        kind="codeenv.delete" if mode == "delete" else "codeenv.build",
        args={
            "lang": lang,
            "name": name,
            "token": token,
            "mode": mode,
            "dataDir": str(data_dir),
            "submittedOn": node,
        },
        owner=principal.name,
        target={"objectType": "CODE_ENV", "envLang": lang, "envName": name},
        display_name=f"{_DISPLAY[mode]} code env {name}",
    )
    try:
        task_id = runner.submit(submission)
    except BaseException:
        records.release(store, lang, name, token)
        raise
    records.attach_task(store, lang, name, token, task_id)
    return task_id


def load_task(store: Store, task_id: str) -> Task:
    with store.read() as s:
        task = s.get(Task, task_id)
    if task is None:  # purged already: cannot happen within a request
        raise NotFound(f"No future with id {task_id!r}")
    return task
