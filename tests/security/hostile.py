"""The hostile project member of the security tests: a non-admin user with WRITE on a
project, using the default SQLite connection (usable by all)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient

from labkeeper.auth.models import Group
from tests.conftest import Instance
from tests.sql.helpers import grant, make_notebook, make_project, query_cell, run


@dataclass
class Mallory:
    client: TestClient
    project: str
    group: str = "mallory_team"


def hostile(instance: Instance, project: str = "PRJ") -> Mallory:
    secret = instance.make_user("mallory", ["mallory_team"])
    make_project(instance, project)
    grant(instance, project, "mallory_team", readProjectContent=True, writeProjectContent=True)
    return Mallory(instance.client(secret), project)


def run_sql(instance: Instance, who: Mallory, sql: str, connection: str = "local-sqlite"):  # type: ignore[no-untyped-def]
    notebook = make_notebook(instance, who.project, connection, [query_cell("c", sql)], client=who.client)
    return run(instance, who.project, notebook, "c", client=who.client)


def is_admin_group(instance: Instance, group: str) -> bool:
    with instance.store.read() as s:
        return bool(s.get(Group, group).admin)
