"""The instance never loses its last way in: some usable key must keep admin rights.

Called at the end of every write that can take admin rights away (users, groups, keys),
inside its transaction: when no usable admin key would remain, the write is refused and
rolled back. Writers of this kind take one lock first (SQLite's writers are serialized
anyway), so two concurrent writes cannot each remove "the other" admin.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from labkeeper.auth.models import ApiKey, Group, Membership, User
from labkeeper.db import now_ms
from labkeeper.errors import Conflict

_ADMIN_GUARD_LOCK = 7158113


def lock_admin_changes(s: Session) -> None:
    """Take the admin-guard lock for the rest of the transaction (PostgreSQL)."""
    if s.get_bind().dialect.name == "postgresql":
        s.connection().exec_driver_sql(f"SELECT pg_advisory_xact_lock({_ADMIN_GUARD_LOCK})")


def ensure_an_admin_remains(s: Session, change: str) -> None:
    """Refuse `change` unless a key that is not expired still grants admin rights: a
    personal key of an enabled user of an admin group, or an admin global key (by its own
    flag or through an admin group)."""
    s.flush()
    now = now_ms()
    live = or_(ApiKey.expires_on == 0, ApiKey.expires_on > now)
    admin_groups = set(s.scalars(select(Group.name).where(Group.admin.is_(True))))
    personal = s.scalars(
        select(ApiKey.id)
        .join(User, User.login == ApiKey.user_login)
        .join(Membership, Membership.login == User.login)
        .where(ApiKey.kind == "PERSONAL", User.enabled.is_(True), live)
        .where(Membership.group_name.in_(admin_groups))
        .limit(1)
    ).first()
    if personal is not None:
        return
    global_live = (ApiKey.kind == "GLOBAL", live)
    if s.scalars(select(ApiKey.id).where(*global_live, ApiKey.admin.is_(True)).limit(1)).first() is not None:
        return
    for (groups,) in s.execute(select(ApiKey.groups).where(*global_live)):
        if admin_groups.intersection(groups or []):
            return
    raise Conflict(
        f"Refusing to {change}: no API key with admin rights would remain, and nobody could "
        "administer this instance any more",
        detail="Give admin rights to another key first: a global API key with admin rights, "
        "or a personal key of an enabled user in a group with admin rights",
    )
