"""Signing in and out, the console's static files and /docs."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from labkeeper.console import signin, web
from labkeeper.console.web import page
from labkeeper.errors import NotFound

router = APIRouter(include_in_schema=False)

# Every file the console serves, by the name in its URL: nothing else is reachable.
STATIC_FILES = {
    "console.css": ("console.css", "text/css"),
    "console.js": ("console.js", "text/javascript"),
    "docs.js": ("docs.js", "text/javascript"),
    "swagger-ui-bundle.js": ("swagger/swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": ("swagger/swagger-ui.css", "text/css"),
}


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this site only (never `//host` or a URL)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/notebooks"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/notebooks"
    return value


@router.get("/")
@page
async def home(request: Request) -> Response:
    try:
        await web.viewer(request)
    except web.SignInRequired:
        return web.redirect("/login")
    return web.redirect("/notebooks")


@router.get("/login")
@page
async def login_form(request: Request) -> Response:
    return web.render(
        request, "login.html", None, next=_safe_next(request.query_params.get("next")), error=""
    )


@router.post("/login")
@page
async def login(request: Request) -> Response:
    form = await web.form_of(request)
    origin = request.headers.get("origin")
    address = request.client.host if request.client else ""
    target = _safe_next(form.get("next"))
    if origin is not None and origin != "null" and origin != web._own_origin(request):
        return web.render(
            request, "login.html", None, status=403, next=target, error="Cross-site sign-in refused"
        )
    try:
        signed = await run_in_threadpool(
            signin.sign_in, web.store_of(request), form.get("login"), form.get("password"), address
        )
    except signin.SigninRefused as refused:
        return web.render(
            request, "login.html", None, status=refused.status, next=target, error=refused.message
        )
    response = web.redirect(target)
    web.set_session_cookie(response, request, signed.cookie_value)
    return response


@router.post("/logout")
@page
async def logout(request: Request) -> Response:
    cookie = request.cookies.get(signin.COOKIE_NAME, "")
    form = await web.form_of(request)
    store = web.store_of(request)
    if cookie and await run_in_threadpool(signin.csrf_token_ok, store, cookie, form.get("csrf", "")):
        await run_in_threadpool(signin.end_session, store, cookie)
    response = web.redirect("/login")
    web.clear_session_cookie(response, request)
    return response


@router.get("/console/static/{name}")
async def static_file(name: str, request: Request) -> Response:
    found = STATIC_FILES.get(name)
    if found is None:
        raise NotFound(f"No console file {name!r}")
    response = FileResponse(web.HERE / "static" / found[0], media_type=found[1])
    response.headers["Cache-Control"] = "public, max-age=3600"
    return web.secure(response, request)


@router.get("/docs")
@page
async def docs(request: Request) -> Response:
    """The OpenAPI document, readable (Swagger UI, shipped in the package)."""
    response = web.render(request, "docs.html", None, openapi_url=request.app.openapi_url or "/openapi.json")
    return web.secure(response, request, csp=web.DOCS_CSP)
