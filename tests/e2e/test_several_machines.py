"""Two API nodes and two worker nodes on one PostgreSQL database, each with its own data
directory, and (where `ip netns` works) each in its own network namespace: the official
client on both API nodes sees one instance; SQL cells run on the workers; an abort sent to
API node A stops a query running on a worker; a worker killed hard has its task failed
while the other keeps serving."""

from __future__ import annotations

import time

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from labkeeper.futures.queued import NODE_STOPPED
from tests.conftest import ADMIN_KEY, _empty_postgres
from tests.e2e.machines import cluster, netns_possible
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e
API = "/dip/publicapi"
MARKER = "lk-e2e-several-machines"


@pytest.fixture
def pg_url(database_url: str | None) -> str:
    if not database_url:
        pytest.skip("several nodes share a PostgreSQL store (LABKEEPER_TEST_DATABASE_URL)")
    _empty_postgres(database_url)
    return database_url


def task_rows(url: str, job_id: str) -> dict:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT state, node, error FROM tasks WHERE id = :id"), {"id": job_id}
            ).one_or_none()
    finally:
        engine.dispose()
    return {} if row is None else {"state": row[0], "node": row[1], "error": row[2]}


def backend_running(dsn: str, marker: str) -> bool:
    """A backend of the connection marked `marker` busy on pg_sleep (a server-side cursor
    shows the FETCH as its query: the wait event says what it does)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND application_name = %s "
            "AND wait_event = 'PgSleep'",
            (marker,),
        ).fetchall()
    return bool(rows)


def stop_backends(dsn: str, marker: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (marker,)
        )


@pytest.mark.parametrize(
    "isolated",
    [pytest.param(False, id="loopback"), pytest.param(True, id="netns")],
)
def test_two_api_nodes_and_two_workers(pg_url: str, isolated: bool) -> None:
    import dataikuapi

    if isolated and not netns_possible():
        pytest.skip("network namespaces need root and `ip netns`")
    dsn = sa.engine.make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with cluster(isolated, pg_url) as (network, nodes, pg_port):
        a, b = nodes["api-a"], nodes["api-b"]
        dss_a, dss_b = dataikuapi.DSSClient(a.url, ADMIN_KEY), dataikuapi.DSSClient(b.url, ADMIN_KEY)
        auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
        http_a = httpx.Client(base_url=a.url + API, headers=auth, timeout=60)
        http_b = httpx.Client(base_url=b.url + API, headers=auth, timeout=60)

        def alive_nodes(http: httpx.Client) -> dict[str, str]:
            return {n["name"]: n["role"] for n in http.get("/admin/nodes").json() if n["alive"]}

        expected = {"api-a": "api", "api-b": "api", "worker-1": "worker", "worker-2": "worker"}
        assert wait_for(lambda: alive_nodes(http_a) == expected, timeout=90), (
            alive_nodes(http_a), nodes["worker-1"].output(), nodes["worker-2"].output()
        )
        assert alive_nodes(http_b) == expected

        # One instance through either API node; the password saved through A is decrypted on
        # the workers (the shared instance secret).
        dss_a.create_project("E2E", "Several machines", owner="admin")
        assert "E2E" in [p["projectKey"] for p in dss_b.list_projects()]
        params = {"host": network.gateway, "port": pg_port, "db": sa.engine.make_url(pg_url).database,
                  "user": "postgres", "password": "saved-through-api-a",
                  "properties": [{"name": "application_name", "value": MARKER}]}  # fmt: skip
        dss_a.create_connection("pg", "PostgreSQL", params=params)
        notebook = http_b.post(
            "/projects/E2E/sql-notebooks/",
            json={"connection": "pg", "name": "nb", "cells": [
                {"id": "answer", "type": "QUERY", "name": "answer", "code": "SELECT 41 + 1 AS answer"},
                {"id": "slow", "type": "QUERY", "name": "slow", "code": "SELECT pg_sleep(120)"},
            ]},
        )  # fmt: skip
        assert notebook.status_code == 200, notebook.text
        cells = f"/projects/E2E/sql-notebooks/{notebook.json()['id']}/cells"
        ran = http_b.post(f"{cells}/answer/actions/run", params={"wait": "true"})
        assert ran.status_code == 200, ran.text
        assert ran.json()["result"]["rows"] == [[42]]
        assert task_rows(pg_url, ran.json()["jobId"])["node"] in {"worker-1", "worker-2"}

        # An abort sent to A stops the query on the worker running it, within a second.
        job = http_b.post(f"{cells}/slow/actions/run", params={"wait": "false"}).json()["jobId"]
        assert wait_for(lambda: backend_running(dsn, MARKER), timeout=20)
        worker = task_rows(pg_url, job)["node"]
        assert worker in {"worker-1", "worker-2"}
        assert job in [f["jobId"] for f in dss_a.list_futures(all_users=True)]
        started = time.monotonic()
        dss_a.get_future(job).abort()
        assert wait_for(lambda: not backend_running(dsn, MARKER), timeout=5, interval=0.01)
        assert time.monotonic() - started < 1.0
        assert dss_b.get_future(job).peek_state()["aborted"] is True

        # A worker killed hard: its task fails within 30 s, the other worker keeps serving.
        job = http_a.post(f"{cells}/slow/actions/run", params={"wait": "false"}).json()["jobId"]
        assert wait_for(lambda: task_rows(pg_url, job).get("node"), timeout=20)
        doomed = nodes[task_rows(pg_url, job)["node"]]
        doomed.kill_hard()
        killed = time.monotonic()
        assert wait_for(lambda: task_rows(pg_url, job)["state"] == "FAILED", timeout=40, interval=0.5)
        assert time.monotonic() - killed < 30
        state = dss_b.get_future(job).peek_state()
        assert state["alive"] is False and NODE_STOPPED in state["error"]
        again = http_a.post(f"{cells}/answer/actions/run", params={"wait": "true"})
        assert again.status_code == 200 and again.json()["result"]["rows"] == [[42]]
        assert task_rows(pg_url, again.json()["jobId"])["node"] != doomed.name
        assert wait_for(lambda: doomed.name not in alive_nodes(http_b), timeout=30, interval=0.5)
        stop_backends(dsn, MARKER)  # what the dead node's query left behind
