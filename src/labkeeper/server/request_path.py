"""The request path: every HTTP request to labkeeper goes through `RequestPath`, once.

In order, for each request: a request id (the caller's `X-Request-Id` when it is a sane
token, else a new one; returned on every answer), the `/public/api` alias, the body size
limit, the route (server/dispatch.py) and its handler, then whatever the handler raised
mapped to the DSS error body (a store outage to 503 + `Retry-After`), the metrics, the
audit row of a state-changing call, and the access log line. There is no other lane:
authentication is the handlers' `Caller`/`Admin` dependency, solved the same way on every
route, and the routes left to FastAPI's own handler (`dispatch.compile_table`) still pass
through here for everything else.

An exception is answered here and never re-raised to the server, which would close the
keep-alive connection (Starlette re-raises after sending its 500).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
from collections.abc import Callable

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labkeeper.errors import BadRequest
from labkeeper.server import logs
from labkeeper.server.dispatch import RouteTable
from labkeeper.server.errors import answer_for
from labkeeper.server.metrics import UNMATCHED, Metrics
from labkeeper.server.middleware import BodyTooLarge, Unaudited, audit_event, too_large
from labkeeper.server.routing import ALIAS_PREFIX, API_PREFIX
from labkeeper.server.units import AUDITED, IN_UNIT

log = logging.getLogger("labkeeper")
access_log = logging.getLogger("labkeeper.access")

REQUEST_ID_HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})


class _RequestIds:
    """New request ids: 16 hex digits, a prefix of 4 random bytes drawn once per process and
    a counter (a draw per request cost more than the id is worth). A forked child draws a
    prefix of its own, and so does a process after 2**32 ids; threads share the counter,
    whose steps CPython makes atomic, so no two requests of a process get the same id."""

    LIMIT = 0xFFFFFFFF

    def __init__(self) -> None:
        self._drop()
        os.register_at_fork(after_in_child=self._drop)

    def _drop(self) -> None:
        self._prefix, self._count = os.urandom(4).hex(), itertools.count()

    def new(self) -> str:
        number = next(self._count)
        if number > self.LIMIT:
            self._drop()
            number = next(self._count)
        return f"{self._prefix}{number:08x}"


_new_id = _RequestIds().new


def request_id_from(value: bytes | None) -> str:
    """The caller's id when it is a short token of safe characters, else a new one: what
    reaches logs and audit rows can never break a line or forge a field."""
    if value is not None and _SANE_ID.fullmatch(value):
        return value.decode("ascii")
    return _new_id()


class RequestPath:
    def __init__(
        self,
        app: FastAPI,
        fallback: ASGIApp,
        *,
        metrics: Metrics,
        unaudited: Unaudited,
        record: Callable[..., None],
        max_body_bytes: int,
        access_log: bool,
    ) -> None:
        self.app = app
        self.fallback = fallback  # FastAPI's own stack: 404, 405, uncompiled routes
        self.table = RouteTable(app.router.routes)
        self.metrics = metrics
        self.unaudited = unaudited
        self.record = record
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        scope["app"] = self.app
        incoming_id = declared = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                incoming_id = value
            elif name == b"content-length":
                declared = value
        info = logs.RequestInfo(request_id_from(incoming_id))
        token = logs.CURRENT.set(info)
        id_header = (REQUEST_ID_HEADER, info.id.encode())
        status = 500
        answered = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                message["headers"] = [*message.get("headers", ()), id_header]
                if method not in _BODYLESS and not scope.get(AUDITED):
                    # Before the answer leaves, off the loop: a caller that reads the audit
                    # log once answered finds the row, and a crash cannot fall in between.
                    scope[AUDITED] = True
                    principal = scope.get("state", {}).get("principal")
                    await asyncio.to_thread(self._audit, scope, principal, status, info.id)
            await send(message)

        path: str = scope["path"]
        if path.startswith(ALIAS_PREFIX) and (
            len(path) == len(ALIAS_PREFIX) or path[len(ALIAS_PREFIX)] == "/"
        ):
            path = scope["path"] = API_PREFIX + path[len(ALIAS_PREFIX) :]
            scope["raw_path"] = path.encode()
        method: str = scope["method"]
        # A NUL names no route and no value: no store keeps it in text (PostgreSQL refuses
        # it outright), so it is refused here, before any route reads or audits it.
        nul = "\x00" in path or b"%00" in scope["query_string"]
        found = self.table.match(method, path) if self.table.indexed and not nul else None
        if found is not None:
            entry, params = found
            scope["route"], scope["endpoint"] = entry.route, entry.route.endpoint  # type: ignore[attr-defined]
            scope["path_params"] = params
            info.route = entry.template
        limit = self.max_body_bytes
        try:
            if nul:
                raise BadRequest(
                    "Invalid request: the URL holds a NUL character (%00), which no name, id or "
                    "parameter may contain: remove it"
                )
            if method not in _BODYLESS:
                # A route may take larger bodies than the instance's limit by declaring its
                # own (`endpoint.max_body_bytes`): the project archive upload, which streams.
                limit = (getattr(found[0].route.endpoint, "max_body_bytes", 0) if found else 0) or limit
                if declared is not None and (not declared.isdigit() or int(declared) > limit):
                    raise BodyTooLarge
                receive = self._limited(receive, limit)
            if found is not None and found[0].invoker is not None:
                await found[0].invoker(scope, receive, send_with_id)
            else:
                await self.fallback(scope, receive, send_with_id)
        except Exception as exc:  # answered here: the connection stays usable
            if isinstance(exc, BodyTooLarge):
                if not answered:
                    await too_large(send_with_id, limit)
            elif not answered:
                await answer_for(exc, self.app)(scope, receive, send_with_id)
            elif not getattr(exc, "labkeeper_answered", False):
                log.error("error after the answer began on %s %s", method, info.route, exc_info=exc)
        finally:
            logs.CURRENT.reset(token)
            route = scope.get("route")
            if found is not None and route is found[0].route:
                template = info.route
            else:  # FastAPI's router found it, or nothing did
                template = route.path.removeprefix(API_PREFIX) if route is not None else UNMATCHED  # type: ignore[attr-defined]
            elapsed = time.perf_counter() - started
            self.metrics.observe(template, method, status, elapsed)
            principal = scope.get("state", {}).get("principal")
            if principal is not None:
                info.user = principal.audit_name
            if method not in _BODYLESS and not scope.get(AUDITED):
                # No answer was sent (the client went away): audited now, off the loop.
                await asyncio.to_thread(self._audit, scope, principal, status, info.id)
            if self.access_log:
                info.status, info.duration_ms = status, round(elapsed * 1000, 3)
                access_log.info(
                    "%s %s %d %.1f ms",
                    method,
                    template,
                    status,
                    elapsed * 1000,
                    extra={
                        "request_id": info.id,
                        "user": info.user,
                        "route": template,
                        "status": status,
                        "duration_ms": info.duration_ms,
                    },
                )

    def _limited(self, receive: Receive, limit: int) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        return limited_receive

    def audit_in_unit(self, scope: Scope, status: int) -> None:
        """The audit row of a request run in a unit of work, added to its transaction."""
        principal = scope["state"]["principal"]
        audit_event(self.record, scope, principal, status, logs.CURRENT.get().id, strict=True)

    def _audit(self, scope: Scope, principal, status: int, request_id: str) -> None:  # type: ignore[no-untyped-def]
        if status >= 500 and scope.get(IN_UNIT):
            return  # its unit rolled back: nothing changed, and the error log has the request id
        if scope.get("route") is None or not scope["path"].startswith(API_PREFIX):
            self.unaudited.count("unknownRoute")
        elif principal is None:
            self.unaudited.count("unauthenticated")
        else:
            audit_event(self.record, scope, principal, status, request_id)
