"""Users and groups: each call is one transaction and returns the REST document."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labkeeper.auth import schemas, user_secrets
from labkeeper.auth.guard import ensure_an_admin_remains, lock_admin_changes
from labkeeper.auth.models import ApiKey, Group, Membership, User
from labkeeper.auth.passwords import hash_password, verify_password
from labkeeper.auth.principal import Principal
from labkeeper.auth.retirement import user_retired
from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest, Conflict, Forbidden, NotFound

# Fields a user may change in their own settings; the rest (groups, profile, enabled, ...)
# is for admins, and is kept unchanged when sent to PUT /current-user.
_SELF_EDITABLE_COLUMNS = {"display_name", "email"}
_SELF_HIDDEN_EXTRA = {"adminProperties"}


def groups_of(store: Store, login: str) -> list[str]:
    """The groups of an existing user (404 when there is no such user)."""
    with store.read() as s:
        if s.get(User, login) is None:
            raise NotFound(f"User {login!r} does not exist")
        return list(s.scalars(select(Membership.group_name).where(Membership.login == login)))


def _memberships(s: Session, login: str) -> list[str]:
    return sorted(s.scalars(select(Membership.group_name).where(Membership.login == login)))


def _require_user(s: Session, login: str, *, lock: bool = False) -> User:
    user = s.get(User, login, with_for_update=lock)
    if user is None:
        raise NotFound(f"User {login!r} does not exist")
    return user


def check_groups_exist(s: Session, groups: list[str], *, field: str = "groups") -> None:
    if not groups:
        return
    found = set(s.scalars(select(Group.name).where(Group.name.in_(groups))))
    missing = [g for g in groups if g not in found]
    if missing:
        raise BadRequest(
            f"Invalid {field}: group {missing[0]!r} does not exist",
            detail=f"Group(s) {', '.join(repr(g) for g in missing)} named in {field} do not exist; "
            "create them first with POST /admin/groups/",
        )


def _set_memberships(s: Session, login: str, groups: list[str]) -> None:
    check_groups_exist(s, groups)
    s.execute(delete(Membership).where(Membership.login == login))
    s.add_all(Membership(login=login, group_name=g) for g in groups)


def _apply_extra(user: User, extra: dict[str, Any]) -> None:
    if extra:
        user.extra = {**(user.extra or {}), **extra}


# ---------------------------------------------------------------- users


def list_users(
    store: Store, *, include_settings: bool, limit: int | None, offset: int
) -> list[dict[str, Any]]:
    query = select(User).order_by(User.login).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with store.read() as s:
        users = list(s.scalars(query))
        groups: dict[str, list[str]] = defaultdict(list)
        logins = [u.login for u in users]
        if logins:
            rows = s.execute(
                select(Membership.login, Membership.group_name).where(Membership.login.in_(logins))
            )
            for login, group in rows:
                groups[login].append(group)
    return [schemas.user_json(u, sorted(groups[u.login]), settings=include_settings) for u in users]


def get_user(store: Store, login: str) -> dict[str, Any]:
    with store.read() as s:
        user = _require_user(s, login)
        return schemas.user_json(user, _memberships(s, login))


def create_user(store: Store, body: dict[str, Any], *, data_dir: Path) -> dict[str, Any]:
    parsed = schemas.parse_user(body, creating=True)
    extra = user_secrets.seal(data_dir, parsed.extra, {})
    password_hash = hash_password(parsed.password) if parsed.password else None
    login = parsed.login
    assert login is not None
    try:
        with store.begin() as s:
            if s.get(User, login) is not None:
                raise Conflict(f"User {login!r} already exists")
            user = User(
                login=login,
                display_name="",
                email="",
                source_type="LOCAL",
                user_profile="DATA_SCIENTIST",
                enabled=True,
                password_hash=password_hash,
                extra=extra,
                created_on=now_ms(),
            )
            for column, value in parsed.columns.items():
                setattr(user, column, value)
            s.add(user)
            s.flush()
            _set_memberships(s, login, parsed.groups or [])
            s.flush()
            doc = schemas.user_json(user, sorted(parsed.groups or []))
    except IntegrityError:
        raise Conflict(
            f"User {login!r} could not be created: it was created, or one of its "
            "groups deleted, at the same time; retry"
        ) from None
    return doc


def _check_same(name: str, sent: str | None, expected: str) -> None:
    if sent is not None and sent != expected:
        raise BadRequest(
            f"Invalid {name}: it cannot be changed (the body says {sent!r}, the URL {expected!r})"
        )


def update_user(
    store: Store, login: str, body: dict[str, Any], *, data_dir: Path, caller: Principal | None = None
) -> dict[str, Any]:
    """Change a user; disabling one stops their kernels and tasks once committed (auth/retirement.py)."""
    parsed = schemas.parse_user(body, creating=False)
    _check_same("login", parsed.login, login)
    password_hash = hash_password(parsed.password) if parsed.password else None
    try:
        with store.begin() as s:
            lock_admin_changes(s)
            user = _require_user(s, login, lock=True)
            was_enabled = bool(user.enabled)
            for column, value in parsed.columns.items():
                setattr(user, column, value)
            disabled = was_enabled and not user.enabled
            if password_hash:
                user.password_hash = password_hash
            _apply_extra(user, user_secrets.seal(data_dir, parsed.extra, user.extra or {}))
            if parsed.groups is not None:
                _set_memberships(s, login, parsed.groups)
            ensure_an_admin_remains(s, f"change user {login!r}")
            doc = schemas.user_json(user, _memberships(s, login))
    except IntegrityError:
        raise Conflict(f"User {login!r} changed at the same time (a group was deleted?); retry") from None
    if disabled:
        by = caller.audit_name if caller else ""
        store.after_commit(lambda: user_retired(store, login, reason="the user was disabled", by=by))
    return doc


def delete_user(store: Store, login: str, *, caller: Principal, allow_self_deletion: bool) -> None:
    if caller.login == login and not allow_self_deletion:
        raise BadRequest(
            f"Refusing to delete {login!r}, the calling user itself; "
            "pass allowSelfDeletion=true to really do it"
        )
    with store.begin() as s:
        lock_admin_changes(s)
        _require_user(s, login, lock=True)
        impersonating = s.scalars(
            select(ApiKey.id).where(ApiKey.kind == "GLOBAL", ApiKey.user_login == login)
        ).first()
        if impersonating is not None:
            raise Conflict(
                f"User {login!r} is the dssUserForImpersonation of global API key {impersonating}; "
                "change or delete that key first"
            )
        # Personal and session keys die with their user: revoked from the next request on.
        s.execute(delete(ApiKey).where(ApiKey.user_login == login))
        s.execute(delete(Membership).where(Membership.login == login))
        s.execute(delete(User).where(User.login == login))
        ensure_an_admin_remains(s, f"delete user {login!r}")
    by = caller.audit_name
    store.after_commit(lambda: user_retired(store, login, reason="the user was deleted", by=by))


def verify_user_password(store: Store, login: str, password: str) -> bool:
    with store.read() as s:
        user = s.get(User, login)
        return bool(user and user.enabled and verify_password(password, user.password_hash))


# ---------------------------------------------------------------- the caller


def current_user(store: Store, caller: Principal) -> dict[str, Any]:
    with store.read() as s:
        if caller.login is not None:
            user = s.get(User, caller.login)
            if user is not None:
                return schemas.user_json(user, _memberships(s, caller.login), admin_view=caller.admin)
        key = s.get(ApiKey, caller.key_id)
        label = key.label if key is not None else ""
        created = key.created_on if key is not None else 0
    # A global key with no user: it acts as itself, with its own groups.
    return {
        "login": caller.name,
        "displayName": label or f"API key {caller.key_id}",
        "email": "",
        "groups": sorted(caller.groups),
        "userProfile": "",
        "enabled": True,
        "sourceType": "API_KEY",
        "creationDate": created,
        "apiKeyId": caller.key_id,
        "admin": caller.admin,
    }


def update_current_user(
    store: Store, caller: Principal, body: dict[str, Any], *, data_dir: Path
) -> dict[str, Any]:
    """The caller's own settings: display name, email and their own documents only."""
    if caller.login is None or caller.key_kind == "GLOBAL":
        raise Forbidden(
            "Action forbidden: only a user's own personal API key may change its settings",
            detail=f"{caller.name} is a global API key, not a user",
        )
    parsed = schemas.parse_user(body, creating=False)
    _check_same("login", parsed.login, caller.login)
    password_hash = hash_password(parsed.password) if parsed.password else None
    with store.begin() as s:
        user = _require_user(s, caller.login, lock=True)
        for column, value in parsed.columns.items():
            if column in _SELF_EDITABLE_COLUMNS:
                setattr(user, column, value)
        if password_hash:
            user.password_hash = password_hash
        own = {k: v for k, v in parsed.extra.items() if k not in _SELF_HIDDEN_EXTRA}
        _apply_extra(user, user_secrets.seal(data_dir, own, user.extra or {}))
        s.flush()
        return schemas.user_json(user, _memberships(s, caller.login), admin_view=caller.admin)


# ---------------------------------------------------------------- groups


def _require_group(s: Session, name: str, *, lock: bool = False) -> Group:
    group = s.get(Group, name, with_for_update=lock)
    if group is None:
        raise NotFound(f"Group {name!r} does not exist")
    return group


def list_groups(store: Store, *, limit: int | None, offset: int) -> list[dict[str, Any]]:
    query = select(Group).order_by(Group.name).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with store.read() as s:
        return [schemas.group_json(g) for g in s.scalars(query)]


def get_group(store: Store, name: str) -> dict[str, Any]:
    with store.read() as s:
        return schemas.group_json(_require_group(s, name))


def create_group(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    parsed = schemas.parse_group(body, creating=True)
    name = parsed.name
    assert name is not None
    try:
        with store.begin() as s:
            if s.get(Group, name) is not None:
                raise Conflict(f"Group {name!r} already exists")
            group = Group(
                name=name, description="", source_type="LOCAL", admin=False, permissions=parsed.permissions
            )
            for column, value in parsed.columns.items():
                setattr(group, column, value)
            s.add(group)
            s.flush()
            doc = schemas.group_json(group)
    except IntegrityError:
        raise Conflict(f"Group {name!r} was created at the same time; retry") from None
    return doc


def update_group(store: Store, name: str, body: dict[str, Any]) -> dict[str, Any]:
    parsed = schemas.parse_group(body, creating=False)
    if parsed.name is not None and parsed.name != name:
        raise BadRequest(
            f"Invalid name: a group cannot be renamed (the body says {parsed.name!r}, the URL {name!r})"
        )
    with store.begin() as s:
        lock_admin_changes(s)
        group = _require_group(s, name, lock=True)
        for column, value in parsed.columns.items():
            setattr(group, column, value)
        if parsed.permissions:
            group.permissions = {**(group.permissions or {}), **parsed.permissions}
        ensure_an_admin_remains(s, f"change group {name!r}")
        return schemas.group_json(group)


def delete_group(store: Store, name: str) -> None:
    with store.begin() as s:
        lock_admin_changes(s)
        _require_group(s, name, lock=True)
        s.execute(delete(Membership).where(Membership.group_name == name))
        # Global keys granted through this group lose it, so a later group of the same
        # name does not silently grant them anything.
        for key in s.scalars(select(ApiKey).where(ApiKey.kind == "GLOBAL")):
            if name in (key.groups or []):
                s.execute(
                    update(ApiKey)
                    .where(ApiKey.id == key.id)
                    .values(groups=[g for g in key.groups if g != name])
                )
        s.execute(delete(Group).where(Group.name == name))
        ensure_an_admin_remains(s, f"delete group {name!r}")
