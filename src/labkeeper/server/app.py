"""The application factory: config in, ASGI app out. Nothing is built at import time.

Each domain contributes a router (ROUTERS) and, when it owns long-lived machinery (a task
runner, kernels), a component whose `start(app)` / `stop(app)` the lifespan calls in order
(COMPONENTS); later components may use earlier ones through `app.state`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRouter

from labkeeper.audit import routes as audit_routes
from labkeeper.audit.service import record_event
from labkeeper.auth import routes as auth_routes
from labkeeper.codeenvs import routes as codeenv_routes
from labkeeper.codeenvs.component import component as codeenvs_component
from labkeeper.config import Config
from labkeeper.connections import routes as connection_routes
from labkeeper.connections.component import component as connections_component
from labkeeper.console import ROUTERS as CONSOLE_ROUTERS
from labkeeper.console.web import not_found_page
from labkeeper.db import Store
from labkeeper.db.migrate import upgrade
from labkeeper.db.stamps import FOLD_EVERY_SECONDS
from labkeeper.futures import routes as futures_routes
from labkeeper.futures.component import component as futures_component
from labkeeper.instance import logfiles
from labkeeper.instance import routes as instance_routes
from labkeeper.lab import component as lab
from labkeeper.nodes import routes as node_routes
from labkeeper.nodes.component import component as nodes_component
from labkeeper.notebooks.jupyter import routes as jupyter_routes
from labkeeper.notebooks.jupyter.component import component as jupyter_component
from labkeeper.notebooks.sql import routes as sql_notebook_routes
from labkeeper.notebooks.sql.component import component as sql_notebooks_component
from labkeeper.projects import routes as project_routes
from labkeeper.projects.archive import routes as archive_routes
from labkeeper.server import logfilter, logs, probes, routing
from labkeeper.server.answers import Answers
from labkeeper.server.bootstrap import ensure_admin
from labkeeper.server.dispatch import compile_table
from labkeeper.server.errors import install_error_handlers
from labkeeper.server.metrics import Metrics
from labkeeper.server.middleware import Unaudited
from labkeeper.server.request_path import RequestPath
from labkeeper.server.supervision import GracefulStop
from labkeeper.server.units import WriteUnits
from labkeeper.settings import routes as settings_routes
from labkeeper.usage import routes as usage_routes

log = logging.getLogger("labkeeper")

ROUTERS: list[APIRouter] = [
    instance_routes.unsupported_router,  # first: these paths would match others' parameters
    instance_routes.router,
    auth_routes.router,
    settings_routes.router,
    archive_routes.router,  # before project routes: /projects/import/... is not a project key
    project_routes.router,
    usage_routes.router,
    audit_routes.router,
    futures_routes.router,
    codeenv_routes.router,
    connection_routes.router,
    sql_notebook_routes.router,
    jupyter_routes.router,
    node_routes.router,
]
# Recoveries at start run in this order: futures first fails the tasks of dead processes.
COMPONENTS: list = [
    connections_component,
    futures_component,
    sql_notebooks_component,
    codeenvs_component,
    jupyter_component,
    lab.component,
    nodes_component,  # last: a node shows as alive once it can serve and execute
]
COMPONENT_STOP_SECONDS = 3.0


def prepare(config: Config) -> str | None:
    """Create the data directory, migrate the store and bootstrap the admin key.

    Returns the bootstrap key when this call created it (to print once), else None.
    Run once per start, before any worker serves.
    """
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = Store(config.effective_database_url)
    try:
        upgrade(store.engine)
        return ensure_admin(store, config)
    finally:
        store.dispose()


class LabkeeperApp(FastAPI):
    """FastAPI for the OpenAPI document, the lifespan and the routes it answers itself; every
    HTTP request enters through `request_path` (server/request_path.py)."""

    request_path: RequestPath

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            await self.request_path(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document without the 422 answers it adds: labkeeper answers every
        parameter or body that does not fit with a 400 (server/params.py)."""
        if self.openapi_schema is None:
            self.openapi_schema = routing.without_422(super().openapi())
        return self.openapi_schema


def create_app(config: Config) -> FastAPI:
    logfilter.install()
    logs.install(config.log_format)
    logfiles.install(config.data_dir, config.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        prepare(config)
        app.state.store = Store(config.effective_database_url, serving=True)
        app.state.store.health.on_change.append(app.state.metrics.store_changed)
        started: list = []

        async def stop_started() -> None:
            await stop_components(app, started)

        graceful = GracefulStop(config.graceful_timeout, stop_started)
        folding = None if app.state.store.is_sqlite else asyncio.create_task(_fold_stamps(app.state.store))
        try:
            for component in COMPONENTS:
                await component.start(app)
                started.append(component)
            graceful.install()
            freeze_start_up_heap()
            yield
        finally:
            graceful.uninstall()
            if folding is not None:
                folding.cancel()
            await stop_started()
            app.state.writes.shutdown()
            app.state.store.dispose()

    app = LabkeeperApp(
        title="labkeeper",
        summary="Administration API of a labkeeper instance, compatible with the DSS public REST API",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.config = config
    app.state.metrics = Metrics(lambda: app.state.store)
    install_error_handlers(app, page=not_found_page)  # a browser lost outside the API: the console's page
    routing.install(app.router, [probes.router, *ROUTERS])

    def audit(**event: str) -> None:
        record_event(app.state.store, **event)

    app.state.unaudited = Unaudited()

    def fastapi_stack(scope, receive, send):  # type: ignore[no-untyped-def]
        # Built on first use, as Starlette does, once every route is in place.
        if app.middleware_stack is None:
            app.middleware_stack = app.build_middleware_stack()
        return app.middleware_stack(scope, receive, send)

    app.request_path = RequestPath(
        app,
        fastapi_stack,
        metrics=app.state.metrics,
        unaudited=app.state.unaudited,
        record=audit,
        max_body_bytes=config.max_body_bytes,
        access_log=config.access_log,
    )
    # Routes answered by FastAPI's own handler rather than a compiled plan, with the reason.
    app.state.answers = Answers()
    app.state.writes = WriteUnits(app.request_path.audit_in_unit)
    app.state.uncompiled_routes = compile_table(
        app.request_path.table,
        app.state.answers,
        app.state.writes,
        loop_bound=frozenset({jupyter_routes.get_manager, archive_routes.streamed_upload}),
    )
    # After the table is built and compiled: the console's pages and /lab (a mount, which the
    # table cannot file: it would stop indexing every route) are left to FastAPI's own stack.
    routing.install(app.router, CONSOLE_ROUTERS)
    lab.mount(app)
    return app


_heap_frozen = False


def freeze_start_up_heap() -> None:
    """Once per process, when the first app has started: move the objects of the imports and
    of the app (about 300,000) to the collector's permanent generation. They live as long as
    the process, and a full collection that scans them holds the event loop for ~130 ms, a
    pause every in-flight request pays (it was the p99 of every route under load)."""
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.collect()
        gc.freeze()


async def _fold_stamps(store: Store) -> None:
    """PostgreSQL: fold the change stamps' delta rows now and then (db/stamps.py), off the loop."""
    while True:
        await asyncio.sleep(FOLD_EVERY_SECONDS)
        try:
            await asyncio.to_thread(store.fold_stamp_deltas)
        except Exception:  # noqa: BLE001 - the store may be down; the next round retries
            log.debug("folding change stamp deltas failed", exc_info=True)


async def stop_components(app: FastAPI, started: list) -> None:
    """Stop the started components, last first, each within COMPONENT_STOP_SECONDS (a stop
    that takes longer is left behind: the process is exiting). Safe to call twice."""
    while started:
        component = started.pop()
        try:
            await asyncio.wait_for(component.stop(app), COMPONENT_STOP_SECONDS)
        except TimeoutError:
            log.error("%s did not stop within %s s", type(component).__name__, COMPONENT_STOP_SECONDS)
        except Exception:
            log.exception("%s failed to stop", type(component).__name__)


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` workers: the CLI passes its settings by environment."""
    return create_app(Config.from_env())
