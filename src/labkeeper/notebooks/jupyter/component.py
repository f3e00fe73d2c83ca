"""Wires the Jupyter session manager into the app: `app.state.jupyter`."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import select

from labkeeper.futures.component import component as futures_component
from labkeeper.futures.runner import TaskRunner
from labkeeper.notebooks.jupyter import placement, retire
from labkeeper.notebooks.jupyter import run as _run  # noqa: F401  (registers the run operation)
from labkeeper.notebooks.jupyter.sessions import MANAGERS, SessionManager
from labkeeper.projects.models import Project
from labkeeper.projects.service import on_project_deleted
from labkeeper.usage.service import register_notebook_counter


def _project_deleted(project_key: str) -> None:
    for manager in list(MANAGERS.values()):
        manager.project_deleted(project_key)
        manager.notebooks.project_deleted(project_key)


on_project_deleted(_project_deleted)


def _attach_node_jobs(app: FastAPI, runner: TaskRunner) -> None:
    """Made before the runner starts, so that this node's kernel jobs are known to it before it
    takes any (their handlers wait for the manager to start)."""
    manager = SessionManager(app.state.store, app.state.config)
    manager.nodes.attach(runner)
    app.state.jupyter_attached = manager


futures_component.before_taking_jobs(_attach_node_jobs)


class JupyterComponent:
    async def start(self, app: FastAPI) -> None:
        manager = getattr(app.state, "jupyter_attached", None)
        if manager is None or manager.nodes.runner is not app.state.runner:
            manager = SessionManager(app.state.store, app.state.config)
            manager.nodes.attach(app.state.runner)
        await manager.start(background=app.state.config.background)
        app.state.jupyter = manager
        retire.install(manager)
        store = app.state.store
        app.state.runner.on_node_death(lambda: placement.forget_sessions_of_dead_nodes(store))
        notebooks = manager.notebooks

        def count(session):  # type: ignore[no-untyped-def]
            keys = list(session.scalars(select(Project.key)))
            stamp = notebooks.counts_stamp(keys)  # before the notebooks are listed
            return notebooks.count_by_project(keys), stamp

        register_notebook_counter("nbJupyterNotebooks", count, reads_files=True)

    async def stop(self, app: FastAPI) -> None:
        retire.uninstall(app.state.jupyter)
        await app.state.jupyter.stop()


component = JupyterComponent()
