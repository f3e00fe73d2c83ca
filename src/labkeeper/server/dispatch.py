"""Finding a request's route and calling its handler: the one dispatch every request takes.

FastAPI matches a request against the registered routes one after the other and then solves
the handler's dependencies by walking its dependency tree with generic machinery: for a
read of a few microseconds that cost 300-1,000 us a request. Here both are done once, when
the app is built:

- `RouteTable` files the routes in a tree of path segments; a request walks it in a few
  dict lookups, and the route picked is the one FastAPI's own walk would pick (the first
  registered route that matches path and method).
- `compile_route` turns a route's declared dependencies into a plan of plain calls: path
  parameters, query parameters (strings as received, other types converted by their
  declaration: DSS's `True`/`False`, bounded integers, enums), one JSON body validated against
  its declared model (server/params.py), the `Request`, and `async def` dependencies (each
  solved once per request, as FastAPI caches them). A declaration outside that set gets no
  plan; such a route is answered by FastAPI's own handler, behind the same request path
  (server/request_path.py), and `uncompiled_routes` lists it with the reason, so that a
  test can hold the list to the one place where exceptions are justified.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Union, get_args, get_origin

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from labkeeper.errors import BadRequest
from labkeeper.server.answers import (
    FILE_STAMP,
    OWN_TOPICS,
    SETTLED,
    Answers,
    kept,
    kept_when_settled,
    topics_not_read,
    without,
)
from labkeeper.server.deps import PLAIN, STAMPS, admin_principal, current_principal, principal_of
from labkeeper.server.params import converter, is_str_list
from labkeeper.server.responses import decode_json
from labkeeper.server.routing import API_PREFIX
from labkeeper.server.units import WriteUnits

Invoker = Callable[[Scope, Receive, Send], Awaitable[None]]
NO_QUERY = QueryParams()


@dataclass
class Entry:
    order: int
    route: BaseRoute
    methods: frozenset[str]
    params: tuple[tuple[int, str], ...]  # (segment position, parameter name)
    invoker: Invoker | None = None
    template: str = ""  # the path without the API prefix: the metrics' and logs' route

    def __post_init__(self) -> None:
        self.template = getattr(self.route, "path", "").removeprefix(API_PREFIX)


@dataclass
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    param: _Node | None = None
    entries: list[Entry] = field(default_factory=list)


class RouteTable:
    """Routes by path segments. `indexed` is False when a route cannot be filed (a mount, a
    `{name:path}` parameter): then every request takes FastAPI's walk, as it must."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self._root = _Node()
        self.entries: list[Entry] = []
        self._fixed: dict[str, list[Entry]] = {}
        self.indexed = True
        for order, route in enumerate(routes):
            path = getattr(route, "path", "")
            if type(route) not in (Route, APIRoute) or ":" in path:
                self.indexed = False
                return
            node, params = self._root, []
            for position, part in enumerate(path.split("/")):
                if part.startswith("{") and part.endswith("}"):
                    params.append((position, part[1:-1]))
                    node.param = node.param or _Node()
                    node = node.param
                elif "{" in part:
                    self.indexed = False  # a parameter inside a segment: not filed
                    return
                else:
                    node = node.literal.setdefault(part, _Node())
            entry = Entry(order, route, frozenset(getattr(route, "methods", None) or ()), tuple(params))
            node.entries.append(entry)
            self.entries.append(entry)
        # The candidates of every path without parameters, found once (the commonest reads).
        self._fixed = {
            e.route.path: self._candidates(e.route.path)  # type: ignore[attr-defined]
            for e in self.entries
            if not e.params
        }

    def candidates(self, path: str) -> list[Entry]:
        """Every route whose path matches `path`, in registration order."""
        fixed = self._fixed.get(path)
        return fixed if fixed is not None else self._candidates(path)

    def _candidates(self, path: str) -> list[Entry]:
        parts = path.split("/")
        found: list[Entry] = []
        self._walk(self._root, parts, 0, found)
        if len(found) > 1:
            found.sort(key=lambda entry: entry.order)
        return found

    def _walk(self, node: _Node, parts: list[str], depth: int, found: list[Entry]) -> None:
        if depth == len(parts):
            found.extend(node.entries)
            return
        part = parts[depth]
        child = node.literal.get(part)
        if child is not None:
            self._walk(child, parts, depth + 1, found)
        if node.param is not None and part:
            self._walk(node.param, parts, depth + 1, found)

    def match(self, method: str, path: str) -> tuple[Entry, dict[str, str]] | None:
        """The route FastAPI would run, and its path parameters; None when it would answer
        404 or 405 (left to FastAPI, which writes those answers)."""
        for entry in self.candidates(path):
            if method in entry.methods:
                parts = path.split("/") if entry.params else ()
                return entry, {name: parts[position] for position, name in entry.params}
        return None


# ------------------------------------------------------------------ compiled handlers

Solver = Callable[[Request, dict], Awaitable[dict[str, Any]]]


class NotCompilable(Exception):
    """A declaration the plan does not cover; the route keeps FastAPI's handler."""


def _is_str(annotation: Any) -> bool:
    """Whether a parameter is a plain string (optional or not): taken as received."""
    if annotation is str:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return set(get_args(annotation)) == {str, type(None)}
    return False


def _body_reader(dependant: Dependant) -> Callable[[Request], Awaitable[Any]] | None:
    """The plan's reader of a declared JSON body: decoded once by orjson (server/responses.py),
    then validated against its declaration (a pydantic model, a dict, a list, any JSON)."""
    if not dependant.body_params:
        return None
    if len(dependant.body_params) > 1:
        raise NotCompilable("more than one body parameter")
    param = dependant.body_params[0]
    convert = converter(param, ("body",))  # the body is the whole document: body.<field>
    required = param.field_info.is_required()
    default = None if required else param.field_info.get_default(call_default_factory=True)

    async def read(request: Request) -> Any:
        raw = await request.body()
        if not raw.strip():
            if required:
                raise BadRequest("A JSON request body is required")
            return default
        return convert(decode_json(raw))

    return read


def _solver(dependant: Dependant, *, top: bool = True) -> Solver:
    """The plan of everything a handler takes but its body (compile_route reads that, where
    the handler runs: in a unit of work, off the loop, for a write)."""
    if dependant.body_params and not top:
        raise NotCompilable("a dependency takes a body parameter")
    unsupported = [
        name
        for name, value in (
            ("header parameters", dependant.header_params),
            ("cookie parameters", dependant.cookie_params),
            ("background tasks", dependant.background_tasks_param_name),
            ("a Response parameter", dependant.response_param_name),
            ("a WebSocket parameter", dependant.websocket_param_name),
            ("an HTTPConnection parameter", dependant.http_connection_param_name),
            ("security scopes", dependant.security_scopes_param_name),
        )
        if value
    ]
    if unsupported:
        raise NotCompilable(", ".join(unsupported))
    for param in dependant.path_params:
        if param.field_info.annotation is not str:
            raise NotCompilable(f"path parameter {param.name} is not a str")
    # (name, alias, required, default, converter or None, repeated)
    query: list[tuple[str, str, bool, Any, Callable[[Any], Any] | None, bool]] = []
    for param in dependant.query_params:
        annotation = param.field_info.annotation
        required = param.field_info.is_required()
        default = None if required else param.field_info.get_default(call_default_factory=True)
        if _is_str(annotation) and not param.field_info.metadata:
            query.append((param.name, param.alias, required, default, None, False))
        elif is_str_list(annotation):
            query.append((param.name, param.alias, required, default, None, True))
        else:
            query.append(
                (param.name, param.alias, required, default, converter(param, ("query", param.alias)), False)
            )
    subs: list[tuple[str, Callable[..., Awaitable[Any]], Solver]] = []
    for sub in dependant.dependencies:
        call = sub.call
        if call is None or not inspect.iscoroutinefunction(call) or sub.name is None:
            raise NotCompilable(f"dependency {getattr(call, '__name__', call)} is not an async def function")
        subs.append((sub.name, call, _solver(sub, top=False)))
    path_names = tuple(param.name for param in dependant.path_params)
    request_name = dependant.request_param_name

    async def solve(request: Request, cache: dict) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, call, sub_solve in subs:  # first, as FastAPI does: a 401 before a 400
            if call in cache:
                values[name] = cache[call]
            else:
                values[name] = cache[call] = await call(**await sub_solve(request, cache))
        if path_names:
            path_params = request.scope["path_params"]
            for name in path_names:
                values[name] = path_params[name]
        if query:
            # Most requests send no query: then nothing is parsed.
            received = request.query_params if request.scope["query_string"] else NO_QUERY
            for name, alias, required, default, convert, repeated in query:
                if repeated:
                    listed = received.getlist(alias)
                    if not listed and required:
                        raise BadRequest(f"Invalid request: query.{alias}: Field required")
                    values[name] = listed if listed else default
                    continue
                value = received.get(alias)
                if value is None:
                    if required:
                        raise BadRequest(f"Invalid request: query.{alias}: Field required")
                    value = default
                elif convert is not None:
                    value = convert(value)
                values[name] = value
        if request_name:
            values[request_name] = request
        return values

    return solve


def _caller_dependency(dependant: Dependant) -> Any:
    """`admin_principal` or `current_principal` (an admin route: the first) when the route
    takes one of them and otherwise only plain dependencies (server/deps.py), else None."""
    callers = {admin_principal, current_principal}
    calls = _dependency_calls(dependant)
    if not calls & callers or any(c not in callers and not getattr(c, PLAIN, False) for c in calls):
        return None
    return admin_principal if admin_principal in calls else current_principal


def _dependency_calls(dependant: Dependant) -> set[Any]:
    calls = set()
    for sub in dependant.dependencies:
        calls.add(sub.call)
        calls |= _dependency_calls(sub)
    return calls


def runs_in_unit(route: APIRoute, loop_bound: frozenset[Any]) -> bool:
    """Whether a route runs off the loop in a unit of work (server/units.py): every
    state-changing route but those that take a component bound to the server's loop."""
    if not (route.methods - {"GET", "HEAD", "OPTIONS"}):
        return False
    return not (_dependency_calls(route.dependant) & loop_bound)


def compile_route(
    route: APIRoute,
    answers: Answers | None = None,
    writes: WriteUnits | None = None,
    *,
    only_settled: bool = False,
    not_read: frozenset[str] = frozenset(OWN_TOPICS),
) -> Invoker:
    """A plan that answers `route` as FastAPI would, or NotCompilable saying why not. With
    `answers`, a GET's 200 answers are kept under the request's stamps (server/answers.py);
    with `only_settled`, only those its handler marked settled; under the stamps without the
    `not_read` topics (server/answers.py OWN_TOPICS: by default all of them); with `writes`,
    the handler runs off the loop in the request's unit of work."""
    endpoint = route.dependant.call
    if not inspect.iscoroutinefunction(endpoint):
        raise NotCompilable("the handler is not an async def function")
    returns = inspect.signature(endpoint).return_annotation
    if returns not in ("Response", Response) or route.response_model is not None:
        raise NotCompilable("the handler does not return a Response itself")
    solve = _solver(route.dependant)
    read_body = _body_reader(route.dependant)
    body_name = route.dependant.body_params[0].name if read_body is not None else ""

    async def invoke(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        values = await solve(request, {})
        if read_body is not None:  # after the key check: a 401 before a 400
            values[body_name] = await read_body(request)
        response = await endpoint(**values)
        await response(scope, receive, send)

    if writes is not None:

        async def invoke_in_unit(scope: Scope, receive: Receive, send: Send) -> None:
            request = Request(scope, receive)
            values = await solve(request, {})  # on the loop: the key check and the stamps
            await request.body()  # read here; decoded and validated in the unit, off the loop

            async def handler() -> Response:
                if read_body is not None:
                    values[body_name] = await read_body(request)  # awaits nothing: already read
                return await endpoint(**values)

            store = scope["app"].state.store
            response = await writes.run(store, scope, handler)
            await response(scope, receive, send)

        return invoke_in_unit

    if answers is None or "GET" not in route.methods or read_body is not None:
        return invoke

    who = _caller_dependency(route.dependant)

    async def invoke_keeping_answers(scope: Scope, receive: Receive, send: Send) -> None:
        cache: dict = {}
        if who is not None and scope["method"] == "GET":
            # The key check first, and the lookup right after it: a kept answer was made for
            # this very path, query and caller, so nothing else of the plan is needed for it.
            principal = cache[current_principal] = await principal_of(scope)
            if who is admin_principal:
                principal.require_admin()
                cache[admin_principal] = principal
            key = (scope["path"], scope["query_string"], principal)
            hit = answers.get(key, without(scope[STAMPS], not_read))
            if hit is not None:
                await _send_kept(send, *hit)
                return
        request = Request(scope, receive)
        values = await solve(request, cache)  # the key check (unless made above), the stamps read for it
        stamps = scope.get(STAMPS)
        principal = scope.get("state", {}).get("principal")
        if stamps is None or principal is None or scope["method"] != "GET":
            response = await endpoint(**values)
            await response(scope, receive, send)
            return
        stamps = without(stamps, not_read)
        key = (scope["path"], scope["query_string"], principal)
        if who is None and (hit := answers.get(key, stamps)) is not None:  # not looked up above
            await _send_kept(send, *hit)
            return
        response = await endpoint(**values)
        if (
            response.status_code == 200
            and type(response) is Response
            and not response.background
            and (not only_settled or getattr(response, SETTLED, False))
        ):
            content_type = response.headers.get("content-type", "application/json").encode("latin-1")
            answers.put(key, stamps, bytes(response.body), content_type, getattr(response, FILE_STAMP, None))
        await response(scope, receive, send)

    return invoke_keeping_answers


async def _send_kept(send: Send, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def compile_table(
    table: RouteTable,
    answers: Answers | None = None,
    writes: WriteUnits | None = None,
    loop_bound: frozenset[Any] = frozenset(),
) -> dict[str, str]:
    """Compile every APIRoute of `table`; return {"METHODS path": reason} of those left to
    FastAPI. GET routes not in answers.NOT_KEPT keep their answers in `answers`; with
    `writes`, state-changing routes that take no `loop_bound` dependency run in a unit of
    work (server/units.py)."""
    left: dict[str, str] = {}
    for entry in table.entries:
        label = f"{','.join(sorted(entry.methods))} {getattr(entry.route, 'path', '?')}"
        if not isinstance(entry.route, APIRoute):
            left[label] = "not an API route"
            continue
        try:
            keeps = answers if answers is not None and kept(entry.route.path) else None
            unit = writes if writes is not None and runs_in_unit(entry.route, loop_bound) else None
            entry.invoker = compile_route(
                entry.route,
                keeps,
                unit,
                only_settled=kept_when_settled(entry.route.path),
                not_read=topics_not_read(entry.route.path),
            )
        except NotCompilable as exc:
            left[label] = str(exc)
    return left
