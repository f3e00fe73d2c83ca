"""The per-request key check: one indexed read of the key, one of the user's groups.

Kept on SQLAlchemy Core and a read-only connection so it costs tens of microseconds; the
last-used time is written at most once a minute per key.
"""

from __future__ import annotations

from sqlalchemy import select, update

from labkeeper.auth.keys import hash_secret
from labkeeper.auth.models import ApiKey, Group, Membership, User
from labkeeper.auth.principal import GLOBAL_PERMISSIONS, Principal
from labkeeper.db import Store, now_ms
from labkeeper.errors import Unauthorized

LAST_USED_RESOLUTION_MS = 60_000


def _group_rows(conn, names: list[str]):  # type: ignore[no-untyped-def]
    if not names:
        return []
    return conn.execute(select(Group.name, Group.admin, Group.permissions).where(Group.name.in_(names))).all()


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


def authenticate(store: Store, secret: str | None) -> Principal:
    if not secret:
        raise Unauthorized("No API key: send it as HTTP Basic user or as a Bearer token")
    digest = hash_secret(secret)
    with store.reader.connect() as conn:
        key = conn.execute(
            select(
                ApiKey.id,
                ApiKey.kind,
                ApiKey.user_login,
                ApiKey.admin,
                ApiKey.groups,
                ApiKey.expires_on,
                ApiKey.last_used_on,
                ApiKey.extra,
            ).where(ApiKey.secret_hash == digest)
        ).first()
        if key is None:
            raise Unauthorized("Invalid API key: it is unknown or has been revoked")
        now = now_ms()
        if key.expires_on and key.expires_on <= now:
            raise Unauthorized(f"API key {key.id} has expired; ask an admin for a new one")
        user_login = key.user_login
        if key.kind == "GLOBAL":
            groups = list(key.groups or [])
        else:
            user = conn.execute(select(User.enabled).where(User.login == user_login)).first()
            if user is None or not user.enabled:
                raise Unauthorized(f"API key {key.id} belongs to a disabled or deleted user")
            groups = list(
                conn.execute(select(Membership.group_name).where(Membership.login == user_login)).scalars()
            )
        group_rows = _group_rows(conn, groups)
    if now - key.last_used_on > LAST_USED_RESOLUTION_MS:
        with store.engine.begin() as conn:
            conn.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_on=now))
    return principal_from_groups(
        login=user_login,
        groups=groups,
        group_rows=group_rows,
        key_admin=bool(key.admin),
        key_id=key.id,
        kind=key.kind,
        key_permissions=(key.extra or {}).get("globalPermissions") if key.kind == "GLOBAL" else None,
    )
