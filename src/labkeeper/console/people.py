"""Users and groups (admins), through auth/service.py as the API's routes call it, with
each user's last activity (their keys' last use and their console sessions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from starlette.datastructures import FormData

from labkeeper.auth import service
from labkeeper.auth.models import ApiKey
from labkeeper.auth.principal import GLOBAL_PERMISSIONS, Principal
from labkeeper.console.models import ConsoleSession
from labkeeper.db import Store
from labkeeper.errors import BadRequest


def listing(store: Store, principal: Principal) -> dict[str, Any]:
    principal.require_admin()
    users = service.list_users(store, include_settings=False, limit=None, offset=0)
    last_key_use = select(ApiKey.user_login, func.max(ApiKey.last_used_on)).group_by(ApiKey.user_login)
    last_seen = select(ConsoleSession.login, func.max(ConsoleSession.last_seen_on)).group_by(
        ConsoleSession.login
    )
    with store.read() as s:
        keys = dict(s.execute(last_key_use).all())
        seen = dict(s.execute(last_seen).all())
    for user in users:
        user["lastActivity"] = max(keys.get(user["login"]) or 0, seen.get(user["login"]) or 0)
    groups = service.list_groups(store, limit=None, offset=0)
    return {"users": users, "groups": groups, "permissions": GLOBAL_PERMISSIONS}


def _groups(form: FormData) -> list[str]:
    return [g for g in form.getlist("groups") if g]


def create_user(store: Store, principal: Principal, form: FormData, data_dir: Path) -> dict[str, Any]:
    principal.require_admin()
    body = {
        "login": form.get("login", ""),
        "displayName": form.get("displayName", ""),
        "email": form.get("email", ""),
        "password": form.get("password", ""),
        "groups": _groups(form),
    }
    return service.create_user(store, body, data_dir=data_dir)


def set_enabled(store: Store, principal: Principal, login: str, enabled: bool, data_dir: Path) -> None:
    principal.require_admin()
    body = {"login": login, "enabled": enabled}
    service.update_user(store, login, body, data_dir=data_dir, caller=principal)


def set_groups(store: Store, principal: Principal, login: str, form: FormData, data_dir: Path) -> None:
    principal.require_admin()
    body = {"login": login, "groups": _groups(form)}
    service.update_user(store, login, body, data_dir=data_dir, caller=principal)


def create_group(store: Store, principal: Principal, form: FormData) -> None:
    principal.require_admin()
    service.create_group(store, {"name": form.get("name", ""), "description": form.get("description", "")})


def set_group_permissions(store: Store, principal: Principal, name: str, form: FormData) -> None:
    principal.require_admin()
    body: dict[str, Any] = {"admin": form.get("admin") == "on"}
    for permission in GLOBAL_PERMISSIONS:
        body[permission] = form.get(permission) == "on"
    unknown = set(form.keys()) - {"csrf", "admin", *GLOBAL_PERMISSIONS}
    if unknown:
        raise BadRequest(f"Unknown permission {sorted(unknown)[0]!r}")
    service.update_group(store, name, body)
