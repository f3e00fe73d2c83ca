"""FastAPI dependencies, as `Annotated` aliases the routes declare."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from labkeeper.auth.authenticate import authenticate, touch_keys
from labkeeper.auth.keys import secrets_from_header
from labkeeper.auth.principal import Principal
from labkeeper.auth.proxy import act_as
from labkeeper.config import Config
from labkeeper.db import Store
from labkeeper.db.stamps import Stamps
from labkeeper.errors import Unauthorized
from labkeeper.futures.runner import TaskRunner
from labkeeper.server.params import Count, Limit

PLAIN = "labkeeper_plain"


def plain(dependency: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a dependency that refuses nothing but a malformed query: a kept answer, made for
    the very same path, query and caller, may be served without solving it
    (dispatch.compile_route)."""
    setattr(dependency, PLAIN, True)
    return dependency


@plain
async def get_store(request: Request) -> Store:
    return request.app.state.store


@plain
async def get_runner(request: Request) -> TaskRunner:
    return request.app.state.runner


@plain
async def get_config(request: Request) -> Config:
    return request.app.state.config


STAMPS = "labkeeper.stamps"


async def current_principal(request: Request) -> Principal:
    """Who calls. Reads the store's change stamps once for the request (see db/stamps.py):
    a read-only handler may hand `stamps_read_for(request)` to the caches it consults."""
    return await principal_of(request.scope)


async def principal_of(scope: dict) -> Principal:
    """`current_principal`, from the request's ASGI scope."""
    store = scope["app"].state.store
    stamps = scope[STAMPS] = await store.request_stamps()
    authorization, proxy_user = _credentials(scope)
    candidates = secrets_from_header(authorization)
    touched: list[tuple[str, int]] = []
    try:
        principal = authenticate(store, candidates[0] if candidates else None, stamps, touched)
    except Unauthorized:
        if len(candidates) < 2:
            raise
        principal = authenticate(store, candidates[1], stamps, touched)  # HTTP Basic: the other field
    if touched:  # once a minute per key: a write, so off the loop (it may wait for a lock)
        await asyncio.get_running_loop().run_in_executor(None, touch_keys, store, touched)
    if proxy_user:
        principal = act_as(store, principal, proxy_user, stamps)
    scope.setdefault("state", {})["principal"] = principal  # request.state.principal, for the audit
    return principal


def _credentials(scope: dict) -> tuple[str | None, str | None]:
    """The Authorization and X-DKU-ProxyUser headers (ASGI servers give names in lower case)."""
    authorization = proxy_user = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"x-dku-proxyuser":
            proxy_user = value.decode("latin-1").strip()
    return authorization, proxy_user


def stamps_read_for(request: Request) -> Stamps:
    """The stamps read when the caller was authenticated: only for handlers that do not
    write, since a write of the request's own would not show in them."""
    return request.scope[STAMPS]


async def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    principal.require_admin()
    return principal


@dataclass(frozen=True)
class Paging:
    limit: int | None
    offset: int


@plain
async def paging(
    limit: Annotated[Limit, Query(description="At most this many items (all when absent)")] = None,
    offset: Annotated[Count, Query(description="Skip this many items first")] = None,
) -> Paging:
    return Paging(limit=limit, offset=offset or 0)


AppStore = Annotated[Store, Depends(get_store)]
AppConfig = Annotated[Config, Depends(get_config)]
Caller = Annotated[Principal, Depends(current_principal)]
Admin = Annotated[Principal, Depends(admin_principal)]
Page = Annotated[Paging, Depends(paging)]
Runner = Annotated[TaskRunner, Depends(get_runner)]
