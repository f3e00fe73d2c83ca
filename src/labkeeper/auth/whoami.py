"""Who a key is (`GET /auth/info`) and what anyone may read of a user (`GET /users/{login}`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from labkeeper.auth import user_secrets
from labkeeper.auth.models import Membership, User
from labkeeper.auth.principal import GLOBAL_PERMISSIONS, Principal
from labkeeper.db import Store
from labkeeper.errors import Forbidden, NotFound

_AUTH_SOURCES = {
    "PERSONAL": "PERSONAL_API_KEY",
    "SESSION": "NOTEBOOK_SESSION_KEY",
    "GLOBAL": "GLOBAL_API_KEY",
    "PROXY": "PROXIED_BY_ADMIN_KEY",
}


def auth_info(store: Store, data_dir: Path, caller: Principal, *, with_secrets: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "authIdentifier": caller.login or caller.key_id,
        "authSource": _AUTH_SOURCES.get(caller.key_kind, caller.key_kind),
        "apiKeyId": caller.key_id,
        "groups": sorted(caller.groups),
        "globalPermissions": {
            "admin": caller.admin,
            **{name: caller.has(name) for name in GLOBAL_PERMISSIONS},
        },
    }
    if caller.login is not None:
        doc["associatedDSSUser"] = caller.login
    if caller.proxied_by is not None:
        doc["proxiedBy"] = caller.proxied_by
    if not with_secrets:
        return doc
    if caller.login is None or caller.key_kind not in ("PERSONAL", "SESSION") or caller.proxied_by:
        raise Forbidden(
            "Action forbidden: a user's secrets are given only to that user's own keys",
            detail=f"{caller.audit_name} calls with a {doc['authSource']}: a user's secrets are given "
            "only to that user's own keys (personal or notebook session); ask without withSecrets",
        )
    with store.read() as s:
        user = s.get(User, caller.login)
        extra = dict(user.extra or {}) if user is not None else {}
    doc["secrets"] = user_secrets.revealed(data_dir, extra)
    return doc


def user_info(store: Store, login: str) -> dict[str, Any]:
    with store.read() as s:
        user = s.get(User, login)
        if user is None:
            raise NotFound(f"User {login!r} does not exist")
        groups = sorted(s.scalars(select(Membership.group_name).where(Membership.login == login)))
        return {
            "login": user.login,
            "displayName": user.display_name,
            "email": user.email,
            "groups": groups,
            "enabled": user.enabled,
            "userProfile": user.user_profile,
            "sourceType": user.source_type,
        }
