"""The JSON documents of users, groups and API keys: checking what comes in, shaping what goes out.

What comes in is checked against its request model first (auth/bodies.py: the types, the
same check and 400 as a request's plan, for the console and the command line too), then
against the rules on values here. Every check raises BadRequest naming the field to fix.
Fields labkeeper does not interpret are kept as sent (in the row's `extra` / `permissions`
document) and returned unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from labkeeper.auth import user_secrets
from labkeeper.auth.bodies import GlobalKeyBody, GroupBody, PersonalKeyBody, UserCreate, UserUpdate
from labkeeper.auth.keys import masked
from labkeeper.auth.models import ApiKey, Group, User
from labkeeper.auth.passwords import check_password
from labkeeper.auth.principal import GLOBAL_PERMISSIONS
from labkeeper.errors import BadRequest
from labkeeper.names import check_name, check_text
from labkeeper.server.params import validated

MAX_LABEL_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 4096
MAX_LIFETIME_DAYS = 36_500
_CODE = re.compile(r"[A-Za-z0-9_]+")

# Per-user documents the official client edits in place; present (empty) on every user.
USER_SETTINGS_DEFAULTS: dict[str, type] = {
    "userProperties": dict,
    "adminProperties": dict,
    "secrets": list,
    "credentials": dict,
    "preferences": dict,
}
_USER_CORE = {
    "login",
    "displayName",
    "email",
    "groups",
    "userProfile",
    "enabled",
    "sourceType",
    "creationDate",
    "password",
}
_GROUP_CORE = {"name", "description", "admin", "sourceType"}
# Fields of a key document that callers may send back but never change.
_KEY_READ_ONLY = {"id", "key", "createdOn", "createdBy", "lastUsedOn", "user"}
_GLOBAL_KEY_CORE = _KEY_READ_ONLY | {
    "label",
    "description",
    "globalPermissions",
    "groups",
    "dssUserForImpersonation",
    "expiresOn",
    "expiry",
}


def _code(name: str, value: object, max_length: int) -> str:
    if not isinstance(value, str) or not _CODE.fullmatch(value) or len(value) > max_length:
        raise BadRequest(f"Invalid {name}: use up to {max_length} letters, digits or '_' (like LOCAL)")
    return value


def _group_list(name: str, value: list[str]) -> list[str]:
    groups: list[str] = []
    for item in value:
        check_name(f"group name in {name}", item)
        if item not in groups:
            groups.append(item)
    return groups


def _text(name: str, value: object, max_length: int) -> str:
    return check_text(name, value, max_length=max_length)


# ---------------------------------------------------------------- users


@dataclass
class UserInput:
    """What a create or update asks for; None means "not sent" for an update."""

    login: str | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    groups: list[str] | None = None
    password: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_user(body: dict[str, Any], *, creating: bool) -> UserInput:
    body = validated(UserCreate if creating else UserUpdate, body).sent()
    parsed = UserInput()
    if creating or "login" in body:
        parsed.login = check_name("user login", body.get("login"))
    if "displayName" in body:
        parsed.columns["display_name"] = _text("displayName", body["displayName"], 200)
    if "email" in body:
        parsed.columns["email"] = _text("email", body["email"], 200)
    if body.get("userProfile") is not None:
        parsed.columns["user_profile"] = _code("userProfile", body["userProfile"], 40)
    if body.get("sourceType") is not None:
        parsed.columns["source_type"] = _code("sourceType", body["sourceType"], 20)
    if body.get("enabled") is not None:
        parsed.columns["enabled"] = body["enabled"]
    if body.get("groups") is not None:
        parsed.groups = _group_list("groups", body["groups"])
    parsed.password = check_password(body.get("password"))
    for key, value in body.items():
        if key not in _USER_CORE:
            parsed.extra[key] = value
    return parsed


def user_json(
    user: User, groups: list[str], *, settings: bool = True, admin_view: bool = True
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "login": user.login,
        "displayName": user.display_name,
        "email": user.email,
        "groups": groups,
        "userProfile": user.user_profile,
        "enabled": user.enabled,
        "sourceType": user.source_type,
        "creationDate": user.created_on,
    }
    if settings:
        for key, kind in USER_SETTINGS_DEFAULTS.items():
            doc[key] = kind()
        for key, value in user_secrets.masked(user.extra or {}).items():
            if key not in _USER_CORE:
                doc[key] = value
        if not admin_view:
            doc.pop("adminProperties", None)
    return doc


# ---------------------------------------------------------------- groups


@dataclass
class GroupInput:
    name: str | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    permissions: dict[str, Any] = field(default_factory=dict)


def parse_group(body: dict[str, Any], *, creating: bool) -> GroupInput:
    body = validated(GroupBody, body).sent()
    parsed = GroupInput()
    if creating or "name" in body:
        parsed.name = check_name("group name", body.get("name"))
    if "description" in body:
        parsed.columns["description"] = _text("description", body["description"], MAX_DESCRIPTION_LENGTH)
    if body.get("admin") is not None:
        parsed.columns["admin"] = body["admin"]
    if body.get("sourceType") is not None:
        parsed.columns["source_type"] = _code("sourceType", body["sourceType"], 20)
    for key, value in body.items():
        if key not in _GROUP_CORE:
            parsed.permissions[key] = value
    return parsed


def group_json(group: Group) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": group.name,
        "description": group.description,
        "admin": group.admin,
        "sourceType": group.source_type,
    }
    doc.update({p: False for p in GLOBAL_PERMISSIONS})
    for key, value in (group.permissions or {}).items():
        if key not in _GROUP_CORE:
            doc[key] = value
    return doc


# ---------------------------------------------------------------- API keys


def parse_lifetime(body: dict[str, Any]) -> tuple[int | None, int | None]:
    """(`expiry` in days, `expiresOn` in ms), each None when not sent."""
    days = body.get("expiry")
    if days is not None:
        if isinstance(days, str) and days.strip().isdigit():
            days = int(days.strip())
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_LIFETIME_DAYS:
            raise BadRequest(
                f"Invalid expiry: a lifetime in whole days between 0 (never expires) "
                f"and {MAX_LIFETIME_DAYS} is required"
            )
    expires_on = body.get("expiresOn")
    if expires_on is not None and (
        isinstance(expires_on, bool) or not isinstance(expires_on, int) or not 0 <= expires_on < 2**53
    ):
        raise BadRequest("Invalid expiresOn: a time in milliseconds since the epoch (0: never) is required")
    return days, expires_on


@dataclass
class KeyInput:
    label: str | None = None
    description: str | None = None
    expiry_days: int | None = None
    expires_on: int | None = None
    admin: bool | None = None
    permissions: dict[str, Any] | None = None  # globalPermissions other than admin
    groups: list[str] | None = None
    impersonation: str | None = None  # "" to clear
    extra: dict[str, Any] = field(default_factory=dict)


def _label_and_description(body: dict[str, Any], parsed: KeyInput) -> None:
    if "label" in body:
        parsed.label = _text("label", body["label"], MAX_LABEL_LENGTH)
    if "description" in body:
        parsed.description = _text("description", body["description"], MAX_DESCRIPTION_LENGTH)
    parsed.expiry_days, parsed.expires_on = parse_lifetime(body)


def parse_global_key(body: dict[str, Any]) -> KeyInput:
    body = validated(GlobalKeyBody, body).sent()
    parsed = KeyInput()
    _label_and_description(body, parsed)
    perms = body.get("globalPermissions")
    if perms is not None:
        parsed.permissions = {}
        for key, value in perms.items():
            if key == "admin":
                parsed.admin = value
            else:
                parsed.permissions[key] = value
    if body.get("groups") is not None:
        parsed.groups = _group_list("groups", body["groups"])
    if "dssUserForImpersonation" in body:
        user = body["dssUserForImpersonation"]
        parsed.impersonation = "" if user in (None, "") else check_name("dssUserForImpersonation", user)
    parsed.extra = {k: v for k, v in body.items() if k not in _GLOBAL_KEY_CORE}
    return parsed


def parse_personal_key(body: dict[str, Any]) -> KeyInput:
    body = validated(PersonalKeyBody, body).sent()
    parsed = KeyInput()
    _label_and_description(body, parsed)
    return parsed


def _key_common(key: ApiKey, secret: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": key.id,
        "key": secret if secret is not None else masked(key.prefix),
        "label": key.label,
        "description": key.description,
        "createdOn": key.created_on,
        "createdBy": key.created_by,
        "expiresOn": key.expires_on,
        "lastUsedOn": key.last_used_on,
    }
    expiry = (key.extra or {}).get("expiry")
    if expiry is not None:
        doc["expiry"] = expiry
    return doc


def global_key_json(key: ApiKey, *, secret: str | None = None) -> dict[str, Any]:
    """A global key; `secret` is given only in the answer to its creation."""
    extra = dict(key.extra or {})
    permissions = {"admin": key.admin}
    permissions.update({p: False for p in GLOBAL_PERMISSIONS})
    permissions.update(extra.pop("globalPermissions", {}) or {})
    extra.pop("expiry", None)
    doc = {k: v for k, v in extra.items() if k not in _GLOBAL_KEY_CORE}
    doc.update(_key_common(key, secret))
    doc.update(
        {
            "globalPermissions": permissions,
            "groups": list(key.groups or []),
            "dssUserForImpersonation": key.user_login,
        }
    )
    return doc


def personal_key_json(key: ApiKey, *, secret: str | None = None) -> dict[str, Any]:
    doc = _key_common(key, secret)
    doc["user"] = key.user_login
    return doc
