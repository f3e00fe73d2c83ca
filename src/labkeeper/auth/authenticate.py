"""The per-request key check: one indexed read of the key, one of the user's groups.

Kept on SQLAlchemy Core and a read-only connection so it costs tens of microseconds; the
last-used time is written at most once a minute per key.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select, update

from labkeeper.auth.keys import hash_secret
from labkeeper.auth.models import ApiKey, Group, Membership, User
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


# Built once: constructing a statement costs more than running it on an indexed table.
_KEY_BY_HASH = (
    select(
        ApiKey.id,
        ApiKey.kind,
        ApiKey.user_login,
        ApiKey.admin,
        ApiKey.groups,
        ApiKey.expires_on,
        ApiKey.last_used_on,
        ApiKey.extra,
        User.enabled,
    )
    .outerjoin(User, User.login == ApiKey.user_login)
    .where(ApiKey.secret_hash == bindparam("digest"))
)
_GROUPS_OF_USER = (
    select(Group.name, Group.admin, Group.permissions)
    .join(Membership, Membership.group_name == Group.name)
    .where(Membership.login == bindparam("login"))
)
_GROUPS_BY_NAME = select(Group.name, Group.admin, Group.permissions).where(
    Group.name.in_(bindparam("names", expanding=True))
)
_TOUCH = update(ApiKey).where(ApiKey.id == bindparam("key_id")).values(last_used_on=bindparam("now"))


def authenticate(store: Store, secret: str | None) -> Principal:
    if not secret:
        raise Unauthorized("No API key: send it as HTTP Basic user or as a Bearer token")
    with store.reader.connect() as conn:
        key = conn.execute(_KEY_BY_HASH, {"digest": hash_secret(secret)}).first()
        if key is None:
            raise Unauthorized("Invalid API key: it is unknown or has been revoked")
        now = now_ms()
        if key.expires_on and key.expires_on <= now:
            raise Unauthorized(f"API key {key.id} has expired; ask an admin for a new one")
        user_login = key.user_login
        if key.kind == "GLOBAL":
            groups = list(key.groups or [])
            group_rows = conn.execute(_GROUPS_BY_NAME, {"names": groups}).all() if groups else []
        else:
            if not key.enabled:  # no such user any more, or disabled
                raise Unauthorized(f"API key {key.id} belongs to a disabled or deleted user")
            group_rows = conn.execute(_GROUPS_OF_USER, {"login": user_login}).all()
            groups = [row.name for row in group_rows]
    if now - key.last_used_on > LAST_USED_RESOLUTION_MS:
        with store.engine.begin() as conn:
            conn.execute(_TOUCH, {"key_id": key.id, "now": now})
    return principal_from_groups(
        login=user_login,
        groups=groups,
        group_rows=group_rows,
        key_admin=bool(key.admin),
        key_id=key.id,
        kind=key.kind,
        key_permissions=(key.extra or {}).get("globalPermissions") if key.kind == "GLOBAL" else None,
    )
