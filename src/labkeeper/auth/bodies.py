"""Request bodies of users, groups and API keys, as sent by DSS clients.

Types are checked here (a 400 naming the field); the rules on values (name patterns,
lengths, password strength, lifetimes) are applied by `schemas.py` when the body is parsed.
Keys not declared are kept as sent (`Document`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, create_model

from labkeeper.auth.principal import GLOBAL_PERMISSIONS
from labkeeper.server.params import Document


class UserUpdate(Document):
    """A user document; on update, only the fields sent change."""

    login: str | None = None
    displayName: str | None = None
    email: str | None = None
    groups: list[str] | None = None
    userProfile: str | None = Field(None, description="Like DATA_SCIENTIST; letters, digits and '_'")
    enabled: bool | None = None
    sourceType: str | None = None
    password: str | None = Field(None, description="Write-only; never returned")
    creationDate: int | None = Field(None, description="Read-only: ignored when sent back")
    userProperties: dict[str, Any] = Field(default_factory=dict)
    adminProperties: dict[str, Any] = Field(default_factory=dict)
    secrets: list[Any] = Field(default_factory=list, description="Encrypted at rest, masked when read")
    credentials: dict[str, Any] = Field(default_factory=dict, description="Encrypted at rest")
    preferences: dict[str, Any] = Field(default_factory=dict)


class UserCreate(UserUpdate):
    login: str  # type: ignore[assignment]


class _GroupFields(Document):
    name: str | None = None
    description: str | None = None
    admin: bool | None = None
    sourceType: str | None = None


# A group document: its global permissions are flags, other keys are kept.
GroupBody = create_model(
    "GroupBody",
    __base__=_GroupFields,
    **{permission: (bool, False) for permission in GLOBAL_PERMISSIONS},  # type: ignore[call-overload]
)


class _KeyLifetime(Document):
    label: str | None = None
    description: str | None = None
    expiry: int | str | None = Field(None, description="Lifetime in whole days (0: never expires)")
    expiresOn: int | None = Field(None, description="Expiry in ms since the epoch (0: never)")


class GlobalPermissions(Document):
    """A global key's flags; other keys are kept."""

    admin: bool = Field(False, description="The key acts as an admin")


GlobalPermissionFlags = create_model(
    "GlobalPermissionFlags",
    __base__=GlobalPermissions,
    **{permission: (bool, False) for permission in GLOBAL_PERMISSIONS},  # type: ignore[call-overload]
)


class GlobalKeyBody(_KeyLifetime):
    globalPermissions: GlobalPermissionFlags | None = Field(  # type: ignore[valid-type]
        None, description='Flags, like {"admin": false}'
    )
    groups: list[str] | None = None
    dssUserForImpersonation: str | None = None


class PersonalKeyBody(_KeyLifetime):
    user: str | None = Field(None, description="The key's user (admin route only)")
