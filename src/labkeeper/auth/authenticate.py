"""The per-request key check: what a key grants, read in one round trip and then kept
in memory until the store says keys, users or groups changed.

The last-used time is written at most once a minute per key and process; a request's
key check hands that write to its caller (`touched`), which makes it off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from sqlalchemy import bindparam, update

from labkeeper.auth import activity
from labkeeper.auth.keys import hash_secret
from labkeeper.auth.models import ApiKey
from labkeeper.auth.principal import GLOBAL_PERMISSIONS, Principal
from labkeeper.db import Store, now_ms
from labkeeper.db.stamps import IDENTITY, Stamps
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
    proxied_by: str | None = None,
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
        proxied_by=proxied_by,
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
_USER_GROUPS = (
    "SELECT u.enabled, g.name, g.admin, g.permissions FROM users u"
    " LEFT OUTER JOIN memberships m ON m.login = u.login"
    " LEFT OUTER JOIN groups g ON g.name = m.group_name"
    " WHERE u.login = :login"
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


@dataclass(slots=True)
class _KnownKey:
    principal: Principal
    expires_on: int
    last_used_on: int


MAX_KNOWN_KEYS = 10_000
_KNOWN = "known-api-keys"


def authenticate(
    store: Store,
    secret: str | None,
    stamps: Stamps | None = None,
    touched: list[tuple[str, int]] | None = None,
) -> Principal:
    """Who a key is, checked on every request; `stamps` as read at the start of the request.
    A due last-used time is appended to `touched` (for `touch_keys`), else written here.

    What a key grants is kept in memory under the store's `identity` change stamp (see
    db/stamps.py), which any change to a key, a user, a group or a membership moves, in any
    process: the next request then reads the key again. Expiry is checked on every request.
    """
    if not secret:
        raise Unauthorized("No API key: send it as HTTP Basic user or as a Bearer token")
    stamp = (stamps if stamps is not None else store.stamps()).get(IDENTITY, 0)
    known = store.cache.get(_KNOWN)
    if known is None or known[0] != stamp:
        known = store.cache[_KNOWN] = (stamp, {})
    digest = hash_secret(secret)
    key = known[1].get(digest)
    if key is None:
        key = _read_key(store, digest)  # read after the stamp: at worst newer than it
        if len(known[1]) >= MAX_KNOWN_KEYS:
            known[1].clear()
        known[1][digest] = key
    now = now_ms()
    if key.expires_on and key.expires_on <= now:
        raise Unauthorized(f"API key {key.principal.key_id} has expired; ask an admin for a new one")
    if now - key.last_used_on > LAST_USED_RESOLUTION_MS:
        key.last_used_on = now  # at once: the other requests of this minute do not ask again
        if touched is None:
            touch_keys(store, [(key.principal.key_id, now)])
        else:
            touched.append((key.principal.key_id, now))
    return key.principal


def touch_keys(store: Store, touched: list[tuple[str, int]]) -> None:
    """Write last-used times, and the last API call of each key's user (blocking: a write
    transaction; call off the event loop)."""
    rows = [{"key_id": key_id, "now": now} for key_id, now in touched]
    with store.engine.begin() as conn:
        conn.execute(_TOUCH, rows)
        for row in rows:
            conn.execute(activity.api_calls_statement(), row)


def _read_key(store: Store, digest: str) -> _KnownKey:
    with store.raw_reader() as query:
        rows = query(_KEY_BY_HASH, {"digest": digest})
        if not rows:
            raise Unauthorized("Invalid API key: it is unknown or has been revoked")
        key_id, kind, user_login, key_admin, key_groups, expires_on, last_used, extra, enabled = rows[0][:9]
        if user_login is not None and not enabled:  # no such user any more, or disabled
            raise Unauthorized(f"API key {key_id} acts as user {user_login}, who is disabled or deleted")
        if kind == "GLOBAL":
            groups = list(_json(key_groups) or [])
            group_rows = [_group(r) for name in groups for r in query(_GROUP_BY_NAME, {"name": name})]
        else:
            group_rows = [_group(r[9:]) for r in rows if r[9] is not None]
            groups = [row.name for row in group_rows]
    extra = _json(extra) or {}
    principal = principal_from_groups(
        login=user_login,
        groups=groups,
        group_rows=group_rows,
        key_admin=bool(key_admin),
        key_id=key_id,
        kind=kind,
        key_permissions=extra.get("globalPermissions") if kind == "GLOBAL" else None,
    )
    return _KnownKey(principal, expires_on or 0, last_used or 0)


def read_user_groups(store: Store, login: str) -> tuple[bool, list[str], list[_GroupRow]] | None:
    """(enabled, group names, group rows) of a user, in one round trip; None when there is no such user."""
    with store.raw_reader() as query:
        rows = query(_USER_GROUPS, {"login": login})
    if not rows:
        return None
    group_rows = [_group(r[1:]) for r in rows if r[1] is not None]
    return bool(rows[0][0]), [row.name for row in group_rows], group_rows
