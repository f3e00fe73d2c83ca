"""API keys: global keys (admin-made, their own rights), personal keys (act as their user)
and session keys (short-lived personal keys made by labkeeper itself, never listed).

A secret leaves the server once, in the answer to the call that made it; every other
answer shows the masked prefix. Lifetimes obey general settings `apiKeys.maxLifetimeDays`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from labkeeper.auth import schemas
from labkeeper.auth.guard import ensure_an_admin_remains, lock_admin_changes
from labkeeper.auth.keys import hash_secret, new_id, new_secret, shown_prefix
from labkeeper.auth.models import ApiKey, User
from labkeeper.auth.principal import Principal
from labkeeper.auth.service import check_groups_exist
from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest, Forbidden, NotFound
from labkeeper.names import check_name
from labkeeper.settings.service import get_general_settings

DAY_MS = 86_400_000
GLOBAL, PERSONAL, SESSION, PROXY = "GLOBAL", "PERSONAL", "SESSION", "PROXY"
_USER_KINDS = (PERSONAL, SESSION, PROXY)  # PROXY: an admin key acting as a user (auth/proxy.py)


def refuse_session_keys(caller: Principal) -> None:
    """Nothing a notebook session holds may outlive it: its key may not create, read, change
    or delete API keys (global or personal), whoever its creator is."""
    if caller.is_session:
        raise Forbidden(
            "Action forbidden: session keys cannot manage API keys",
            detail=f"{caller.audit_name} calls with the API key of a notebook session, which acts as its "
            "creator but may not create, read, change or delete API keys (they would outlive the "
            "session); use a personal API key",
        )


# ---------------------------------------------------------------- lifetimes


def max_lifetime_days(store: Store) -> int:
    value = (get_general_settings(store).get("apiKeys") or {}).get("maxLifetimeDays", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _check_max(created_on: int, expires_on: int, max_days: int) -> None:
    if max_days and (expires_on == 0 or expires_on - created_on > max_days * DAY_MS):
        asked = "no expiry" if expires_on == 0 else f"{(expires_on - created_on) / DAY_MS:.1f} days"
        raise BadRequest(
            f"Invalid expiry: API keys may live at most {max_days} days (general settings "
            f"apiKeys.maxLifetimeDays), this one asks for {asked}",
            detail=f"Ask for an expiry of at most {max_days} days, or an expiresOn within {max_days} days "
            "of creation; an admin can change apiKeys.maxLifetimeDays",
        )


def _check_future(expires_on: int, now: int) -> None:
    if expires_on and expires_on <= now:
        raise BadRequest("Invalid expiresOn: that time is already past; delete the key to revoke it")


def new_lifetime(
    *, now: int, days: int | None, expires_on: int | None, max_days: int
) -> tuple[int, int | None]:
    """(expiresOn, expiry days kept for display) of a key created now."""
    if days is not None:
        expires, kept = (0, None) if days == 0 else (now + days * DAY_MS, days)
    elif expires_on is not None:
        _check_future(expires_on, now)
        expires, kept = expires_on, None
    elif max_days:
        expires, kept = now + max_days * DAY_MS, max_days
    else:
        expires, kept = 0, None
    _check_max(now, expires, max_days)
    return expires, kept


def _changed_lifetime(key: ApiKey, parsed: schemas.KeyInput, *, now: int, max_days: int) -> None:
    """Apply a lifetime change of an update; an unchanged lifetime is never re-checked."""
    stored_days = (key.extra or {}).get("expiry")
    if parsed.expiry_days is not None and (parsed.expiry_days or None) != stored_days:
        days = parsed.expiry_days
        expires, kept = (0, None) if days == 0 else (key.created_on + days * DAY_MS, days)
        if expires and expires <= now:
            raise BadRequest(f"Invalid expiry: {days} days after the key's creation is already past")
    elif parsed.expires_on is not None and parsed.expires_on != key.expires_on:
        _check_future(parsed.expires_on, now)
        expires, kept = parsed.expires_on, None
    else:
        return
    _check_max(key.created_on, expires, max_days)
    key.expires_on = expires
    extra = {k: v for k, v in (key.extra or {}).items() if k != "expiry"}
    if kept is not None:
        extra["expiry"] = kept
    key.extra = extra


def _insert(
    s: Session,
    *,
    kind: str,
    user_login: str | None,
    created_by: str,
    now: int,
    expires_on: int,
    label: str = "",
    description: str = "",
    admin: bool = False,
    groups: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[ApiKey, str]:
    secret = new_secret()
    key = ApiKey(
        id=new_id(),
        kind=kind,
        prefix=shown_prefix(secret),
        secret_hash=hash_secret(secret),
        label=label,
        description=description,
        user_login=user_login,
        admin=admin,
        groups=groups or [],
        extra=extra or {},
        created_on=now,
        created_by=created_by,
        expires_on=expires_on,
        last_used_on=0,
    )
    s.add(key)
    s.flush()
    return key, secret


def _check_user(s: Session, login: str, field: str) -> None:
    if s.get(User, login) is None:
        raise BadRequest(f"Invalid {field}: user {login!r} does not exist")


def _page(query, limit: int | None, offset: int):  # type: ignore[no-untyped-def]
    query = query.order_by(ApiKey.created_on, ApiKey.id).offset(offset)
    return query if limit is None else query.limit(limit)


# ---------------------------------------------------------------- global keys


def _global(s: Session, key_id: str, *, lock: bool = False) -> ApiKey:
    key = s.get(ApiKey, key_id, with_for_update=lock)
    if key is None or key.kind != GLOBAL:
        raise NotFound(f"Global API key {key_id!r} does not exist")
    return key


def list_global_keys(store: Store, *, limit: int | None, offset: int) -> list[dict[str, Any]]:
    with store.read() as s:
        keys = s.scalars(_page(select(ApiKey).where(ApiKey.kind == GLOBAL), limit, offset))
        return [schemas.global_key_json(k) for k in keys]


def get_global_key(store: Store, key_id: str) -> dict[str, Any]:
    with store.read() as s:
        return schemas.global_key_json(_global(s, key_id))


def get_global_key_by_secret(store: Store, secret: str) -> dict[str, Any]:
    """The deprecated lookup by secret: found by hash, answered masked."""
    with store.read() as s:
        key = s.scalars(select(ApiKey).where(ApiKey.secret_hash == hash_secret(secret))).first()
        if key is None or key.kind != GLOBAL:
            raise NotFound("No global API key has this secret")
        return schemas.global_key_json(key)


def create_global_key(store: Store, body: dict[str, Any], *, creator: Principal) -> dict[str, Any]:
    parsed = schemas.parse_global_key(body)
    max_days = max_lifetime_days(store)
    now = now_ms()
    expires_on, days = new_lifetime(
        now=now, days=parsed.expiry_days, expires_on=parsed.expires_on, max_days=max_days
    )
    extra = dict(parsed.extra)
    if parsed.permissions:
        extra["globalPermissions"] = parsed.permissions
    if days is not None:
        extra["expiry"] = days
    with store.begin() as s:
        check_groups_exist(s, parsed.groups or [])
        if parsed.impersonation:
            _check_user(s, parsed.impersonation, "dssUserForImpersonation")
        key, secret = _insert(
            s,
            kind=GLOBAL,
            user_login=parsed.impersonation or None,
            created_by=creator.audit_name[:100],
            now=now,
            expires_on=expires_on,
            label=parsed.label or "",
            description=parsed.description or "",
            admin=bool(parsed.admin),
            groups=parsed.groups,
            extra=extra,
        )
        return schemas.global_key_json(key, secret=secret)


def update_global_key(store: Store, key_id: str, body: dict[str, Any]) -> dict[str, Any]:
    parsed = schemas.parse_global_key(body)
    if body.get("id") not in (None, key_id):
        raise BadRequest(
            f"Invalid id: it cannot be changed (the body says {body['id']!r}, the URL {key_id!r})"
        )
    max_days = max_lifetime_days(store)
    with store.begin() as s:
        lock_admin_changes(s)
        key = _global(s, key_id, lock=True)
        if parsed.label is not None:
            key.label = parsed.label
        if parsed.description is not None:
            key.description = parsed.description
        if parsed.admin is not None:
            key.admin = parsed.admin
        if parsed.groups is not None:
            check_groups_exist(s, parsed.groups)
            key.groups = parsed.groups
        if parsed.impersonation is not None:
            if parsed.impersonation:
                _check_user(s, parsed.impersonation, "dssUserForImpersonation")
            key.user_login = parsed.impersonation or None
        extra = dict(key.extra or {})
        extra.update(parsed.extra)
        if parsed.permissions is not None:
            extra["globalPermissions"] = parsed.permissions
        key.extra = extra
        _changed_lifetime(key, parsed, now=now_ms(), max_days=max_days)
        ensure_an_admin_remains(s, f"change global API key {key_id}")
        return schemas.global_key_json(key)


def delete_global_key(store: Store, key_id: str) -> None:
    with store.begin() as s:
        lock_admin_changes(s)
        _global(s, key_id, lock=True)
        s.execute(delete(ApiKey).where(ApiKey.id == key_id))
        ensure_an_admin_remains(s, f"delete global API key {key_id}")


# ---------------------------------------------------------------- personal keys


def _owns(caller: Principal, key: ApiKey) -> bool:
    return caller.key_kind in _USER_KINDS and caller.login is not None and caller.login == key.user_login


def _personal(s: Session, key_id: str, caller: Principal, *, lock: bool = False) -> ApiKey:
    key = s.get(ApiKey, key_id, with_for_update=lock)
    if key is None or key.kind != PERSONAL or not (caller.admin or _owns(caller, key)):
        raise NotFound(f"Personal API key {key_id!r} does not exist, or is not one of the caller's")
    return key


def list_personal_keys(
    store: Store, *, caller: Principal | None, limit: int | None, offset: int
) -> list[dict[str, Any]]:
    """The caller's own personal keys, or every user's when `caller` is None (admin listing)."""
    query = select(ApiKey).where(ApiKey.kind == PERSONAL)
    if caller is not None:
        if caller.key_kind not in _USER_KINDS or caller.login is None:
            return []
        query = query.where(ApiKey.user_login == caller.login)
    with store.read() as s:
        return [schemas.personal_key_json(k) for k in s.scalars(_page(query, limit, offset))]


def get_personal_key(store: Store, key_id: str, *, caller: Principal) -> dict[str, Any]:
    with store.read() as s:
        return schemas.personal_key_json(_personal(s, key_id, caller))


def create_personal_key(
    store: Store, body: dict[str, Any], *, caller: Principal, for_user: bool = False
) -> dict[str, Any]:
    """A key for the caller's own user, or (admin route, `for_user`) for the user in the body."""
    parsed = schemas.parse_personal_key(body)
    if for_user:
        owner = body.get("user")
        if owner is None or owner == "":
            raise BadRequest("Invalid user: the login of the key's user is required")
        owner = check_name("user", owner)
    else:
        if caller.key_kind not in _USER_KINDS or caller.login is None:
            raise Forbidden(
                "Action forbidden: personal API keys are made with a user's own key",
                detail=f"{caller.name} is a global API key and acts as no user; an admin creates keys for "
                "a user with POST /admin/personal-api-keys/",
            )
        owner = caller.login
    now = now_ms()
    expires_on, days = new_lifetime(
        now=now, days=parsed.expiry_days, expires_on=parsed.expires_on, max_days=max_lifetime_days(store)
    )
    with store.begin() as s:
        _check_user(s, owner, "user")
        key, secret = _insert(
            s,
            kind=PERSONAL,
            user_login=owner,
            created_by=caller.audit_name[:100],
            now=now,
            expires_on=expires_on,
            label=parsed.label or "",
            description=parsed.description or "",
            extra={"expiry": days} if days is not None else {},
        )
        return schemas.personal_key_json(key, secret=secret)


def update_personal_key(
    store: Store, key_id: str, body: dict[str, Any], *, caller: Principal
) -> dict[str, Any]:
    """Only the label and the description of a personal key change."""
    parsed = schemas.parse_personal_key(body)
    with store.begin() as s:
        key = _personal(s, key_id, caller, lock=True)
        for name, stored in (("id", key.id), ("user", key.user_login)):
            if body.get(name) not in (None, stored):
                raise BadRequest(f"Invalid {name}: the {name} of a personal API key cannot be changed")
        if parsed.label is not None:
            key.label = parsed.label
        if parsed.description is not None:
            key.description = parsed.description
        s.flush()
        return schemas.personal_key_json(key)


def delete_personal_key(store: Store, key_id: str, *, caller: Principal) -> None:
    with store.begin() as s:
        lock_admin_changes(s)
        _personal(s, key_id, caller, lock=True)
        s.execute(delete(ApiKey).where(ApiKey.id == key_id))
        ensure_an_admin_remains(s, f"delete personal API key {key_id}")


# ---------------------------------------------------------------- session keys


def create_session_key(store: Store, *, login: str, label: str, lifetime_ms: int) -> tuple[str, str]:
    """A key that acts as `login` for a notebook session: (id, secret). Never listed."""
    now = now_ms()
    with store.begin() as s:
        if s.get(User, login) is None:
            raise NotFound(f"User {login!r} does not exist")
        key, secret = _insert(
            s,
            kind=SESSION,
            user_login=login,
            created_by="labkeeper",
            now=now,
            expires_on=now + lifetime_ms if lifetime_ms > 0 else 0,
            label=label[:200],
        )
        return key.id, secret


def delete_key(store: Store, key_id: str) -> None:
    """Revoke any key by id (a no-op when it is already gone)."""
    with store.begin() as s:
        s.execute(delete(ApiKey).where(ApiKey.id == key_id))
