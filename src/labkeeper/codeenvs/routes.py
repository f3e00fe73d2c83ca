"""Code env routes: /admin/code-envs/... (create, settings, builds, Jupyter, usages, logs)."""

from __future__ import annotations

from asyncio import to_thread
from typing import Annotated

from fastapi import Response

from labkeeper.codeenvs import logs, service
from labkeeper.codeenvs.bodies import CodeEnvCreate, CodeEnvSettings
from labkeeper.codeenvs.reports import task_report
from labkeeper.futures.service import future_state
from labkeeper.server.answers import settled
from labkeeper.server.deps import AppConfig, AppStore, Caller, Runner
from labkeeper.server.params import DSSBool, flag
from labkeeper.server.responses import OnLoop, json_response
from labkeeper.server.routing import api_router

router = api_router("code envs")
ENV = "/admin/code-envs/{env_lang}/{env_name}"


Wait = Annotated[DSSBool, flag("wait", "Answer once the build is done, with its report; else its future")]


def _launch(
    wait: bool, runner: Runner, store: AppStore, config: AppConfig, caller: Caller, **what: str
) -> Response:
    """Submit the build, with the request's writes and audit row; answer its future, or with
    wait=true (the default) its report once done, awaited on the event loop."""
    task_id = service.submit(
        runner, store, caller, data_dir=config.data_dir, node=config.effective_node_name, **what
    )
    if not wait:
        return json_response(future_state(service.load_task(store, task_id), with_result=False))

    async def report() -> Response:
        await runner.wait(task_id)
        return json_response(task_report(await to_thread(service.load_task, store, task_id)))

    return OnLoop(report)


@router.get("/admin/code-envs/")
async def list_envs(store: AppStore, caller: Caller) -> Response:
    envs, is_settled = service.list_envs(store, caller)
    return settled(json_response(envs), is_settled)


@router.get("/admin/code-envs/usages")
async def list_all_usages(store: AppStore, caller: Caller) -> Response:
    found, stamp = service.list_all_usages(store, caller)
    return settled(json_response(found), file_stamp=stamp)


@router.post(ENV)
async def create_env(
    env_lang: str,
    env_name: str,
    store: AppStore,
    config: AppConfig,
    caller: Caller,
    runner: Runner,
    params: CodeEnvCreate,
    wait: Wait = True,
) -> Response:
    token, mode = service.create_env(
        store,
        caller,
        data_dir=config.data_dir,
        lang=env_lang,
        name=env_name,
        params=params.sent(),
    )
    return _launch(wait, runner, store, config, caller, lang=env_lang, name=env_name, token=token, mode=mode)


@router.get(ENV)
async def get_env(env_lang: str, env_name: str, store: AppStore, caller: Caller) -> Response:
    definition, is_settled = service.get_definition(store, caller, env_lang, env_name)
    return settled(json_response(definition), is_settled)


@router.put(ENV)
async def save_env(
    env_lang: str, env_name: str, store: AppStore, caller: Caller, body: CodeEnvSettings
) -> Response:
    return json_response(service.save_settings(store, caller, env_lang, env_name, body.sent()))


@router.delete(ENV)
async def delete_env(
    env_lang: str,
    env_name: str,
    store: AppStore,
    config: AppConfig,
    caller: Caller,
    runner: Runner,
    force: Annotated[DSSBool, flag("force", "Delete even while notebooks or kernels use it")] = False,
    wait: Wait = True,
) -> Response:
    token = service.start_delete(store, caller, env_lang, env_name, force=force)
    return _launch(
        wait, runner, store, config, caller, lang=env_lang, name=env_name, token=token, mode="delete"
    )


@router.post(ENV + "/packages")
async def update_packages(
    env_lang: str,
    env_name: str,
    store: AppStore,
    config: AppConfig,
    caller: Caller,
    runner: Runner,
    force: Annotated[DSSBool, flag("forceRebuildEnv", "Rebuild the env from scratch")] = False,
    wait: Wait = True,
) -> Response:
    token, mode = service.start_update(store, caller, env_lang, env_name, force=force)
    return _launch(wait, runner, store, config, caller, lang=env_lang, name=env_name, token=token, mode=mode)


@router.post(ENV + "/jupyter")
async def set_jupyter_support(
    env_lang: str,
    env_name: str,
    store: AppStore,
    config: AppConfig,
    caller: Caller,
    runner: Runner,
    active: Annotated[DSSBool, flag("active", "Install (true) or remove (false) Jupyter support")] = True,
    wait: Wait = True,
) -> Response:
    token, mode = service.start_jupyter(store, caller, env_lang, env_name, active=active)
    return _launch(wait, runner, store, config, caller, lang=env_lang, name=env_name, token=token, mode=mode)


@router.get(ENV + "/usages")
async def list_usages(env_lang: str, env_name: str, store: AppStore, caller: Caller) -> Response:
    found, stamp = service.list_usages(store, caller, env_lang, env_name)
    return settled(json_response(found), file_stamp=stamp)


@router.get(ENV + "/logs")
async def list_logs(
    env_lang: str, env_name: str, store: AppStore, config: AppConfig, caller: Caller
) -> Response:
    stamp = logs.folder_stamp(config.data_dir, env_lang, env_name)
    return settled(
        json_response(service.env_logs(store, caller, config.data_dir, env_lang, env_name)), file_stamp=stamp
    )


@router.get(ENV + "/logs/{log_name}")
async def get_log(
    env_lang: str, env_name: str, log_name: str, store: AppStore, config: AppConfig, caller: Caller
) -> Response:
    stamp = logs.folder_stamp(config.data_dir, env_lang, env_name)
    text = service.env_log(store, caller, config.data_dir, env_lang, env_name, log_name)
    return settled(Response(text, media_type="text/plain; charset=utf-8"), file_stamp=stamp)
