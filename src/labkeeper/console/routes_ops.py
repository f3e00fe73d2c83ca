"""Console pages of what runs: notebooks' sessions, tasks and code envs."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from labkeeper.console import codeenvs, running, tasks, web
from labkeeper.console.web import page

router = APIRouter(include_in_schema=False)


def _sort(request: Request) -> str:
    sort = request.query_params.get("sort", "memory")
    return sort if sort in running.SORTS else "memory"


@router.get("/notebooks")
@page
async def notebooks(request: Request) -> Response:
    who = await web.viewer(request)
    sort = _sort(request)
    rows = await run_in_threadpool(
        running.visible_sessions, request.app.state.jupyter, who.principal, sort=sort
    )
    return web.render(request, "notebooks.html", who, sessions=rows, sort=sort)


@router.get("/notebooks/table")
@page
async def notebooks_table(request: Request) -> Response:
    who = await web.viewer(request)
    sort = _sort(request)
    rows = await run_in_threadpool(
        running.visible_sessions, request.app.state.jupyter, who.principal, sort=sort
    )
    return web.render(request, "notebooks_table.html", who, sessions=rows, sort=sort)


@router.get("/notebooks/{project_key}/{name}/sessions/{session_id}/log")
@page
async def kernel_log(project_key: str, name: str, session_id: str, request: Request) -> Response:
    who = await web.viewer(request)
    found = await run_in_threadpool(
        running.kernel_log, request.app.state.jupyter, who.principal, project_key, name, session_id
    )
    return web.render(request, "kernel_log.html", who, log=found, project_key=project_key, notebook_name=name)


@router.post("/notebooks/unload")
@page
async def unload(request: Request) -> Response:
    who, form = await web.posted(request)
    manager = request.app.state.jupyter
    picked = await run_in_threadpool(running.chosen, manager, who.principal, form.getlist("session"))
    count = await running.unload(manager, who.principal, picked)
    return web.redirect("/notebooks", f"Unloaded {count} session(s)")


@router.get("/tasks")
@page
async def tasks_page(request: Request) -> Response:
    who = await web.viewer(request)
    found = await run_in_threadpool(tasks.listing, web.store_of(request), who.principal)
    return web.render(request, "tasks.html", who, **found)


@router.get("/tasks/table")
@page
async def tasks_table(request: Request) -> Response:
    who = await web.viewer(request)
    found = await run_in_threadpool(tasks.listing, web.store_of(request), who.principal)
    return web.render(request, "tasks_table.html", who, **found)


@router.post("/tasks/{job_id}/abort")
@page
async def abort_task(job_id: str, request: Request) -> Response:
    who, _form = await web.posted(request)
    await tasks.abort(web.store_of(request), request.app.state.runner, who.principal, job_id)
    return web.redirect("/tasks", "Abort requested")


@router.get("/code-envs")
@page
async def code_envs(request: Request) -> Response:
    who = await web.viewer(request)
    found = await run_in_threadpool(codeenvs.listing, web.store_of(request), who.principal)
    return web.render(request, "codeenvs.html", who, **found)


@router.post("/code-envs/create")
@page
async def create_env(request: Request) -> Response:
    who, form = await web.posted(request)
    state = request.app.state
    name, _task = await run_in_threadpool(
        codeenvs.create, state.store, state.runner, who.principal, state.config.data_dir, form
    )
    return web.redirect(f"/code-envs/PYTHON/{quote(name)}", "Build started")


@router.get("/code-envs/{lang}/{name}")
@page
async def code_env(lang: str, name: str, request: Request) -> Response:
    who = await web.viewer(request)
    state = request.app.state
    found = await run_in_threadpool(
        codeenvs.detail, state.store, who.principal, state.config.data_dir, lang, name
    )
    return web.render(request, "codeenv.html", who, **found)


@router.post("/code-envs/{lang}/{name}/spec")
@page
async def update_env(lang: str, name: str, request: Request) -> Response:
    who, form = await web.posted(request)
    state = request.app.state
    await run_in_threadpool(
        codeenvs.save_spec_and_update,
        state.store,
        state.runner,
        who.principal,
        state.config.data_dir,
        lang,
        name,
        form.get("spec", ""),
    )
    return web.redirect(f"/code-envs/{quote(lang)}/{quote(name)}", "Update started")


@router.post("/code-envs/{lang}/{name}/delete")
@page
async def delete_env(lang: str, name: str, request: Request) -> Response:
    who, _form = await web.posted(request)
    state = request.app.state
    await run_in_threadpool(
        codeenvs.delete, state.store, state.runner, who.principal, state.config.data_dir, lang, name
    )
    return web.redirect("/code-envs", "Deletion started")
