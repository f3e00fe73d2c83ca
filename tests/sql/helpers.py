"""Helpers of the SQL notebook tests: projects, connections, notebooks, runs, and a direct
line to the PostgreSQL test database (127.0.0.1:5432, database `test`)."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg

from tests.conftest import Instance

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
PG_PARAMS = {"host": "127.0.0.1", "port": 5432, "db": "test", "user": "postgres"}


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(5)}"


def pg_execute(sql: str) -> list[tuple]:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def make_project(instance: Instance, key: str) -> str:
    answer = instance.admin.post("/projects/", json={"projectKey": key, "name": key.title()})
    assert answer.status_code == 200, answer.text
    return key


def grant(instance: Instance, key: str, group: str, **flags: bool) -> None:
    perms = instance.admin.get(f"/projects/{key}/permissions").json()
    perms["permissions"].append({"group": group, **flags})
    assert instance.admin.put(f"/projects/{key}/permissions", json=perms).status_code == 204


def make_pg_connection(instance: Instance, name: str = "pg", **extra: Any) -> str:
    body = {"name": name, "type": "PostgreSQL", "params": dict(PG_PARAMS), **extra}
    answer = instance.admin.post("/admin/connections/", json=body)
    assert answer.status_code == 200, answer.text
    return name


def make_notebook(instance: Instance, key: str, connection: str, cells: list[dict], client=None) -> str:  # type: ignore[no-untyped-def]
    answer = (client or instance.admin).post(
        f"/projects/{key}/sql-notebooks/", json={"connection": connection, "cells": cells, "name": "nb"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def query_cell(cell_id: str, code: str | list[str], name: str = "") -> dict:
    return {"id": cell_id, "type": "QUERY", "name": name or cell_id, "code": code}


def run(instance: Instance, key: str, notebook: str, cell: str, *, wait: bool = True, client=None):  # type: ignore[no-untyped-def]
    return (client or instance.admin).post(
        f"/projects/{key}/sql-notebooks/{notebook}/cells/{cell}/actions/run",
        params={"wait": str(wait).lower()},
    )


def run_ok(instance: Instance, key: str, notebook: str, cell: str) -> dict:
    answer = run(instance, key, notebook, cell)
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


def history(instance: Instance, key: str, notebook: str) -> dict[str, list[dict]]:
    answer = instance.admin.get(f"/projects/{key}/sql-notebooks/{notebook}/history")
    assert answer.status_code == 200, answer.text
    return answer.json()
