"""Tables for users, groups, group membership and API keys."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labkeeper.db import Base


class User(Base):
    __tablename__ = "users"

    login: Mapped[str] = mapped_column(String(100), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    source_type: Mapped[str] = mapped_column(String(20), default="LOCAL")
    user_profile: Mapped[str] = mapped_column(String(40), default="DATA_SCIENTIST")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    extra: Mapped[dict] = mapped_column(default=dict)
    created_on: Mapped[int] = mapped_column(BigInteger)


class Group(Base):
    __tablename__ = "groups"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    source_type: Mapped[str] = mapped_column(String(20), default="LOCAL")
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # The global permissions other than admin (mayCreateProjects, mayWriteUnsafeCode, ...)
    # and any field labkeeper does not interpret, kept as sent.
    permissions: Mapped[dict] = mapped_column(default=dict)


class Membership(Base):
    __tablename__ = "memberships"

    login: Mapped[str] = mapped_column(ForeignKey("users.login", ondelete="CASCADE"), primary_key=True)
    group_name: Mapped[str] = mapped_column(
        ForeignKey("groups.name", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )


class ApiKey(Base):
    """An API key. Only a SHA-256 of the secret is stored: the secrets are 256-bit random
    values, so a fast unsalted hash cannot be brute-forced, and the lookup by hash stays
    one indexed read per request. `prefix` is the first characters, for recognising a key."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_secret_hash", "secret_hash", unique=True),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # GLOBAL | PERSONAL | SESSION
    prefix: Mapped[str] = mapped_column(String(8))
    secret_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # PERSONAL and SESSION keys act as this user; a GLOBAL key may name a user to impersonate.
    user_login: Mapped[str | None] = mapped_column(
        ForeignKey("users.login", ondelete="CASCADE"), nullable=True, index=True
    )
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    groups: Mapped[list] = mapped_column(default=list)
    extra: Mapped[dict] = mapped_column(default=dict)
    created_on: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    expires_on: Mapped[int] = mapped_column(BigInteger, default=0)  # 0: never
    last_used_on: Mapped[int] = mapped_column(BigInteger, default=0)


class UserActivity(Base):
    """When a user last did each thing (ms), written by auth/activity.py. No change stamp
    watches this table: reads of activity are never kept (server/answers.py)."""

    __tablename__ = "user_activity"

    login: Mapped[str] = mapped_column(ForeignKey("users.login", ondelete="CASCADE"), primary_key=True)
    last_api_call: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_session_start: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_session_activity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_successful_login: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_failed_login: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
