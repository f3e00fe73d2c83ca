"""Fixtures of the /lab tests: a live labkeeper seen through its API and /lab, and a team of
project members to be hostile with."""

from __future__ import annotations

import pytest

from tests.conftest import LiveServer
from tests.lab.helpers import UNSAFE_CODE, Lab


@pytest.fixture
def lab(live: LiveServer) -> Lab:
    return Lab(live)


@pytest.fixture
def ann(lab: Lab) -> str:
    """ann may run code and writes project WORK, which holds the notebook `first`."""
    key = lab.user("ann", "analysts", UNSAFE_CODE)
    lab.project("WORK", writers=("analysts",))
    lab.put_notebook(key, "WORK", "first", "print('hello')")
    return key


@pytest.fixture
def team(lab: Lab) -> dict[str, str]:
    """Project TEAM: alice (who may run code) and mallory (who may not) write it, rita only
    reads it (and may run code); project PRIV is alice's alone."""
    keys = {
        "alice": lab.user("alice", "team", UNSAFE_CODE),
        "mallory": lab.user("mallory", "writers"),
        "rita": lab.user("rita", "readers", UNSAFE_CODE),
    }
    lab.project("TEAM", writers=("team", "writers"), readers=("readers",))
    lab.project("PRIV")
    perms = lab.admin.get("/projects/PRIV/permissions").json()
    perms["permissions"] += [{"user": "alice", "writeProjectContent": True}]
    assert lab.admin.put("/projects/PRIV/permissions", json=perms).status_code == 204
    lab.put_notebook(keys["alice"], "TEAM", "shared", "print('team')")
    lab.put_notebook(keys["alice"], "PRIV", "secret", "print('secret')")
    return keys
