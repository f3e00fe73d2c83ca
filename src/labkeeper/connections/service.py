"""The connection registry: CRUD for admins, and who may use which connection.

Documents leave this module with the password masked; the clear password is only ever
read by `spec_for_use`, for the code that opens the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from labkeeper.auth.principal import Principal
from labkeeper.connections import secrets, sqlite_guard
from labkeeper.connections.documents import (
    MASK,
    SQLITE,
    check_connection_name,
    check_document,
    database_of,
    default_settings,
    split_password,
)
from labkeeper.connections.models import Connection
from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest, Conflict, Forbidden, NotFound

DEFAULT_CONNECTION = "local-sqlite"
DEFAULT_SQLITE_FILE = "local.db"
_DEFAULT_MARKER = Path("sql") / ".default-connection-created"


@dataclass(frozen=True)
class ConnectionSpec:
    """What opening a connection needs. `password` is clear text: never log or return it."""

    name: str
    type: str
    params: dict[str, Any]
    version: int
    password: str = field(default="", repr=False)


def protected_files(store: Store, data_dir: Path) -> list[Path]:
    """The instance's own files (the store's database among them), which no SQLite
    connection may open."""
    url = store.engine.url
    return sqlite_guard.protected_files(
        data_dir, url.database if url.get_backend_name() == "sqlite" else None
    )


def can_use(principal: Principal, connection: Connection) -> bool:
    if principal.admin or connection.usable_by == "ALL":
        return True
    return bool(principal.groups & set(connection.allowed_groups or []))


def _tag(login: str, when: int) -> dict[str, Any]:
    return {"lastModifiedBy": {"login": login}, "lastModifiedOn": when}


def to_document(connection: Connection) -> dict[str, Any]:
    params = dict(connection.params or {})
    if connection.secret:
        params["password"] = MASK
    document = {
        **default_settings(),
        **(connection.settings or {}),
        "name": connection.name,
        "type": connection.type,
        "description": connection.description,
        "params": params,
        "usableBy": connection.usable_by,
        "allowedGroups": list(connection.allowed_groups or []),
        "credentialsMode": "GLOBAL",
        "creationTag": _tag(connection.created_by, connection.created_on),
        "versionTag": {
            "versionNumber": connection.version,
            **_tag(connection.modified_by, connection.modified_on),
        },
    }
    return document


def _load(s: Any, name: str) -> Connection:
    connection = s.get(Connection, check_connection_name(name))
    if connection is None:
        raise NotFound(f"Connection {name!r} does not exist")
    return connection


def list_connections(store: Store) -> dict[str, dict[str, Any]]:
    with store.read() as s:
        return {c.name: to_document(c) for c in s.scalars(select(Connection).order_by(Connection.name))}


def get_connection(store: Store, name: str) -> dict[str, Any]:
    with store.read() as s:
        return to_document(_load(s, name))


def create_connection(store: Store, data_dir: Path, principal: Principal, body: object) -> dict[str, Any]:
    fields = check_document(data_dir, body, protected=protected_files(store, data_dir))
    params, password = split_password(fields["params"])
    if password is None:
        raise BadRequest("A new connection's params.password cannot be the masked value: send the password")
    secret = secrets.encrypt(data_dir, password)
    now = now_ms()
    connection = Connection(
        name=fields["name"],
        type=fields["type"],
        description=fields["description"],
        params=params,
        secret=secret,
        usable_by=fields["usableBy"],
        allowed_groups=fields["allowedGroups"],
        settings={**default_settings(), **fields["settings"]},
        created_on=now,
        created_by=principal.name,
        modified_on=now,
        modified_by=principal.name,
        version=1,
    )
    try:
        with store.begin() as s:
            if s.get(Connection, connection.name) is not None:
                raise Conflict(f"A connection named {connection.name!r} already exists")
            s.add(connection)
    except IntegrityError:
        raise Conflict(f"A connection named {connection.name!r} already exists") from None
    return to_document(connection)


def update_connection(
    store: Store, data_dir: Path, principal: Principal, name: str, body: object
) -> dict[str, Any]:
    name = check_connection_name(name)
    fields = check_document(data_dir, body, name=name, protected=protected_files(store, data_dir))
    params, password = split_password(fields["params"])
    secret = None if password is None else secrets.encrypt(data_dir, password)
    with store.begin() as s:
        connection = _load(s, name)
        if password is None and connection.secret:
            _require_password_for_new_target(connection, fields["type"], params)
        connection.type = fields["type"]
        connection.description = fields["description"]
        connection.params = params
        if secret is not None:
            connection.secret = secret
        elif connection.secret:  # a rotated instance secret: saved again under the current key
            connection.secret = secrets.reencrypt(data_dir, connection.secret)
        connection.usable_by = fields["usableBy"]
        connection.allowed_groups = fields["allowedGroups"]
        connection.settings = {**default_settings(), **fields["settings"]}
        connection.modified_on = now_ms()
        connection.modified_by = principal.name
        connection.version += 1
        return to_document(connection)


# Where the stored password goes: changing any of them with the masked password would send
# the stored password to another server or account.
_TARGET_PARAMS = ("host", "port", "db", "user", "path")


def _target(kind: str, params: dict[str, Any]) -> tuple[object, ...]:
    port = params.get("port")
    return (
        kind,
        (params.get("host") or "").strip().lower(),
        int(port) if isinstance(port, int | str) and str(port).strip().isdigit() else port or 5432,
        database_of(params),
        params.get("user") or "",
        params.get("path") or "",
    )


def _require_password_for_new_target(connection: Connection, kind: str, params: dict[str, Any]) -> None:
    before = _target(connection.type, dict(connection.params or {}))
    after = _target(kind, params)
    changed = [
        name for name, old, new in zip(("type", *_TARGET_PARAMS), before, after, strict=True) if old != new
    ]
    if changed:
        raise BadRequest(
            f"Connection {connection.name!r}: changing {', '.join(changed)} needs the password again: "
            "send the password in params.password (the masked value would send the stored password "
            "to the new target)"
        )


def delete_connection(store: Store, name: str) -> None:
    with store.begin() as s:
        s.delete(_load(s, name))


def connection_names(store: Store, principal: Principal, kind: str | None) -> list[str]:
    query = select(Connection).order_by(Connection.name)
    if kind and kind.lower() != "all":
        query = query.where(Connection.type == kind)
    with store.read() as s:
        return [c.name for c in s.scalars(query) if can_use(principal, c)]


def _load_usable(s: Any, principal: Principal, name: str) -> Connection:
    connection = _load(s, name)
    if not can_use(principal, connection):
        raise Forbidden(
            f"Action forbidden: connection {name!r} is not usable by {principal.name}",
            detail=f"Connection {name!r} is usable only by the groups "
            f"{', '.join(connection.allowed_groups)}; {principal.name} belongs to none of them. "
            "An admin can add one of the caller's groups.",
        )
    return connection


def require_usable(store: Store, principal: Principal, name: str) -> None:
    with store.read() as s:
        _load_usable(s, principal, name)


def connection_info(store: Store, principal: Principal, name: str) -> dict[str, Any]:
    """What a user of the connection may know about it: its type and params, no credential."""
    with store.read() as s:
        document = to_document(_load_usable(s, principal, name))
    return {
        "name": document["name"],
        "type": document["type"],
        "params": document["params"],
        "resolvedParams": document["params"],
        "credentialsMode": "GLOBAL",
        "usableBy": document["usableBy"],
    }


def spec_for_use(store: Store, data_dir: Path, name: str) -> ConnectionSpec:
    """The connection with its clear password, for opening it (no permission check here)."""
    with store.read() as s:
        connection = _load(s, name)
        spec = (connection.name, connection.type, dict(connection.params or {}), connection.version)
        token = connection.secret
    try:
        password = secrets.decrypt(data_dir, token)
    except secrets.SecretUnreadable as exc:
        raise BadRequest(f"Connection {name!r}: {exc}") from None
    return ConnectionSpec(*spec, password=password)


def ensure_default_connection(store: Store, data_dir: Path) -> None:
    """Give a fresh instance one SQLite connection, once (an admin may delete it for good)."""
    marker = data_dir / _DEFAULT_MARKER
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = now_ms()
    try:
        with store.begin() as s:
            if s.get(Connection, DEFAULT_CONNECTION) is None:
                s.add(
                    Connection(
                        name=DEFAULT_CONNECTION,
                        type=SQLITE,
                        description="A SQLite database in the instance's data directory",
                        params={"path": DEFAULT_SQLITE_FILE},
                        secret="",
                        usable_by="ALL",
                        allowed_groups=[],
                        settings=default_settings(),
                        created_on=now,
                        created_by="system",
                        modified_on=now,
                        modified_by="system",
                        version=1,
                    )
                )
    except IntegrityError:
        pass  # another worker created it at the same moment
    marker.touch()
