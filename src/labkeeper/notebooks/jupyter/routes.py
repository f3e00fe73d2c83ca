"""Jupyter notebooks, their sessions, the legacy notebook routes and the running-notebooks list."""

from __future__ import annotations

from asyncio import to_thread
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response

from labkeeper.auth.principal import Principal
from labkeeper.errors import BadRequest
from labkeeper.futures.runner import Submission, TaskRunner
from labkeeper.futures.service import future_state, get_task
from labkeeper.names import check_name
from labkeeper.notebooks.jupyter import kernellogs, placement, service
from labkeeper.notebooks.jupyter.bodies import RunRequest
from labkeeper.notebooks.jupyter.run import KIND as RUN_KIND
from labkeeper.notebooks.jupyter.sessions import SessionManager
from labkeeper.projects.access import require_project
from labkeeper.server.answers import settled
from labkeeper.server.deps import Admin, Caller, Runner, plain
from labkeeper.server.params import DSSBool, JsonObject, flag
from labkeeper.server.responses import json_response
from labkeeper.server.routing import api_router

router = api_router("jupyter notebooks")
NB = "/projects/{project_key}/jupyter-notebooks/{name}"


@plain
async def get_manager(request: Request) -> SessionManager:
    return request.app.state.jupyter


Jupyter = Annotated[SessionManager, Depends(get_manager)]


@plain
async def get_notebook_files(request: Request) -> SessionManager:
    """The manager, for routes that only read and write notebooks and records: nothing of
    theirs needs the server's loop, so their writes run in a unit of work with their audit
    row (server/units.py), unlike the routes that take `Jupyter`."""
    return request.app.state.jupyter


NotebookFiles = Annotated[SessionManager, Depends(get_notebook_files)]


def server_url(request: Request) -> str:
    """The address kernels use to reach the API: the configured public URL (`--public-url`),
    else the very socket the caller reached."""
    public = request.app.state.config.public_url
    if public:
        return public.rstrip("/")
    host, port = request.scope.get("server") or (request.app.state.config.host, request.app.state.config.port)
    if host in ("0.0.0.0", "::", "", None):
        host = "127.0.0.1"
    if ":" in str(host):
        host = f"[{host}]"
    return f"http://{host}:{port}"


@router.get("/projects/{project_key}/jupyter-notebooks/")
async def list_notebooks(
    project_key: str,
    caller: Caller,
    jupyter: Jupyter,
    active: Annotated[DSSBool, flag("active", "Only notebooks with a running kernel")] = False,
) -> Response:
    items, stamp = service.list_notebooks(jupyter, caller, project_key, active=active)
    return settled(json_response(items), file_stamp=stamp)


@router.get(NB)
async def get_notebook(project_key: str, name: str, caller: Caller, jupyter: Jupyter) -> Response:
    content, stamp = service.get_notebook(jupyter, caller, project_key, name)
    return settled(json_response(content), file_stamp=stamp)


@router.post(NB)
async def create_notebook(
    project_key: str, name: str, caller: Caller, jupyter: NotebookFiles, content: JsonObject
) -> Response:
    return json_response(service.create_notebook(jupyter, caller, project_key, name, content))


@router.put(NB)
async def save_notebook(
    project_key: str, name: str, caller: Caller, jupyter: NotebookFiles, content: JsonObject
) -> Response:
    return json_response(service.save_notebook(jupyter, caller, project_key, name, content))


@router.delete(NB)
async def delete_notebook(project_key: str, name: str, caller: Caller, jupyter: Jupyter) -> Response:
    return json_response(await service.delete_notebook(jupyter, caller, project_key, name))


@router.delete(NB + "/outputs")
async def clear_outputs(project_key: str, name: str, caller: Caller, jupyter: NotebookFiles) -> Response:
    return json_response(service.clear_outputs(jupyter, caller, project_key, name))


@router.get(NB + "/sessions")
async def list_sessions(project_key: str, name: str, caller: Caller, jupyter: Jupyter) -> Response:
    stamp = jupyter.notebooks.stamp(project_key, name)
    sessions = jupyter.sessions_of(project_key, name, principal=caller)
    # No session: nothing live in the answer. A session's kernel values are read every time.
    return settled(json_response(sessions), not sessions, file_stamp=stamp)


@router.post(NB + "/sessions")
async def start_session(
    project_key: str, name: str, caller: Caller, jupyter: Jupyter, request: Request
) -> Response:
    """labkeeper addition: start a kernel for the caller."""
    session = await jupyter.start_session(caller, project_key, name, server_url=server_url(request))
    return json_response(session)


@router.delete(NB + "/sessions/{session_id}")
async def unload_session(
    project_key: str, name: str, session_id: str, caller: Caller, jupyter: Jupyter
) -> Response:
    await to_thread(jupyter.check_may_unload, caller, project_key, name, session_id)
    return json_response(
        await jupyter.unload(session_id, reason=f"unloaded by {caller.name}", by=caller.name)
    )


# Its rights are tested with the remote kernels (tests/jupyter/test_remote_kernels.py).
@router.post(NB + "/sessions/{session_id}/actions/interrupt")
async def interrupt_session(
    project_key: str, name: str, session_id: str, caller: Caller, jupyter: Jupyter
) -> Response:
    """labkeeper addition: interrupt the session's kernel (as Jupyter's interrupt does), on
    whichever node runs it. The same callers as an unload: its creator, or a project admin."""
    await to_thread(jupyter.check_may_unload, caller, project_key, name, session_id)
    return json_response(await jupyter.nodes.interrupt(session_id))


@router.get(NB + "/sessions/{session_id}/log")
async def kernel_log(
    project_key: str, name: str, session_id: str, caller: Caller, jupyter: Jupyter
) -> Response:
    """labkeeper addition: the tail of the session's kernel log (stdout and stderr of its
    process), from any API node. Its creator, a project admin or an instance admin."""
    return json_response(kernellogs.read_log(jupyter, caller, project_key, name, session_id))


@router.post(NB + "/actions/run")
async def run_notebook(
    project_key: str,
    name: str,
    caller: Caller,
    jupyter: Jupyter,
    runner: Runner,
    request: Request,
    body: RunRequest | None = None,
) -> Response:
    """labkeeper addition: run every code cell in a session, as a future."""
    asked = body.sessionId if body is not None else None
    session_id = await to_thread(jupyter.session_for_run, caller, project_key, name, asked)
    if session_id is None:
        started = await jupyter.start_session(caller, project_key, name, server_url=server_url(request))
        session_id = started["sessionId"]
    state = await to_thread(_submit_run, jupyter, runner, caller, project_key, name, session_id)
    return json_response({**state, "sessionId": session_id})


def _submit_run(
    jupyter: SessionManager,
    runner: TaskRunner,
    caller: Principal,
    project_key: str,
    name: str,
    session_id: str,
) -> dict[str, Any]:
    """Submit the run of every cell in the session's kernel; its future's state (blocking)."""
    where = {"projectKey": project_key, "notebookName": name, "sessionId": session_id}
    job_id = runner.submit(
        Submission(
            kind=RUN_KIND,
            args=where,
            owner=caller.name,
            target=dict(where),
            display_name=f"Run Jupyter notebook {project_key}.{name}",
            node=placement.node_of(jupyter.store, session_id),  # where its kernel's channels are
        )
    )
    return future_state(get_task(jupyter.store, caller, job_id), with_result=False)


@router.get("/admin/notebooks/")
async def running_notebooks(caller: Admin, jupyter: Jupyter) -> Response:
    running = service.running_notebooks(jupyter)
    # Kept only while no session is recorded: a live kernel's values are read every time.
    return settled(json_response(running), not running and not jupyter.any_session_rows())


@router.get("/projects/{project_key}/notebooks/active")
async def project_running_notebooks(project_key: str, caller: Caller, jupyter: Jupyter) -> Response:
    require_project(jupyter.store, caller, project_key, "READ")
    running = service.running_notebooks(jupyter, project_key)
    return settled(json_response(running), not running and not jupyter.any_session_rows())


NotebookName = Annotated[str, Query(alias="notebookName", description="The notebook")]


@router.get("/projects/{project_key}/notebooks/")
async def legacy_notebook_state(
    project_key: str, caller: Caller, jupyter: Jupyter, notebook_name: NotebookName
) -> Response:
    require_project(jupyter.store, caller, project_key, "READ")
    name = check_name("notebookName", notebook_name)
    stamp = jupyter.notebooks.stamp(project_key, name)
    state = service.notebook_state(jupyter, project_key, name)
    return settled(json_response(state), not state["activeSessions"], file_stamp=stamp)


@router.delete("/projects/{project_key}/notebooks/")
async def legacy_unload(
    project_key: str,
    caller: Caller,
    jupyter: Jupyter,
    notebook_name: NotebookName,
    session_id: Annotated[str | None, Query(alias="sessionId", description="The session to unload")] = None,
) -> Response:
    require_project(jupyter.store, caller, project_key, "READ")
    name = check_name("notebookName", notebook_name)
    if not session_id:
        raise BadRequest("Query parameter 'sessionId' is required: the session to unload")
    await to_thread(jupyter.check_may_unload, caller, project_key, name, session_id)
    return json_response(
        await jupyter.unload(session_id, reason=f"unloaded by {caller.name}", by=caller.name)
    )


@router.get("/jupyter/kernelspecs/")
async def kernelspecs(caller: Caller, jupyter: Jupyter) -> Response:
    """labkeeper addition: the kernels the caller may start (metadata.kernelspec.name): the
    built-in one and those of the code envs the caller may use."""
    specs, stamp = service.usable_kernelspecs(jupyter, caller)
    return settled(json_response(specs), file_stamp=stamp)
