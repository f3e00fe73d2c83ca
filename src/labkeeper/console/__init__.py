"""The web console: server-rendered pages over the same services the API routes call.

`signin.py` is the sign-in (cookie sessions, CSRF) that other browser-facing parts reuse;
`web.py` what every page shares; `routes_*.py` the thin routes; one module per concern
(`running`, `tasks`, `codeenvs`, `keys`, `people`, `settings_form`, `projects`) calls the
domain services with the viewer's Principal.
"""

from __future__ import annotations

from fastapi import APIRouter


def _routers() -> list[APIRouter]:
    from labkeeper.console import routes_admin, routes_auth, routes_ops

    return [routes_auth.router, routes_ops.router, routes_admin.router]


def __getattr__(name: str) -> list[APIRouter]:
    if name == "ROUTERS":
        return _routers()
    raise AttributeError(name)
