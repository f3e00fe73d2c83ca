"""First start: an `admin` user in an `administrators` group, and one admin API key."""

from __future__ import annotations

import os
from pathlib import Path

from labkeeper.auth.keys import MIN_SECRET_LENGTH, hash_secret, new_id, new_secret, shown_prefix
from labkeeper.auth.models import ApiKey, Group, Membership, User
from labkeeper.config import Config
from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest
from labkeeper.settings.models import Document

ADMIN_LOGIN = "admin"
ADMIN_GROUP = "administrators"
BOOTSTRAP_LABEL = "bootstrap admin key"
KEY_FILE = "initial-admin-key"


def ensure_admin(store: Store, config: Config) -> str | None:
    """Create the admin user and its key unless a bootstrap key already exists."""
    secret = config.bootstrap_admin_key
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        raise BadRequest(f"LABKEEPER_BOOTSTRAP_ADMIN_KEY must have at least {MIN_SECRET_LENGTH} characters")
    with store.begin() as s:
        # The marker document, not the key, says bootstrap happened: deleting the key later
        # must not make the next restart mint a new one.
        if s.get(Document, "bootstrap") is not None:
            return None
        now = now_ms()
        s.add(Document(name="bootstrap", body={"admin": ADMIN_LOGIN}, updated_on=now))
        if s.get(Group, ADMIN_GROUP) is None:
            s.add(
                Group(
                    name=ADMIN_GROUP,
                    description="Instance administrators",
                    admin=True,
                    permissions={
                        "mayCreateProjects": True,
                        "mayCreateCodeEnvs": True,
                        "mayManageCodeEnvs": True,
                        "mayWriteUnsafeCode": True,
                    },
                )
            )
        if s.get(User, ADMIN_LOGIN) is None:
            s.add(User(login=ADMIN_LOGIN, display_name="Administrator", created_on=now))
            s.flush()
            s.add(Membership(login=ADMIN_LOGIN, group_name=ADMIN_GROUP))
        secret = secret or new_secret()
        s.add(
            ApiKey(
                id=new_id(),
                kind="PERSONAL",
                prefix=shown_prefix(secret),
                secret_hash=hash_secret(secret),
                label=BOOTSTRAP_LABEL,
                description="Created at first start",
                user_login=ADMIN_LOGIN,
                created_on=now,
                created_by="labkeeper",
            )
        )
    _write_key_file(config.data_dir / KEY_FILE, secret)
    return secret


def _write_key_file(path: Path, secret: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    os.chmod(path, 0o600)
