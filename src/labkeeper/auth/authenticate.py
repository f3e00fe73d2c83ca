"""The per-request key check: one indexed read of the key, one of the user's groups.

Kept on SQLAlchemy Core and a read-only connection so it costs tens of microseconds; the
last-used time is written at most once a minute per key.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from sqlalchemy import bindparam, update

from labkeeper.auth.keys import hash_secret
from labkeeper.auth.models import ApiKey
from labkeeper.auth.principal import GLOBAL_PERMISSIONS, Principal
from labkeeper.db import Store, now_ms
from labkeeper.errors import Unauthorized

LAST_USED_RESOLUTION_MS = 60_000


def principal_from_groups(
    *,
    login: str | None,
    groups: list[str],
    group_rows: list,
    key_admin: bool,
    key_id: str,
    kind: str,
    key_permissions: dict | None = None,
) -> Principal:
    admin = key_admin or any(row.admin for row in group_rows)
    permissions = {p for row in group_rows for p in GLOBAL_PERMISSIONS if (row.permissions or {}).get(p)}
    # A global key may also hold global permissions of its own (its `globalPermissions`).
    permissions.update(p for p in GLOBAL_PERMISSIONS if (key_permissions or {}).get(p) is True)
    return Principal(
        login=login,
        groups=frozenset(groups),
        admin=admin,
        permissions=frozenset(permissions),
        key_id=key_id,
        key_kind=kind,
    )


# One round trip for the key, its user and the user's groups (one row per group), as SQL
# text on a bare connection (see Store.raw_reader). A global key's groups are in the key.
_KEY_BY_HASH = (
    "SELECT k.id, k.kind, k.user_login, k.admin, k.groups, k.expires_on, k.last_used_on, k.extra,"
    " u.enabled, g.name, g.admin, g.permissions"
    " FROM api_keys k"
    " LEFT OUTER JOIN users u ON u.login = k.user_login"
    " LEFT OUTER JOIN memberships m ON m.login = k.user_login AND k.kind <> 'GLOBAL'"
    " LEFT OUTER JOIN groups g ON g.name = m.group_name"
    " WHERE k.secret_hash = :digest"
)
_GROUP_BY_NAME = "SELECT g.name, g.admin, g.permissions FROM groups g WHERE g.name = :name"
_TOUCH = update(ApiKey).where(ApiKey.id == bindparam("key_id")).values(last_used_on=bindparam("now"))


@dataclass(frozen=True)
class _GroupRow:
    name: str
    admin: bool
    permissions: dict


def _json(value: object) -> object:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _group(row: tuple) -> _GroupRow:
    return _GroupRow(name=row[0], admin=bool(row[1]), permissions=_json(row[2]) or {})


def authenticate(store: Store, secret: str | None) -> Principal:
    if not secret:
        raise Unauthorized("No API key: send it as HTTP Basic user or as a Bearer token")
    with store.raw_reader() as query:
        rows = query(_KEY_BY_HASH, {"digest": hash_secret(secret)})
        if not rows:
            raise Unauthorized("Invalid API key: it is unknown or has been revoked")
        key = rows[0]
        key_id, kind, user_login, key_admin, key_groups, expires_on, last_used_on, extra, enabled = key[:9]
        now = now_ms()
        if expires_on and expires_on <= now:
            raise Unauthorized(f"API key {key_id} has expired; ask an admin for a new one")
        if kind == "GLOBAL":
            groups = list(_json(key_groups) or [])
            group_rows = [_group(r) for name in groups for r in query(_GROUP_BY_NAME, {"name": name})]
        else:
            if not enabled:  # no such user any more, or disabled
                raise Unauthorized(f"API key {key_id} belongs to a disabled or deleted user")
            group_rows = [_group(r[9:]) for r in rows if r[9] is not None]
            groups = [row.name for row in group_rows]
    if now - last_used_on > LAST_USED_RESOLUTION_MS:
        with store.engine.begin() as conn:
            conn.execute(_TOUCH, {"key_id": key_id, "now": now})
    extra = _json(extra) or {}
    return principal_from_groups(
        login=user_login,
        groups=groups,
        group_rows=group_rows,
        key_admin=bool(key_admin),
        key_id=key_id,
        kind=kind,
        key_permissions=extra.get("globalPermissions") if kind == "GLOBAL" else None,
    )
