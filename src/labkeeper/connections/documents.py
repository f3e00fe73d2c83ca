"""Validation of connection documents, per type, and their masked JSON form.

A document is `{name, type, description, params, usableBy, allowedGroups, ...}`; the
other top-level keys (allowWrite, detailsReadability, ...) are validated when labkeeper
knows them and kept as sent. The password is the only secret: it is split out of
`params` before storage and shown as MASK; sending MASK back keeps the stored one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from labkeeper.connections import sqlite_guard
from labkeeper.connections.bodies import ConnectionBody
from labkeeper.errors import BadRequest
from labkeeper.names import check_name, check_text
from labkeeper.server.params import validated

SQLITE, POSTGRESQL = "SQLite", "PostgreSQL"
TYPES = (SQLITE, POSTGRESQL)
MASK = "**********"
SQL_DIR = "sql"
USABLE_BY = ("ALL", "ALLOWED")
READABLE_BY = ("NONE", "ALL", "ALLOWED")
# Keys the server computes: accepted in a PUT (they come back from a GET) but ignored.
COMPUTED = ("creationTag", "versionTag", "credentialsMode")
MAX_GROUPS = 1000
_PROPERTY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_connection_name(value: object) -> str:
    return check_name("connection name", value)


def sqlite_path(data_dir: Path, value: object, protected: list[Path] | None = None) -> Path:
    """The absolute file of a SQLite connection: `value` is relative to `<data_dir>/sql`,
    and neither a URI nor one of the `protected` files (the instance's own), by path or inode."""
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("Invalid SQLite connection: params.path must be a non-empty relative file path")
    if len(value) > 500 or "\x00" in value or "\\" in value:
        raise BadRequest(
            "Invalid SQLite connection: params.path must be a plain path of at most 500 characters"
        )
    if value.lower().startswith("file:") or "?" in value or "#" in value:
        raise BadRequest(
            f"Invalid SQLite connection path {value!r}: give a plain file path, not a URI "
            "(no 'file:', '?' or '#')"
        )
    relative = Path(value)
    if relative.is_absolute() or ".." in relative.parts or value.endswith("/"):
        raise BadRequest(
            f"Invalid SQLite connection path {value!r}: give a file path relative to the instance's "
            f"'{SQL_DIR}' folder, without '..' and not absolute"
        )
    root = (data_dir / SQL_DIR).resolve()
    if root == data_dir.resolve() or root in data_dir.resolve().parents:
        raise BadRequest(f"The instance's '{SQL_DIR}' folder resolves to the data directory or above it")
    target = (root / relative).resolve()
    if target == root or root not in target.parents:
        raise BadRequest(
            f"Invalid SQLite connection path {value!r}: it resolves outside the '{SQL_DIR}' folder"
        )
    try:
        sqlite_guard.check_file(root, target, protected or [], value)
    except sqlite_guard.Refused as exc:
        raise BadRequest(f"Invalid SQLite connection: {exc}") from None
    return target


def _check_port(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise BadRequest(f"Invalid PostgreSQL connection: params.port must be a port number, got {value!r}")
    return value


def properties_of(params: dict[str, Any]) -> dict[str, str]:
    """Extra libpq properties, given as [{name, value}] (as DSS does) or as an object."""
    raw = params.get("properties") or []
    pairs: list[tuple[object, object]]
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = []
        for item in raw:
            if not isinstance(item, dict) or "name" not in item:
                raise BadRequest(
                    "Invalid PostgreSQL connection: each of params.properties needs a 'name' and a 'value'"
                )
            pairs.append((item["name"], item.get("value", "")))
    else:
        raise BadRequest("Invalid PostgreSQL connection: params.properties must be a list of {name, value}")
    properties: dict[str, str] = {}
    for name, value in pairs:
        if not isinstance(name, str) or not _PROPERTY_NAME.fullmatch(name):
            raise BadRequest(
                f"Invalid PostgreSQL connection property name {name!r}: use letters, digits and '_'"
            )
        if "password" in name.lower():
            raise BadRequest(
                f"Invalid PostgreSQL connection property {name!r}: passwords go in params.password, "
                "where they are stored encrypted"
            )
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise BadRequest(
                f"Invalid PostgreSQL connection property {name!r}: the value must be a string or number"
            )
        properties[name] = check_text(f"connection property {name!r}", str(value), max_length=1000)
    return properties


def database_of(params: dict[str, Any]) -> str:
    """PostgreSQL database name: `db` (as DSS names it) or `database`."""
    return params.get("db") or params.get("database") or ""


def _check_postgresql(params: dict[str, Any]) -> None:
    host = params.get("host")
    if not isinstance(host, str) or not host.strip():
        raise BadRequest("Invalid PostgreSQL connection: params.host is required (a host name or address)")
    check_text("PostgreSQL host", host, max_length=255)
    params["port"] = _check_port(params.get("port", 5432))
    for key in ("db", "database", "user"):
        if key in params and params[key] is not None and not isinstance(params[key], str):
            raise BadRequest(f"Invalid PostgreSQL connection: params.{key} must be a string")
        check_text(f"PostgreSQL {key}", params.get(key) or "", max_length=255)
    if params.get("db") and params.get("database") and params["db"] != params["database"]:
        raise BadRequest(
            "Invalid PostgreSQL connection: params.db and params.database name different databases"
        )
    if not database_of(params):
        raise BadRequest("Invalid PostgreSQL connection: params.db (the database name) is required")
    properties_of(params)


def split_password(params: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Params without the password, and the password: None when MASK says "keep it"."""
    params = dict(params)
    password = params.pop("password", None)
    if password is None or password == "":
        return params, ""
    if not isinstance(password, str):
        raise BadRequest("Invalid connection: params.password must be a string")
    if len(password) > 1000:
        raise BadRequest("Invalid connection: params.password is longer than 1000 characters")
    return params, None if password == MASK else password


def _check_groups(where: str, value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or len(value) > MAX_GROUPS:
        raise BadRequest(f"Invalid {where}: a list of group names is required")
    return [check_text(f"group name in {where}", g, max_length=200, allow_empty=False) for g in value]


def check_document(
    data_dir: Path, body: object, *, name: str | None = None, protected: list[Path] | None = None
) -> dict[str, Any]:
    """Validate a create (name from the body) or update (name from the path) document.

    Returns the normalised fields: name, type, description, params (password left in),
    usableBy, allowedGroups, settings (the other keys).
    """
    body = validated(ConnectionBody, body).sent()  # the types, as a request's plan checks them
    given = body.get("name")
    if name is None:
        name = check_connection_name(given)
    elif given is not None and given != name:
        raise BadRequest(
            f"The body names connection {given!r} but the path names {name!r}; renaming is not supported"
        )
    kind = body.get("type")
    if kind not in TYPES:
        raise BadRequest(f"Invalid connection type {kind!r}: labkeeper supports {', '.join(TYPES)}")
    params = body.get("params")
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise BadRequest("Invalid connection: params must be a JSON object")
    params = dict(params)
    if kind == SQLITE:
        sqlite_path(data_dir, params.get("path"), protected)
    else:
        _check_postgresql(params)
    usable_by = body.get("usableBy") or "ALL"
    if usable_by not in USABLE_BY:
        raise BadRequest(f"Invalid usableBy {usable_by!r}: use ALL or ALLOWED")
    settings: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("name", "type", "params", "usableBy", "allowedGroups", "description", *COMPUTED):
            continue
        if key == "detailsReadability":
            value = _check_readability(value)
        settings[key] = value
    return {
        "name": name,
        "type": kind,
        "description": check_text("connection description", body.get("description")),
        "params": params,
        "usableBy": usable_by,
        "allowedGroups": _check_groups("allowedGroups", body.get("allowedGroups")),
        "settings": settings,
    }


def _check_readability(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest("Invalid connection: detailsReadability must be an object with readableBy")
    readable_by = value.get("readableBy", "NONE")
    if readable_by not in READABLE_BY:
        raise BadRequest(f"Invalid detailsReadability.readableBy {readable_by!r}: use NONE, ALL or ALLOWED")
    return {
        **value,
        "readableBy": readable_by,
        "allowedGroups": _check_groups("detailsReadability.allowedGroups", value.get("allowedGroups")),
    }


def default_settings() -> dict[str, Any]:
    return {
        "allowWrite": True,
        "allowManagedDatasets": True,
        "allowManagedFolders": False,
        "allowKnowledgeBanks": False,
        "detailsReadability": {"readableBy": "NONE", "allowedGroups": []},
    }
