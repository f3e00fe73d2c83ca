"""What every console page shares: the signed-in viewer, CSRF, forms, templates, security
headers, error pages and the audit row of each state-changing page request.

Console routes are plain FastAPI routes added after the API's route table is compiled, so
the request path (server/request_path.py) hands them to FastAPI's own stack. Each handler
is wrapped by `page`, which turns a domain error into an HTML page with its status (never
a 500 for bad input), a missing or ended sign-in into a redirect to /login, and adds the
headers below to every answer.
"""

from __future__ import annotations

import functools
import hmac
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import jinja2
from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from labkeeper.audit.service import record_event
from labkeeper.auth.principal import Principal
from labkeeper.console import signin
from labkeeper.console.filters import FILTERS
from labkeeper.db import Store
from labkeeper.errors import BadRequest, Forbidden, LabkeeperError, NotFound
from labkeeper.server.logs import current_request_id
from labkeeper.server.middleware import audit_event
from labkeeper.server.routing import ALIAS_PREFIX, API_PREFIX
from labkeeper.server.units import AUDITED

HERE = Path(__file__).parent
MAX_FORM_BYTES = 1_000_000
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI sets inline styles (never inline script): /docs alone allows those.
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


SELF_AUDITED = frozenset({"/login", "/logout"})  # signin.py records those itself


class SignInRequired(Exception):
    """No live session behind the request's cookie."""


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    cookie: str
    csrf: str

    @property
    def login(self) -> str:
        return self.principal.login or ""


@functools.cache
def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value is escaped, in every template
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


def store_of(request: Request) -> Store:
    return request.app.state.store


def viewer_of(request: Request) -> Viewer:
    """The signed-in viewer (blocking: one store read); raises SignInRequired."""
    cookie = request.cookies.get(signin.COOKIE_NAME, "")
    principal = signin.principal_for_cookie(store_of(request), cookie) if cookie else None
    if principal is None:
        raise SignInRequired
    request.scope.setdefault("state", {})["principal"] = principal  # the access log names them
    return Viewer(principal, cookie, signin.csrf_token_for(cookie))


async def viewer(request: Request) -> Viewer:
    return await run_in_threadpool(viewer_of, request)


async def form_of(request: Request) -> FormData:
    """An urlencoded form body (`get`, `getlist`); anything else is a 400."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadRequest("Console forms are sent as application/x-www-form-urlencoded")
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise BadRequest(f"Form too large: at most {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=2000)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("Malformed form body") from exc
    return FormData(pairs)


async def posted(request: Request) -> tuple[Viewer, FormData]:
    """The viewer and form of a state-changing request, after its CSRF check."""
    who = await viewer(request)
    form = await form_of(request)
    origin = request.headers.get("origin")
    if origin is not None and origin != "null" and origin != _own_origin(request):
        raise Forbidden("Cross-site request refused: this form must be sent from the console itself")
    # The viewer's session was just checked: the token only has to be the session's.
    if not hmac.compare_digest(form.get("csrf", "").encode(), who.csrf.encode()):
        raise Forbidden("Missing or wrong CSRF token: reload the page and try again")
    return who, form


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


def render(
    request: Request, template: str, who: Viewer | None, status: int = 200, **context: Any
) -> HTMLResponse:
    html = (
        templates()
        .get_template(template)
        .render(
            viewer=who,
            csrf=who.csrf if who else "",
            notice=request.query_params.get("done", "")[:200],
            path=request.url.path,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status)


def redirect(url: str, done: str | None = None) -> RedirectResponse:
    if done:
        url += ("&" if "?" in url else "?") + "done=" + quote(done)
    return RedirectResponse(url, status_code=303)


def secure(response: Response, request: Request, *, csp: str = CSP) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", csp)
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers.setdefault("Cache-Control", "no-store")
    return response


def set_session_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        signin.COOKIE_NAME,
        value,
        max_age=signin.ABSOLUTE_MS // 1000,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        signin.COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )


def _record(request: Request, status: int) -> None:
    principal = request.scope.get("state", {}).get("principal")
    if principal is None:
        request.app.state.unaudited.count("unauthenticated")
        return
    store = store_of(request)
    audit_event(
        functools.partial(record_event, store), request.scope, principal, status, current_request_id()
    )


def page(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a console route handler (async, taking `request`): see the module docstring."""
    if not inspect.iscoroutinefunction(handler):
        raise TypeError("console handlers are async; run blocking work with run_in_threadpool")

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        request.scope[AUDITED] = True  # recorded below, as a console action
        try:
            response = await handler(*args, **kwargs)
        except SignInRequired:
            target = request.url.path if request.method == "GET" else "/"
            response = redirect(f"/login?next={quote(target)}")
        except LabkeeperError as exc:
            response = render_error(request, exc)
        if request.method not in ("GET", "HEAD") and request.url.path not in SELF_AUDITED:
            await run_in_threadpool(_record, request, response.status_code)
        return secure(response, request)

    return wrapper


def not_found_page(request: Request, exc: Exception) -> Response | None:
    """The console's own 404 page for a browser's GET of an address that names no page (a
    mistyped link, a name holding an encoded slash); None for anything else, which keeps the
    DSS error body (every API path, every other method or error, a client not asking for HTML)."""
    if not isinstance(exc, HTTPException) or exc.status_code != 404 or request.method not in ("GET", "HEAD"):
        return None
    path = request.url.path
    if path.startswith((API_PREFIX, ALIAS_PREFIX)) or "text/html" not in request.headers.get("accept", ""):
        return None
    missing = NotFound("No console page at this address: check the link, or go back to the console")
    return secure(render_error(request, missing), request)


def render_error(request: Request, exc: LabkeeperError) -> HTMLResponse:
    principal = request.scope.get("state", {}).get("principal")
    who = None
    if principal is not None:
        cookie = request.cookies.get(signin.COOKIE_NAME, "")
        who = Viewer(principal, cookie, signin.csrf_token_for(cookie))
    return render(request, "error.html", who, status=exc.status, error=exc)
