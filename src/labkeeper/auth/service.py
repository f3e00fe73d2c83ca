"""Users, groups and API keys."""

from __future__ import annotations

from sqlalchemy import select

from labkeeper.auth.models import Membership, User
from labkeeper.db import Store
from labkeeper.errors import NotFound


def groups_of(store: Store, login: str) -> list[str]:
    """The groups of an existing user (404 when there is no such user)."""
    with store.read() as s:
        if s.get(User, login) is None:
            raise NotFound(f"User {login!r} does not exist")
        return list(s.scalars(select(Membership.group_name).where(Membership.login == login)))
