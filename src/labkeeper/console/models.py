"""Tables of the console's sign-in (migration 0012)."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from labkeeper.db import Base


class ConsoleSession(Base):
    """A signed-in browser. Only a SHA-256 of the cookie value is kept: the value is 256 random
    bits, so the hash cannot be reversed, and a copy of the table signs nobody in.
    `password_mark` is a hash of the user's stored password hash at sign-in: a password change
    makes it differ, which ends the session at once."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(ForeignKey("users.login", ondelete="CASCADE"), index=True)
    password_mark: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_on: Mapped[int] = mapped_column(BigInteger)
    last_seen_on: Mapped[int] = mapped_column(BigInteger)


class SigninFailure(Base):
    """One refused sign-in, counted per login and per address for the rate limit."""

    __tablename__ = "signin_failures"
    __table_args__ = (
        Index("ix_signin_failures_login_time", "login", "time"),
        Index("ix_signin_failures_address_time", "address", "time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[int] = mapped_column(BigInteger)
    login: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(64))
