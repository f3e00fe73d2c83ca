"""General settings from the console: a form for the common fields and the whole document
as JSON, both saved by settings/service.py (which validates, as for PUT /admin/general-settings),
and the impersonation resolver as the API's /admin/impersonation/resolve runs it."""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson
from starlette.datastructures import FormData

from labkeeper.auth.service import groups_of
from labkeeper.db import Store
from labkeeper.errors import BadRequest
from labkeeper.names import check_name
from labkeeper.projects.access import ensure_project_exists
from labkeeper.server.responses import check_json_depth
from labkeeper.settings import service
from labkeeper.settings.impersonation import resolve

# The common fields: (form field, path in the document, kind).
COMMON = [
    ("idleKernelTimeoutSeconds", ("notebooks", "idleKernelTimeoutSeconds"), int),
    ("maxSessionsPerUser", ("notebooks", "maxSessionsPerUser"), int),
    ("maxLifetimeDays", ("apiKeys", "maxLifetimeDays"), int),
    ("indexUrl", ("codeEnvs", "packageIndex", "indexUrl"), str),
]
_FIELD_IN_MESSAGE = re.compile(r"'([A-Za-z0-9_.\[\]]+)'")


def common_values(doc: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for name, path, _kind in COMMON:
        node: Any = doc
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        values[name] = "" if node is None else node
    return values


def save_common(store: Store, form: FormData) -> None:
    doc = copy.deepcopy(service.get_general_settings(store))
    for name, path, kind in COMMON:
        raw = form.get(name, "").strip()
        if kind is int:
            if not re.fullmatch(r"\d{1,12}", raw):
                raise BadRequest(f"general settings: '{'.'.join(path)}' must be a whole number")
            value: Any = int(raw)
        else:
            value = raw or None
        node = doc
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    service.put_general_settings(store, doc)


def save_document(store: Store, text: str) -> None:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"general settings: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise BadRequest("general settings: a JSON object is required")
    check_json_depth(doc, "The settings document")
    service.put_general_settings(store, doc)


def field_named(message: str) -> str:
    """The settings field a validation message names ('impersonation.userRules[0]'), for the
    page to show the message next to it."""
    found = _FIELD_IN_MESSAGE.search(message)
    return found.group(1) if found else ""


def resolve_rule(store: Store, form: FormData) -> dict[str, Any]:
    login = check_name("user login", form.get("login", ""))
    project_key = form.get("projectKey", "").strip() or None
    if project_key:
        ensure_project_exists(store, project_key)
    groups = groups_of(store, login)
    settings = service.get_general_settings(store)
    resolution = resolve(settings["impersonation"], login=login, groups=groups, project_key=project_key)
    return resolution.as_json(login, project_key)
