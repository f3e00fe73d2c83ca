"""Console pages of who may do what: API keys, users and groups, settings, the audit log,
and projects."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from labkeeper.audit.service import search_events
from labkeeper.console import keys, people, projects, settings_form, web
from labkeeper.console.filters import pretty_json
from labkeeper.console.web import page
from labkeeper.errors import BadRequest
from labkeeper.server.params import parse_int
from labkeeper.settings.service import get_general_settings

router = APIRouter(include_in_schema=False)
AUDIT_PAGE = 50


# ---------------------------------------------------------------- API keys
async def _keys_page(request: Request, who: web.Viewer, status: int = 200, **extra: object) -> Response:
    found = await run_in_threadpool(keys.listing, web.store_of(request), who.principal)
    return web.render(request, "keys.html", who, status=status, created=None, **found, **extra)


@router.get("/keys")
@page
async def keys_page(request: Request) -> Response:
    return await _keys_page(request, await web.viewer(request))


@router.post("/keys/create")
@page
async def create_key(request: Request) -> Response:
    who, form = await web.posted(request)
    created = await run_in_threadpool(keys.create_personal, web.store_of(request), who.principal, form)
    # Rendered here, never redirected to: the secret must not reach a URL or a second page.
    found = await run_in_threadpool(keys.listing, web.store_of(request), who.principal)
    return web.render(request, "keys.html", who, created=created, **found)


@router.post("/keys/global/create")
@page
async def create_global_key(request: Request) -> Response:
    who, form = await web.posted(request)
    created = await run_in_threadpool(keys.create_global, web.store_of(request), who.principal, form)
    found = await run_in_threadpool(keys.listing, web.store_of(request), who.principal)
    return web.render(request, "keys.html", who, created=created, **found)


@router.post("/keys/{key_id}/label")
@page
async def relabel_key(key_id: str, request: Request) -> Response:
    who, form = await web.posted(request)
    await run_in_threadpool(keys.relabel, web.store_of(request), who.principal, key_id, form)
    return web.redirect("/keys", "Label saved")


@router.post("/keys/{kind}/{key_id}/revoke")
@page
async def revoke_key(kind: str, key_id: str, request: Request) -> Response:
    who, _form = await web.posted(request)
    if kind not in ("personal", "global"):
        raise BadRequest("Unknown kind of key")
    await run_in_threadpool(keys.revoke, web.store_of(request), who.principal, key_id, kind)
    return web.redirect("/keys", "Key revoked")


# ---------------------------------------------------------------- users and groups
@router.get("/users")
@page
async def users_page(request: Request) -> Response:
    who = await web.viewer(request)
    found = await run_in_threadpool(people.listing, web.store_of(request), who.principal)
    return web.render(request, "users.html", who, **found)


@router.post("/users/create")
@page
async def create_user(request: Request) -> Response:
    who, form = await web.posted(request)
    data_dir = request.app.state.config.data_dir
    await run_in_threadpool(people.create_user, web.store_of(request), who.principal, form, data_dir)
    return web.redirect("/users", "User created")


@router.post("/users/{login}/{action}")
@page
async def change_user(login: str, action: str, request: Request) -> Response:
    who, form = await web.posted(request)
    store, data_dir = web.store_of(request), request.app.state.config.data_dir
    if action in ("enable", "disable"):
        enable = action == "enable"
        await run_in_threadpool(people.set_enabled, store, who.principal, login, enable, data_dir)
    elif action == "groups":
        await run_in_threadpool(people.set_groups, store, who.principal, login, form, data_dir)
    else:
        raise BadRequest("Unknown user action")
    return web.redirect("/users", "User saved")


@router.post("/groups/create")
@page
async def create_group(request: Request) -> Response:
    who, form = await web.posted(request)
    await run_in_threadpool(people.create_group, web.store_of(request), who.principal, form)
    return web.redirect("/users", "Group created")


@router.post("/groups/{name}/permissions")
@page
async def group_permissions(name: str, request: Request) -> Response:
    who, form = await web.posted(request)
    await run_in_threadpool(people.set_group_permissions, web.store_of(request), who.principal, name, form)
    return web.redirect("/users", "Group saved")


# ---------------------------------------------------------------- settings
async def _settings_page(
    request: Request,
    who: web.Viewer,
    *,
    status: int = 200,
    error: str = "",
    document: str | None = None,
    resolution: dict | None = None,
    form_name: str = "",
) -> Response:
    who.principal.require_admin()
    doc = await run_in_threadpool(get_general_settings, web.store_of(request))
    return web.render(
        request,
        "settings.html",
        who,
        status=status,
        common=settings_form.common_values(doc),
        document=document if document is not None else pretty_json(doc),
        error=error,
        error_field=settings_form.field_named(error) if error else "",
        error_form=form_name,
        resolution=resolution,
    )


@router.get("/settings")
@page
async def settings_page(request: Request) -> Response:
    return await _settings_page(request, await web.viewer(request))


@router.post("/settings/{part}")
@page
async def save_settings(part: str, request: Request) -> Response:
    who, form = await web.posted(request)
    who.principal.require_admin()
    store = web.store_of(request)
    try:
        if part == "common":
            await run_in_threadpool(settings_form.save_common, store, form)
        elif part == "document":
            await run_in_threadpool(settings_form.save_document, store, form.get("document", ""))
        elif part == "resolve":
            resolution = await run_in_threadpool(settings_form.resolve_rule, store, form)
            return await _settings_page(request, who, resolution=resolution)
        else:
            raise BadRequest("Unknown settings form")
    except BadRequest as refused:
        document = form.get("document") if part == "document" else None
        return await _settings_page(
            request, who, status=400, error=refused.message, document=document, form_name=part
        )
    return web.redirect("/settings", "Settings saved")


# ---------------------------------------------------------------- audit log
def _time_filter(name: str, value: str | None) -> int | None:
    """A time bound as sent by the page's datetime field (UTC), or in ms since the epoch."""
    value = (value or "").strip()
    if not value or value.isdigit():
        return parse_int(name, value or None, minimum=0)
    try:
        moment = dt.datetime.fromisoformat(value[:40])
    except ValueError:
        raise BadRequest(f"Invalid {name}: a date and time like 2026-01-31T23:59 is required") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return max(0, int(moment.timestamp() * 1000))


@router.get("/audit")
@page
async def audit_page(request: Request) -> Response:
    who = await web.viewer(request)
    who.principal.require_admin()
    q = request.query_params
    filters = {
        "user": q.get("user", "")[:100],
        "action": q.get("action", "")[:200],
        "outcome": q.get("outcome", "") if q.get("outcome") in ("success", "error") else "",
    }
    offset = parse_int("offset", q.get("offset") or None, minimum=0, maximum=10_000_000) or 0
    events = await run_in_threadpool(
        search_events,
        web.store_of(request),
        **filters,
        since=_time_filter("since", q.get("since")),
        until=_time_filter("until", q.get("until")),
        limit=AUDIT_PAGE + 1,
        offset=offset,
    )
    return web.render(
        request,
        "audit.html",
        who,
        events=events[:AUDIT_PAGE],
        more=len(events) > AUDIT_PAGE,
        offset=offset,
        page_size=AUDIT_PAGE,
        filters=filters,
        since=q.get("since", ""),
        until=q.get("until", ""),
    )


# ---------------------------------------------------------------- projects
@router.get("/projects")
@page
async def projects_page(request: Request) -> Response:
    who = await web.viewer(request)
    offset = parse_int("offset", request.query_params.get("offset") or None, minimum=0) or 0
    found = await run_in_threadpool(projects.listing, web.store_of(request), who.principal, offset=offset)
    return web.render(
        request,
        "projects.html",
        who,
        projects=found[: projects.PAGE],
        more=len(found) > projects.PAGE,
        offset=offset,
        page_size=projects.PAGE,
    )


@router.get("/projects/{key}")
@page
async def project_page(key: str, request: Request) -> Response:
    who = await web.viewer(request)
    found = await run_in_threadpool(
        projects.detail, web.store_of(request), request.app.state.jupyter, who.principal, key
    )
    return web.render(request, "project.html", who, **found)


@router.get("/projects/{key}/sql/{notebook_id}")
@page
async def sql_notebook_page(key: str, notebook_id: str, request: Request) -> Response:
    who = await web.viewer(request)
    found = await run_in_threadpool(
        projects.sql_history, web.store_of(request), who.principal, key, notebook_id
    )
    return web.render(request, "sql_notebook.html", who, **found)
